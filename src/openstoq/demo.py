"""The demo shop's data: a small outdoor-gear catalog, two offers and a few preorder orders.

``openstoq serve --demo`` seeds it once, through the real faces: the catalog, inventory and orders
arrive as signed webhooks posted to the in-process app, the offers are created, filled and enabled
through the API with the demo key (so their history reads like a merchant's). Every step is
idempotent (fixed webhook ids, offers found by name), so an interrupted seed resumes where it
stopped; the last order's delivery id marks the seed as done.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import select

from openstoq.db.models import Shop, WebhookDelivery
from openstoq.inbound.webhooks import PATH, headers_for
from openstoq.settings import BASE_PATH, Settings

LOCATIONS = (65_001_001, 65_001_002)  # warehouse, store


def _variant(vid: int, title: str, sku: str, price: str, position: int, stock: int) -> dict[str, Any]:
    return {
        "id": vid,
        "title": title,
        "sku": sku,
        "price": price,
        "position": position,
        "inventory_item_id": vid + 10_000_000,
        "inventory_quantity": stock,
        "inventory_policy": "deny",
    }


def _product(pid: int, title: str, product_type: str, variants: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": pid,
        "title": title,
        "handle": title.lower().replace(" ", "-"),
        "vendor": "Northwind Outfitters",
        "product_type": product_type,
        "status": "active",
        "collection_ids": [41_000_001],
        "variants": variants,
    }


SHOE, JACKET, BOTTLE, BEANIE = 8_100_001, 8_100_002, 8_100_003, 8_100_004
CATALOG: list[dict[str, Any]] = [
    _product(
        SHOE,
        "Aurora Trail Running Shoe",
        "Footwear",
        [_variant(9_200_001 + i, f"EU {40 + i}", f"AUR-{40 + i}", "139.00", i + 1, 0) for i in range(4)],
    ),
    _product(
        JACKET,
        "Nimbus Rain Jacket",
        "Outerwear",
        [
            _variant(9_200_011 + i, f"Slate / {size}", f"NIM-SL-{size}", "189.00", i + 1, 0)
            for i, size in enumerate(("XS", "S", "M", "L"))
        ],
    ),
    _product(
        BOTTLE,
        "Cascade Insulated Bottle",
        "Accessories",
        [
            _variant(9_200_021, "Glacier", "CAS-GL", "34.00", 1, 0),
            _variant(9_200_022, "Ember", "CAS-EM", "34.00", 2, 0),
        ],
    ),
    _product(
        BEANIE,
        "Summit Merino Beanie",
        "Accessories",
        [
            _variant(9_200_031, "Charcoal", "SUM-CH", "29.00", 1, 24),
            _variant(9_200_032, "Moss", "SUM-MO", "29.00", 2, 9),
        ],
    ),
]
SHOES = [v["id"] for v in CATALOG[0]["variants"]]
JACKETS = [v["id"] for v in CATALOG[1]["variants"]]
BOTTLES = [v["id"] for v in CATALOG[2]["variants"]]
BEANIES = [v["id"] for v in CATALOG[3]["variants"]]
# Stock per location for the beanies (in stock); everything else is sold out and sells on preorder.
LEVELS = [(9_200_031, 16, 8), (9_200_032, 9, 0)]

OFFERS = [
    {"name": "Spring drop", "variants": SHOES + JACKETS, "enable": True},
    {"name": "Bottle restock", "variants": BOTTLES, "enable": False},
]

CUSTOMERS = [
    (71_000_001, "ada@example.com", "Ada", "Lovelace"),
    (71_000_002, "grace@example.com", "Grace", "Hopper"),
    (71_000_003, "alan@example.com", "Alan", "Turing"),
    (71_000_004, "katherine@example.com", "Katherine", "Johnson"),
]
# (customer index, [(variant id, quantity)], financial status): lines on sold-out variants are preorder lines.
ORDERS = [
    (0, [(SHOES[2], 1)], "paid"),
    (1, [(JACKETS[1], 1), (BEANIES[0], 1)], "paid"),
    (2, [(SHOES[1], 2)], "pending"),
    (3, [(JACKETS[2], 1), (SHOES[3], 1)], "paid"),
    (0, [(BOTTLES[0], 2)], "paid"),  # the bottle offer is disabled: an ordinary order, not stored
    (1, [(SHOES[2], 1), (BEANIES[1], 2)], "partially_paid"),
]


def _price(variant_id: int) -> str:
    return str(next(v["price"] for p in CATALOG for v in p["variants"] if v["id"] == variant_id))


def _title(variant_id: int) -> tuple[str, str, int]:
    return next((p["title"], v["title"], p["id"]) for p in CATALOG for v in p["variants"] if v["id"] == variant_id)


def order_payload(number: int, created_at: str) -> dict[str, Any]:
    customer, items, status = ORDERS[number]
    cid, email, first, last = CUSTOMERS[customer]
    lines = []
    for i, (vid, quantity) in enumerate(items):
        title, variant_title, pid = _title(vid)
        lines.append(
            {
                "id": 13_000_000 + number * 10 + i,
                "variant_id": vid,
                "product_id": pid,
                "quantity": quantity,
                "price": _price(vid),
                "title": title,
                "variant_title": variant_title,
                "sku": f"{vid}",
            }
        )
    total = sum(float(line["price"]) * line["quantity"] for line in lines)
    outstanding = {"paid": 0.0, "pending": total, "partially_paid": total / 2}[status]
    return {
        "id": 5_500_000_001 + number,
        "name": f"#{1001 + number}",
        "email": email,
        "created_at": created_at,
        "currency": "USD",
        "financial_status": status,
        "fulfillment_status": None,
        "cancelled_at": None,
        "total_price": f"{total:.2f}",
        "total_outstanding": f"{outstanding:.2f}",
        "customer": {"id": cid, "email": email, "first_name": first, "last_name": last, "phone": None},
        "line_items": lines,
        "tags": "demo",
    }


def _deliveries() -> list[tuple[str, str, dict[str, Any]]]:
    """Catalog and inventory webhooks: (topic, webhook id, payload)."""
    out = [("products/create", f"openstoq-demo-product-{p['id']}", p) for p in CATALOG]
    for vid, *stock in LEVELS:
        for location, available in zip(LOCATIONS, stock, strict=True):
            payload = {"inventory_item_id": vid + 10_000_000, "location_id": location, "available": available}
            out.append(("inventory_levels/update", f"openstoq-demo-level-{vid}-{location}", payload))
    return out


DONE_MARKER = f"openstoq-demo-order-{len(ORDERS) - 1}"


class DemoSeedError(RuntimeError):
    """A seeding step was refused; the message names the step and the answer."""


def _check(response: httpx.Response, step: str) -> dict[str, Any]:
    if not response.is_success:
        raise DemoSeedError(f"demo seed: {step} answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


async def seed(settings: Settings, domain: str, api_key: str, console: Console) -> bool:
    """Seed the demo shop unless it was seeded before; True when it seeded now."""
    from openstoq.app import create_app

    app = create_app(settings)
    runtime = app.state.runtime
    try:
        async with runtime.db.transaction(write=False) as session:
            shop = (await session.execute(select(Shop.id, Shop.webhook_secret).where(Shop.domain == domain))).one()
            if await session.get(WebhookDelivery, (shop[0], DONE_MARKER)) is not None:
                return False
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://demo") as hooks,
            httpx.AsyncClient(
                transport=transport, base_url=f"http://demo{BASE_PATH}", headers={"X-Auth-Token": api_key}
            ) as api,
        ):

            async def webhook(topic: str, webhook_id: str, payload: dict[str, Any]) -> None:
                body = orjson.dumps(payload)
                sent = headers_for(topic, domain, webhook_id, shop[1], body)
                _check(await hooks.post(PATH, content=body, headers=sent), f"{topic} webhook {webhook_id}")

            catalog = _deliveries()
            columns = (TextColumn("seeding the demo shop: {task.description}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("catalog", total=len(catalog) + len(OFFERS) + len(ORDERS))
                for topic, webhook_id, payload in catalog:
                    await webhook(topic, webhook_id, payload)
                    progress.advance(task)
                progress.update(task, description="offers")
                existing = _check(await api.get("/preorders/offers", params={"per_page": 100}), "list offers")
                by_name = {o["name"]: o for o in existing["offers"]}
                for spec in OFFERS:
                    offer = by_name.get(spec["name"]) or _check(
                        await api.post("/preorders/offers", json={"name": spec["name"]}), "create offer"
                    )
                    path = f"/preorders/offers/{offer['id']}"
                    _check(
                        await api.post(f"{path}/products/add_variants", json={"variant_ids": spec["variants"]}),
                        "add variants",
                    )
                    if spec["enable"] and offer["status"] != "enabled":
                        _check(await api.post(f"{path}/enable"), "enable offer")
                    progress.advance(task)
                progress.update(task, description="orders")
                start = runtime.clock.now() - timedelta(hours=len(ORDERS))
                for number in range(len(ORDERS)):
                    placed = (start + timedelta(hours=number)).isoformat()
                    await webhook("orders/create", f"openstoq-demo-order-{number}", order_payload(number, placed))
                    progress.advance(task)
        variants = sum(len(p["variants"]) for p in CATALOG)
        enabled = ", ".join(str(o["name"]) for o in OFFERS if o["enable"])
        console.print(
            f"demo shop seeded: {len(CATALOG)} products ({variants} variants), {len(OFFERS)} offers "
            f"({enabled} enabled), {len(ORDERS)} orders sent as signed webhooks"
        )
        return True
    finally:
        await runtime.close()
