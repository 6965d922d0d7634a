"""Seeding a shop's catalog mirror and orders straight through the services (not through webhooks)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from openstoq.context import ActionContext
from openstoq.db.models import Order, OrderLine
from openstoq.inbound.catalog import upsert_products
from openstoq.platform.payloads import ProductPayload
from openstoq.runtime import Runtime
from tests.conftest import ShopKeys

_ids = itertools.count(1_000_000)


@asynccontextmanager
async def shop_context(runtime: Runtime, shop: ShopKeys) -> AsyncIterator[ActionContext]:
    """One write transaction acting for ``shop``, as an action would."""
    async with runtime.shop_transaction(shop.shop_id, source="api", domain=shop.domain) as ctx:
        yield ctx


def product(product_id: int, variant_ids: Sequence[int], *, collections: Sequence[int] = (), **fields: Any) -> dict:
    """A Shopify REST product payload with one variant per id."""
    return {
        "id": product_id,
        "title": fields.pop("title", f"Product {product_id}"),
        "collection_ids": list(collections),
        "variants": [
            {"id": v, "title": f"Variant {v}", "sku": f"SKU-{v}", "price": "19.90", "inventory_quantity": 3}
            for v in variant_ids
        ],
        **fields,
    }


async def seed_catalog(runtime: Runtime, shop: ShopKeys, *products: dict) -> list[int]:
    """Upsert product payloads into the shop's catalog mirror; returns the ids of new variants."""
    async with shop_context(runtime, shop) as ctx:
        return await upsert_products(ctx, [ProductPayload.model_validate(p) for p in products])


async def seed_order(
    runtime: Runtime,
    shop: ShopKeys,
    lines: Sequence[tuple[int, int, str | None]],
    *,
    cancelled: bool = False,
    fulfilled: bool = False,
) -> int:
    """An order with ``(variant_id, quantity, offer_id)`` lines (offer_id None: not a preorder line)."""
    order_id = next(_ids)
    async with shop_context(runtime, shop) as ctx:
        now = ctx.clock.now()
        ctx.session.add(
            Order(
                shop_id=shop.shop_id,
                id=order_id,
                name=f"#{order_id}",
                currency="USD",
                financial_status="paid",
                fulfillment_status="fulfilled" if fulfilled else None,
                total_price="10.00",
                placed_at=now,
                cancelled_at=now if cancelled else None,
                updated_at=now,
            )
        )
        for variant_id, quantity, offer_id in lines:
            ctx.session.add(
                OrderLine(
                    shop_id=shop.shop_id,
                    id=next(_ids),
                    order_id=order_id,
                    variant_id=variant_id,
                    offer_id=offer_id,
                    quantity=quantity,
                    price="10.00",
                    title="Line",
                )
            )
    return order_id


# --- for tests that call every registered action with a minimal body --------------------------------

# The variant id minimal request bodies use (the schemas' minimum), and the product holding it. Actions
# that take variant ids answer 422 for ids the shop does not have, so generic callers make this one real.
EXAMPLE_VARIANT = 1


async def give_example_variant(runtime: Runtime, shop: ShopKeys) -> None:
    """Put ``EXAMPLE_VARIANT`` in the shop's catalog."""
    await seed_catalog(runtime, shop, product(1, [EXAMPLE_VARIANT]))


def attach_example_request(offer_id: str) -> tuple[str, dict[str, Any]]:
    """The path (below the base path) and body attaching ``EXAMPLE_VARIANT`` to an offer, so per-variant
    actions (overrides) accept minimal bodies too."""
    return f"/preorders/offers/{offer_id}/products/add_variants", {"variant_ids": [EXAMPLE_VARIANT]}
