"""The catalog mirror: Shopify product JSON in, product and variant rows out.

Used by ``products/create``/``products/update`` webhooks and ``openstoq import catalog``. A product
payload is Shopify's REST product shape: ``id``, ``title``, ``handle``, ``vendor``, ``product_type``,
``status``, ``variants [{id, title, sku, price, position, inventory_item_id, inventory_quantity,
inventory_policy}]``; openstoq also reads an optional ``collection_ids`` list.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Product, Variant
from openstoq.errors import ValidationFailed
from openstoq.validation import messages

PlatformId = Field(ge=1, lt=2**63)


class VariantPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = PlatformId
    title: str = Field("Default Title", max_length=255)
    sku: str | None = Field(None, max_length=255)
    price: str | float | int = "0.00"
    position: int = Field(1, ge=-(2**31), lt=2**31)  # an INTEGER column
    inventory_item_id: int | None = Field(None, ge=1, lt=2**63)
    inventory_quantity: int | None = Field(None, ge=-(2**31), lt=2**31)
    inventory_policy: str = "deny"


class ProductPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = PlatformId
    title: str = Field(max_length=255)
    handle: str | None = Field(None, max_length=255)
    vendor: str | None = Field(None, max_length=255)
    product_type: str | None = Field(None, max_length=255)
    status: str = "active"
    collection_ids: list[int] = []
    variants: list[VariantPayload] = []


def parse_product(payload: Any) -> ProductPayload:
    """A product payload, or a 422 naming what is wrong with it."""
    try:
        return ProductPayload.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(*messages(exc)) from None


def money(value: str | float | int | None) -> str:
    """A decimal string with two places ("19.9" → "19.90"); refuses what is not a number."""
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        raise ValidationFailed(f"{value!r} is not an amount of money") from None
    if not amount.is_finite():
        raise ValidationFailed(f"{value!r} is not an amount of money")
    return str(amount.quantize(Decimal("0.01")))


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
            variant.price = money(item.price)
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


async def known_variants(ctx: ActionContext, variant_ids: Iterable[int]) -> set[int]:
    """The ids among ``variant_ids`` that the shop's catalog has (and that are not deleted)."""
    ids = list(set(variant_ids))
    if not ids:
        return set()
    rows = await ctx.session.scalars(
        select(Variant.id).where(Variant.shop_id == ctx.shop_id, Variant.id.in_(ids), Variant.deleted_at.is_(None))
    )
    return set(rows)
