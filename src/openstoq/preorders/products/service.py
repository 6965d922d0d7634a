"""Which variants an offer covers: the products capability's service.

The block says where membership comes from: ``all`` (every variant of the shop), ``collection``
(the variants of one collection's products) or ``custom`` (the variants added by hand). The
membership itself is the ``offer_variants`` rows, with per-variant overrides. Every membership change
tells the storefront (``storefront.membership_changed``): the selling plan group and the metafields of
every variant it touched are brought up to date through the outbox once the change commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Product, Variant
from openstoq.db.types import utc_iso
from openstoq.errors import Conflict, ValidationFailed
from openstoq.merge import changed_paths, deep_merge
from openstoq.platform import platform_for
from openstoq.preorders import storefront
from openstoq.preorders.capabilities.base import validated
from openstoq.preorders.offers.models import PATH
from openstoq.preorders.offers.service import load, load_active, record
from openstoq.preorders.products.models import PRODUCTS
from openstoq.registry import Payload

HISTORY_IDS = 250  # ids kept per history entry (a source change may touch a whole catalog)


# --- reading ---------------------------------------------------------------------------------------


async def summary(ctx: ActionContext, offer_id: str) -> Payload:
    offer, count = await load(ctx, offer_id)
    return {**PRODUCTS.block(offer.capabilities), "variant_count": count}


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


def _require_custom(offer: Offer, action: str) -> None:
    source = PRODUCTS.block(offer.capabilities)["source"]
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


async def known_variants(ctx: ActionContext, variant_ids: Iterable[int]) -> set[int]:
    """The ids among ``variant_ids`` that the shop's catalog has (and that are not deleted)."""
    ids = list(set(variant_ids))
    if not ids:
        return set()
    rows = await ctx.session.scalars(
        select(Variant.id).where(Variant.shop_id == ctx.shop_id, Variant.id.in_(ids), Variant.deleted_at.is_(None))
    )
    return set(rows)


async def _apply(ctx: ActionContext, offer: Offer, add: Sequence[int], remove: Sequence[int]) -> None:
    """Attach and detach variants, and tell the storefront once this commits."""
    if not add and not remove:
        return
    await platform_for(ctx)  # before any change: an unreachable platform is a 409 with nothing done
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
    storefront.membership_changed(ctx, offer.id, [*add, *gone])


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
    before = PRODUCTS.block(offer.capabilities)
    merged = deep_merge(before, patch)
    if "collection_id" not in patch and merged["source"] != "collection":
        merged["collection_id"] = None  # leaving a collection drops its id
    after = validated(PRODUCTS, merged)
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
    _refuse_unknown(ids, await known_variants(ctx, ids))
    attached = await _attached(ctx, offer.id, ids)
    added = [v for v in ids if v not in attached]
    if added:
        await _apply(ctx, offer, added, [])
        record(ctx, offer, "products.add_variants", changes=_membership_changes(count, added, []))
        await ctx.session.flush()
    return {**PRODUCTS.block(offer.capabilities), "variant_count": count + len(added)}


async def remove_variants(ctx: ActionContext, offer_id: str, variant_ids: list[int]) -> Payload:
    """Detach variants from a custom-list offer; ids the shop has but the offer does not are a no-op."""
    offer, count = await load_active(ctx, offer_id)
    _require_custom(offer, "remove_variants")
    ids = list(dict.fromkeys(variant_ids))
    attached = await _attached(ctx, offer.id, ids)
    # An attached variant since deleted from the catalog can still be removed.
    _refuse_unknown(ids, attached | await known_variants(ctx, [v for v in ids if v not in attached]))
    removed = [v for v in ids if v in attached]
    if removed:
        await _apply(ctx, offer, [], removed)
        record(ctx, offer, "products.remove_variants", changes=_membership_changes(count, [], removed))
        await ctx.session.flush()
    return {**PRODUCTS.block(offer.capabilities), "variant_count": count - len(removed)}


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
        covered = _covered(PRODUCTS.block(offer.capabilities), fresh)
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
        await platform_for(ctx)  # an unreachable platform is a 409 with nothing done
        for key, value in overrides.items():
            setattr(link, key, value)
        record(ctx, offer, "products.set_overrides", changes=changes)
        await ctx.session.flush()
        storefront.variants_changed(ctx, [variant_id])
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
