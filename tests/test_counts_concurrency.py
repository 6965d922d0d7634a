"""Preorder counts under concurrent writers: a recount never overwrites units an order event
committed while it was summing the lines (the lost-update defect found on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from openstoq.preorders import counts
from openstoq.runtime import Runtime
from tests.catalog_helpers import shop_context
from tests.conftest import ShopKeys
from tests.webhook_support import attach, create_offer, deliver, line, next_id, ok, order, preorder_count, product

# How long the recount waits for the concurrent order event: it either finishes (no lock stopped
# it) or is still waiting on the recount's row lock. The outcome is checked either way.
ORDER_EVENT_WAIT = 2.0


async def test_a_recount_keeps_the_units_of_an_order_committed_while_it_summed(
    app, runtime: Runtime, shop: ShopKeys, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = next_id()
    ok(await deliver(app, shop, "products/create", product(next_id(), variant)))
    await attach(runtime, shop, await create_offer(client), variant)
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), variant, 2))))

    summed = counts.counted
    concurrent: list[asyncio.Task] = []

    async def sum_then_let_an_order_in(ctx, variant_ids):
        truth = await summed(ctx, variant_ids)
        if not concurrent:  # once: an order for 3 more units arrives right after the lines were summed
            payload = order(next_id(), line(next_id(), variant, 3))
            concurrent.append(asyncio.ensure_future(deliver(app, shop, "orders/create", payload)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(concurrent[0]), ORDER_EVENT_WAIT)
        return truth

    monkeypatch.setattr(counts, "counted", sum_then_let_an_order_in)
    async with shop_context(runtime, shop) as ctx:
        await counts.recalculate(ctx, [variant])
    ok(await concurrent[0])
    assert await preorder_count(runtime, shop, variant) == 5, "the order acknowledged meanwhile kept its 3 units"
