"""Offers' request and response models, and the offer id as a path placeholder."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from openstoq.pagination import Meta, PageQuery
from openstoq.registry import uuid_placeholder
from openstoq.validation import RequestModel, patch_key

Status = Literal["disabled", "enabled", "scheduled", "discarded"]
OfferId = Annotated[str, uuid_placeholder("offer")]
PATH = "/preorders/offers"


class CreateOffer(RequestModel):
    name: str = Field("Preorder", min_length=1, max_length=255, description="Shown to shoppers")
    internal_name: str | None = Field(
        None, min_length=1, max_length=255, description="Shown only to the merchant; default: the name"
    )


class UpdateOffer(RequestModel):
    """Send the names that change (either or both); neither may be null."""

    name: str = patch_key(min_length=1, max_length=255, description="Shown to shoppers")
    internal_name: str = patch_key(min_length=1, max_length=255, description="Shown only to the merchant")


class ListOffers(PageQuery):
    status: Status | None = Field(None, description="Only offers in this status; discarded ones only when asked")


class ScheduleOffer(RequestModel):
    starts_at: AwareDatetime | None = Field(None, description="When the offer goes live (ISO 8601 with offset)")
    ends_at: AwareDatetime | None = Field(None, description="When it stops; after starts_at")

    @model_validator(mode="after")
    def _window(self) -> ScheduleOffer:
        if self.starts_at is None and self.ends_at is None:
            raise ValueError("send starts_at, ends_at or both")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Schedule(BaseModel):
    starts_at: str | None
    ends_at: str | None


class OfferOut(BaseModel):
    """An offer as every offer action returns it."""

    id: str
    name: str
    internal_name: str
    status: Status
    live: bool
    schedule: Schedule | None
    variant_count: int
    shopify_selling_plan_group_id: int | None
    shopify_selling_plan_id: int | None
    created_at: str
    updated_at: str
    discarded_at: str | None
    warnings: list[str]
    capabilities: dict[str, Any] | None = None


class OfferList(BaseModel):
    offers: list[OfferOut]
    meta: Meta


class OfferEventOut(BaseModel):
    id: int
    action: str
    from_status: Status | None
    to_status: Status | None
    changes: dict[str, Any]
    source: str
    created_at: str


class OfferHistory(BaseModel):
    events: list[OfferEventOut]
    meta: Meta
