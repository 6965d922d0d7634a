"""The outbox: commands written with the transaction that decides them, delivered after it commits,
exactly once, retried with backoff, and never lost to a crash between the commit and the delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from openstoq.app import create_app
from openstoq.composition import build_runtime
from openstoq.db.models import Metafield, OutboxEntry
from openstoq.platform.local import LocalPlatform
from openstoq.preorders import storefront
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.conftest import ShopKeys
from tests.webhook_support import deliver, next_id, ok, product


async def pending(runtime: Runtime, shop: ShopKeys) -> list[OutboxEntry]:
    async with runtime.db.transaction(write=False) as session:
        rows = await session.scalars(select(OutboxEntry).where(OutboxEntry.shop_id == shop.shop_id))
        return list(rows)


async def shop_metafield(runtime: Runtime, shop: ShopKeys) -> str | None:
    async with runtime.db.transaction(write=False) as session:
        return await session.scalar(
            select(Metafield.value).where(
                Metafield.shop_id == shop.shop_id, Metafield.owner_type == "shop", Metafield.key == "selling_plans"
            )
        )


@pytest.fixture
async def deferred(runtime: Runtime) -> AsyncIterator[Runtime]:
    """A second process on the same database that leaves its outbox to the workers (serve --no-workers)."""
    other = build_runtime(runtime.settings, clock=runtime.clock, deliver_inline=False)
    yield other
    await other.close()


def api(runtime: Runtime, shop: ShopKeys) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime.settings, runtime=runtime))
    return httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers)


def count_deliveries(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, shop: ShopKeys) -> list[tuple[str, int]]:
    """Every delivery the courier makes for ``shop`` from now on: (kind, payloads delivered at once)."""
    calls: list[tuple[str, int]] = []
    for kind, command in dict(runtime.courier.commands).items():

        async def counted(ctx, payloads, kind=kind, real=command.deliver):
            if ctx.shop_id == shop.shop_id:
                calls.append((kind, len(payloads)))
            await real(ctx, payloads)

        monkeypatch.setitem(runtime.courier.commands, kind, replace(command, deliver=counted))
    return calls


async def test_on_the_embedded_default_the_write_is_delivered_before_its_answer(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys
) -> None:
    offer = (await client.post("/preorders/offers", json={"name": "Now"})).json()["id"]
    assert (await client.post(f"/preorders/offers/{offer}/enable")).status_code == 202
    assert '"name":"Now"' in (await shop_metafield(runtime, shop) or ""), "read after the 202: already there"
    assert await pending(runtime, shop) == []


async def test_rows_committed_but_never_delivered_are_delivered_by_the_drain(
    runtime: Runtime, deferred: Runtime, shop: ShopKeys
) -> None:
    """The crash between commit and delivery: the rows are in the database, so nothing is lost."""
    async with api(deferred, shop) as client:
        offer = (await client.post("/preorders/offers", json={"name": "Later"})).json()["id"]
        assert (await client.post(f"/preorders/offers/{offer}/enable")).status_code == 202
    assert [row.kind for row in await pending(runtime, shop)] == [storefront.SHOP_METAFIELD]
    assert await shop_metafield(runtime, shop) is None, "decided and committed, not yet delivered"
    assert await runtime.courier.drain() >= 1
    assert '"name":"Later"' in (await shop_metafield(runtime, shop) or "")
    assert await pending(runtime, shop) == []


async def test_a_writer_that_died_after_its_commit_leaves_its_rows_to_the_drain_after_the_grace(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def died(_ids) -> None:  # the process is gone right after its commit: no inline delivery
        return None

    monkeypatch.setattr(runtime, "deliver", died)
    offer = (await client.post("/preorders/offers", json={"name": "Orphan"})).json()["id"]
    await client.post(f"/preorders/offers/{offer}/enable")
    monkeypatch.undo()
    assert len(await pending(runtime, shop)) == 1
    await runtime.courier.drain()
    assert len(await pending(runtime, shop)) == 1, "within the grace the row is still its writer's to deliver"
    runtime.clock.advance(timedelta(seconds=runtime.settings.outbox_inline_grace_seconds + 1))
    await runtime.courier.drain()
    assert await pending(runtime, shop) == []
    assert '"name":"Orphan"' in (await shop_metafield(runtime, shop) or "")


async def test_a_failed_delivery_is_kept_with_its_error_and_retried_with_backoff(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LocalPlatform.set_metafields

    async def unavailable(self, ctx, values):
        if ctx.shop_id == shop.shop_id:
            raise ConnectionError("platform unavailable")
        return await real(self, ctx, values)

    monkeypatch.setattr(LocalPlatform, "set_metafields", unavailable)
    offer = (await client.post("/preorders/offers", json={"name": "Retry"})).json()["id"]
    assert (await client.post(f"/preorders/offers/{offer}/enable")).status_code == 202, "the write stands"
    [row] = await pending(runtime, shop)
    assert row.attempts == 1 and "platform unavailable" in (row.last_error or "")
    assert row.available_at > runtime.clock.now(), "not retried at once"
    assert row.lease_token is None
    monkeypatch.undo()
    await runtime.courier.drain()
    assert len(await pending(runtime, shop)) == 1, "not due yet"
    runtime.clock.advance(timedelta(seconds=runtime.settings.outbox_retry_base_seconds * 2))
    assert await runtime.courier.drain() >= 1
    assert await pending(runtime, shop) == []
    assert '"name":"Retry"' in (await shop_metafield(runtime, shop) or "")


def test_backoff_doubles_up_to_its_cap(runtime: Runtime) -> None:
    settings, courier = runtime.settings, runtime.courier
    for attempts in (1, 2, 5, 40):
        expected = min(settings.outbox_retry_base_seconds * 2 ** (attempts - 1), settings.outbox_retry_max_seconds)
        assert 0.8 * expected <= courier.backoff(attempts) <= 1.2 * expected


async def test_a_burst_of_commands_is_one_delivery_per_shop_and_kind(
    runtime: Runtime, deferred: Runtime, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    variants = [next_id() for _ in range(3)]
    for variant in variants:
        ok(
            await deliver(
                create_app(runtime.settings, runtime=runtime), shop, "products/create", product(next_id(), variant)
            )
        )
    async with api(deferred, shop) as client:
        offer = (await client.post("/preorders/offers", json={"name": "Burst"})).json()["id"]
        for variant in variants:  # three commits, each deciding a plan change and its metafields
            body = {"variant_ids": [variant]}
            assert (await client.post(f"/preorders/offers/{offer}/products/add_variants", json=body)).status_code == 202
    calls = count_deliveries(runtime, monkeypatch, shop)
    await runtime.courier.drain()
    assert calls[:3] == [
        (storefront.SELLING_PLAN, 3),
        (storefront.VARIANT_METAFIELDS, 3),
        (storefront.SHOP_METAFIELD, 3),
    ], "one delivery per kind, plans first"
    assert await pending(runtime, shop) == []


async def test_concurrent_drains_deliver_each_row_once(
    runtime: Runtime, deferred: Runtime, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api(deferred, shop) as client:
        for name in ("a", "b", "c", "d"):
            offer = (await client.post("/preorders/offers", json={"name": name})).json()["id"]
            await client.post(f"/preorders/offers/{offer}/enable")
    calls = count_deliveries(runtime, monkeypatch, shop)
    await asyncio.gather(*(runtime.courier.drain() for _ in range(4)))
    assert sum(n for kind, n in calls if kind == storefront.SHOP_METAFIELD) == 4, "each row delivered once"
    async with runtime.db.transaction(write=False) as session:
        left = await session.scalar(select(func.count()).where(OutboxEntry.shop_id == shop.shop_id))
    assert left == 0
