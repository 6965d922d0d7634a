"""The products capability's block, requests and responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openstoq.capability import Capability
from openstoq.pagination import Meta
from openstoq.validation import MAX_SHOPIFY_ID, RequestModel, ShopifyId

Source = Literal["all", "collection", "custom"]
MAX_IDS = 250  # variant ids per add/remove call


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
        None, ge=1, le=MAX_SHOPIFY_ID, description="The Shopify collection id; required with source collection"
    )

    @model_validator(mode="after")
    def _collection(self) -> Products:
        check_collection(self.source, self.collection_id)
        return self


PRODUCTS = Capability(
    name="products",
    model=Products,
    summary="where its variants come from (all, a collection, or a custom list)",
    aliases=("offer products", "which products are on preorder", "offer variants source"),
)


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


class OfferVariantList(BaseModel):
    variants: list[OfferVariantOut]
    meta: Meta


class VariantIds(RequestModel):
    variant_ids: list[ShopifyId] = Field(
        min_length=1,
        max_length=MAX_IDS,
        description=f"Shopify variant ids of this shop, 1 to {MAX_IDS}; repeats count once",
    )


class SetSource(RequestModel):
    source: Source = Field(description="all, collection or custom")
    collection_id: int | None = Field(
        None, ge=1, le=MAX_SHOPIFY_ID, description="Required with source collection, else null"
    )

    @model_validator(mode="after")
    def _collection(self) -> SetSource:
        check_collection(self.source, self.collection_id)
        return self


class SetOverrides(RequestModel):
    variant_id: ShopifyId
    max_count: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Stop taking preorders for this variant past this many; null clears"
    )
    shipping_text: str | None = Field(
        None, min_length=1, max_length=500, description="Shipping text shown for this variant; null clears"
    )
