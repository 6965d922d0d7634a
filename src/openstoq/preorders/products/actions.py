"""The products capability's actions: declarations only; each handler calls ``service``."""

from __future__ import annotations

from openstoq.context import ActionContext
from openstoq.pagination import PageQuery, page_meta
from openstoq.preorders.capabilities.base import declare, path
from openstoq.preorders.offers.models import OfferId
from openstoq.preorders.products import service
from openstoq.preorders.products.models import (
    PRODUCTS,
    OfferVariantList,
    OfferVariantOut,
    ProductsOut,
    SetOverrides,
    SetSource,
    VariantIds,
)
from openstoq.registry import ActionGroup, Payload
from openstoq.validation import RequestModel

PATH = path(PRODUCTS)
PLATFORM_NOTE = "Brings selling plan membership and the variants' metafields on the platform up to date."

actions = ActionGroup()


async def read(ctx: ActionContext, _: None, *, id: OfferId) -> Payload:
    return await service.summary(ctx, id)


async def update(ctx: ActionContext, body: RequestModel, *, id: OfferId) -> Payload:
    return await service.configure(ctx, id, body.model_dump(exclude_unset=True), "update")


declare(
    actions,
    PRODUCTS,
    read=read,
    update=update,
    response=ProductsOut,
    notes=(
        "Changing source to all or collection re-materialises the variants to exactly what it covers now "
        "(and later catalog additions join by themselves); custom keeps the current variants.",
        "Leaving source collection without sending collection_id clears it.",
        PLATFORM_NOTE,
    ),
)


# --- named actions ------------------------------------------------------------------------------------


@actions.action(
    "add_variants",
    "POST",
    f"{PATH}/add_variants",
    "Attach variants to an offer (its custom list) so they can be preordered under it.",
    aliases=("put products on preorder", "add products to offer", "attach variants", "include variant in offer"),
    notes=(
        "Every id must be a variant of this shop; otherwise a 422 lists all the unknown ids and nothing changes.",
        "Already attached variants are a no-op.",
        "Only for source custom (409 otherwise; set_source custom keeps the current variants).",
        PLATFORM_NOTE,
    ),
    request=VariantIds,
    response=ProductsOut,
)
async def add_variants(ctx: ActionContext, body: VariantIds, *, id: OfferId) -> Payload:
    return await service.add_variants(ctx, id, body.variant_ids)


@actions.action(
    "remove_variants",
    "POST",
    f"{PATH}/remove_variants",
    "Detach variants from an offer (its custom list); they stop being preorderable under it.",
    aliases=("take products off preorder", "remove products from offer", "detach variants", "exclude variant"),
    notes=(
        "Ids the shop has but the offer does not are a no-op; ids the shop does not have are a 422 listing them.",
        "Only for source custom (409 otherwise).",
        PLATFORM_NOTE,
    ),
    request=VariantIds,
    response=ProductsOut,
)
async def remove_variants(ctx: ActionContext, body: VariantIds, *, id: OfferId) -> Payload:
    return await service.remove_variants(ctx, id, body.variant_ids)


@actions.action(
    "set_source",
    "POST",
    f"{PATH}/set_source",
    "Choose where an offer's variants come from: all of the shop's variants, one collection's, or a custom list.",
    aliases=("put the whole store on preorder", "preorder a collection", "all products on preorder", "pick variants"),
    notes=(
        "all and collection attach exactly what they cover now (and future catalog additions); "
        "custom keeps the current variants.",
        PLATFORM_NOTE,
    ),
    request=SetSource,
    response=ProductsOut,
)
async def set_source(ctx: ActionContext, body: SetSource, *, id: OfferId) -> Payload:
    return await service.configure(ctx, id, body.model_dump(), "set_source")


@actions.action(
    "list",
    "GET",
    f"{PATH}/variants",
    "List an offer's variants with their preorder counts and the offer's per-variant overrides.",
    aliases=("which variants are on this offer", "offer variants", "variant overrides"),
    request=PageQuery,
    response=OfferVariantList,
)
async def list_variants(ctx: ActionContext, query: PageQuery, *, id: OfferId) -> Payload:
    items, total = await service.list_variants(ctx, id, query.per_page, query.offset)
    return {"variants": items, "meta": page_meta(query, total)}


@actions.action(
    "set_overrides",
    "POST",
    f"{PATH}/variants/set_overrides",
    "Set an offer's max count and/or shipping text for one of its variants; null clears an override.",
    aliases=("limit preorders for a variant", "variant max count", "variant shipping text", "cap a variant"),
    notes=(
        "Keys not sent are untouched. The variant must be attached to the offer (422 otherwise).",
        "The variant's metafields on the platform are brought up to date once the change commits.",
    ),
    request=SetOverrides,
    response=OfferVariantOut,
)
async def set_overrides(ctx: ActionContext, body: SetOverrides, *, id: OfferId) -> Payload:
    overrides = body.model_dump(include={"max_count", "shipping_text"}, exclude_unset=True)
    return await service.set_overrides(ctx, id, body.variant_id, overrides)
