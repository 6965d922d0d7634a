"""Product variants' requests and responses, and their path placeholders."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from openstoq.jobs.records import JOB_ID_PATTERN
from openstoq.pagination import Meta, PageQuery
from openstoq.preorders.offers.models import OfferOut
from openstoq.registry import Placeholder, shopify_placeholder
from openstoq.validation import UUID_PATTERN, RequestModel, ShopifyId

PATH = "/preorders/product_variants"
JOBS = f"{PATH}/jobs"
VariantId = Annotated[int, shopify_placeholder("variant")]
JobId = Annotated[
    str,
    Placeholder({"type": "string", "pattern": JOB_ID_PATTERN, "description": "The job id from the job handle"}, "job"),
]
MAX_FILTER_IDS = 250
MAX_VARIANTS = 10_000  # per bulk job
OFFER_ID_PATTERN = UUID_PATTERN.replace("a-f", "a-fA-F")  # ids print lowercase; a filter takes either case
OfferState = Literal["live", "enabled", "disabled", "scheduled", "discarded"]


class ListVariants(PageQuery):
    offer_id: str | None = Field(None, pattern=OFFER_ID_PATTERN, description="Only variants attached to this offer")
    product_id: ShopifyId | None = Field(None, description="Only variants of this Shopify product")
    variant_ids: list[ShopifyId] | None = Field(
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
    meta: Meta


class VariantOffer(OfferOut):
    max_count: int | None
    shipping_text: str | None


class VariantOfferList(BaseModel):
    offers: list[VariantOffer]
    meta: Meta


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


class BulkVariants(RequestModel):
    """Which variants: ``variant_ids``, or every variant attached to ``offer_id`` (exactly one of the two)."""

    variant_ids: list[ShopifyId] | None = Field(
        None, min_length=1, max_length=MAX_VARIANTS, description="Shopify variant ids (1 to 10,000)"
    )
    offer_id: str | None = Field(None, pattern=UUID_PATTERN, description="Every variant attached to this offer")

    @model_validator(mode="after")
    def _exactly_one(self) -> BulkVariants:
        if (self.variant_ids is None) == (self.offer_id is None):
            raise ValueError("send either variant_ids or offer_id (exactly one of them)")
        return self


class VariantJobHandle(BaseModel):
    job_id: str
    status_url: str
    variant_count: int


class ExportJobHandle(BaseModel):
    job_id: str
    status_url: str


class JobItemError(BaseModel):
    variant_id: int
    error: str


class VariantJobStatus(BaseModel):
    job_id: str
    status: Literal["running", "completed", "ready", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100)
    total: int
    processed: int
    failed: int
    errors: list[JobItemError]
    error: str | None = None
    download_url: str | None = None
    expires_at: str | None = None
    row_count: int | None = None
