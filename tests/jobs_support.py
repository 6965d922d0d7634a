"""Helpers for job tests: seeding variants and offers straight into the database, waiting for a job."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from openstoq.db.engine import Database
from openstoq.db.models import Job, JobBatch, Offer, OfferVariant, Variant
from openstoq.settings import BASE_PATH

VARIANTS = "/preorders/product_variants"
POLL = 0.25  # 4 reads a second stays well inside a shop's 360 points a minute


async def seed_variants(db: Database, shop_id: str, ids: Iterable[int], *, product_id: int = 1) -> list[int]:
    now = datetime.now(UTC)
    ids = list(ids)
    async with db.transaction(write=True) as session:
        session.add_all(
            Variant(
                shop_id=shop_id,
                id=v,
                product_id=product_id,
                title=f"Variant {v}",
                sku=f"SKU-{v}",
                price="10.00",
                position=1,
                inventory_quantity=0,
                inventory_policy="deny",
                preorder_count=0,
                updated_at=now,
            )
            for v in ids
        )
    return ids


async def seed_offer(
    db: Database, shop_id: str, variant_ids: Sequence[int], *, status: str = "enabled", max_count: int | None = None
) -> str:
    """An offer with ``variant_ids`` attached (``max_count`` as each link's override)."""
    now = datetime.now(UTC)
    offer_id = str(uuid.uuid4())
    async with db.transaction(write=True) as session:
        session.add(
            Offer(
                id=offer_id,
                shop_id=shop_id,
                name="Drop",
                internal_name="Drop",
                status=status,
                capabilities={},
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add_all(
            OfferVariant(shop_id=shop_id, offer_id=offer_id, variant_id=v, max_count=max_count, created_at=now)
            for v in variant_ids
        )
    return offer_id


def relative(url: str) -> str:
    """A status_url or download_url as the test clients (based at the API base path) take it."""
    assert url.startswith(BASE_PATH + "/"), url
    return url.removeprefix(BASE_PATH)


async def wait_for_job(client: httpx.AsyncClient, status_url: str, *, within: float = 60.0) -> dict[str, Any]:
    """Poll the job until it is no longer running; fails past the deadline (a wait, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(relative(status_url))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, f"job still running after {within} s: {body}"
        await asyncio.sleep(POLL)


async def wait_until(predicate: Any, *, within: float = 30.0, what: str = "condition") -> Any:
    """Await ``predicate()`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {within} s"
        await asyncio.sleep(0.05)


async def job_row(db: Database, job_id: str) -> Job:
    async with db.transaction(write=False) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def markers(db: Database, job_id: str) -> list[JobBatch]:
    async with db.transaction(write=False) as session:
        return list(await session.scalars(select(JobBatch).where(JobBatch.job_id == job_id)))


async def count_markers(db: Database, job_id: str) -> int:
    async with db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).where(JobBatch.job_id == job_id)) or 0)
