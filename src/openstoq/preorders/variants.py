"""Product variants: one variant's offers, counts and metafields, and its single-variant repairs
(recalculate the preorder count, sync or reset the metafields). URLs use the Shopify variant id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Product, Variant
from openstoq.db.types import utc_iso
from openstoq.errors import NotFound
from openstoq.pagination import PageQuery, page_meta
from openstoq.platform import platform_for
from openstoq.preorders import counts, metafields, offers
from openstoq.registry import UUID_PATTERN, ActionGroup, Params, Payload, shopify_id_param
from openstoq.validation import EmptyBody

PATH = "/preorders/product_variants"
VARIANT_ID = shopify_id_param("variant_id", "variant")
MAX_FILTER_IDS = 250
OFFER_ID_PATTERN = UUID_PATTERN.replace("a-f", "a-fA-F")  # ids print lowercase; a filter takes either case
VariantId = Annotated[int, Field(ge=1, lt=2**63)]
OfferState = Literal["live", "enabled", "disabled", "scheduled", "discarded"]

actions = ActionGroup()


# --- request and response models -------------------------------------------------------------------


class ListVariants(PageQuery):
    offer_id: str | None = Field(None, pattern=OFFER_ID_PATTERN, description="Only variants attached to this offer")
    product_id: int | None = Field(None, ge=1, lt=2**63, description="Only variants of this Shopify product")
    variant_ids: list[VariantId] | None = Field(
        None,
        max_length=MAX_FILTER_IDS,
        description="Only these Shopify variant ids: repeat the key, use variant_ids[], or separate with commas",
    )


class VariantOffersQuery(PageQuery):
    state: OfferState | None = Field(
        None,
        description="live: shoppers can preorder under it now (enabled, or scheduled and inside its window); "
        "enabled, disabled, scheduled, discarded: the offer's status. Default: every offer but discarded ones",
    )


class VariantOfferRef(BaseModel):
    id: str
    name: str
    status: str
    live: bool
    max_count: int | None = Field(description="This offer's max count override for the variant")
    shipping_text: str | None = Field(description="This offer's shipping text override for the variant")


class VariantOut(BaseModel):
    """A catalog variant and its preorder state."""

    id: int
    product_id: int
    product_title: str | None
    title: str
    sku: str | None
    price: str
    inventory_quantity: int
    inventory_policy: str
    deleted_at: str | None
    preorder_count: int = Field(description="Units on open preorder lines")
    max_count: int | None = Field(description="Stop preorders past this many (from its first live offer's override)")
    offers: list[VariantOfferRef] = Field(description="The offers it is attached to (discarded ones left out)")


class MetafieldState(BaseModel):
    namespace: str
    expected: dict[str, Any] = Field(description="What the platform should hold, by key")
    actual: dict[str, Any] = Field(description="What the platform holds, by key")
    drift: list[str] = Field(description="Keys whose actual value differs from the expected one")
    in_sync: bool


class VariantDetail(VariantOut):
    metafields: MetafieldState


class VariantList(BaseModel):
    product_variants: list[VariantOut]
    meta: offers.Meta


class VariantOffer(offers.OfferOut):
    max_count: int | None
    shipping_text: str | None


class VariantOfferList(BaseModel):
    offers: list[VariantOffer]
    meta: offers.Meta


class CountChange(BaseModel):
    before: int
    after: int


class Recalculated(BaseModel):
    variant_id: int
    preorder_count: CountChange
    metafields_written: list[str] = Field(description="Metafield keys written or deleted on the platform")


class MetafieldsPushed(BaseModel):
    variant_id: int
    metafields_written: list[str] = Field(description="Metafield keys written or deleted on the platform")
    metafields: MetafieldState


# --- the service ------------------------------------------------------------------------------------


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
                "live": offers.is_live(offer, now),
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


async def metafield_state(ctx: ActionContext, variant_id: int) -> Payload:
    state = await metafields.metafield_state(ctx, await platform_for(ctx), [variant_id])
    return dict(state[variant_id])


# --- the actions -----------------------------------------------------------------------------------


@actions.action(
    "list",
    "GET",
    PATH,
    "List the variants attached to the shop's offers, with their preorder counts and offers.",
    aliases=("all variants on preorder", "preorder variants", "variants on an offer", "find a variant"),
    notes=(
        "Variants of discarded offers are left out (a discarded offer covers nothing).",
        "variant_ids takes up to 250 ids: repeat the key, use variant_ids[], or separate with commas.",
    ),
    request=ListVariants,
    response=VariantList,
)
async def list_variants(ctx: ActionContext, _: Params, query: ListVariants) -> Payload:
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


@actions.action(
    "read",
    "GET",
    f"{PATH}/:variant_id",
    "Read one variant: its offers, its preorder count and max count, and its metafields on the platform "
    "(expected vs actual, with the keys that drifted).",
    aliases=("show variant", "variant preorder count", "is this variant on preorder", "check variant metafields"),
    notes=("drift lists the metafield keys whose platform value differs; sync_metafields repairs them.",),
    params=(VARIANT_ID,),
    response=VariantDetail,
)
async def read_variant(ctx: ActionContext, params: Params, _: None) -> Payload:
    variant = await find(ctx, params["variant_id"])
    (entry,) = await entries(ctx, [variant])
    return {**entry, "metafields": await metafield_state(ctx, variant.id)}


@actions.action(
    "offers",
    "GET",
    f"{PATH}/:variant_id/offers",
    "List the offers a variant is attached to, newest first, with the offer's overrides for it.",
    aliases=("which offers cover this variant", "variant offers", "is this variant live on an offer"),
    notes=(
        "state live: shoppers can preorder under the offer now (enabled, or scheduled inside its window); "
        "enabled, disabled, scheduled, discarded: the offer's status. Without state: all but discarded.",
    ),
    params=(VARIANT_ID,),
    request=VariantOffersQuery,
    response=VariantOfferList,
)
async def variant_offers(ctx: ActionContext, params: Params, query: VariantOffersQuery) -> Payload:
    variant = await find(ctx, params["variant_id"])
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
        if _in_state(offer, query.state, now):
            matched.append((offer, count, link))
    matched.sort(key=lambda m: (m[0].created_at, m[0].id), reverse=True)
    page = matched[query.offset : query.offset + query.per_page]
    items = [
        {**offers.serialize(ctx, o, c, full=False), "max_count": link.max_count, "shipping_text": link.shipping_text}
        for o, c, link in page
    ]
    return {"offers": items, "meta": page_meta(query, len(matched))}


def _in_state(offer: Offer, state: OfferState | None, now: Any) -> bool:
    if state is None:
        return offer.status != "discarded"
    if state == "live":
        return offers.is_live(offer, now)
    return offer.status == state


@actions.action(
    "recalculate_preorder_count",
    "POST",
    f"{PATH}/:variant_id/recalculate_preorder_count",
    "Rebuild a variant's preorder count from its open preorder order lines, then push it to the platform.",
    aliases=("fix preorder count", "recount preorders", "preorder count is wrong", "recompute variant count"),
    notes=("Open lines are on orders neither cancelled nor fulfilled. Answers the count before and after.",),
    params=(VARIANT_ID,),
    request=EmptyBody,
    response=Recalculated,
)
async def recalculate(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    # Locked: a concurrent order webhook adjusting the count waits, then adds to the rebuilt one.
    variant = await find(ctx, params["variant_id"], for_update=True)
    platform = await platform_for(ctx)
    before, after = (await counts.recalculate(ctx, [variant.id]))[variant.id]
    written = (await metafields.sync(ctx, platform, [variant.id]))[variant.id]
    return {
        "variant_id": variant.id,
        "preorder_count": {"before": before, "after": after},
        "metafields_written": written,
    }


async def _push(ctx: ActionContext, variant_id: int, *, reset: bool) -> Payload:
    variant = await find(ctx, variant_id)
    platform = await platform_for(ctx)
    written = (await metafields.sync(ctx, platform, [variant.id], reset=reset))[variant.id]
    state = (await metafields.metafield_state(ctx, platform, [variant.id]))[variant.id]
    return {"variant_id": variant.id, "metafields_written": written, "metafields": state}


@actions.action(
    "reset_metafields",
    "POST",
    f"{PATH}/:variant_id/reset_metafields",
    "Clear a variant's preorder metafields on the platform and write them again from openstoq's data.",
    aliases=("rewrite variant metafields", "clear metafields", "storefront shows stale preorder data"),
    notes=("Every key is rewritten, even those already right; sync_metafields writes only what differs.",),
    params=(VARIANT_ID,),
    request=EmptyBody,
    response=MetafieldsPushed,
)
async def reset_metafields(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    return await _push(ctx, params["variant_id"], reset=True)


@actions.action(
    "sync_metafields",
    "POST",
    f"{PATH}/:variant_id/sync_metafields",
    "Push a variant's preorder metafields to the platform where they differ from what they should be.",
    aliases=("repair metafield drift", "sync variant metafields", "update storefront data for a variant"),
    notes=("Answers the keys written (or deleted) and the state after, which is in sync.",),
    params=(VARIANT_ID,),
    request=EmptyBody,
    response=MetafieldsPushed,
)
async def sync_metafields(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    return await _push(ctx, params["variant_id"], reset=False)
