"""The mandatory privacy topics and app/uninstalled: what openstoq erases, and what it keeps.

- ``customers/redact`` erases the customer's personal data everywhere it is held: the customer row
  (email, names, phone) and the email on each of their orders. Orders and lines stay, without
  personal data, so counts and reports still add up.
- ``customers/data_request`` stores nothing: openstoq holds no personal data the shop does not
  already have (every email, name and phone here came from the shop's own orders), so there is
  nothing to export. The request is logged without personal data.
- ``shop/redact`` (sent 48 hours after an uninstall) deletes the mirror of the shop's platform:
  customers, orders and lines, products, variants and inventory. The shop row, its keys, its offers
  and their history are the merchant's own configuration with no personal data and stay, so a
  reinstall finds them; so do the webhook delivery ids (no personal data), so old events replayed
  later are still recognised as seen. On the ``local`` platform the selling plan groups and
  metafields are the platform's side of the boundary, not a copy of it, and stay too.
- ``app/uninstalled`` changes nothing: data stays until ``shop/redact``, and keys are not revoked
  (the operator decides; the shop can reinstall within the 48 hours).
"""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement, delete, or_, select, update

from openstoq.context import ActionContext
from openstoq.db.models import Customer, InventoryLevel, Order, OrderLine, Product, Variant
from openstoq.errors import ValidationFailed
from openstoq.platform.payloads import (
    AnyPayload,
    CustomerRedactPayload,
    DataRequestPayload,
    ShopRedactPayload,
    ShopScoped,
)

log = logging.getLogger("openstoq.webhooks")


def _same_shop(ctx: ActionContext, payload: ShopScoped) -> None:
    if payload.shop_domain is not None and payload.shop_domain.strip().lower() != ctx.domain:
        raise ValidationFailed(f"shop_domain {payload.shop_domain!r} is not the shop this webhook was signed for")


async def redact_customer(ctx: ActionContext, payload: CustomerRedactPayload) -> str:
    _same_shop(ctx, payload)
    who: list[ColumnElement[bool]] = []
    if payload.customer.id is not None:
        who.append(Customer.platform_customer_id == payload.customer.id)
    if payload.customer.email:
        who.append(Customer.email == payload.customer.email)
    if payload.orders_to_redact:
        # The customer of the orders named, whatever email those orders were placed with.
        named = select(Order.customer_id).where(Order.shop_id == ctx.shop_id, Order.id.in_(payload.orders_to_redact))
        who.append(Customer.id.in_(named))
    ids = list(await ctx.session.scalars(select(Customer.id).where(Customer.shop_id == ctx.shop_id, or_(*who))))
    now = ctx.clock.now()
    if ids:
        await ctx.session.execute(
            update(Customer)
            .where(Customer.shop_id == ctx.shop_id, Customer.id.in_(ids))
            .values(email=None, first_name=None, last_name=None, phone=None, redacted_at=now, updated_at=now)
        )
    orders: list[ColumnElement[bool]] = []
    if ids:
        orders.append(Order.customer_id.in_(ids))
    if payload.orders_to_redact:
        orders.append(Order.id.in_(payload.orders_to_redact))
    if payload.customer.email:
        orders.append(Order.email == payload.customer.email)
    touched = 0
    if orders:
        result = await ctx.session.execute(
            update(Order).where(Order.shop_id == ctx.shop_id, or_(*orders)).values(email=None),
            execution_options={"synchronize_session": False},
        )
        touched = getattr(result, "rowcount", 0)
    return f"redacted {len(ids)} customer record(s) and the email on {touched} order(s)"


async def data_request(ctx: ActionContext, payload: DataRequestPayload) -> str:
    _same_shop(ctx, payload)
    request_id = payload.data_request.id if payload.data_request else None
    log.info(
        "customers/data_request for shop %s (request %s, %d order(s) named): nothing to export; "
        "openstoq holds only data the shop already has",
        ctx.domain,
        request_id,
        len(payload.orders_requested),
    )
    return "acknowledged; openstoq holds no personal data beyond what the shop already has, so nothing to export"


async def redact_shop(ctx: ActionContext, payload: ShopRedactPayload) -> str:
    _same_shop(ctx, payload)
    removed = {}
    for model in (OrderLine, Order, Customer, InventoryLevel, Variant, Product):
        result = await ctx.session.execute(
            delete(model).where(model.shop_id == ctx.shop_id), execution_options={"synchronize_session": False}
        )
        removed[model.__tablename__] = getattr(result, "rowcount", 0)
    log.info("shop/redact for shop %s: deleted %s", ctx.domain, removed)
    return "deleted " + ", ".join(f"{n} {table}" for table, n in removed.items())


async def app_uninstalled(ctx: ActionContext, _: AnyPayload) -> str:
    log.info("app/uninstalled for shop %s: data kept until shop/redact; keys left as they are", ctx.domain)
    return "acknowledged; data is kept until shop/redact (Shopify sends it 48 hours later) and keys stay valid"
