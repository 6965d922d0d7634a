"""Webhook payloads as Shopify sends them (REST shapes), validated before anything is written.

Only the fields openstoq uses are read; everything else in a payload is ignored. Ids and
quantities must be JSON integers. Free text the platform decided (titles, names, emails) is kept as
far as its column holds it rather than refused: refusing a real order over a long title would lose it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from openstoq.validation import ShopifyId

PlatformId = Annotated[ShopifyId, Field(strict=True)]
Quantity = Annotated[int, Field(strict=True, ge=0, lt=2**31)]
Status = Annotated[str, Field(max_length=32)]


def _text(limit: int) -> Any:
    # PostgreSQL text cannot hold NUL, and each column has a length: keep what fits.
    return AfterValidator(lambda value: value.replace("\x00", "")[:limit])


def _money(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be an amount of money (a decimal string or a number)")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount of money") from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 20:
        raise ValueError(f"{value!r} is not an amount of money")
    return str(amount.quantize(Decimal("0.01")))


def _tags(value: Any) -> Any:
    # REST payloads carry tags as one comma-separated string; GraphQL-shaped ones as a list.
    if value is None:
        return []
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    return value


def _gid(value: Any) -> Any:
    # Selling plans are often named by GraphQL id: gid://shopify/SellingPlan/123.
    if isinstance(value, str) and value.startswith("gid://"):
        tail = value.rsplit("/", 1)[-1]
        if tail.isdigit():
            return int(tail)
    return value


Money = Annotated[str, BeforeValidator(_money)]
Tags = Annotated[list[Annotated[str, _text(255)]], BeforeValidator(_tags)]
PlanId = Annotated[ShopifyId, BeforeValidator(_gid), Field(strict=True)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CustomerPayload(Payload):
    id: PlatformId | None = None
    email: Annotated[str, _text(320)] | None = None
    first_name: Annotated[str, _text(255)] | None = None
    last_name: Annotated[str, _text(255)] | None = None
    phone: Annotated[str, _text(64)] | None = None
    updated_at: AwareDatetime | None = None


class CustomerUpdatePayload(CustomerPayload):
    id: PlatformId  # required here


class SellingPlanPayload(Payload):
    id: PlanId | None = None  # a plan named without an id matches no offer; the order is still taken


class SellingPlanAllocation(Payload):
    selling_plan: SellingPlanPayload | None = None
    selling_plan_id: PlanId | None = None


class LineItemPayload(Payload):
    id: PlatformId
    variant_id: PlatformId | None = None
    product_id: PlatformId | None = None
    quantity: Quantity
    # After an order edit Shopify keeps the original ``quantity`` and reports the live one here.
    current_quantity: Quantity | None = None
    price: Money = "0.00"
    title: Annotated[str, _text(255)] = ""
    variant_title: Annotated[str, _text(255)] | None = None
    sku: Annotated[str, _text(255)] | None = None
    selling_plan_allocation: SellingPlanAllocation | None = None

    @property
    def units(self) -> int:
        return self.quantity if self.current_quantity is None else self.current_quantity

    @property
    def selling_plan_id(self) -> int | None:
        allocation = self.selling_plan_allocation
        if allocation is None:
            return None
        return allocation.selling_plan.id if allocation.selling_plan else allocation.selling_plan_id


class OrderPayload(Payload):
    id: PlatformId
    name: Annotated[str, _text(64)] | None = None
    email: Annotated[str, _text(320)] | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    financial_status: Status | None = None
    fulfillment_status: Status | None = None
    cancelled_at: AwareDatetime | None = None
    total_price: Money = "0.00"
    total_outstanding: Money | None = None
    customer: CustomerPayload | None = None
    line_items: list[LineItemPayload]
    tags: Tags = []

    @model_validator(mode="after")
    def _distinct_lines(self) -> OrderPayload:
        seen: set[int] = set()
        for line in self.line_items:
            if line.id in seen:
                raise ValueError(f"line_items: line item id {line.id} appears twice")
            seen.add(line.id)
        return self

    @property
    def display_name(self) -> str:
        return self.name or f"#{self.id}"


class RefundPayload(Payload):
    """``refunds/create``: only the order's financial state is mirrored, and only when the payload has it."""

    id: PlatformId
    order_id: PlatformId
    financial_status: Status | None = None
    total_outstanding: Money | None = None


class VariantPayload(Payload):
    id: PlatformId
    title: Annotated[str, _text(255)] = "Default Title"
    sku: Annotated[str, _text(255)] | None = None
    price: Money = "0.00"
    position: int = Field(1, ge=-(2**31), lt=2**31)  # an INTEGER column
    inventory_item_id: PlatformId | None = None
    inventory_quantity: int | None = Field(None, ge=-(2**31), lt=2**31)
    inventory_policy: Annotated[str, _text(16)] = "deny"


class ProductPayload(Payload):
    """Shopify's REST product (``products/create``, ``products/update``, ``openstoq import catalog``),
    plus an optional ``collection_ids`` list openstoq reads for collection-sourced offers."""

    id: PlatformId
    title: Annotated[str, _text(255)]
    handle: Annotated[str, _text(255)] | None = None
    vendor: Annotated[str, _text(255)] | None = None
    product_type: Annotated[str, _text(255)] | None = None
    status: Annotated[str, _text(16)] = "active"
    collection_ids: list[PlatformId] = []
    variants: list[VariantPayload] = []


class ProductDeletePayload(Payload):
    id: PlatformId


class InventoryLevelPayload(Payload):
    inventory_item_id: PlatformId
    location_id: PlatformId
    # Shopify sends null for an item no longer stocked at the location: nothing available there.
    available: Annotated[int, Field(strict=True, ge=-(2**31), lt=2**31)] | None
    updated_at: AwareDatetime | None = None


class ShopScoped(Payload):
    """Privacy topics name the shop in the body too; a mismatch with the header is refused."""

    shop_domain: Annotated[str, Field(max_length=255)] | None = None


class RedactCustomer(Payload):
    id: PlatformId | None = None
    email: Annotated[str, _text(320)] | None = None
    phone: Annotated[str, _text(64)] | None = None


class CustomerRedactPayload(ShopScoped):
    customer: RedactCustomer
    orders_to_redact: list[PlatformId] = []

    @model_validator(mode="after")
    def _someone(self) -> CustomerRedactPayload:
        if self.customer.id is None and not self.customer.email:
            raise ValueError("customer.id or customer.email is required")
        return self


class DataRequestId(Payload):
    id: PlatformId | None = None


class DataRequestPayload(ShopScoped):
    data_request: DataRequestId | None = None
    orders_requested: list[PlatformId] = []


class ShopRedactPayload(ShopScoped):
    pass


class AnyPayload(Payload):
    """A topic whose body openstoq does not read (``app/uninstalled`` sends the shop object)."""


def newer(incoming: datetime | None, stored: datetime | None) -> bool:
    """Whether a payload stamped ``incoming`` may overwrite state stamped ``stored`` (unstamped: yes)."""
    return incoming is None or stored is None or incoming >= stored
