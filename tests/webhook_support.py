"""Helpers for webhook tests: Shopify-shaped payloads, signed deliveries, offers with variants, reads."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from openstoq.db.models import Customer, Metafield, Offer, OfferVariant, Order, OrderLine, Variant, WebhookDelivery
from openstoq.inbound.webhooks import PATH, headers_for
from openstoq.platform.local import LocalPlatform
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.conftest import ShopKeys

_ids = itertools.count(1_000_000)


def next_id() -> int:
    """A fresh platform id (tests in one run share a database, each in its own shop)."""
    return next(_ids)


def product(product_id: int, *variants: int, title: str = "Trail shoe", **extra: Any) -> dict[str, Any]:
    """A REST product payload; each variant's inventory item id is its id + 500000."""
    return {
        "id": product_id,
        "title": title,
        "handle": title.lower().replace(" ", "-"),
        "vendor": "Acme",
        "status": "active",
        "variants": [
            {
                "id": v,
                "title": f"Size {i + 40}",
                "sku": f"SKU-{v}",
                "price": "120.00",
                "position": i + 1,
                "inventory_item_id": v + 500_000,
                "inventory_quantity": 0,
            }
            for i, v in enumerate(variants)
        ],
        **extra,
    }


def line(line_id: int, variant_id: int | None, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": line_id,
        "variant_id": variant_id,
        "product_id": 1,
        "quantity": quantity,
        "price": "120.00",
        "title": "Trail shoe",
        "variant_title": "Size 42",
        "sku": f"SKU-{variant_id}",
        **extra,
    }


def order(order_id: int, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A REST order payload with a customer."""
    body: dict[str, Any] = {
        "id": order_id,
        "name": f"#{order_id % 100000}",
        "email": "ada@example.com",
        "created_at": "2026-11-20T10:00:00+00:00",
        "currency": "EUR",
        "financial_status": "paid",
        "fulfillment_status": None,
        "cancelled_at": None,
        "total_price": "240.00",
        "total_outstanding": "0.00",
        "customer": {
            "id": 77_000 + order_id % 1000,
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+441234567890",
        },
        "line_items": list(lines),
        "tags": "vip, spring",
    }
    body.update(extra)
    return body


async def deliver(
    app: Any,
    shop: ShopKeys,
    topic: str,
    payload: Any,
    *,
    webhook_id: str | None = None,
    secret: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a webhook to the ASGI app, signed with the shop's secret (or ``secret``)."""
    body = raw if raw is not None else orjson.dumps(payload)
    sent = headers_for(topic, shop.domain, webhook_id or uuid.uuid4().hex, secret or shop.webhook_secret, body)
    sent.update(headers or {})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post(PATH, content=body, headers=sent)


def ok(response: httpx.Response, status: str = "processed") -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == status, body
    return body


def api(app: Any, shop: ShopKeys) -> httpx.AsyncClient:
    """An API client for ``shop`` (use it in ``async with``)."""
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers)


async def create_offer(client: httpx.AsyncClient, name: str = "Spring drop", *, enable: bool = True) -> str:
    created = await client.post("/preorders/offers", json={"name": name})
    assert created.status_code == 202, created.text
    offer_id = created.json()["id"]
    if enable:
        assert (await client.post(f"/preorders/offers/{offer_id}/enable")).status_code == 202
    return offer_id


async def attach(runtime: Runtime, shop: ShopKeys, offer_id: str, *variant_ids: int, at: datetime | None = None) -> int:
    """Attach variants to an offer as the products capability does (links + selling plan group);
    returns the offer's selling plan id."""
    async with runtime.shop_transaction(shop.shop_id, source="api", domain=shop.domain) as ctx:
        platform = LocalPlatform()
        ref = await platform.ensure_selling_plan_group(ctx, offer_id, "Preorder", None)
        offer = await ctx.session.get(Offer, offer_id)
        assert offer is not None
        offer.shopify_selling_plan_group_id, offer.shopify_selling_plan_id = ref.group_id, ref.selling_plan_id
        for variant_id in variant_ids:
            ctx.session.add(
                OfferVariant(
                    shop_id=shop.shop_id, offer_id=offer_id, variant_id=variant_id, created_at=at or runtime.clock.now()
                )
            )
        await platform.add_variants(ctx, ref, list(variant_ids))
        return ref.selling_plan_id


async def preorder_count(runtime: Runtime, shop: ShopKeys, variant_id: int) -> int | None:
    async with runtime.db.transaction(write=False) as session:
        return await session.scalar(
            select(Variant.preorder_count).where(Variant.shop_id == shop.shop_id, Variant.id == variant_id)
        )


async def stored_order(runtime: Runtime, shop: ShopKeys, order_id: int) -> Order | None:
    async with runtime.db.transaction(write=False) as session:
        return await session.get(Order, (shop.shop_id, order_id))


async def order_lines(runtime: Runtime, shop: ShopKeys, order_id: int) -> list[OrderLine]:
    async with runtime.db.transaction(write=False) as session:
        rows = await session.scalars(
            select(OrderLine)
            .where(OrderLine.shop_id == shop.shop_id, OrderLine.order_id == order_id)
            .order_by(OrderLine.id)
        )
        return list(rows)


async def customers(runtime: Runtime, shop: ShopKeys) -> list[Customer]:
    async with runtime.db.transaction(write=False) as session:
        return list(await session.scalars(select(Customer).where(Customer.shop_id == shop.shop_id)))


async def row_count(runtime: Runtime, shop: ShopKeys, model: Any) -> int:
    async with runtime.db.transaction(write=False) as session:
        return await session.scalar(select(func.count()).select_from(model).where(model.shop_id == shop.shop_id)) or 0


async def deliveries(runtime: Runtime, shop: ShopKeys) -> int:
    return await row_count(runtime, shop, WebhookDelivery)


async def metafield(runtime: Runtime, shop: ShopKeys, variant_id: int, key: str) -> str | None:
    async with runtime.db.transaction(write=False) as session:
        return await session.scalar(
            select(Metafield.value).where(
                Metafield.shop_id == shop.shop_id,
                Metafield.owner_type == "variant",
                Metafield.owner_id == variant_id,
                Metafield.key == key,
            )
        )
