"""The catalog mirror: Shopify product payloads (``platform.payloads.ProductPayload``) in, product
and variant rows out. Used by ``products/create``/``products/update`` webhooks and
``openstoq import catalog``."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Product, Variant
from openstoq.platform.payloads import ProductPayload


async def upsert_products(ctx: ActionContext, products: Iterable[ProductPayload]) -> list[int]:
    """Create or update products and their variants; variants no longer listed are marked deleted.

    Returns the ids of variants that are new to the mirror (offers with a broad source pick them up).
    """
    now = ctx.clock.now()
    created: list[int] = []
    for payload in products:
        product = await ctx.session.get(Product, (ctx.shop_id, payload.id))
        if product is None:
            product = Product(shop_id=ctx.shop_id, id=payload.id)
            ctx.session.add(product)
        product.title = payload.title
        product.handle = payload.handle
        product.vendor = payload.vendor
        product.product_type = payload.product_type
        product.status = payload.status
        product.collection_ids = sorted(set(payload.collection_ids))
        product.updated_at = now
        product.deleted_at = None
        existing = {
            v.id: v
            for v in await ctx.session.scalars(
                select(Variant).where(Variant.shop_id == ctx.shop_id, Variant.product_id == payload.id)
            )
        }
        listed = set()
        for item in payload.variants:
            listed.add(item.id)
            variant = existing.get(item.id) or await ctx.session.get(Variant, (ctx.shop_id, item.id))
            if variant is None:
                variant = Variant(shop_id=ctx.shop_id, id=item.id, preorder_count=0, inventory_quantity=0)
                ctx.session.add(variant)
                created.append(item.id)
            variant.product_id = payload.id
            variant.title = item.title
            variant.sku = item.sku
            variant.price = item.price
            variant.position = item.position
            variant.inventory_item_id = item.inventory_item_id
            if item.inventory_quantity is not None:
                variant.inventory_quantity = item.inventory_quantity
            variant.inventory_policy = item.inventory_policy
            variant.updated_at = now
            variant.deleted_at = None
        for variant_id, variant in existing.items():
            if variant_id not in listed and variant.deleted_at is None:
                variant.deleted_at = now
    await ctx.session.flush()
    return created


async def delete_product(ctx: ActionContext, product_id: int) -> list[int]:
    """Mark a product and its variants deleted (orders keep pointing at them); returns the variant ids."""
    now = ctx.clock.now()
    product = await ctx.session.get(Product, (ctx.shop_id, product_id))
    if product is not None:
        product.deleted_at = now
    variants = list(
        await ctx.session.scalars(
            select(Variant).where(Variant.shop_id == ctx.shop_id, Variant.product_id == product_id)
        )
    )
    for variant in variants:
        variant.deleted_at = now
    await ctx.session.flush()
    return [v.id for v in variants]
