"""The order mirror: which orders are preorder orders, their lines, customers and preorder counts.

An order is kept when at least one line is a preorder line: its variant is attached to a live offer
when the order is created, or the line names an offer's selling plan. Counts move by the difference
between what the order contributed before and after the event (units on its open preorder lines),
computed with the order row locked. Replays and duplicates therefore move nothing, and concurrent
events on other orders add up (``counts.adjust`` is an atomic increment), where rebuilding counts
from lines in each event (``counts.recalculate``) loses increments between concurrent transactions.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Customer, Offer, OfferVariant, Order, OrderLine, Shop
from openstoq.errors import ValidationFailed
from openstoq.platform.payloads import CustomerPayload, LineItemPayload, OrderPayload, newer
from openstoq.preorders import counts
from openstoq.preorders.lifecycle import is_live


def open_units(order: Order, lines: Iterable[OrderLine]) -> Counter[int]:
    """Units per variant on the order's preorder lines while it is open (as ``counts.open_order`` says)."""
    units: Counter[int] = Counter()
    if order.cancelled_at is not None or order.fulfillment_status == "fulfilled":
        return units
    for line in lines:
        if line.offer_id is not None and line.variant_id is not None:
            units[line.variant_id] += line.quantity
    return units


async def classify(
    ctx: ActionContext, lines: Iterable[LineItemPayload], *, attached_by: datetime | None = None
) -> dict[int, str]:
    """Line id → offer id for the preorder lines among ``lines``.

    A line naming a selling plan belongs to that plan's offer. Otherwise the variant's first live
    offer counts; with ``attached_by``, only if the variant was attached to it by then (an event
    about an order we never saw must not turn an order placed before the attachment into a preorder).
    """
    lines = list(lines)
    now = ctx.clock.now()
    plan_ids = {line.selling_plan_id for line in lines if line.selling_plan_id}
    by_plan: dict[int, str] = {}
    if plan_ids:
        rows = await ctx.session.execute(
            select(Offer.shopify_selling_plan_id, Offer.id).where(
                Offer.shop_id == ctx.shop_id, Offer.shopify_selling_plan_id.in_(plan_ids)
            )
        )
        by_plan = {plan: offer_id for plan, offer_id in rows if plan is not None}
    variant_ids = {line.variant_id for line in lines if line.variant_id}
    live: dict[int, str] = {}
    if variant_ids:
        attached = await ctx.session.execute(
            select(OfferVariant.variant_id, OfferVariant.created_at, Offer)
            .join(Offer, Offer.id == OfferVariant.offer_id)
            .where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.variant_id.in_(variant_ids))
            .order_by(Offer.created_at, Offer.id)
        )
        for variant_id, attached_at, offer in attached:
            if is_live(offer, now) and (attached_by is None or attached_at <= attached_by):
                live.setdefault(variant_id, offer.id)
    chosen: dict[int, str] = {}
    for line in lines:
        plan = line.selling_plan_id
        offer_id = by_plan.get(plan) if plan else None
        if offer_id is None and line.variant_id is not None:
            offer_id = live.get(line.variant_id)
        if offer_id is not None:
            chosen[line.id] = offer_id
    return chosen


def may_write_personal_data(customer: Customer, stamped: datetime | None) -> bool:
    """A redacted customer stays redacted, unless the data comes from after the redaction."""
    return customer.redacted_at is None or (stamped is not None and stamped > customer.redacted_at)


async def customer_for(
    ctx: ActionContext, data: CustomerPayload | None, email: str | None, stamped: datetime | None
) -> Customer | None:
    """Find the order's customer by platform id, else by email among guests; create it when new."""
    platform_id = data.id if data else None
    email = (data.email if data and data.email else email) or None
    customer = None
    if platform_id is not None:
        customer = await ctx.session.scalar(
            select(Customer).where(Customer.shop_id == ctx.shop_id, Customer.platform_customer_id == platform_id)
        )
    if customer is None and email:
        customer = await ctx.session.scalar(
            select(Customer)
            .where(Customer.shop_id == ctx.shop_id, Customer.email == email, Customer.platform_customer_id.is_(None))
            .limit(1)
        )
    now = ctx.clock.now()
    if customer is None:
        if platform_id is None and not email:
            return None
        customer = Customer(id=str(uuid.uuid4()), shop_id=ctx.shop_id, created_at=now)
        ctx.session.add(customer)
    elif not may_write_personal_data(customer, stamped):
        return customer
    customer.redacted_at = None
    if platform_id is not None:
        customer.platform_customer_id = platform_id
    customer.email = email or customer.email
    if data is not None:
        customer.first_name = data.first_name or customer.first_name
        customer.last_name = data.last_name or customer.last_name
        customer.phone = data.phone or customer.phone
    customer.updated_at = now
    return customer


async def _refuse_foreign_lines(ctx: ActionContext, order_id: int, line_ids: list[int]) -> None:
    if not line_ids:
        return
    taken = (
        await ctx.session.execute(
            select(OrderLine.id, OrderLine.order_id).where(
                OrderLine.shop_id == ctx.shop_id, OrderLine.id.in_(line_ids), OrderLine.order_id != order_id
            )
        )
    ).first()
    if taken is not None:
        raise ValidationFailed(f"line_items: line item id {taken[0]} already belongs to order {taken[1]}")


def _line(ctx: ActionContext, order_id: int, item: LineItemPayload, offer_id: str | None) -> OrderLine:
    return OrderLine(
        shop_id=ctx.shop_id,
        id=item.id,
        order_id=order_id,
        variant_id=item.variant_id,
        product_id=item.product_id,
        offer_id=offer_id,
        quantity=item.units,
        price=item.price,
        title=item.title,
        variant_title=item.variant_title,
        sku=item.sku,
    )


def _state(order: Order, payload: OrderPayload, topic: str, now: datetime) -> None:
    """Copy the order's state from the payload; the topic vouches for what its payload may omit."""
    order.financial_status = payload.financial_status
    order.fulfillment_status = payload.fulfillment_status
    order.cancelled_at = payload.cancelled_at
    if topic == "orders/cancelled" and order.cancelled_at is None:
        order.cancelled_at = payload.updated_at or now
    if topic == "orders/fulfilled" and order.fulfillment_status is None:
        order.fulfillment_status = "fulfilled"
    order.total_price = payload.total_price
    if payload.total_outstanding is not None:
        order.total_outstanding = payload.total_outstanding
    order.tags = list(dict.fromkeys(payload.tags))
    if payload.currency:
        order.currency = payload.currency


async def _create(ctx: ActionContext, payload: OrderPayload, topic: str) -> tuple[str, Counter[int]]:
    now = ctx.clock.now()
    placed_at = payload.created_at or now
    # Only orders/create happens at creation time; any other event about an unseen order is late.
    attached_by = None if topic == "orders/create" else placed_at
    offers = await classify(ctx, payload.line_items, attached_by=attached_by)
    if not offers:
        return f"order {payload.id} has no preorder line; not stored", Counter()
    await _refuse_foreign_lines(ctx, payload.id, [line.id for line in payload.line_items])
    customer = await customer_for(ctx, payload.customer, payload.email, payload.updated_at or placed_at)
    redacted = customer is not None and customer.redacted_at is not None
    currency = payload.currency or await ctx.session.scalar(select(Shop.currency).where(Shop.id == ctx.shop_id))
    order = Order(
        shop_id=ctx.shop_id,
        id=payload.id,
        name=payload.display_name,
        email=None if redacted else payload.email,
        customer_id=customer.id if customer else None,
        currency=currency or "USD",
        total_outstanding=payload.total_outstanding or "0.00",
        placed_at=placed_at,
        # The platform's time of the state we hold, so an older event arriving late is recognised.
        updated_at=payload.updated_at or placed_at,
    )
    _state(order, payload, topic, now)
    lines = [_line(ctx, payload.id, item, offers.get(item.id)) for item in payload.line_items]
    ctx.session.add(order)
    await ctx.session.flush()  # the order row first: a concurrent create of the same order fails here
    ctx.session.add_all(lines)
    await ctx.session.flush()
    return f"order {payload.id} stored with {len(offers)} preorder line(s)", open_units(order, lines)


async def _update(
    ctx: ActionContext, order: Order, payload: OrderPayload, topic: str
) -> tuple[str, Counter[int], Counter[int]]:
    lines = list(
        await ctx.session.scalars(
            select(OrderLine).where(OrderLine.shop_id == ctx.shop_id, OrderLine.order_id == order.id)
        )
    )
    before = open_units(order, lines)
    if not newer(payload.updated_at, order.updated_at):
        return f"order {order.id}: this event is older than the state held; ignored", before, before
    now = ctx.clock.now()
    known = {line.id: line for line in lines}
    added = [item for item in payload.line_items if item.id not in known]
    await _refuse_foreign_lines(ctx, order.id, [item.id for item in added])
    offers = await classify(ctx, added)  # lines added by an order edit: preorder lines if live now
    for item in payload.line_items:
        line = known.get(item.id)
        if line is None:
            line = _line(ctx, order.id, item, offers.get(item.id))
            ctx.session.add(line)
            lines.append(line)
        else:
            line.quantity, line.price = item.units, item.price
    customer = None
    if payload.customer is not None or order.customer_id is None:
        customer = await customer_for(ctx, payload.customer, payload.email, payload.updated_at or order.placed_at)
        order.customer_id = customer.id if customer is not None else order.customer_id
    if customer is None and order.customer_id is not None:
        customer = await ctx.session.get(Customer, order.customer_id)
    redacted = customer is not None and customer.redacted_at is not None
    order.email = None if redacted else (payload.email or order.email)
    order.name = payload.name or order.name
    _state(order, payload, topic, now)
    if payload.updated_at is not None:
        order.updated_at = payload.updated_at
    await ctx.session.flush()
    return f"order {order.id} updated", before, open_units(order, lines)


async def apply_order(ctx: ActionContext, payload: OrderPayload, topic: str) -> tuple[str, list[int]]:
    """Mirror one order event; returns a note and the variants whose preorder count moved."""
    order = await ctx.session.scalar(
        select(Order).where(Order.shop_id == ctx.shop_id, Order.id == payload.id).with_for_update()
    )
    if order is None:
        note, after = await _create(ctx, payload, topic)
        before: Counter[int] = Counter()
    else:
        note, before, after = await _update(ctx, order, payload, topic)
    deltas = difference(before, after)
    await counts.adjust(ctx, deltas)
    return note, sorted(deltas)


def difference(before: Mapping[int, int], after: Mapping[int, int]) -> dict[int, int]:
    """Per variant, ``after - before``, without the zeros."""
    return {
        v: after.get(v, 0) - before.get(v, 0) for v in set(before) | set(after) if after.get(v, 0) != before.get(v, 0)
    }
