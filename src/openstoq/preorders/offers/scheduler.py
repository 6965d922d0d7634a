"""Offer schedules take effect by themselves: scheduled offers go live at starts_at and end at ends_at.

Durable by construction: ``offers.schedule_due_at`` is the offer's next schedule time not yet
applied, so a pass after any downtime finds what it missed. Each flip is one write transaction that
locks the offer, re-checks it, records the flip in its history, updates the platform and moves
``schedule_due_at`` on; concurrent passes (several workers) and repeated passes record it once.

An offer keeps status ``scheduled`` after ends_at: its read still shows the window, with
``live: false``, and status changes stay the merchant's named actions.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from openstoq.db.models import Offer
from openstoq.db.types import utc_iso
from openstoq.feature import Duty, Services
from openstoq.preorders import storefront
from openstoq.preorders.lifecycle import due_flips, next_flip
from openstoq.preorders.offers import service

log = logging.getLogger(__name__)


async def apply_due_schedules(services: Services) -> int:
    """Flip every scheduled offer whose schedule time has come; returns how many offers flipped."""
    async with services.db.transaction(write=False) as session:
        due = (
            await session.execute(
                select(Offer.shop_id, Offer.id)
                .where(Offer.status == "scheduled", Offer.schedule_due_at <= services.clock.now())
                .order_by(Offer.schedule_due_at)
            )
        ).all()
    flipped = 0
    for shop_id, offer_id in due:
        try:
            flipped += await _apply(services, shop_id, offer_id)
        except Exception:
            # One offer's failure must not hold back the others; it stays due, so the next pass retries.
            log.exception("could not apply the schedule of offer %s (shop %s)", offer_id, shop_id)
    return flipped


async def _apply(services: Services, shop_id: str, offer_id: str) -> bool:
    async with services.shop_transaction(shop_id, source="scheduler") as ctx:
        offer, _ = await service.load(ctx, offer_id, for_update=True)
        now = ctx.clock.now()
        # Re-checked under the lock: another pass or a hand-made change may have come first.
        flips = due_flips(offer, offer.schedule_due_at, now)
        window = {"starts_at": utc_iso(offer.starts_at), "ends_at": utc_iso(offer.ends_at)}
        for action, _ in flips:
            live = action == "went_live"
            service.record(ctx, offer, action, changes={"live": [not live, live], "schedule": window})
            log.info("offer %s of %s %s", offer.id, ctx.domain, action.replace("_", " "))
        if offer.schedule_due_at is not None and offer.schedule_due_at <= now:
            offer.schedule_due_at = next_flip(offer, now)
        if not flips:
            return False
        await ctx.session.flush()
        # What the storefront reads: the shop's live offers, and the offer's variants' overrides.
        if await storefront.reachable_platform(ctx) is None:
            log.info(
                "offer %s flipped without a platform update: shop %s's platform is not reachable", offer.id, ctx.domain
            )
        await storefront.publish(ctx, offer.id)
        return True


SCHEDULES = Duty("offer_schedules", lambda settings: settings.worker_tick_seconds, apply_due_schedules)
