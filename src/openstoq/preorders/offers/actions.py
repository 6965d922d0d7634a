"""The offer actions: declarations only; each handler calls ``service``."""

from __future__ import annotations

from openstoq.context import ActionContext
from openstoq.pagination import PageQuery
from openstoq.preorders.offers import service
from openstoq.preorders.offers.models import (
    PATH,
    CreateOffer,
    ListOffers,
    OfferHistory,
    OfferId,
    OfferList,
    OfferOut,
    ScheduleOffer,
    UpdateOffer,
)
from openstoq.registry import ActionGroup, Payload
from openstoq.validation import EmptyBody

actions = ActionGroup()


@actions.action(
    "list",
    "GET",
    PATH,
    "List the shop's preorder offers, newest first. Discarded offers appear only with status=discarded.",
    aliases=("show offers", "all preorder offers", "which offers do I have", "find an offer by name"),
    request=ListOffers,
    response=OfferList,
)
async def list_offers(ctx: ActionContext, query: ListOffers) -> Payload:
    return await service.list_offers(ctx, query.status, query)


@actions.action(
    "read",
    "GET",
    f"{PATH}/:id",
    "Read one offer: its status, whether it is live now, its schedule, variant count and a summary "
    "of every capability.",
    aliases=("show offer", "get offer details", "is this offer live"),
    response=OfferOut,
)
async def read_offer(ctx: ActionContext, _: None, *, id: OfferId) -> Payload:
    offer = await service.read_row(ctx, id)
    return service.serialize(ctx, offer, offer.variant_count)


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
async def create_offer(ctx: ActionContext, body: CreateOffer) -> Payload:
    return await service.create(ctx, body.name, body.internal_name)


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
    request=UpdateOffer,
    response=OfferOut,
)
async def update_offer(ctx: ActionContext, body: UpdateOffer, *, id: OfferId) -> Payload:
    return await service.rename(ctx, id, body.model_dump(exclude_unset=True))


@actions.action(
    "discard",
    "POST",
    f"{PATH}/:id/discard",
    "Discard an offer: a soft delete that takes it off sale at once. It can be restored later.",
    aliases=("delete offer", "remove offer", "archive offer", "trash offer"),
    notes=("Never a hard delete: history and orders stay. A discarded offer accepts only reads and restore.",),
    request=EmptyBody,
    response=OfferOut,
)
async def discard_offer(ctx: ActionContext, _: EmptyBody, *, id: OfferId) -> Payload:
    return await service.discard(ctx, id)


@actions.action(
    "restore",
    "POST",
    f"{PATH}/:id/restore",
    "Restore a discarded offer. It comes back disabled; enable or schedule it to sell again.",
    aliases=("undo discard", "undelete offer", "unarchive offer", "bring back offer"),
    request=EmptyBody,
    response=OfferOut,
)
async def restore_offer(ctx: ActionContext, _: EmptyBody, *, id: OfferId) -> Payload:
    return await service.restore(ctx, id)


@actions.action(
    "enable",
    "POST",
    f"{PATH}/:id/enable",
    "Enable an offer: it goes live now and stays live until disabled. Clears any schedule.",
    aliases=("turn on offer", "activate offer", "start preorders", "go live", "resume offer"),
    notes=("Enabling an offer with no variants is allowed; its read then carries a warning.",),
    request=EmptyBody,
    response=OfferOut,
)
async def enable_offer(ctx: ActionContext, _: EmptyBody, *, id: OfferId) -> Payload:
    return await service.switch(ctx, id, "enable", "enabled")


@actions.action(
    "disable",
    "POST",
    f"{PATH}/:id/disable",
    "Disable an offer: it stops being live at once. Clears any schedule.",
    aliases=("turn off offer", "pause offer", "deactivate offer", "stop preorders"),
    request=EmptyBody,
    response=OfferOut,
)
async def disable_offer(ctx: ActionContext, _: EmptyBody, *, id: OfferId) -> Payload:
    return await service.switch(ctx, id, "disable", "disabled")


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
    request=ScheduleOffer,
    response=OfferOut,
)
async def schedule_offer(ctx: ActionContext, body: ScheduleOffer, *, id: OfferId) -> Payload:
    return await service.schedule(ctx, id, body.starts_at, body.ends_at)


@actions.action(
    "unschedule",
    "POST",
    f"{PATH}/:id/unschedule",
    "Remove an offer's schedule. It becomes disabled; enable it to sell now.",
    aliases=("cancel schedule", "clear offer dates", "remove schedule"),
    request=EmptyBody,
    response=OfferOut,
)
async def unschedule_offer(ctx: ActionContext, _: EmptyBody, *, id: OfferId) -> Payload:
    return await service.unschedule(ctx, id)


@actions.action(
    "history",
    "GET",
    f"{PATH}/:id/history",
    "An offer's history, oldest first: every transition and change, with who made it (api, mcp, scheduler).",
    aliases=("offer audit log", "who changed this offer", "offer changes", "when was the offer enabled"),
    request=PageQuery,
    response=OfferHistory,
)
async def offer_history(ctx: ActionContext, query: PageQuery, *, id: OfferId) -> Payload:
    return await service.history(ctx, id, query)
