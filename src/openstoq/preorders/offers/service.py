"""What offers do: load, lock, change state, record history, and show them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from openstoq.capability import summaries
from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferEvent, OfferVariant
from openstoq.db.types import AnySelect, utc_iso
from openstoq.errors import Conflict, NotFound, ValidationFailed
from openstoq.pagination import PageQuery, page_meta
from openstoq.preorders import storefront
from openstoq.preorders.lifecycle import OfferFields, is_live, next_flip
from openstoq.preorders.offers.models import PATH, Status
from openstoq.registry import Payload


def variant_count() -> Any:
    return (
        select(func.count())
        .where(OfferVariant.shop_id == Offer.shop_id, OfferVariant.offer_id == Offer.id)
        .correlate(Offer)
        .scalar_subquery()
    )


# Built once (the hottest reads): constructing a statement per request costs more than running it.
_LOAD = select(Offer, variant_count()).where(Offer.shop_id == bindparam("shop_id"), Offer.id == bindparam("offer_id"))
_LOAD_FOR_UPDATE = _LOAD.with_for_update(of=Offer)
READ: AnySelect = select(*Offer.__table__.c, variant_count().label("variant_count")).where(
    Offer.shop_id == bindparam("shop_id"), Offer.id == bindparam("offer_id")
)


async def read_row(ctx: ActionContext, offer_id: str) -> Any:
    """For read actions: the shop's offer as a row of its columns plus ``variant_count``, or 404.

    One statement on the request fast path (``ActionContext.first``), no ORM object.
    """
    row = await ctx.first(READ, {"shop_id": ctx.shop_id, "offer_id": offer_id})
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


def serialize(ctx: ActionContext, offer: OfferFields, count: int, *, full: bool = True) -> Payload:
    warnings = []
    if offer.status in ("enabled", "scheduled") and count == 0:
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
        "variant_count": count,
        "shopify_selling_plan_group_id": offer.shopify_selling_plan_group_id,
        "shopify_selling_plan_id": offer.shopify_selling_plan_id,
        "created_at": utc_iso(offer.created_at),
        "updated_at": utc_iso(offer.updated_at),
        "discarded_at": utc_iso(offer.discarded_at),
        "warnings": warnings,
    }
    if full:
        out["capabilities"] = summaries(ctx.features.capabilities, offer.capabilities)
    return out


def _plain(value: Any) -> Any:
    return utc_iso(value) if isinstance(value, datetime) else value


async def transition(ctx: ActionContext, offer: Offer, count: int, action: str, to: Status, **fields: Any) -> Payload:
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
    # A hand-made change accounts for the live state up to now, so the scheduler never records it.
    offer.schedule_due_at = next_flip(offer, ctx.clock.now())
    record(ctx, offer, action, from_status=before, to_status=to, changes=changes)
    await ctx.session.flush()
    await storefront.publish(ctx, offer.id)  # status decides what storefronts show: shop and variant metafields
    return serialize(ctx, offer, count)


# --- the operations the actions call -------------------------------------------------------------------


async def list_offers(ctx: ActionContext, status: Status | None, page: PageQuery) -> Payload:
    base = select(Offer).where(Offer.shop_id == ctx.shop_id)
    base = base.where(Offer.status == status) if status else base.where(Offer.status != "discarded")
    total = await ctx.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await ctx.session.execute(
        base.add_columns(variant_count())
        .order_by(Offer.created_at.desc(), Offer.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    )
    offers = [serialize(ctx, offer, count, full=False) for offer, count in rows]
    return {"offers": offers, "meta": page_meta(page, total)}


async def create(ctx: ActionContext, name: str, internal_name: str | None) -> Payload:
    now = ctx.clock.now()
    offer = Offer(
        id=str(uuid.uuid4()),
        shop_id=ctx.shop_id,
        name=name,
        internal_name=internal_name or name,
        status="disabled",
        capabilities={},
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(offer)
    record(ctx, offer, "create", to_status="disabled", changes={"name": [None, offer.name]})
    await ctx.session.flush()
    return serialize(ctx, offer, 0)


async def rename(ctx: ActionContext, offer_id: str, names: dict[str, str]) -> Payload:
    offer, count = await load_active(ctx, offer_id)
    changes = {k: [getattr(offer, k), v] for k, v in names.items() if getattr(offer, k) != v}
    if changes:
        for key, (_, new) in changes.items():
            setattr(offer, key, new)
        record(ctx, offer, "update", changes=changes)
        await ctx.session.flush()
        if "name" in changes:  # shoppers see it: the selling plan group and the shop-level metafield carry it
            await storefront.renamed(ctx, offer.id)
    return serialize(ctx, offer, count)


async def discard(ctx: ActionContext, offer_id: str) -> Payload:
    offer, count = await load(ctx, offer_id, for_update=True)
    if offer.status == "discarded":
        raise Conflict(f"offer is already discarded; restore it with POST {PATH}/{offer.id}/restore")
    now = ctx.clock.now()
    return await transition(ctx, offer, count, "discard", "discarded", discarded_at=now, starts_at=None, ends_at=None)


async def restore(ctx: ActionContext, offer_id: str) -> Payload:
    offer, count = await load(ctx, offer_id, for_update=True)
    if offer.status != "discarded":
        raise Conflict(f"offer is not discarded (status: {offer.status}); only a discarded offer can be restored")
    return await transition(ctx, offer, count, "restore", "disabled", discarded_at=None)


async def switch(ctx: ActionContext, offer_id: str, action: str, to: Status) -> Payload:
    """Enable or disable: a live state the merchant sets by hand, which clears any schedule."""
    offer, count = await load_active(ctx, offer_id)
    return await transition(ctx, offer, count, action, to, starts_at=None, ends_at=None)


async def schedule(ctx: ActionContext, offer_id: str, starts_at: datetime | None, ends_at: datetime | None) -> Payload:
    offer, count = await load_active(ctx, offer_id)
    if ends_at is not None and ends_at <= ctx.clock.now():
        raise ValidationFailed("ends_at must be in the future")
    return await transition(ctx, offer, count, "schedule", "scheduled", starts_at=starts_at, ends_at=ends_at)


async def unschedule(ctx: ActionContext, offer_id: str) -> Payload:
    offer, count = await load_active(ctx, offer_id)
    if offer.status != "scheduled":
        raise Conflict(f"offer is not scheduled (status: {offer.status}); schedule it first")
    return await transition(ctx, offer, count, "unschedule", "disabled", starts_at=None, ends_at=None)


async def history(ctx: ActionContext, offer_id: str, page: PageQuery) -> Payload:
    offer, _ = await load(ctx, offer_id)
    scope = (OfferEvent.shop_id == ctx.shop_id, OfferEvent.offer_id == offer.id)
    total = await ctx.session.scalar(select(func.count()).where(*scope)) or 0
    events = await ctx.session.scalars(
        select(OfferEvent).where(*scope).order_by(OfferEvent.id).limit(page.per_page).offset(page.offset)
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
        "meta": page_meta(page, total),
    }
