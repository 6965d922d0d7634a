"""Keeping what storefronts read in step with offers, through the outbox.

Writes decide what changed (``renamed``, ``publish``, ``membership_changed``, ``variants_changed``):
each adds outbox commands to the transaction. After commit the commands are delivered: each brings
the platform to what the database says now (selling plan group and its members, variant metafields,
the shop-level metafield), writing only what differs. So deliveries are idempotent, a burst of
changes costs one delivery per shop, and a delivery that ran late or twice changes nothing.

A delivery locks what it reads before computing from it (the variants, or the shop for the
shop-level metafield), so two deliveries racing for one shop take turns and the last to write
always read the state of every commit before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Shop
from openstoq.errors import Conflict
from openstoq.outbox import Command
from openstoq.platform import Platform, SellingPlanRef, platform_for
from openstoq.preorders import metafields

BATCH = 200  # variants per metafield sync: bounded IN lists, and a few platform calls each
SELLING_PLAN = "preorders.selling_plan"
VARIANT_METAFIELDS = "preorders.variant_metafields"
SHOP_METAFIELD = "preorders.shop_metafield"


async def reachable_platform(ctx: ActionContext) -> Platform | None:
    """The shop's platform, or None when this version cannot reach it yet (not an error for offer edits)."""
    try:
        return await platform_for(ctx)
    except Conflict:
        return None


async def _attached(ctx: ActionContext, offer_id: str) -> list[int]:
    rows = await ctx.session.scalars(
        select(OfferVariant.variant_id)
        .where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer_id)
        .order_by(OfferVariant.variant_id)
    )
    return list(rows)


# --- what writes decide ---------------------------------------------------------------------------------


async def publish(ctx: ActionContext, offer_id: str | None = None) -> None:
    """After an offer change: the shop-level ``selling_plans`` metafield (status, name, widget) and,
    with ``offer_id`` (a status change), the metafields of the offer's variants, whose selling plan
    ids and overrides follow which of their offers are live or discarded."""
    if await reachable_platform(ctx) is None:
        return  # the offer change itself still stands; nothing to push to
    ctx.outbox.add(SHOP_METAFIELD)
    if offer_id is not None:
        variants_changed(ctx, await _attached(ctx, offer_id))


async def renamed(ctx: ActionContext, offer_id: str) -> None:
    """The offer's name is on its selling plan group and in the shop-level metafield."""
    if await reachable_platform(ctx) is None:
        return
    ctx.outbox.add(SELLING_PLAN, {"offer_id": offer_id})
    ctx.outbox.add(SHOP_METAFIELD)


def membership_changed(ctx: ActionContext, offer_id: str, variant_ids: Sequence[int]) -> None:
    """Variants joined or left the offer: its selling plan group, their metafields and (for a first
    attach, which gives the offer its selling plan id) the shop-level metafield."""
    ctx.outbox.add(SELLING_PLAN, {"offer_id": offer_id})
    variants_changed(ctx, variant_ids)
    ctx.outbox.add(SHOP_METAFIELD)


def variants_changed(ctx: ActionContext, variant_ids: Iterable[int], *, reset: bool = False) -> None:
    """The variants' metafields must follow their offers, overrides and counts (``reset``: rewrite all)."""
    ids = sorted(set(variant_ids))
    for start in range(0, len(ids), BATCH):
        ctx.outbox.add(VARIANT_METAFIELDS, {"variant_ids": ids[start : start + BATCH], "reset": reset})


# --- what deliveries do ----------------------------------------------------------------------------------


async def lock_shop(ctx: ActionContext) -> None:
    """Take the shop's turn for the shop-level metafield (held to commit)."""
    # FOR NO KEY UPDATE: rows inserted meanwhile (whose foreign keys take KEY SHARE on the shop) never wait.
    await ctx.session.execute(select(Shop.id).where(Shop.id == ctx.shop_id).with_for_update(key_share=True))


async def deliver_selling_plans(ctx: ActionContext, payloads: list[dict[str, Any]]) -> None:
    """Each offer's selling plan group exists (once it has variants), carries its name, and holds
    exactly the offer's variants. An offer given its plan ids now gets its metafields pushed after."""
    platform = await platform_for(ctx)
    for offer_id in sorted({str(p["offer_id"]) for p in payloads}):
        offer = await ctx.session.scalar(
            select(Offer).where(Offer.shop_id == ctx.shop_id, Offer.id == offer_id).with_for_update()
        )
        if offer is None:
            continue
        attached = await _attached(ctx, offer.id)
        known = None
        if offer.shopify_selling_plan_group_id and offer.shopify_selling_plan_id:
            known = SellingPlanRef(offer.shopify_selling_plan_group_id, offer.shopify_selling_plan_id)
        if known is None and not attached:
            continue  # a group is made for the first variant, not before
        ref = await platform.ensure_selling_plan_group(ctx, offer.id, offer.name, known)
        members = set(await platform.selling_plan_variants(ctx, ref))
        joining = sorted(set(attached) - members)
        leaving = sorted(members - set(attached))
        if joining:
            await platform.add_variants(ctx, ref, joining)
        if leaving:
            await platform.remove_variants(ctx, ref, leaving)
        if ref != known:
            offer.shopify_selling_plan_group_id, offer.shopify_selling_plan_id = ref.group_id, ref.selling_plan_id
            # The plan id is in every variant's metafields and in the shop-level entry: push them again.
            variants_changed(ctx, attached)
            ctx.outbox.add(SHOP_METAFIELD)


async def deliver_variant_metafields(ctx: ActionContext, payloads: list[dict[str, Any]]) -> None:
    platform = await platform_for(ctx)
    reset = sorted({v for p in payloads if p.get("reset") for v in p["variant_ids"]})
    plain = sorted({v for p in payloads for v in p["variant_ids"]} - set(reset))
    for ids, rewrite in ((reset, True), (plain, False)):
        for start in range(0, len(ids), BATCH):
            await metafields.sync(ctx, platform, ids[start : start + BATCH], reset=rewrite)


async def deliver_shop_metafield(ctx: ActionContext, _: list[dict[str, Any]]) -> None:
    platform = await platform_for(ctx)
    await lock_shop(ctx)
    await metafields.sync_shop(ctx, platform)


COMMANDS = (
    # Plans first: the metafields name their ids.
    Command(SELLING_PLAN, deliver_selling_plans, rank=10),
    Command(VARIANT_METAFIELDS, deliver_variant_metafields, rank=20),
    Command(SHOP_METAFIELD, deliver_shop_metafield, rank=30),
)
