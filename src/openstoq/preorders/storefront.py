"""Keeping what storefronts read in step with offers: the metafields pushed after an offer changes.

Called from the shared write paths (offer transitions and renames, capability changes, membership
changes), in the caller's transaction. Only what differs is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import OfferVariant, Shop
from openstoq.errors import Conflict
from openstoq.platform import Platform, platform_for
from openstoq.preorders import metafields

BATCH = 200  # variants per metafield sync: bounded IN lists, and a few platform calls each


async def reachable_platform(ctx: ActionContext) -> Platform | None:
    """The shop's platform, or None when this version cannot reach it yet (not an error for offer edits)."""
    try:
        return await platform_for(ctx)
    except Conflict:
        return None


async def lock_shop(ctx: ActionContext) -> None:
    """Take the shop's turn for storefront pushes from offer writes (held to commit).

    A variant's metafields sum up all its offers and the shop-level one every offer, so two offer
    writes computing them at once would each miss the other's change (or both insert the same row).
    Offer writes take it right after the offer's own lock and before any other; ingestion takes it
    last if at all (after its variant and offer locks), so these writers never wait on each other in
    a cycle.
    """
    # FOR NO KEY UPDATE: writers take turns, yet rows inserted earlier in the transaction (whose
    # foreign keys hold a KEY SHARE lock on the shop) do not turn the wait into a deadlock.
    await ctx.session.execute(select(Shop.id).where(Shop.id == ctx.shop_id).with_for_update(key_share=True))


async def sync_variants(ctx: ActionContext, platform: Platform, variant_ids: Sequence[int]) -> None:
    """Push the variants' metafields, in batches."""
    ids = sorted(set(variant_ids))
    for start in range(0, len(ids), BATCH):
        await metafields.sync(ctx, platform, ids[start : start + BATCH])


async def publish(ctx: ActionContext, offer_id: str | None = None) -> None:
    """After an offer change: the shop-level ``selling_plans`` metafield (status, name, widget) and,
    with ``offer_id`` (a status change), the metafields of the offer's variants, whose selling plan
    ids and overrides follow which of their offers are live or discarded."""
    platform = await reachable_platform(ctx)
    if platform is None:
        return  # the offer change itself still stands; nothing to push to
    await lock_shop(ctx)
    await metafields.sync_shop(ctx, platform)
    if offer_id is not None:
        attached = await ctx.session.scalars(
            select(OfferVariant.variant_id).where(
                OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer_id
            )
        )
        await sync_variants(ctx, platform, list(attached))
