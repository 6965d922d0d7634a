"""The products capability's actions: which variants an offer covers, and per-variant overrides.

The service (membership, platform pushes, ``on_new_variants``) is ``openstoq.preorders.products``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from openstoq.context import ActionContext
from openstoq.pagination import PageQuery, page_meta
from openstoq.preorders import products
from openstoq.preorders.capabilities import declare
from openstoq.preorders.offers import OFFER_ID, Meta
from openstoq.preorders.products import PRODUCTS, OfferVariantOut, ProductsOut, Source
from openstoq.registry import ActionGroup, Params, Payload
from openstoq.validation import RequestModel

PATH = PRODUCTS.path
VariantId = Annotated[int, Field(ge=1, lt=2**63, description="A Shopify variant id")]
PLATFORM_NOTE = "Pushes selling plan membership and the variants' metafields to the platform in the same transaction."

actions = ActionGroup()


async def read(ctx: ActionContext, params: Params, _: None) -> Payload:
    return await products.summary(ctx, params["id"])


async def update(ctx: ActionContext, params: Params, body: BaseModel) -> Payload:
    return await products.configure(ctx, params["id"], body.model_dump(exclude_unset=True), "update")


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


class VariantIds(RequestModel):
    variant_ids: list[VariantId] = Field(
        min_length=1,
        max_length=products.MAX_IDS,
        description=f"Shopify variant ids of this shop, 1 to {products.MAX_IDS}; repeats count once",
    )


class SetSource(RequestModel):
    source: Source = Field(description="all, collection or custom")
    collection_id: int | None = Field(None, ge=1, lt=2**63, description="Required with source collection, else null")

    @model_validator(mode="after")
    def _collection(self) -> SetSource:
        products.check_collection(self.source, self.collection_id)
        return self


class SetOverrides(RequestModel):
    variant_id: VariantId
    max_count: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Stop taking preorders for this variant past this many; null clears"
    )
    shipping_text: str | None = Field(
        None, min_length=1, max_length=500, description="Shipping text shown for this variant; null clears"
    )


class OfferVariantList(BaseModel):
    variants: list[OfferVariantOut]
    meta: Meta


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
    params=(OFFER_ID,),
    request=VariantIds,
    response=ProductsOut,
)
async def add_variants(ctx: ActionContext, params: Params, body: VariantIds) -> Payload:
    return await products.add_variants(ctx, params["id"], body.variant_ids)


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
    params=(OFFER_ID,),
    request=VariantIds,
    response=ProductsOut,
)
async def remove_variants(ctx: ActionContext, params: Params, body: VariantIds) -> Payload:
    return await products.remove_variants(ctx, params["id"], body.variant_ids)


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
    params=(OFFER_ID,),
    request=SetSource,
    response=ProductsOut,
)
async def set_source(ctx: ActionContext, params: Params, body: SetSource) -> Payload:
    return await products.configure(ctx, params["id"], body.model_dump(), "set_source")


@actions.action(
    "list",
    "GET",
    f"{PATH}/variants",
    "List an offer's variants with their preorder counts and the offer's per-variant overrides.",
    aliases=("which variants are on this offer", "offer variants", "variant overrides"),
    params=(OFFER_ID,),
    request=PageQuery,
    response=OfferVariantList,
)
async def list_variants(ctx: ActionContext, params: Params, query: PageQuery) -> Payload:
    items, total = await products.list_variants(ctx, params["id"], query.per_page, query.offset)
    return {"variants": items, "meta": page_meta(query, total)}


@actions.action(
    "set_overrides",
    "POST",
    f"{PATH}/variants/set_overrides",
    "Set an offer's max count and/or shipping text for one of its variants; null clears an override.",
    aliases=("limit preorders for a variant", "variant max count", "variant shipping text", "cap a variant"),
    notes=(
        "Keys not sent are untouched. The variant must be attached to the offer (422 otherwise).",
        "The variant's metafields are pushed to the platform in the same transaction.",
    ),
    params=(OFFER_ID,),
    request=SetOverrides,
    response=OfferVariantOut,
)
async def set_overrides(ctx: ActionContext, params: Params, body: SetOverrides) -> Payload:
    overrides = body.model_dump(include={"max_count", "shipping_text"}, exclude_unset=True)
    return await products.set_overrides(ctx, params["id"], body.variant_id, overrides)
