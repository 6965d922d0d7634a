"""Offer schedules take effect by themselves: scheduled offers go live at starts_at and end at ends_at.

Durable by construction: ``offers.schedule_due_at`` is the offer's next schedule time not yet
applied, so a pass after any downtime finds what it missed. Each flip is one write transaction that
locks the offer, re-checks it, records the flip in its history, updates the platform and moves
``schedule_due_at`` on; concurrent passes (several workers) and repeated passes record it once.

An offer keeps status ``scheduled`` after ends_at: its read still shows the window, with
``live: false``, and status changes stay the merchant's named actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, Shop
from openstoq.db.types import utc_iso
from openstoq.preorders import offers, storefront

if TYPE_CHECKING:
    from openstoq.runtime import Runtime

log = logging.getLogger(__name__)


def next_flip(offer: Offer, after: datetime) -> datetime | None:
    """The offer's first schedule time later than ``after``: when it must next flip (None: never)."""
    if offer.status != "scheduled":
        return None
    return min((t for t in (offer.starts_at, offer.ends_at) if t is not None and t > after), default=None)


def due_flips(offer: Offer, now: datetime) -> list[tuple[str, datetime]]:
    """The flips due by ``now``, oldest first: both when a downtime spanned the whole window."""
    due = offer.schedule_due_at
    if offer.status != "scheduled" or due is None or due > now:
        return []
    flips = (("went_live", offer.starts_at), ("ended", offer.ends_at))
    return [(action, at) for action, at in flips if at is not None and due <= at <= now]


async def apply_due_schedules(runtime: Runtime) -> int:
    """Flip every scheduled offer whose schedule time has come; returns how many offers flipped."""
    async with runtime.db.transaction(write=False) as session:
        due = (
            await session.execute(
                select(Offer.shop_id, Offer.id)
                .where(Offer.status == "scheduled", Offer.schedule_due_at <= runtime.clock.now())
                .order_by(Offer.schedule_due_at)
            )
        ).all()
    flipped = 0
    for shop_id, offer_id in due:
        try:
            flipped += await _apply(runtime, shop_id, offer_id)
        except Exception:
            # One offer's failure must not hold back the others; it stays due, so the next pass retries.
            log.exception("could not apply the schedule of offer %s (shop %s)", offer_id, shop_id)
    return flipped


async def _apply(runtime: Runtime, shop_id: str, offer_id: str) -> bool:
    async with runtime.db.transaction(write=True) as session:
        domain = await session.scalar(select(Shop.domain).where(Shop.id == shop_id))
        if domain is None:
            return False
        ctx = ActionContext(shop_id, domain, session, runtime.clock, runtime.settings, "scheduler")
        offer, _ = await offers.load(ctx, offer_id, for_update=True)
        now = ctx.clock.now()
        # Re-checked under the lock: another pass or a hand-made change may have come first.
        flips = due_flips(offer, now)
        window = {"starts_at": utc_iso(offer.starts_at), "ends_at": utc_iso(offer.ends_at)}
        for action, _ in flips:
            live = action == "went_live"
            offers.record(ctx, offer, action, changes={"live": [not live, live], "schedule": window})
            log.info("offer %s of %s %s", offer.id, domain, action.replace("_", " "))
        if offer.schedule_due_at is not None and offer.schedule_due_at <= now:
            offer.schedule_due_at = next_flip(offer, now)
        if not flips:
            return False
        await session.flush()
        await _sync_platform(ctx, offer)
        return True


async def _sync_platform(ctx: ActionContext, offer: Offer) -> None:
    """What the storefront reads: the shop's live offers, and the offer's variants' overrides."""
    if await storefront.reachable_platform(ctx) is None:
        log.info(
            "offer %s flipped without a platform update: shop %s's platform is not reachable", offer.id, ctx.domain
        )
        return
    await storefront.publish(ctx, offer.id)


async def run_scheduler(runtime: Runtime, interval: float, stop: asyncio.Event) -> None:
    """Apply due schedules now (catching up on any downtime), then every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        try:
            flipped = await apply_due_schedules(runtime)
        except Exception:
            log.exception("schedule pass failed; retrying in %s s", interval)
        else:
            if flipped:
                log.info("schedules: %d offer(s) flipped", flipped)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
