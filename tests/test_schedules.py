"""Offer schedules take effect by themselves: the scheduler flips offers at starts_at and ends_at.

Time moves by the clock, never by sleeping. The database is shared by the whole run, so a pass may
also flip other tests' offers: assertions look at this test's offers, and counts are lower bounds
except for the second pass, which must flip nothing anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from openstoq.clock import Clock
from openstoq.composition import build_runtime
from openstoq.db.models import Metafield, Offer, OfferVariant, Shop
from openstoq.jobs.engine import repeat
from openstoq.platform import NAMESPACE, platform_for
from openstoq.preorders import metafields
from openstoq.preorders.offers import scheduler as schedules
from openstoq.preorders.offers.scheduler import apply_due_schedules
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.conftest import MakeShop, ShopKeys

OFFERS = "/preorders/offers"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def client_for(app: Any, shop: ShopKeys) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers)


async def new_offer(client: httpx.AsyncClient, name: str = "Drop") -> str:
    response = await client.post(OFFERS, json={"name": name})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def schedule(client: httpx.AsyncClient, oid: str, starts_at: datetime | None, ends_at: datetime | None) -> dict:
    body = {k: v.isoformat() for k, v in (("starts_at", starts_at), ("ends_at", ends_at)) if v is not None}
    response = await client.post(f"{OFFERS}/{oid}/schedule", json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def events(client: httpx.AsyncClient, oid: str) -> list[dict]:
    response = await client.get(f"{OFFERS}/{oid}/history", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return response.json()["events"]


async def scheduler_actions(client: httpx.AsyncClient, oid: str) -> list[str]:
    return [e["action"] for e in await events(client, oid) if e["source"] == "scheduler"]


async def listed(runtime: Runtime, shop_id: str) -> list[str] | None:
    """The offer ids the shop-level ``selling_plans`` metafield lists (None: never written)."""
    async with runtime.db.transaction(write=False) as session:
        value = await session.scalar(
            select(Metafield.value).where(
                Metafield.shop_id == shop_id,
                Metafield.owner_type == "shop",
                Metafield.owner_id == 0,
                Metafield.namespace == NAMESPACE,
                Metafield.key == "selling_plans",
            )
        )
    return None if value is None else [entry["offer_id"] for entry in orjson.loads(value)]


async def test_goes_live_at_starts_at_and_ends_at_ends_at(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, clock: Clock
) -> None:
    oid = await new_offer(client)
    start, end = clock.now() + HOUR, clock.now() + DAY
    await schedule(client, oid, start, end)

    await apply_due_schedules(runtime)
    assert await scheduler_actions(client, oid) == [], "nothing is due before starts_at"
    assert oid not in (await listed(runtime, shop.shop_id) or [])

    clock.advance(2 * HOUR)
    assert await apply_due_schedules(runtime) >= 1
    went_live = (await events(client, oid))[-1]
    assert (went_live["action"], went_live["source"]) == ("went_live", "scheduler")
    assert went_live["changes"]["live"] == [False, True]
    assert (
        went_live["changes"]["schedule"]["starts_at"]
        == (await client.get(f"{OFFERS}/{oid}")).json()["schedule"]["starts_at"]
    )
    assert await listed(runtime, shop.shop_id) == [oid], "the storefront now offers it"

    clock.advance(DAY)
    assert await apply_due_schedules(runtime) >= 1
    assert await scheduler_actions(client, oid) == ["went_live", "ended"]
    assert (await events(client, oid))[-1]["changes"]["live"] == [True, False]
    assert await listed(runtime, shop.shop_id) == [], "the storefront no longer offers it"
    read = (await client.get(f"{OFFERS}/{oid}")).json()
    assert read["status"] == "scheduled" and read["live"] is False and read["schedule"]["ends_at"]


async def test_catches_up_after_downtime(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, clock: Clock
) -> None:
    late = await new_offer(client, "started while down")
    missed = await new_offer(client, "whole window while down")
    await schedule(client, late, clock.now() + HOUR, None)
    await schedule(client, missed, clock.now() + HOUR, clock.now() + 2 * HOUR)
    clock.advance(3 * HOUR)

    # A new runtime on the same database: what a restart after the downtime starts with.
    restarted = build_runtime(runtime.settings, clock=clock)
    try:
        assert await apply_due_schedules(restarted) >= 2
    finally:
        await restarted.close()
    assert await scheduler_actions(client, late) == ["went_live"]
    assert await scheduler_actions(client, missed) == ["went_live", "ended"], "both flips, in order"
    assert await listed(runtime, shop.shop_id) == [late]


async def test_a_second_pass_flips_nothing(runtime: Runtime, client: httpx.AsyncClient, clock: Clock) -> None:
    oid = await new_offer(client)
    await schedule(client, oid, clock.now() + HOUR, clock.now() + DAY)
    clock.advance(2 * HOUR)
    assert await apply_due_schedules(runtime) >= 1
    before = await events(client, oid)
    assert await apply_due_schedules(runtime) == 0
    assert await events(client, oid) == before


async def test_hand_made_changes_are_not_recorded_by_the_scheduler(
    runtime: Runtime, client: httpx.AsyncClient, clock: Clock
) -> None:
    # Enabled, then scheduled for later: the merchant took it off sale, not the scheduler.
    later = await new_offer(client, "later")
    await client.post(f"{OFFERS}/{later}/enable")
    await schedule(client, later, clock.now() + HOUR, clock.now() + DAY)
    # Scheduled with a start already past: the merchant put it on sale.
    now_on = await new_offer(client, "now")
    assert (await schedule(client, now_on, clock.now() - HOUR, clock.now() + DAY))["live"] is True
    await apply_due_schedules(runtime)
    assert await scheduler_actions(client, later) == []
    assert await scheduler_actions(client, now_on) == []

    clock.advance(2 * HOUR)
    await apply_due_schedules(runtime)
    assert await scheduler_actions(client, later) == ["went_live"]
    # Disabled by hand while live, enabled by hand: nothing is left for the scheduler to end.
    await client.post(f"{OFFERS}/{later}/disable")
    await client.post(f"{OFFERS}/{now_on}/enable")
    clock.advance(2 * DAY)
    await apply_due_schedules(runtime)
    assert await scheduler_actions(client, later) == ["went_live"]
    assert await scheduler_actions(client, now_on) == []


async def test_shops_are_independent(runtime: Runtime, app: Any, make_shop: MakeShop, clock: Clock) -> None:
    a, b = await make_shop(), await make_shop()
    async with client_for(app, a) as client_a, client_for(app, b) as client_b:
        offer_a, offer_b = await new_offer(client_a), await new_offer(client_b)
        await schedule(client_a, offer_a, clock.now() + HOUR, None)
        await schedule(client_b, offer_b, clock.now() + 3 * HOUR, None)

        clock.advance(2 * HOUR)
        await apply_due_schedules(runtime)
        assert await scheduler_actions(client_a, offer_a) == ["went_live"]
        assert await scheduler_actions(client_b, offer_b) == []
        assert await listed(runtime, a.shop_id) == [offer_a]
        assert not await listed(runtime, b.shop_id), "shop B's storefront lists nothing yet"

        clock.advance(2 * HOUR)
        await apply_due_schedules(runtime)
        assert await scheduler_actions(client_b, offer_b) == ["went_live"]
        assert await listed(runtime, b.shop_id) == [offer_b]
        assert await listed(runtime, a.shop_id) == [offer_a]


async def test_a_discarded_offer_is_never_flipped(runtime: Runtime, client: httpx.AsyncClient, clock: Clock) -> None:
    by_action, by_row = await new_offer(client, "discard action"), await new_offer(client, "raw row")
    for oid in (by_action, by_row):
        await schedule(client, oid, clock.now() + HOUR, clock.now() + DAY)
    await client.post(f"{OFFERS}/{by_action}/discard")
    # A discarded row that still holds its window and due time: the scheduler's own status check must hold.
    async with runtime.db.transaction(write=True) as session:
        await session.execute(update(Offer).where(Offer.id == by_row).values(status="discarded"))
    clock.advance(2 * DAY)
    await apply_due_schedules(runtime)
    for oid in (by_action, by_row):
        assert await scheduler_actions(client, oid) == []
        assert (await client.get(f"{OFFERS}/{oid}")).json()["status"] == "discarded"


async def test_variant_overrides_follow_the_live_offer(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, clock: Clock
) -> None:
    """A variant shows the overrides of its first live offer, so a flip rewrites its metafields too."""
    scheduled, enabled = await new_offer(client, "first"), await new_offer(client, "second")
    variant_id = 7_000_001
    async with runtime.db.transaction(write=True) as session:
        for oid, max_count in ((scheduled, 3), (enabled, 7)):
            session.add(
                OfferVariant(
                    shop_id=shop.shop_id,
                    offer_id=oid,
                    variant_id=variant_id,
                    max_count=max_count,
                    created_at=clock.now(),
                )
            )
    await client.post(f"{OFFERS}/{enabled}/enable")
    await schedule(client, scheduled, clock.now() + HOUR, clock.now() + DAY)

    async def max_count() -> str | None:
        async with runtime.shop_transaction(shop.shop_id, source="api", domain=shop.domain) as ctx:
            platform = await platform_for(ctx)
            held = await platform.read_metafields(ctx, "variant", [variant_id])
        value = held[variant_id].get("preorder_max_count")
        return None if value is None else value.value

    async with runtime.shop_transaction(shop.shop_id, source="api", domain=shop.domain) as ctx:
        await metafields.sync(ctx, await platform_for(ctx), [variant_id])
    assert await max_count() == "7"
    clock.advance(2 * HOUR)
    await apply_due_schedules(runtime)
    assert await max_count() == "3", "the scheduled offer is now the variant's first live offer"
    clock.advance(DAY)
    await apply_due_schedules(runtime)
    assert await max_count() == "7"


async def test_a_shop_the_platform_cannot_reach_still_flips(
    runtime: Runtime, client: httpx.AsyncClient, shop: ShopKeys, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    oid = await new_offer(client)
    await schedule(client, oid, clock.now() + HOUR, None)
    async with runtime.db.transaction(write=True) as session:
        await session.execute(update(Shop).where(Shop.id == shop.shop_id).values(platform="shopify"))
    clock.advance(2 * HOUR)
    with caplog.at_level(logging.INFO, logger="openstoq.preorders.offers.scheduler"):
        await apply_due_schedules(runtime)
    assert await scheduler_actions(client, oid) == ["went_live"]
    assert oid not in (await listed(runtime, shop.shop_id) or [])
    assert f"offer {oid} flipped without a platform update" in caplog.text


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set after every completed pass of the real apply_due_schedules."""
    done = asyncio.Event()
    real = schedules.apply_due_schedules

    async def counted(rt: Runtime) -> int:
        flipped = await real(rt)
        done.set()
        return flipped

    monkeypatch.setattr(schedules, "apply_due_schedules", counted)
    return done


async def test_the_schedules_duty_catches_up_at_start_and_stops(
    runtime: Runtime, client: httpx.AsyncClient, clock: Clock, passes: asyncio.Event
) -> None:
    oid = await new_offer(client)
    await schedule(client, oid, clock.now() + HOUR, None)
    clock.advance(2 * HOUR)
    stop = asyncio.Event()
    task = asyncio.create_task(repeat("schedules", 3600, lambda: schedules.apply_due_schedules(runtime), stop))
    await asyncio.wait_for(passes.wait(), 10)
    assert await scheduler_actions(client, oid) == ["went_live"], "the first pass runs at start"
    stop.set()
    await asyncio.wait_for(task, 10)  # well before the hour-long interval: stop cuts the wait short


async def test_the_schedules_duty_survives_a_failing_pass(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    again = asyncio.Event()

    async def flaky(_: Runtime) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        again.set()
        return 0

    monkeypatch.setattr(schedules, "apply_due_schedules", flaky)
    stop = asyncio.Event()
    task = asyncio.create_task(repeat("schedules", 0.01, lambda: schedules.apply_due_schedules(runtime), stop))
    await asyncio.wait_for(again.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert "duty schedules failed" in caplog.text and "database went away" in caplog.text
