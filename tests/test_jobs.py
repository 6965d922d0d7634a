"""Bulk variant jobs on real DBOS workers in this process: the published handle and status, 404s,
per-item failures that do not fail a batch, exactly-once batches, cancellation, the sweeps.

The engine runs for the whole module on the session's runtime (SQLite or PostgreSQL). Every test
makes its own shop; the database is shared with the rest of the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from openstoq.clock import Clock
from openstoq.db.models import Job, JobExecutor, Metafield, Variant
from openstoq.jobs import records
from openstoq.jobs.engine import JobEngine, cancel, running
from openstoq.platform.local import LocalPlatform
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.catalog_helpers import seed_order
from tests.conftest import MakeShop, ShopKeys
from tests.jobs_support import (
    VARIANTS,
    count_markers,
    job_row,
    markers,
    relative,
    seed_offer,
    seed_variants,
    wait_for_job,
    wait_until,
)

HANDLE_KEYS = {"job_id", "status_url", "variant_count"}
STATUS_KEYS = {"job_id", "status", "progress", "total", "processed", "failed", "errors"}
BULK = ("bulk_recalculate_preorder_counts", "bulk_reset_metafields", "bulk_sync_metafields")


@pytest.fixture(scope="module")
async def engine(runtime: Runtime) -> AsyncIterator[JobEngine]:
    async with running(runtime, "workers") as started:
        yield started


@pytest.fixture
def tuned(runtime: Runtime) -> Iterator[Runtime]:
    """Lets a test change job settings for itself (the batch size)."""
    saved = runtime.settings.job_batch_size
    yield runtime
    runtime.settings.job_batch_size = saved


def slow_batches(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every batch waits ``seconds`` before it runs, so a test can catch a job mid-way."""
    real = records.run_batch

    async def slowly(*args: Any) -> str:
        await asyncio.sleep(seconds)
        return await real(*args)

    monkeypatch.setattr(records, "run_batch", slowly)


@contextmanager
def not_enqueued(runtime: Runtime) -> Iterator[None]:
    """Jobs submitted inside are not enqueued (as when no engine runs): only the test runs their batches."""
    engine, runtime.jobs = runtime.jobs, None
    try:
        yield
    finally:
        runtime.jobs = engine


async def variant_metafields(runtime: Runtime, shop_id: str) -> dict[int, dict[str, str]]:
    async with runtime.db.transaction(write=False) as session:
        rows = await session.scalars(
            select(Metafield).where(Metafield.shop_id == shop_id, Metafield.owner_type == "variant")
        )
        held: dict[int, dict[str, str]] = {}
        for row in rows:
            held.setdefault(row.owner_id, {})[row.key] = row.value
        return held


# --- handle and status ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", BULK)
async def test_a_bulk_action_returns_the_published_handle_and_completes(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient, action: str
) -> None:
    ids = await seed_variants(runtime.db, shop.shop_id, range(1, 251))
    response = await client.post(f"{VARIANTS}/{action}", json={"variant_ids": [*ids, 1, 2]})  # duplicates count once
    assert response.status_code == 202, response.text
    handle = response.json()
    assert set(handle) == HANDLE_KEYS
    assert re.fullmatch(rf"{action}_[0-9a-f]{{16}}", handle["job_id"]), handle
    assert handle["status_url"] == f"{BASE_PATH}{VARIANTS}/jobs/{handle['job_id']}"
    assert handle["variant_count"] == 250

    done = await wait_for_job(client, handle["status_url"])
    assert set(done) == STATUS_KEYS, done
    assert done == {
        "job_id": handle["job_id"],
        "status": "completed",
        "progress": 100,
        "total": 250,
        "processed": 250,
        "failed": 0,
        "errors": [],
    }
    held = await variant_metafields(runtime, shop.shop_id)
    assert set(held) == set(ids) and all(held[v]["preorder_count"] == "0" for v in ids)
    assert sorted(m.batch_no for m in await markers(runtime.db, handle["job_id"])) == [0, 1, 2]


async def test_a_running_job_reports_running_with_its_progress(
    engine: JobEngine, tuned: Runtime, shop: ShopKeys, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuned.settings.job_batch_size = 10
    slow_batches(monkeypatch, 0.3)
    await seed_variants(tuned.db, shop.shop_id, range(1, 101))
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": list(range(1, 101))})).json()
    first = (await client.get(relative(handle["status_url"]))).json()
    assert first["status"] == "running" and set(first) == STATUS_KEYS
    assert (first["total"], first["failed"], first["errors"]) == (100, 0, [])
    assert 0 <= first["progress"] < 100 and first["progress"] == first["processed"] * 100 // 100
    seen = [first["processed"]]
    while (body := (await client.get(relative(handle["status_url"]))).json())["status"] == "running":
        seen.append(body["processed"])
        await asyncio.sleep(0.1)
    assert body["status"] == "completed" and body["processed"] == 100
    assert seen == sorted(seen), f"progress went backwards: {seen}"


async def test_offer_id_runs_over_the_offers_variants(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    ids = await seed_variants(runtime.db, shop.shop_id, range(10, 40))
    await seed_variants(runtime.db, shop.shop_id, range(40, 45))  # not on the offer
    offer_id = await seed_offer(runtime.db, shop.shop_id, ids)
    await seed_order(runtime, shop, [(10, 3, offer_id), (11, 2, offer_id)])
    async with runtime.db.transaction(write=True) as session:  # a drifted count the job must repair
        await session.execute(
            update(Variant).where(Variant.shop_id == shop.shop_id, Variant.id == 12).values(preorder_count=7)
        )

    response = await client.post(f"{VARIANTS}/bulk_recalculate_preorder_counts", json={"offer_id": offer_id})
    assert response.status_code == 202, response.text
    assert response.json()["variant_count"] == 30
    done = await wait_for_job(client, response.json()["status_url"])
    assert (done["status"], done["processed"], done["failed"]) == ("completed", 30, 0)

    async with runtime.db.transaction(write=False) as session:
        counts = dict(
            (await session.execute(select(Variant.id, Variant.preorder_count).where(Variant.shop_id == shop.shop_id)))
            .tuples()
            .all()
        )
    assert (counts[10], counts[11], counts[12], counts[13]) == (3, 2, 0, 0)
    held = await variant_metafields(runtime, shop.shop_id)
    assert held[10]["preorder_count"] == "3" and held[12]["preorder_count"] == "0"
    assert not set(held) & set(range(40, 45))


async def test_an_offer_with_no_variants_completes_at_once(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    offer_id = await seed_offer(runtime.db, shop.shop_id, [])
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"offer_id": offer_id})).json()
    assert handle["variant_count"] == 0
    body = (await client.get(relative(handle["status_url"]))).json()
    assert (body["status"], body["progress"], body["total"], body["processed"]) == ("completed", 100, 0, 0)


async def test_a_failed_job_reports_why(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    with not_enqueued(runtime):  # not run: the test fails it by hand, as a batch out of retries does
        handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1, 2]})).json()
    async with runtime.db.transaction(write=True) as session:
        failed = "batch 0 failed; the worker log has the details"
        assert await records.fail(session, handle["job_id"], failed, runtime.clock.now(), runtime.settings)
    body = (await client.get(relative(handle["status_url"]))).json()
    assert set(body) == STATUS_KEYS | {"error"}
    assert (body["status"], body["error"], body["processed"], body["progress"]) == ("failed", failed, 0, 0)
    assert await records.run_batch(runtime, handle["job_id"], 0, "late") == "skipped"


# --- validation and 404s ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "send either variant_ids or offer_id (exactly one of them)"),
        ({"variant_ids": [1], "offer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "exactly one of them"),
        ({"variant_ids": []}, "variant_ids must have at least 1 items"),
        ({"variant_ids": list(range(1, 10_002))}, "variant_ids must have at most 10000 items"),
        ({"variant_ids": [0]}, "variant_ids[0] must be >= 1"),
        ({"variant_ids": [2**63]}, "variant_ids[0] must be <= 9223372036854775807"),
        ({"variant_ids": ["1"]}, "variant_ids[0] must be an integer"),
        ({"offer_id": "nope"}, "offer_id must be text matching"),
        ({"variant_ids": [1], "zz": 1}, "zz is not a known field"),
    ],
)
async def test_bad_bodies_are_422_naming_the_problem(client: httpx.AsyncClient, body: dict, message: str) -> None:
    response = await client.post(f"{VARIANTS}/bulk_sync_metafields", json=body)
    assert response.status_code == 422, response.text
    assert any(message in e for e in response.json()["errors"]), response.json()


async def test_unknown_or_another_shops_offer_is_404(
    runtime: Runtime, make_shop: MakeShop, client: httpx.AsyncClient
) -> None:
    other = await make_shop()
    theirs = await seed_offer(runtime.db, other.shop_id, [])
    for offer_id in (theirs, "3fa85f64-5717-4562-b3fc-2c963f66afa6"):
        response = await client.post(f"{VARIANTS}/bulk_reset_metafields", json={"offer_id": offer_id})
        assert response.status_code == 404, response.text
        assert response.json() == {"errors": [f"Offer {offer_id} not found"]}


async def test_unknown_malformed_another_shops_and_expired_jobs_are_404(
    engine: JobEngine, app, runtime: Runtime, clock: Clock, make_shop: MakeShop, client: httpx.AsyncClient
) -> None:
    for job_id in ("bulk_sync_metafields_0123456789abcdef", "exp_0123456789abcdef", "nope", "bulk_x_123"):
        response = await client.get(f"{VARIANTS}/jobs/{job_id}")
        assert response.status_code == 404, response.text
        assert response.json() == {"errors": [f"Job {job_id} not found"]}

    other = await make_shop()
    await seed_variants(runtime.db, other.shop_id, [1])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=other.headers) as c:
        theirs = (await c.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1]})).json()
        assert (await wait_for_job(c, theirs["status_url"]))["status"] == "completed"
    response = await client.get(relative(theirs["status_url"]))
    assert response.status_code == 404 and response.json() == {"errors": [f"Job {theirs['job_id']} not found"]}

    job = await job_row(runtime.db, theirs["job_id"])
    assert job.expires_at is not None
    clock.advance(job.expires_at - clock.now() + timedelta(seconds=1))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=other.headers) as c:
        expired = await c.get(relative(theirs["status_url"]))
    assert expired.status_code == 404, expired.text


# --- per-item failures ---------------------------------------------------------------------------------


async def test_failing_items_are_recorded_without_failing_their_batch(
    engine: JobEngine,
    runtime: Runtime,
    shop: ShopKeys,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await seed_variants(runtime.db, shop.shop_id, range(1, 61))
    original = LocalPlatform.set_metafields

    async def refuse_variant_7(self, ctx, values):  # the platform refuses one variant's metafields
        values = list(values)
        if ctx.shop_id == shop.shop_id and any(v.owner_id == 7 for v in values):
            raise ValueError("metafield value is too long for variant 7")
        return await original(self, ctx, values)

    monkeypatch.setattr(LocalPlatform, "set_metafields", refuse_variant_7)
    body = {"variant_ids": [*ids, 999_001, 999_002]}  # two this shop does not have
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json=body)).json()
    done = await wait_for_job(client, handle["status_url"])

    assert (done["status"], done["total"], done["processed"], done["failed"]) == ("completed", 62, 62, 3)
    assert sorted(done["errors"], key=lambda e: e["variant_id"]) == [
        {"variant_id": 7, "error": "metafield value is too long for variant 7"},
        {"variant_id": 999_001, "error": "variant 999001 not found"},
        {"variant_id": 999_002, "error": "variant 999002 not found"},
    ]
    held = await variant_metafields(runtime, shop.shop_id)
    assert set(held) == set(ids) - {7}, "every other variant of the failing batch was still synced"


async def test_the_error_list_is_capped_but_every_failure_is_counted(
    engine: JobEngine, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    body = {"variant_ids": list(range(500_001, 500_251))}  # 250 unknown variants
    done = await wait_for_job(
        client, (await client.post(f"{VARIANTS}/bulk_sync_metafields", json=body)).json()["status_url"]
    )
    assert (done["status"], done["processed"], done["failed"]) == ("completed", 250, 250)
    assert len(done["errors"]) == records.ERRORS_CAP == 100


# --- exactly once --------------------------------------------------------------------------------------------


async def test_a_batch_runs_once_however_often_it_is_delivered(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    """Redelivered batches (a retry, a recovery, a duplicate workflow) are skipped by their marker."""
    await seed_variants(runtime.db, shop.shop_id, range(1, 151))
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": list(range(1, 151))})).json()
    done = await wait_for_job(client, handle["status_url"])
    assert done["processed"] == 150
    db = runtime.db
    again = await asyncio.gather(*(records.run_batch(runtime, handle["job_id"], b, "replay") for b in (0, 1, 0, 1)))
    assert again == ["skipped"] * 4
    assert (await job_row(db, handle["job_id"])).processed == 150
    assert await count_markers(db, handle["job_id"]) == 2


async def test_concurrent_deliveries_of_one_batch_commit_once(
    engine: JobEngine, tuned: Runtime, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    """Two executors racing on the same batch (a false death, a double recovery): one commits, one rolls back."""
    await seed_variants(tuned.db, shop.shop_id, range(1, 21))
    with not_enqueued(tuned):  # so only the racing runs below touch the job
        handle = (
            await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": list(range(1, 21))})
        ).json()
    job_id = handle["job_id"]
    results = await asyncio.gather(*(records.run_batch(tuned, job_id, 0, f"racer-{i}") for i in range(4)))
    assert sorted(results) == ["done", "skipped", "skipped", "skipped"]
    job = await job_row(tuned.db, job_id)
    assert (job.status, job.processed) == ("completed", 20)
    assert [m.executor_id for m in await markers(tuned.db, job_id)] == [f"racer-{results.index('done')}"]


# --- cancel --------------------------------------------------------------------------------------------------


async def openstoq_cli(runtime: Runtime, database_url: str, *args: str) -> tuple[int, str, str]:
    """Run ``openstoq <args>`` against this run's database and data dir without blocking the loop."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTOQ_")}
    env.update(OPENSTOQ_DATABASE_URL=database_url, OPENSTOQ_DATA_DIR=str(runtime.settings.data_dir), COLUMNS="200")
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "openstoq"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_operator_cancels_a_job_and_its_remaining_batches_are_skipped(
    engine: JobEngine,
    tuned: Runtime,
    database_url: str,
    shop: ShopKeys,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tuned.settings.job_batch_size = 5
    delay = 0.5
    slow_batches(monkeypatch, delay)
    ids = await seed_variants(tuned.db, shop.shop_id, range(1, 801))  # 160 batches, 8 at a time
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": ids})).json()
    job_id = handle["job_id"]

    async def started() -> bool:
        return (await job_row(tuned.db, job_id)).processed > 0

    await wait_until(started, what="a first batch")
    code, out, err = await openstoq_cli(tuned, database_url, "jobs", "cancel", job_id)
    assert code == 0, err
    assert f"cancelled job {job_id}" in out

    body = (await client.get(relative(handle["status_url"]))).json()
    assert body["status"] == "cancelled" and set(body) == STATUS_KEYS
    # Batches already running roll back when they see the status; nothing commits once they are done.
    await asyncio.sleep(3 * delay + 1)
    job = await job_row(tuned.db, job_id)
    settled = await count_markers(tuned.db, job_id)
    assert job.status == "cancelled" and 0 < job.processed < 800
    assert job.processed == settled * 5, "every committed batch counted, no other"
    await asyncio.sleep(1)
    assert await count_markers(tuned.db, job_id) == settled, "no batch committed after the cancel settled"
    assert (await job_row(tuned.db, job_id)).processed == job.processed

    again = await openstoq_cli(tuned, database_url, "jobs", "cancel", job_id)
    assert again[0] == 0  # idempotent


async def test_cancelling_a_finished_job_is_refused(
    engine: JobEngine, runtime: Runtime, database_url: str, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    await seed_variants(runtime.db, shop.shop_id, [1])
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1]})).json()
    await wait_for_job(client, handle["status_url"])
    code, _, err = await openstoq_cli(runtime, database_url, "jobs", "cancel", handle["job_id"])
    assert code == 1 and "already completed" in err
    code, _, err = await openstoq_cli(runtime, database_url, "jobs", "cancel", "bulk_sync_metafields_ffffffffffffffff")
    assert code == 1 and "no job" in err
    assert (await cancel(runtime, handle["job_id"])) == "completed"


async def test_jobs_list_and_show(
    engine: JobEngine, runtime: Runtime, database_url: str, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    await seed_variants(runtime.db, shop.shop_id, range(1, 4))
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1, 2, 3, 4]})).json()
    await wait_for_job(client, handle["status_url"])

    code, out, err = await openstoq_cli(runtime, database_url, "jobs", "list", "--shop", shop.domain, "--json")
    assert code == 0, err
    (listed,) = json.loads(out)
    assert listed["job_id"] == handle["job_id"] and listed["shop"] == shop.domain
    assert (listed["status"], listed["processed"], listed["failed"]) == ("completed", 4, 1)

    code, out, err = await openstoq_cli(runtime, database_url, "jobs", "list", "--status", "nope")
    assert code == 1 and "--status must be one of" in err

    code, out, err = await openstoq_cli(runtime, database_url, "jobs", "show", handle["job_id"], "--follow", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["errors"] == [{"variant_id": 4, "error": "variant 4 not found"}]
    assert shown["batches_by_executor"] == {engine.executor_id: 1}


# --- the sweeps ------------------------------------------------------------------------------------------------


async def test_a_job_whose_enqueue_was_lost_is_dispatched_by_the_sweep(
    engine: JobEngine, runtime: Runtime, clock: Clock, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    await seed_variants(runtime.db, shop.shop_id, [1, 2])
    with not_enqueued(runtime):  # as if the submitting process died between its commit and its enqueue
        handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1, 2]})).json()
    await asyncio.sleep(0.5)
    assert (await job_row(runtime.db, handle["job_id"])).dispatched_at is None
    clock.advance(timedelta(minutes=1))
    await engine.tick()
    done = await wait_for_job(client, handle["status_url"])
    assert (done["status"], done["processed"]) == ("completed", 2)
    await engine.tick()  # a second sweep finds nothing to do: the job is dispatched
    assert (await job_row(runtime.db, handle["job_id"])).dispatched_at is not None


async def test_a_silent_executor_is_declared_dead_and_forgotten(engine: JobEngine, runtime: Runtime) -> None:
    now = runtime.clock.now()
    async with runtime.db.transaction(write=True) as session:
        session.add(
            JobExecutor(
                id="worker-ghost-0001",
                role="worker",
                hostname="ghost",
                pid=1,
                started_at=now - timedelta(hours=1),
                heartbeat_at=now - timedelta(minutes=10),
            )
        )
    await engine.tick()
    async with runtime.db.transaction(write=False) as session:
        assert await session.get(JobExecutor, "worker-ghost-0001") is None
        mine = await session.get(JobExecutor, engine.executor_id)
        assert mine is not None and mine.heartbeat_at >= now


async def test_expired_jobs_are_deleted_with_their_workflows(
    engine: JobEngine, runtime: Runtime, clock: Clock, shop: ShopKeys, client: httpx.AsyncClient
) -> None:
    await seed_variants(runtime.db, shop.shop_id, [1])
    handle = (await client.post(f"{VARIANTS}/bulk_sync_metafields", json={"variant_ids": [1]})).json()
    await wait_for_job(client, handle["status_url"])
    clock.advance(timedelta(hours=runtime.settings.job_retention_hours, minutes=1))
    await engine.cleanup()
    async with runtime.db.transaction(write=False) as session:
        assert await session.get(Job, handle["job_id"]) is None
    assert await count_markers(runtime.db, handle["job_id"]) == 0
    from dbos import DBOS

    assert await DBOS.get_workflow_status_async(handle["job_id"]) is None
