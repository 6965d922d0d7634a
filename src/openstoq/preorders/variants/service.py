"""What a variant shows (its offers, counts, metafields) and its single-variant repairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Product, Variant
from openstoq.db.types import utc_iso
from openstoq.errors import NotFound
from openstoq.pagination import PageQuery, page_meta
from openstoq.platform import platform_for
from openstoq.preorders import counts, metafields, storefront
from openstoq.preorders.lifecycle import is_live
from openstoq.preorders.offers import service as offers
from openstoq.preorders.variants.models import ListVariants, OfferState
from openstoq.registry import Payload


async def find(ctx: ActionContext, variant_id: int, *, for_update: bool = False) -> Variant:
    """The shop's catalog variant (deleted ones included: they may still be attached), or 404."""
    variant = await ctx.session.get(Variant, (ctx.shop_id, variant_id), with_for_update=for_update)
    if variant is None:
        raise NotFound(f"Variant {variant_id} not found")
    return variant


def _attached_to_offers(ctx: ActionContext, offer_id: str | None) -> Any:
    """The shop's variant ids attached to an offer that is not discarded (to ``offer_id`` when given)."""
    query = (
        select(OfferVariant.variant_id)
        .join(Offer, and_(Offer.shop_id == OfferVariant.shop_id, Offer.id == OfferVariant.offer_id))
        .where(OfferVariant.shop_id == ctx.shop_id, Offer.status != "discarded")
    )
    return query.where(Offer.id == offer_id.lower()) if offer_id else query


async def entries(ctx: ActionContext, variants: Sequence[Variant]) -> list[Payload]:
    """Variants as every variant action shows them: catalog fields, counts and their offers."""
    ids = [v.id for v in variants]
    if not ids:
        return []
    product_ids = {v.product_id for v in variants}
    titles = dict(
        (
            await ctx.session.execute(
                select(Product.id, Product.title).where(Product.shop_id == ctx.shop_id, Product.id.in_(product_ids))
            )
        ).all()
    )
    links = await ctx.session.execute(
        select(OfferVariant, Offer)
        .join(Offer, and_(Offer.shop_id == OfferVariant.shop_id, Offer.id == OfferVariant.offer_id))
        .where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.variant_id.in_(ids), Offer.status != "discarded")
        .order_by(Offer.created_at, Offer.id)
    )
    now = ctx.clock.now()
    refs: dict[int, list[Payload]] = {i: [] for i in ids}
    for link, offer in links:
        refs[link.variant_id].append(
            {
                "id": offer.id,
                "name": offer.name,
                "status": offer.status,
                "live": is_live(offer, now),
                "max_count": link.max_count,
                "shipping_text": link.shipping_text,
            }
        )
    # The effective max count is what the storefront gets: one rule, in the metafields module.
    expected = await metafields.expected_variant_metafields(ctx, ids)
    out = []
    for v in variants:
        max_count = expected[v.id].get("preorder_max_count")
        out.append(
            {
                "id": v.id,
                "product_id": v.product_id,
                "product_title": titles.get(v.product_id),
                "title": v.title,
                "sku": v.sku,
                "price": v.price,
                "inventory_quantity": v.inventory_quantity,
                "inventory_policy": v.inventory_policy,
                "deleted_at": utc_iso(v.deleted_at),
                "preorder_count": v.preorder_count,
                "max_count": int(max_count.value) if max_count else None,
                "offers": refs[v.id],
            }
        )
    return out


async def list_variants(ctx: ActionContext, query: ListVariants) -> Payload:
    base = select(Variant).where(
        Variant.shop_id == ctx.shop_id, Variant.id.in_(_attached_to_offers(ctx, query.offer_id))
    )
    if query.product_id is not None:
        base = base.where(Variant.product_id == query.product_id)
    if query.variant_ids:
        base = base.where(Variant.id.in_(query.variant_ids))
    total = await ctx.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    variants = await ctx.session.scalars(
        base.order_by(Variant.product_id, Variant.position, Variant.id).limit(query.per_page).offset(query.offset)
    )
    return {"product_variants": await entries(ctx, list(variants)), "meta": page_meta(query, total)}


async def read(ctx: ActionContext, variant_id: int) -> Payload:
    variant = await find(ctx, variant_id)
    (entry,) = await entries(ctx, [variant])
    state = await metafields.metafield_state(ctx, await platform_for(ctx), [variant.id])
    return {**entry, "metafields": state[variant.id]}


def _in_state(offer: Offer, state: OfferState | None, now: Any) -> bool:
    if state is None:
        return offer.status != "discarded"
    if state == "live":
        return is_live(offer, now)
    return offer.status == state


async def variant_offers(ctx: ActionContext, variant_id: int, state: OfferState | None, page: PageQuery) -> Payload:
    variant = await find(ctx, variant_id)
    rows = await ctx.session.execute(
        select(Offer.id, OfferVariant)
        .join(OfferVariant, and_(OfferVariant.shop_id == Offer.shop_id, OfferVariant.offer_id == Offer.id))
        .where(Offer.shop_id == ctx.shop_id, OfferVariant.variant_id == variant.id)
    )
    now = ctx.clock.now()
    matched = []
    # A variant is on a handful of offers: load each the one way offers load, then filter by state.
    for offer_id, link in list(rows):
        offer, count = await offers.load(ctx, offer_id)
        if _in_state(offer, state, now):
            matched.append((offer, count, link))
    matched.sort(key=lambda m: (m[0].created_at, m[0].id), reverse=True)
    items = [
        {**offers.serialize(ctx, o, c, full=False), "max_count": link.max_count, "shipping_text": link.shipping_text}
        for o, c, link in matched[page.offset : page.offset + page.per_page]
    ]
    return {"offers": items, "meta": page_meta(page, len(matched))}


async def recalculate(ctx: ActionContext, variant_id: int) -> Payload:
    """Rebuild the count from open order lines; the metafields follow once this commits."""
    # Locked: a concurrent order webhook adjusting the count waits, then adds to the rebuilt one.
    variant = await find(ctx, variant_id, for_update=True)
    platform = await platform_for(ctx)
    before, after = (await counts.recalculate(ctx, [variant.id]))[variant.id]
    planned = await metafields.plan(ctx, platform, [variant.id])
    storefront.variants_changed(ctx, [variant.id])
    return {
        "variant_id": variant.id,
        "preorder_count": {"before": before, "after": after},
        "metafields_written": planned.touched[variant.id],
    }


async def push_metafields(ctx: ActionContext, variant_id: int, *, reset: bool) -> Payload:
    """Sync (what differs) or reset (everything) one variant's metafields; answers the keys it writes
    and the state they leave, which the delivery after commit brings about."""
    variant = await find(ctx, variant_id)
    platform = await platform_for(ctx)
    planned = await metafields.plan(ctx, platform, [variant.id], reset=reset)
    if planned.touched[variant.id]:
        storefront.variants_changed(ctx, [variant.id], reset=reset)
    return {
        "variant_id": variant.id,
        "metafields_written": planned.touched[variant.id],
        "metafields": metafields.state(planned.expected[variant.id], planned.after[variant.id]),
    }
