"""Preorder counts: units on open preorder lines, per variant.

Webhooks move counts incrementally (``adjust``); ``recalculate`` rebuilds them from the order lines,
which are the truth. An open line is on an order that is neither cancelled nor fulfilled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from openstoq.context import ActionContext
from openstoq.db.models import Order, OrderLine, Variant


def open_order() -> ColumnElement[bool]:
    return and_(
        Order.cancelled_at.is_(None), or_(Order.fulfillment_status.is_(None), Order.fulfillment_status != "fulfilled")
    )


async def adjust(ctx: ActionContext, deltas: Mapping[int, int]) -> None:
    """Add ``deltas`` (variant id → units) to the counts, in one statement per variant, never below zero."""
    for variant_id, delta in sorted(deltas.items()):  # sorted: concurrent writers lock rows in one order
        if delta:
            moved = Variant.preorder_count + delta
            await ctx.session.execute(
                update(Variant)
                .where(Variant.shop_id == ctx.shop_id, Variant.id == variant_id)
                .values(preorder_count=case((moved < 0, 0), else_=moved))
            )


async def counted(ctx: ActionContext, variant_ids: Sequence[int]) -> dict[int, int]:
    """What the open order lines say each variant's count is."""
    rows = await ctx.session.execute(
        select(OrderLine.variant_id, func.coalesce(func.sum(OrderLine.quantity), 0))
        .join(Order, and_(Order.shop_id == OrderLine.shop_id, Order.id == OrderLine.order_id))
        .where(
            OrderLine.shop_id == ctx.shop_id,
            OrderLine.variant_id.in_(list(variant_ids)),
            OrderLine.offer_id.is_not(None),
            open_order(),
        )
        .group_by(OrderLine.variant_id)
    )
    found = {variant_id: int(total) for variant_id, total in rows}
    return {variant_id: found.get(variant_id, 0) for variant_id in variant_ids}


async def recalculate(ctx: ActionContext, variant_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Rebuild the counts from open order lines: variant id → (before, after).

    The variants are locked before the lines are summed: an order event committing in between
    would otherwise add its units to a count this absolute write then replaces. Locked in id
    order, as ``adjust`` updates them, so the two never wait on each other in a cycle.
    """
    rows = (
        await ctx.session.execute(
            select(Variant.id, Variant.preorder_count)
            .where(Variant.shop_id == ctx.shop_id, Variant.id.in_(sorted(set(variant_ids))))
            .order_by(Variant.id)
            .with_for_update()
        )
    ).all()
    truth = await counted(ctx, variant_ids)
    changes: dict[int, tuple[int, int]] = {}
    for variant_id, before in rows:
        after = truth[variant_id]
        changes[variant_id] = (before, after)
        if before != after:
            await ctx.session.execute(
                update(Variant)
                .where(Variant.shop_id == ctx.shop_id, Variant.id == variant_id)
                .values(preorder_count=after)
            )
    return changes
