"""Which variants an offer covers (the products capability's block and its service).

The block says where membership comes from: ``all`` (every variant of the shop), ``collection``
(the variants of one collection's products) or ``custom`` (the variants added by hand). The
membership itself is the ``offer_variants`` rows, with per-variant overrides. Every membership change
is pushed to the platform in the same transaction: selling plan group membership, then the metafields
of every variant it touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import and_, delete, func, select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Product, Variant
from openstoq.db.types import utc_iso
from openstoq.errors import Conflict, ValidationFailed
from openstoq.merge import changed_paths, deep_merge
from openstoq.platform import catalog, platform_for
from openstoq.preorders import metafields, storefront
from openstoq.preorders.capabilities import Capability
from openstoq.preorders.offers import PATH, load, load_active, record
from openstoq.registry import Payload
from openstoq.validation import messages

Source = Literal["all", "collection", "custom"]
MAX_IDS = 250  # variant ids per add/remove call
HISTORY_IDS = 250  # ids kept per history entry (a source change may touch a whole catalog)
PlatformId = Field(ge=1, lt=2**63)


def check_collection(source: str, collection_id: int | None) -> None:
    """``collection_id`` goes with ``source: collection`` and only with it."""
    if source == "collection" and collection_id is None:
        raise ValueError("collection_id is required when source is collection")
    if source != "collection" and collection_id is not None:
        raise ValueError("collection_id is only used with source collection; send null or leave it out")


class Products(BaseModel):
    """Which variants the offer covers."""

    model_config = ConfigDict(extra="forbid")

    source: Source = Field(
        "custom",
        description="all: every variant of the shop, new ones included; collection: the variants of the "
        "collection's products, new ones included; custom: the variants added by hand",
    )
    collection_id: int | None = Field(
        None, ge=1, lt=2**63, description="The Shopify collection id; required with source collection, else null"
    )

    @model_validator(mode="after")
    def _collection(self) -> Products:
        check_collection(self.source, self.collection_id)
        return self


class ProductsOut(Products):
    variant_count: int = Field(description="Variants attached to the offer now")


class OfferVariantOut(BaseModel):
    """A variant attached to an offer, with the offer's overrides for it."""

    id: int
    product_id: int | None
    product_title: str | None
    title: str | None
    sku: str | None
    preorder_count: int
    max_count: int | None
    shipping_text: str | None
    deleted_at: str | None


PRODUCTS = Capability(
    name="products",
    model=Products,
    summary="where its variants come from (all, a collection, or a custom list)",
    aliases=("offer products", "which products are on preorder", "offer variants source"),
)


# --- reading ---------------------------------------------------------------------------------------


async def summary(ctx: ActionContext, offer_id: str) -> Payload:
    offer, count = await load(ctx, offer_id)
    return {**PRODUCTS.block(offer), "variant_count": count}


async def list_variants(ctx: ActionContext, offer_id: str, limit: int, offset: int) -> tuple[list[Payload], int]:
    """A page of the offer's variants (by variant id) and how many it has."""
    offer, count = await load(ctx, offer_id)
    rows = await ctx.session.execute(
        _with_catalog(select(OfferVariant, Variant, Product.title))
        .where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer.id)
        .order_by(OfferVariant.variant_id)
        .limit(limit)
        .offset(offset)
    )
    return [_variant_out(link, variant, title) for link, variant, title in rows], count


def _with_catalog(query: Any) -> Any:
    """Outer-join the catalog rows of the attached variant (a variant may be gone from the catalog)."""
    return query.outerjoin(
        Variant, and_(Variant.shop_id == OfferVariant.shop_id, Variant.id == OfferVariant.variant_id)
    ).outerjoin(Product, and_(Product.shop_id == Variant.shop_id, Product.id == Variant.product_id))


def _variant_out(link: OfferVariant, variant: Variant | None, product_title: str | None) -> Payload:
    return {
        "id": link.variant_id,
        "product_id": variant.product_id if variant else None,
        "product_title": product_title,
        "title": variant.title if variant else None,
        "sku": variant.sku if variant else None,
        "preorder_count": variant.preorder_count if variant else 0,
        "max_count": link.max_count,
        "shipping_text": link.shipping_text,
        "deleted_at": utc_iso(variant.deleted_at) if variant else None,
    }


# --- membership ------------------------------------------------------------------------------------


def _validated(block: dict[str, Any]) -> dict[str, Any]:
    try:
        return Products.model_validate(block).model_dump(mode="json")
    except ValidationError as exc:
        raise ValidationFailed(*messages(exc)) from None


def _require_custom(offer: Offer, action: str) -> None:
    source = PRODUCTS.block(offer)["source"]
    if source != "custom":
        raise Conflict(
            f"offer's variants follow source {source}, so {action} would be undone; switch to a custom list "
            f'first with POST {PATH}/{offer.id}/products/set_source {{"source": "custom"}} (it keeps the '
            "current variants)"
        )


def _refuse_unknown(variant_ids: Iterable[int], known: set[int]) -> None:
    unknown = [v for v in variant_ids if v not in known]
    if unknown:
        listed = ", ".join(str(v) for v in unknown)
        raise ValidationFailed(f"variant_ids: this shop has no variant with id {listed}")


async def _attached(ctx: ActionContext, offer_id: str, variant_ids: Sequence[int] | None = None) -> set[int]:
    """Which of ``variant_ids`` (all when None) are attached to the offer."""
    query = select(OfferVariant.variant_id).where(
        OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer_id
    )
    if variant_ids is not None:
        if not variant_ids:
            return set()
        query = query.where(OfferVariant.variant_id.in_(list(variant_ids)))
    return set(await ctx.session.scalars(query))


async def _catalog_collections(ctx: ActionContext, variant_ids: Sequence[int] | None = None) -> dict[int, set[int]]:
    """Live catalog variants (all, or among ``variant_ids``) and their product's collection ids."""
    query = (
        select(Variant.id, Product.collection_ids)
        .join(Product, and_(Product.shop_id == Variant.shop_id, Product.id == Variant.product_id))
        .where(Variant.shop_id == ctx.shop_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
    )
    if variant_ids is not None:
        query = query.where(Variant.id.in_(list(variant_ids)))
    # Collection membership is a JSON list on the product: filtered here, the same on SQLite and PostgreSQL.
    return {variant_id: set(collections or ()) for variant_id, collections in await ctx.session.execute(query)}


def _covered(block: dict[str, Any], catalog_variants: dict[int, set[int]]) -> set[int] | None:
    """The variants a broad source covers among ``catalog_variants``; None for a custom list."""
    if block["source"] == "all":
        return set(catalog_variants)
    if block["source"] == "collection":
        return {v for v, collections in catalog_variants.items() if block["collection_id"] in collections}
    return None


async def _apply(ctx: ActionContext, offer: Offer, add: Sequence[int], remove: Sequence[int]) -> None:
    """Attach and detach variants, then push membership and metafields to the platform (same transaction)."""
    if not add and not remove:
        return
    platform = await platform_for(ctx)  # before any change: an unreachable platform is a 409 with nothing done
    await storefront.lock_shop(ctx)
    now = ctx.clock.now()
    ctx.session.add_all(OfferVariant(shop_id=ctx.shop_id, offer_id=offer.id, variant_id=v, created_at=now) for v in add)
    gone = sorted(remove)
    for start in range(0, len(gone), storefront.BATCH):
        await ctx.session.execute(
            delete(OfferVariant).where(
                OfferVariant.shop_id == ctx.shop_id,
                OfferVariant.offer_id == offer.id,
                OfferVariant.variant_id.in_(gone[start : start + storefront.BATCH]),
            )
        )
    await ctx.session.flush()
    ref = await platform.ensure_selling_plan_group(ctx, offer.id, offer.name)
    if add:
        await platform.add_variants(ctx, ref, sorted(add))
    if gone:
        await platform.remove_variants(ctx, ref, gone)
    await storefront.sync_variants(ctx, platform, [*add, *gone])
    # The first attach gives the offer its selling plan id, which the shop-level entry carries.
    await metafields.sync_shop(ctx, platform)


def _membership_changes(count: int, added: Sequence[int], removed: Sequence[int]) -> dict[str, Any]:
    """History of a membership change: the count before and after, and which ids (capped)."""
    changes: dict[str, Any] = {}
    if added or removed:
        changes["variant_count"] = [count, count + len(added) - len(removed)]
    if added:
        changes["variant_ids_added"] = sorted(added)[:HISTORY_IDS]
    if removed:
        changes["variant_ids_removed"] = sorted(removed)[:HISTORY_IDS]
    return changes


async def configure(ctx: ActionContext, offer_id: str, patch: dict[str, Any], action: str) -> Payload:
    """Change the source (PATCH and set_source): a broad source re-materialises the membership to
    exactly what it covers now; ``custom`` keeps the current list."""
    offer, count = await load_active(ctx, offer_id)
    before = PRODUCTS.block(offer)
    merged = deep_merge(before, patch)
    if "collection_id" not in patch and merged["source"] != "collection":
        merged["collection_id"] = None  # leaving a collection drops its id
    after = _validated(merged)
    changes = changed_paths(before, after)
    if changes:
        offer.capabilities = {**(offer.capabilities or {}), PRODUCTS.name: after}
    covered = _covered(after, await _catalog_collections(ctx)) if after["source"] != "custom" else None
    added: list[int] = []
    removed: list[int] = []
    if covered is not None:
        current = await _attached(ctx, offer.id)
        added, removed = sorted(covered - current), sorted(current - covered)
        await _apply(ctx, offer, added, removed)
    if changes or added or removed:
        record(ctx, offer, f"products.{action}", changes={**changes, **_membership_changes(count, added, removed)})
        await ctx.session.flush()
    return {**after, "variant_count": count + len(added) - len(removed)}


async def add_variants(ctx: ActionContext, offer_id: str, variant_ids: list[int]) -> Payload:
    """Attach variants of the shop's catalog to a custom-list offer; already attached ones are a no-op."""
    offer, count = await load_active(ctx, offer_id)
    _require_custom(offer, "add_variants")
    ids = list(dict.fromkeys(variant_ids))
    _refuse_unknown(ids, await catalog.known_variants(ctx, ids))
    attached = await _attached(ctx, offer.id, ids)
    added = [v for v in ids if v not in attached]
    if added:
        await _apply(ctx, offer, added, [])
        record(ctx, offer, "products.add_variants", changes=_membership_changes(count, added, []))
        await ctx.session.flush()
    return {**PRODUCTS.block(offer), "variant_count": count + len(added)}


async def remove_variants(ctx: ActionContext, offer_id: str, variant_ids: list[int]) -> Payload:
    """Detach variants from a custom-list offer; ids the shop has but the offer does not are a no-op."""
    offer, count = await load_active(ctx, offer_id)
    _require_custom(offer, "remove_variants")
    ids = list(dict.fromkeys(variant_ids))
    attached = await _attached(ctx, offer.id, ids)
    # An attached variant since deleted from the catalog can still be removed.
    _refuse_unknown(ids, attached | await catalog.known_variants(ctx, [v for v in ids if v not in attached]))
    removed = [v for v in ids if v in attached]
    if removed:
        await _apply(ctx, offer, [], removed)
        record(ctx, offer, "products.remove_variants", changes=_membership_changes(count, [], removed))
        await ctx.session.flush()
    return {**PRODUCTS.block(offer), "variant_count": count - len(removed)}


async def on_new_variants(ctx: ActionContext, variant_ids: list[int]) -> None:
    """Attach variants new to the catalog to every offer (not discarded) whose source covers them:
    ``all``, or ``collection`` with one of the product's collections."""
    fresh = await _catalog_collections(ctx, list(dict.fromkeys(variant_ids))) if variant_ids else {}
    if not fresh or await storefront.reachable_platform(ctx) is None:
        return  # membership the platform cannot hear of is not taken: the catalog change still stands
    offers = await ctx.session.scalars(
        select(Offer)
        .where(Offer.shop_id == ctx.shop_id, Offer.status != "discarded")
        .order_by(Offer.id)  # one lock order for concurrent writers
        .with_for_update()
    )
    for offer in list(offers):
        covered = _covered(PRODUCTS.block(offer), fresh)
        if not covered:
            continue
        added = sorted(covered - await _attached(ctx, offer.id, sorted(covered)))
        if not added:
            continue
        count = await _count(ctx, offer.id)
        await _apply(ctx, offer, added, [])
        record(ctx, offer, "products.on_new_variants", changes=_membership_changes(count, added, []))
    await ctx.session.flush()


async def _count(ctx: ActionContext, offer_id: str) -> int:
    query = select(func.count()).where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer_id)
    return await ctx.session.scalar(query) or 0


# --- per-variant overrides ---------------------------------------------------------------------------


async def set_overrides(ctx: ActionContext, offer_id: str, variant_id: int, overrides: dict[str, Any]) -> Payload:
    """Set (or, with None, clear) the offer's max count and shipping text for one attached variant."""
    offer, _ = await load_active(ctx, offer_id)
    link = await ctx.session.get(OfferVariant, (ctx.shop_id, offer.id, variant_id))
    if link is None:
        raise ValidationFailed(
            f"variant_id {variant_id} is not attached to this offer; attach it first with "
            f"POST {PATH}/{offer.id}/products/add_variants"
        )
    changes = {
        f"variants.{variant_id}.{key}": [getattr(link, key), value]
        for key, value in overrides.items()
        if getattr(link, key) != value
    }
    if changes:
        platform = await platform_for(ctx)
        await storefront.lock_shop(ctx)
        for key, value in overrides.items():
            setattr(link, key, value)
        record(ctx, offer, "products.set_overrides", changes=changes)
        await ctx.session.flush()
        await metafields.sync(ctx, platform, [variant_id])
    row = (
        await ctx.session.execute(
            _with_catalog(select(OfferVariant, Variant, Product.title)).where(
                OfferVariant.shop_id == ctx.shop_id,
                OfferVariant.offer_id == offer.id,
                OfferVariant.variant_id == variant_id,
            )
        )
    ).one()
    return _variant_out(*row)
