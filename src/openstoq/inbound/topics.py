"""What each webhook topic does to the mirror: the ingest feature's topic handlers.

Every handler runs inside the webhook's one write transaction (with the delivery record), takes a
validated payload and returns a short note for the acknowledgement. Nothing here sees HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from openstoq.context import ActionContext
from openstoq.db.models import Customer, InventoryLevel, Order, Variant
from openstoq.feature import Topic
from openstoq.inbound import catalog, privacy
from openstoq.inbound.orders import apply_order, may_write_personal_data
from openstoq.platform.payloads import (
    AnyPayload,
    CustomerRedactPayload,
    CustomerUpdatePayload,
    DataRequestPayload,
    InventoryLevelPayload,
    OrderPayload,
    ProductDeletePayload,
    ProductPayload,
    RefundPayload,
    ShopRedactPayload,
    newer,
)
from openstoq.preorders import counts, storefront
from openstoq.preorders.products.service import on_new_variants

log = logging.getLogger("openstoq.webhooks")

UNSTAMPED = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 1000  # ids per IN list: well under every driver's limit on bound parameters
Apply = Callable[[ActionContext, Any], Awaitable[str]]


async def push_metafields(ctx: ActionContext, variant_ids: Iterable[int]) -> None:
    """Bring the variants' metafields (counts, selling plans) up to date on the shop's platform."""
    ids = sorted(set(variant_ids))
    if not ids:
        return
    if await storefront.reachable_platform(ctx) is None:
        # The counts are stored either way; the next metafield sync pushes them once it can.
        log.info("shop %s: metafields of %d variant(s) not pushed, platform not reachable yet", ctx.domain, len(ids))
        return
    storefront.variants_changed(ctx, ids)


# --- orders ----------------------------------------------------------------------------------


def _order_topic(topic: str) -> Apply:
    async def apply(ctx: ActionContext, payload: OrderPayload) -> str:
        note, moved = await apply_order(ctx, payload, topic)
        await push_metafields(ctx, moved)
        return note

    return apply


async def refund(ctx: ActionContext, payload: RefundPayload) -> str:
    # A refund's money and restocks are not mirrored: Shopify follows every refund with
    # orders/updated carrying the new financial_status, which is what the order's state derives from.
    order = await ctx.session.scalar(
        select(Order).where(Order.shop_id == ctx.shop_id, Order.id == payload.order_id).with_for_update()
    )
    if order is None:
        return f"order {payload.order_id} is not a preorder order; nothing to record"
    if payload.financial_status is not None:
        order.financial_status = payload.financial_status
    if payload.total_outstanding is not None:
        order.total_outstanding = payload.total_outstanding
    return f"order {order.id}: refund {payload.id} noted"


# --- catalog and inventory -------------------------------------------------------------------


async def offer_new_variants(ctx: ActionContext, variant_ids: list[int]) -> None:
    """Hand variants new to the mirror to the products capability (offers with a broad source take them)."""
    if variant_ids:
        await on_new_variants(ctx, variant_ids)


async def upsert_catalog(ctx: ActionContext, products: list[ProductPayload]) -> list[int]:
    """Mirror product payloads (webhooks and ``openstoq import catalog``); returns the new variant ids."""
    created = await catalog.upsert_products(ctx, products)
    for start in range(0, len(created), CHUNK):
        # Lines may name a variant before its product payload arrives; and inventory levels
        # may have come first too (they are kept for items no variant maps yet).
        chunk = created[start : start + CHUNK]
        await counts.recalculate(ctx, chunk)
        await _sum_inventory(ctx, chunk)
    await offer_new_variants(ctx, created)
    return created


async def product_upsert(ctx: ActionContext, payload: ProductPayload) -> str:
    created = await upsert_catalog(ctx, [payload])
    return f"product {payload.id} mirrored with {len(payload.variants)} variant(s), {len(created)} new"


async def product_delete(ctx: ActionContext, payload: ProductDeletePayload) -> str:
    variants = await catalog.delete_product(ctx, payload.id)
    return f"product {payload.id} and {len(variants)} variant(s) marked deleted"


async def _sum_inventory(ctx: ActionContext, variant_ids: list[int]) -> None:
    """Set each variant's quantity to the sum over its locations, where levels are known."""
    rows = await ctx.session.execute(
        select(Variant.id, func.sum(InventoryLevel.available))
        .join(
            InventoryLevel,
            (InventoryLevel.shop_id == Variant.shop_id)
            & (InventoryLevel.inventory_item_id == Variant.inventory_item_id),
        )
        .where(Variant.shop_id == ctx.shop_id, Variant.id.in_(variant_ids))
        .group_by(Variant.id)
    )
    for variant_id, total in rows.all():
        await ctx.session.execute(
            update(Variant)
            .where(Variant.shop_id == ctx.shop_id, Variant.id == variant_id)
            .values(inventory_quantity=int(total or 0))
        )


async def inventory_level(ctx: ActionContext, payload: InventoryLevelPayload) -> str:
    item = payload.inventory_item_id
    # Lock the item's variants first: two locations updated at once then sum one after the other.
    variants = list(
        await ctx.session.scalars(
            select(Variant.id)
            .where(Variant.shop_id == ctx.shop_id, Variant.inventory_item_id == item)
            .order_by(Variant.id)
            .with_for_update()
        )
    )
    level = await ctx.session.get(InventoryLevel, (ctx.shop_id, item, payload.location_id), with_for_update=True)
    if level is not None and not newer(payload.updated_at, level.updated_at):
        return f"inventory item {item} at location {payload.location_id}: older than the level held; ignored"
    if level is None:
        level = InventoryLevel(shop_id=ctx.shop_id, inventory_item_id=item, location_id=payload.location_id)
        ctx.session.add(level)
    level.available = payload.available or 0
    # The platform's time of this level; an unstamped event leaves it (or "unknown") so any stamped one is newer.
    level.updated_at = payload.updated_at or level.updated_at or UNSTAMPED
    await ctx.session.flush()
    if not variants:
        return f"inventory item {item} is not mapped to a variant yet; level kept for when it is"
    await _sum_inventory(ctx, variants)
    return f"inventory item {item}: {len(variants)} variant(s) updated"


# --- customers -------------------------------------------------------------------------------


async def customer_update(ctx: ActionContext, payload: CustomerUpdatePayload) -> str:
    customer = await ctx.session.scalar(
        select(Customer)
        .where(Customer.shop_id == ctx.shop_id, Customer.platform_customer_id == payload.id)
        .with_for_update()
    )
    if customer is None:
        # Only customers of preorder orders are kept: nobody else's data is stored.
        return f"customer {payload.id} has no preorder order; nothing stored"
    if not may_write_personal_data(customer, payload.updated_at):
        return f"customer {payload.id} was redacted; the update is older than the redaction and is ignored"
    customer.redacted_at = None
    customer.email = payload.email
    customer.first_name = payload.first_name
    customer.last_name = payload.last_name
    customer.phone = payload.phone
    customer.updated_at = ctx.clock.now()
    return f"customer {payload.id} updated"


# --- the table -------------------------------------------------------------------------------

_ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled")

TOPICS: tuple[Topic, ...] = (
    *(Topic(name, OrderPayload, _order_topic(name)) for name in _ORDER_TOPICS),
    Topic("refunds/create", RefundPayload, refund),
    Topic("products/create", ProductPayload, product_upsert),
    Topic("products/update", ProductPayload, product_upsert),
    Topic("products/delete", ProductDeletePayload, product_delete),
    Topic("inventory_levels/update", InventoryLevelPayload, inventory_level),
    Topic("customers/update", CustomerUpdatePayload, customer_update),
    Topic("customers/redact", CustomerRedactPayload, privacy.redact_customer),
    Topic("customers/data_request", DataRequestPayload, privacy.data_request),
    Topic("shop/redact", ShopRedactPayload, privacy.redact_shop),
    Topic("app/uninstalled", AnyPayload, privacy.app_uninstalled),
)
