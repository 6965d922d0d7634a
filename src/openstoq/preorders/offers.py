"""Offers: the preorder selling plans, their lifecycle and their history (actions + service)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import bindparam, func, select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferEvent, OfferVariant
from openstoq.db.types import utc_iso
from openstoq.errors import Conflict, NotFound, ValidationFailed
from openstoq.pagination import PageQuery, page_meta
from openstoq.preorders import storefront
from openstoq.registry import ActionGroup, Params, Payload, uuid_param
from openstoq.validation import EmptyBody, RequestModel, partial_model

Status = Literal["disabled", "enabled", "scheduled", "discarded"]
OFFER_ID = uuid_param("id", "offer")
PATH = "/preorders/offers"

actions = ActionGroup()


# --- request and response models -------------------------------------------------------------


class CreateOffer(RequestModel):
    name: str = Field("Preorder", min_length=1, max_length=255, description="Shown to shoppers")
    internal_name: str | None = Field(
        None, min_length=1, max_length=255, description="Shown only to the merchant; default: the name"
    )


class OfferNames(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="Shown to shoppers")
    internal_name: str = Field(min_length=1, max_length=255, description="Shown only to the merchant")


UpdateOffer = partial_model(OfferNames, "UpdateOffer")


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


class Meta(BaseModel):
    total_count: int
    page: int
    per_page: int
    total_pages: int


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


# --- the service -----------------------------------------------------------------------------


class OfferFields(Protocol):
    """An offer as it is read and shown: the ORM object, or a row of its columns (``read_row``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def internal_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime | None: ...
    @property
    def ends_at(self) -> datetime | None: ...
    @property
    def capabilities(self) -> dict[str, Any]: ...
    @property
    def shopify_selling_plan_group_id(self) -> int | None: ...
    @property
    def shopify_selling_plan_id(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def discarded_at(self) -> datetime | None: ...


def is_live(offer: OfferFields, now: datetime) -> bool:
    """Live means shoppers can preorder now: enabled, or scheduled and inside its window."""
    if offer.status == "enabled":
        return True
    if offer.status != "scheduled":
        return False
    return (offer.starts_at is None or offer.starts_at <= now) and (offer.ends_at is None or now < offer.ends_at)


def _variant_count() -> Any:
    return (
        select(func.count())
        .where(OfferVariant.shop_id == Offer.shop_id, OfferVariant.offer_id == Offer.id)
        .correlate(Offer)
        .scalar_subquery()
    )


# Built once (the hottest reads): constructing a statement per request costs more than running it.
_LOAD = select(Offer, _variant_count()).where(Offer.shop_id == bindparam("shop_id"), Offer.id == bindparam("offer_id"))
_LOAD_FOR_UPDATE = _LOAD.with_for_update(of=Offer)
_READ = select(*Offer.__table__.c, _variant_count().label("variant_count")).where(
    Offer.shop_id == bindparam("shop_id"), Offer.id == bindparam("offer_id")
)


async def read_row(ctx: ActionContext, offer_id: str) -> Any:
    """For read actions: the shop's offer as a row of its columns plus ``variant_count``, or 404.

    One statement on the request fast path (``ActionContext.first``), no ORM object.
    """
    row = await ctx.first(_READ, {"shop_id": ctx.shop_id, "offer_id": offer_id})
    if row is None:
        raise NotFound(f"Offer {offer_id} not found")
    return row


async def load(ctx: ActionContext, offer_id: str, *, for_update: bool = False) -> tuple[Offer, int]:
    """The shop's offer and its variant count, or 404 (another shop's offer is not found either)."""
    query = _LOAD_FOR_UPDATE if for_update else _LOAD
    row = (await ctx.session.execute(query, {"shop_id": ctx.shop_id, "offer_id": offer_id})).first()
    if row is None:
        raise NotFound(f"Offer {offer_id} not found")
    return row[0], row[1]


def require_active(offer: Offer) -> None:
    if offer.status == "discarded":
        raise Conflict(f"offer is discarded; restore it first with POST {PATH}/{offer.id}/restore")


async def load_active(ctx: ActionContext, offer_id: str) -> tuple[Offer, int]:
    """Load for a write: locked, and refused with 409 when discarded."""
    offer, count = await load(ctx, offer_id, for_update=True)
    require_active(offer)
    return offer, count


def record(
    ctx: ActionContext,
    offer: Offer,
    action: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Append to the offer's history and touch ``updated_at`` (same transaction as the change)."""
    now = ctx.clock.now()
    offer.updated_at = now
    ctx.session.add(
        OfferEvent(
            shop_id=ctx.shop_id,
            offer_id=offer.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            changes=changes or {},
            source=ctx.source,
            created_at=now,
        )
    )


def serialize(ctx: ActionContext, offer: OfferFields, variant_count: int, *, full: bool = True) -> dict[str, Any]:
    from openstoq.preorders.capabilities import summaries

    warnings = []
    if offer.status in ("enabled", "scheduled") and variant_count == 0:
        warnings.append(
            f"offer has no variants attached, so nothing can be preordered; "
            f"attach some with POST {PATH}/{offer.id}/products/add_variants"
        )
    out: dict[str, Any] = {
        "id": offer.id,
        "name": offer.name,
        "internal_name": offer.internal_name,
        "status": offer.status,
        "live": is_live(offer, ctx.clock.now()),
        "schedule": (
            {"starts_at": utc_iso(offer.starts_at), "ends_at": utc_iso(offer.ends_at)}
            if offer.status == "scheduled"
            else None
        ),
        "variant_count": variant_count,
        "shopify_selling_plan_group_id": offer.shopify_selling_plan_group_id,
        "shopify_selling_plan_id": offer.shopify_selling_plan_id,
        "created_at": utc_iso(offer.created_at),
        "updated_at": utc_iso(offer.updated_at),
        "discarded_at": utc_iso(offer.discarded_at),
        "warnings": warnings,
    }
    if full:
        out["capabilities"] = summaries(offer)
    return out


def _plain(value: Any) -> Any:
    return utc_iso(value) if isinstance(value, datetime) else value


async def transition(
    ctx: ActionContext, offer: Offer, count: int, action: str, to: str, **fields: Any
) -> dict[str, Any]:
    """Move an offer to status ``to`` (setting ``fields``) and record it; a no-op when nothing changes."""
    before = offer.status
    changes = {
        key: [_plain(getattr(offer, key)), _plain(value)]
        for key, value in fields.items()
        if getattr(offer, key) != value
    }
    if before == to and not changes:
        return serialize(ctx, offer, count)
    offer.status = to
    for key, value in fields.items():
        setattr(offer, key, value)
    from openstoq.preorders.schedules import next_flip

    # A hand-made change accounts for the live state up to now, so the scheduler never records it.
    offer.schedule_due_at = next_flip(offer, ctx.clock.now())
    record(ctx, offer, action, from_status=before, to_status=to, changes=changes)
    await ctx.session.flush()
    await storefront.publish(ctx, offer.id)  # status decides what storefronts show: shop and variant metafields
    return serialize(ctx, offer, count)


# --- the actions -----------------------------------------------------------------------------


@actions.action(
    "list",
    "GET",
    PATH,
    "List the shop's preorder offers, newest first. Discarded offers appear only with status=discarded.",
    aliases=("show offers", "all preorder offers", "which offers do I have", "find an offer by name"),
    request=ListOffers,
    response=OfferList,
)
async def list_offers(ctx: ActionContext, _: Params, query: ListOffers) -> Payload:
    base = select(Offer).where(Offer.shop_id == ctx.shop_id)
    base = base.where(Offer.status == query.status) if query.status else base.where(Offer.status != "discarded")
    total = await ctx.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await ctx.session.execute(
        base.add_columns(_variant_count())
        .order_by(Offer.created_at.desc(), Offer.id.desc())
        .limit(query.per_page)
        .offset(query.offset)
    )
    offers = [serialize(ctx, offer, count, full=False) for offer, count in rows]
    return {"offers": offers, "meta": page_meta(query, total)}


@actions.action(
    "read",
    "GET",
    f"{PATH}/:id",
    "Read one offer: its status, whether it is live now, its schedule, variant count and a summary "
    "of every capability.",
    aliases=("show offer", "get offer details", "is this offer live"),
    params=(OFFER_ID,),
    response=OfferOut,
)
async def read_offer(ctx: ActionContext, params: Params, _: None) -> Payload:
    offer = await read_row(ctx, params["id"])
    return serialize(ctx, offer, offer.variant_count)


@actions.action(
    "create",
    "POST",
    PATH,
    "Create a preorder offer (disabled until enabled or scheduled). Only the names are set here; "
    "configure capabilities afterwards.",
    aliases=("new offer", "add a preorder offer", "start selling on preorder", "create selling plan"),
    notes=("Set the widget, payment, delivery and other capabilities with their own actions afterwards.",),
    request=CreateOffer,
    response=OfferOut,
)
async def create_offer(ctx: ActionContext, _: Params, body: CreateOffer) -> Payload:
    now = ctx.clock.now()
    offer = Offer(
        id=str(uuid.uuid4()),
        shop_id=ctx.shop_id,
        name=body.name,
        internal_name=body.internal_name or body.name,
        status="disabled",
        capabilities={},
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(offer)
    record(ctx, offer, "create", to_status="disabled", changes={"name": [None, offer.name]})
    await ctx.session.flush()
    return serialize(ctx, offer, 0)


@actions.action(
    "update",
    "PATCH",
    f"{PATH}/:id",
    "Rename an offer: its shopper-facing name and/or its internal name. Nothing else is set here.",
    aliases=("rename offer", "change offer name", "edit offer"),
    notes=(
        "Status changes are named actions (enable, disable, schedule, discard), never this PATCH.",
        "Capabilities have their own PATCH, e.g. PATCH /preorders/offers/:id/widget.",
    ),
    params=(OFFER_ID,),
    request=UpdateOffer,
    response=OfferOut,
)
async def update_offer(ctx: ActionContext, params: Params, body: UpdateOffer) -> Payload:
    offer, count = await load_active(ctx, params["id"])
    sent = body.model_dump(exclude_unset=True)
    changes = {k: [getattr(offer, k), v] for k, v in sent.items() if getattr(offer, k) != v}
    if changes:
        for key, (_, new) in changes.items():
            setattr(offer, key, new)
        record(ctx, offer, "update", changes=changes)
        await ctx.session.flush()
        await storefront.publish(ctx)  # the shop-level metafield shows the name
    return serialize(ctx, offer, count)


@actions.action(
    "discard",
    "POST",
    f"{PATH}/:id/discard",
    "Discard an offer: a soft delete that takes it off sale at once. It can be restored later.",
    aliases=("delete offer", "remove offer", "archive offer", "trash offer"),
    notes=("Never a hard delete: history and orders stay. A discarded offer accepts only reads and restore.",),
    params=(OFFER_ID,),
    request=EmptyBody,
    response=OfferOut,
)
async def discard_offer(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    offer, count = await load(ctx, params["id"], for_update=True)
    if offer.status == "discarded":
        raise Conflict(f"offer is already discarded; restore it with POST {PATH}/{offer.id}/restore")
    return await transition(
        ctx, offer, count, "discard", "discarded", discarded_at=ctx.clock.now(), starts_at=None, ends_at=None
    )


@actions.action(
    "restore",
    "POST",
    f"{PATH}/:id/restore",
    "Restore a discarded offer. It comes back disabled; enable or schedule it to sell again.",
    aliases=("undo discard", "undelete offer", "unarchive offer", "bring back offer"),
    params=(OFFER_ID,),
    request=EmptyBody,
    response=OfferOut,
)
async def restore_offer(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    offer, count = await load(ctx, params["id"], for_update=True)
    if offer.status != "discarded":
        raise Conflict(f"offer is not discarded (status: {offer.status}); only a discarded offer can be restored")
    return await transition(ctx, offer, count, "restore", "disabled", discarded_at=None)


@actions.action(
    "enable",
    "POST",
    f"{PATH}/:id/enable",
    "Enable an offer: it goes live now and stays live until disabled. Clears any schedule.",
    aliases=("turn on offer", "activate offer", "start preorders", "go live", "resume offer"),
    notes=("Enabling an offer with no variants is allowed; its read then carries a warning.",),
    params=(OFFER_ID,),
    request=EmptyBody,
    response=OfferOut,
)
async def enable_offer(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    offer, count = await load_active(ctx, params["id"])
    return await transition(ctx, offer, count, "enable", "enabled", starts_at=None, ends_at=None)


@actions.action(
    "disable",
    "POST",
    f"{PATH}/:id/disable",
    "Disable an offer: it stops being live at once. Clears any schedule.",
    aliases=("turn off offer", "pause offer", "deactivate offer", "stop preorders"),
    params=(OFFER_ID,),
    request=EmptyBody,
    response=OfferOut,
)
async def disable_offer(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    offer, count = await load_active(ctx, params["id"])
    return await transition(ctx, offer, count, "disable", "disabled", starts_at=None, ends_at=None)


@actions.action(
    "schedule",
    "POST",
    f"{PATH}/:id/schedule",
    "Schedule an offer: live from starts_at until ends_at. Either may be omitted (live from now, or "
    "with no end), not both.",
    aliases=("set offer dates", "launch offer later", "run offer between dates", "end offer on a date"),
    notes=(
        "ends_at must be after starts_at and in the future.",
        "The scheduler flips it on and off by itself.",
    ),
    params=(OFFER_ID,),
    request=ScheduleOffer,
    response=OfferOut,
)
async def schedule_offer(ctx: ActionContext, params: Params, body: ScheduleOffer) -> Payload:
    offer, count = await load_active(ctx, params["id"])
    if body.ends_at is not None and body.ends_at <= ctx.clock.now():
        raise ValidationFailed("ends_at must be in the future")
    return await transition(ctx, offer, count, "schedule", "scheduled", starts_at=body.starts_at, ends_at=body.ends_at)


@actions.action(
    "unschedule",
    "POST",
    f"{PATH}/:id/unschedule",
    "Remove an offer's schedule. It becomes disabled; enable it to sell now.",
    aliases=("cancel schedule", "clear offer dates", "remove schedule"),
    params=(OFFER_ID,),
    request=EmptyBody,
    response=OfferOut,
)
async def unschedule_offer(ctx: ActionContext, params: Params, _: EmptyBody) -> Payload:
    offer, count = await load_active(ctx, params["id"])
    if offer.status != "scheduled":
        raise Conflict(f"offer is not scheduled (status: {offer.status}); schedule it first")
    return await transition(ctx, offer, count, "unschedule", "disabled", starts_at=None, ends_at=None)


@actions.action(
    "history",
    "GET",
    f"{PATH}/:id/history",
    "An offer's history, oldest first: every transition and change, with who made it (api, mcp, scheduler).",
    aliases=("offer audit log", "who changed this offer", "offer changes", "when was the offer enabled"),
    params=(OFFER_ID,),
    request=PageQuery,
    response=OfferHistory,
)
async def offer_history(ctx: ActionContext, params: Params, query: PageQuery) -> Payload:
    offer, _ = await load(ctx, params["id"])
    scope = (OfferEvent.shop_id == ctx.shop_id, OfferEvent.offer_id == offer.id)
    total = await ctx.session.scalar(select(func.count()).where(*scope)) or 0
    events = await ctx.session.scalars(
        select(OfferEvent).where(*scope).order_by(OfferEvent.id).limit(query.per_page).offset(query.offset)
    )
    return {
        "events": [
            {
                "id": e.id,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "changes": e.changes,
                "source": e.source,
                "created_at": utc_iso(e.created_at),
            }
            for e in events
        ],
        "meta": page_meta(query, total),
    }
