"""``POST /webhooks/shopify`` as Shopify calls it: signatures, headers, at-least-once delivery, bad bodies,
unknown topics, and shops kept apart. What happened is checked in the database, not only in the answer."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import httpx
import orjson
import pytest
from sqlalchemy import select

from openstoq.db.models import Customer, Order, OrderLine, Product, Variant, WebhookDelivery
from openstoq.inbound.webhooks import HMAC, MAX_BODY, PATH, SHOP_DOMAIN, TOPIC, WEBHOOK_ID, sign
from openstoq.runtime import Runtime
from tests.conftest import MakeShop, ShopKeys
from tests.webhook_support import (
    api,
    attach,
    create_offer,
    deliver,
    deliveries,
    line,
    next_id,
    ok,
    order,
    preorder_count,
    product,
    row_count,
    stored_order,
)


@pytest.fixture
async def preorder_variant(app, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient) -> int:
    """A variant attached to an enabled offer in ``shop``."""
    variant = next_id()
    ok(await deliver(app, shop, "products/create", product(next_id(), variant)))
    await attach(runtime, shop, await create_offer(client), variant)
    return variant


async def nothing_stored(runtime: Runtime, shop: ShopKeys) -> None:
    for model in (Order, OrderLine, Customer, WebhookDelivery):
        assert await row_count(runtime, shop, model) == 0, model.__tablename__


# --- signatures ------------------------------------------------------------------------------


async def test_a_signed_order_is_stored_and_acknowledged(app, runtime, shop, preorder_variant) -> None:
    oid = next_id()
    response = await deliver(app, shop, "orders/create", order(oid, line(next_id(), preorder_variant, 2)))
    body = ok(response)
    assert body["topic"] == "orders/create"
    assert response.headers["x-request-id"]
    assert (await stored_order(runtime, shop, oid)) is not None
    assert await preorder_count(runtime, shop, preorder_variant) == 2


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "missing signature", "body changed after signing", "unknown shop", "missing shop"],
)
async def test_a_badly_signed_webhook_is_401_and_stores_nothing(app, runtime, shop, client, tamper: str) -> None:
    variant = next_id()
    # The offer and its variant go straight to the database, so the shop has no delivery record at all.
    await attach(runtime, shop, await create_offer(client), variant)
    body = orjson.dumps(order(next_id(), line(next_id(), variant)))
    headers = {
        TOPIC: "orders/create",
        SHOP_DOMAIN: shop.domain,
        WEBHOOK_ID: uuid.uuid4().hex,
        HMAC: sign(shop.webhook_secret, body),
        "Content-Type": "application/json",
    }
    sent = body
    if tamper == "wrong secret":
        headers[HMAC] = sign("not-the-secret", body)
    elif tamper == "missing signature":
        del headers[HMAC]
    elif tamper == "body changed after signing":
        # Same JSON value, different bytes: the signature covers the raw body, not its meaning.
        sent = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    elif tamper == "unknown shop":
        headers[SHOP_DOMAIN] = "nobody-here.myshopify.com"
    else:
        del headers[SHOP_DOMAIN]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as raw:
        response = await raw.post(PATH, content=sent, headers=headers)
    assert response.status_code == 401, response.text
    errors = response.json()["errors"]
    assert isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors)
    await nothing_stored(runtime, shop)


async def test_the_domain_header_is_case_insensitive(app, runtime, shop, preorder_variant) -> None:
    oid = next_id()
    payload = order(oid, line(next_id(), preorder_variant))
    ok(await deliver(app, shop, "orders/create", payload, headers={SHOP_DOMAIN: shop.domain.upper()}))
    assert await stored_order(runtime, shop, oid) is not None


# --- at least once ---------------------------------------------------------------------------


async def test_a_repeated_delivery_is_acknowledged_and_ignored(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 3))
    webhook_id = uuid.uuid4().hex
    ok(await deliver(app, shop, "orders/create", payload, webhook_id=webhook_id))
    before = await deliveries(runtime, shop)
    again = ok(await deliver(app, shop, "orders/create", payload, webhook_id=webhook_id), "duplicate")
    assert again["webhook_id"] == webhook_id
    assert await preorder_count(runtime, shop, preorder_variant) == 3
    assert await deliveries(runtime, shop) == before


async def test_the_same_delivery_id_in_another_shop_is_a_different_delivery(
    app, runtime, make_shop: MakeShop, client
) -> None:
    a, b = await make_shop(), await make_shop()
    webhook_id = uuid.uuid4().hex
    ok(await deliver(app, a, "products/create", product(next_id(), next_id()), webhook_id=webhook_id))
    ok(await deliver(app, b, "products/create", product(next_id(), next_id()), webhook_id=webhook_id))
    assert await row_count(runtime, a, Product) == 1 and await row_count(runtime, b, Product) == 1


async def test_concurrent_copies_of_one_delivery_are_processed_once(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 1))
    webhook_id = uuid.uuid4().hex
    answers = await asyncio.gather(
        *(deliver(app, shop, "orders/create", payload, webhook_id=webhook_id) for _ in range(6))
    )
    statuses = sorted(ok(a, a.json()["status"])["status"] for a in answers)
    assert statuses == ["duplicate"] * 5 + ["processed"]
    assert await preorder_count(runtime, shop, preorder_variant) == 1


async def test_concurrent_orders_for_one_variant_all_count(app, runtime, shop, preorder_variant) -> None:
    # Counts move by atomic increments: none is lost however the transactions interleave.
    orders = [order(next_id(), line(next_id(), preorder_variant, 2)) for _ in range(12)]
    answers = await asyncio.gather(*(deliver(app, shop, "orders/create", o) for o in orders))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert await preorder_count(runtime, shop, preorder_variant) == 24


async def test_a_failed_processing_leaves_no_record_so_the_retry_is_processed(
    app, runtime, shop, preorder_variant, monkeypatch: pytest.MonkeyPatch
) -> None:
    (real,) = runtime.features.topics["orders/create"]

    async def fails_after_the_work(ctx, payload) -> str:
        await real.apply(ctx, payload)  # everything is written, then the processing fails
        raise RuntimeError("downstream failure")

    monkeypatch.setitem(runtime.features.topics, "orders/create", (replace(real, apply=fails_after_the_work),))
    oid, webhook_id = next_id(), uuid.uuid4().hex
    payload = order(oid, line(next_id(), preorder_variant, 2))
    failed = await deliver(app, shop, "orders/create", payload, webhook_id=webhook_id)
    assert failed.status_code == 500
    assert "request id" in failed.json()["errors"][0] and "Traceback" not in failed.text
    assert await stored_order(runtime, shop, oid) is None
    assert await preorder_count(runtime, shop, preorder_variant) == 0
    monkeypatch.setitem(runtime.features.topics, "orders/create", (real,))
    ok(await deliver(app, shop, "orders/create", payload, webhook_id=webhook_id))  # the platform's retry
    assert await stored_order(runtime, shop, oid) is not None
    assert await preorder_count(runtime, shop, preorder_variant) == 2


# --- headers and bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("header", [TOPIC, WEBHOOK_ID])
async def test_a_missing_topic_or_delivery_id_is_400(app, runtime, make_shop: MakeShop, header: str) -> None:
    shop = await make_shop()
    body = orjson.dumps(product(next_id(), next_id()))
    headers = {
        TOPIC: "products/create",
        SHOP_DOMAIN: shop.domain,
        WEBHOOK_ID: "w1",
        HMAC: sign(shop.webhook_secret, body),
    }
    del headers[header]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as raw:
        response = await raw.post(PATH, content=body, headers=headers)
    assert response.status_code == 400
    assert header in response.json()["errors"][0]
    assert await row_count(runtime, shop, Product) == 0


@pytest.mark.parametrize(
    ("topic", "raw", "message"),
    [
        ("orders/create", b"{not json", "not valid JSON"),
        ("orders/create", b"[1, 2]", "must be a JSON object"),
        ("orders/create", b'"text"', "must be a JSON object"),
        ("orders/create", b'{"id": 5}', "line_items is required"),
        ("orders/create", b'{"id": "5", "line_items": []}', "id must be an integer"),
        (
            "orders/create",
            b'{"id": 5, "line_items": [{"id": 1}]}',
            "line_items[0].quantity is required",
        ),
        ("orders/create", b'{"id": 5, "line_items": [], "total_price": "lots"}', "total_price"),
        ("orders/create", b'{"id": 5, "line_items": [], "created_at": "yesterday"}', "created_at"),
        ("orders/create", b'{"id": 5, "line_items": [], "currency": "euro"}', "currency"),
        ("orders/cancelled", b'{"id": 0, "line_items": []}', "id must be >= 1"),
        ("products/create", b'{"id": 9, "variants": []}', "title is required"),
        ("products/delete", b"{}", "id is required"),
        ("inventory_levels/update", b'{"inventory_item_id": 1, "location_id": 2}', "available is required"),
        ("customers/redact", b'{"customer": {}}', "customer.id or customer.email is required"),
        ("refunds/create", b'{"id": 1}', "order_id is required"),
        ("customers/update", b'{"email": "a@example.com"}', "id is required"),
    ],
)
async def test_a_malformed_payload_is_422_naming_the_problem_and_changes_nothing(
    app, runtime, shop, preorder_variant, topic: str, raw: bytes, message: str
) -> None:
    before = await deliveries(runtime, shop)
    response = await deliver(app, shop, topic, None, raw=raw)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(message in e for e in errors), errors
    assert await deliveries(runtime, shop) == before
    assert await row_count(runtime, shop, Order) == 0


async def test_text_holding_nul_is_422_naming_the_field_on_every_backend(app, runtime, shop) -> None:
    payload = product(next_id(), next_id(), title="Trail\u0000shoe")
    response = await deliver(app, shop, "products/create", payload)
    assert response.status_code == 422
    assert response.json()["errors"] == ["title must not contain NUL characters"]
    assert await row_count(runtime, shop, Product) == 0


async def test_free_text_longer_than_its_column_is_kept_as_far_as_it_fits(app, runtime, shop) -> None:
    payload = product(next_id(), next_id())
    payload["variants"][0]["inventory_policy"] = "x" * 40  # longer than the column: the same on both backends
    ok(await deliver(app, shop, "products/create", payload))
    async with runtime.db.transaction(write=False) as session:
        kept = await session.scalar(select(Variant.inventory_policy).where(Variant.id == payload["variants"][0]["id"]))
    assert kept == "x" * 16
    huge = product(next_id(), next_id())
    huge["variants"][0]["position"] = 2**40
    refused = await deliver(app, shop, "products/create", huge)
    assert refused.status_code == 422 and "position" in refused.json()["errors"][0]


async def test_a_value_the_database_refuses_is_422_not_500(
    app, runtime, shop, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a handler writes that the database refuses (a data exception) is the payload's fault."""
    (real,) = runtime.features.topics["products/create"]

    async def overlong_vendor(ctx, payload) -> str:
        note = await real.apply(ctx, payload)
        product_row = await ctx.session.get(Product, (ctx.shop_id, payload.id))
        product_row.vendor = "v" * 300  # past VARCHAR(255): PostgreSQL refuses it, SQLite does not check
        await ctx.session.flush()
        return note

    monkeypatch.setitem(runtime.features.topics, "products/create", (replace(real, apply=overlong_vendor),))
    response = await deliver(app, shop, "products/create", product(next_id(), next_id()))
    if backend == "postgresql":
        assert response.status_code == 422
        assert "payload holds a value the database refuses" in response.json()["errors"][0]
        assert await row_count(runtime, shop, Product) == 0
    else:
        ok(response)


async def test_a_line_id_of_another_order_is_422_and_changes_nothing(app, runtime, shop, preorder_variant) -> None:
    first, taken = next_id(), next_id()
    ok(await deliver(app, shop, "orders/create", order(first, line(taken, preorder_variant))))
    before = await deliveries(runtime, shop)
    clash = await deliver(app, shop, "orders/create", order(next_id(), line(taken, preorder_variant, 5)))
    assert clash.status_code == 422
    assert f"line item id {taken} already belongs to order {first}" in clash.json()["errors"][0]
    assert await deliveries(runtime, shop) == before
    assert await preorder_count(runtime, shop, preorder_variant) == 1


async def test_a_body_over_the_size_limit_is_413(app, runtime, shop) -> None:
    body = b'{"id": 1, "padding": "' + b"x" * MAX_BODY + b'"}'
    response = await deliver(app, shop, "products/create", None, raw=body)
    assert response.status_code == 413 and "larger than" in response.json()["errors"][0]
    assert await deliveries(runtime, shop) == 0


async def test_an_unknown_topic_is_acknowledged_and_ignored(app, runtime, shop) -> None:
    response = await deliver(app, shop, "collections/create", {"id": 1, "title": "Sale"})
    assert ok(response, "ignored")["result"] == "topic collections/create is not handled"
    assert await deliveries(runtime, shop) == 0


async def test_an_unknown_topic_still_needs_a_signature(app, shop) -> None:
    response = await deliver(app, shop, "collections/create", {"id": 1}, secret="forged")
    assert response.status_code == 401


async def test_other_methods_are_405_in_the_errors_envelope(app) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as raw:
        response = await raw.get(PATH)
    assert response.status_code == 405
    assert response.json()["errors"]


# --- shops kept apart ------------------------------------------------------------------------


async def test_shop_b_cannot_sign_a_webhook_into_shop_a(app, runtime, make_shop: MakeShop) -> None:
    a, b = await make_shop(), await make_shop()
    variant = next_id()
    async with api(app, a) as client:
        await attach(runtime, a, await create_offer(client), variant)
    payload = order(next_id(), line(next_id(), variant))
    # B's secret, A's domain: the signature is checked with A's secret.
    forged = await deliver(app, a, "orders/create", payload, secret=b.webhook_secret)
    assert forged.status_code == 401
    await nothing_stored(runtime, a)
    await nothing_stored(runtime, b)


async def test_the_same_order_id_in_two_shops_is_two_orders(app, runtime, make_shop: MakeShop) -> None:
    a, b = await make_shop(), await make_shop()
    variant, oid = next_id(), next_id()
    payloads = {}
    for shop, quantity in ((a, 1), (b, 4)):
        ok(await deliver(app, shop, "products/create", product(next_id(), variant)))
        async with api(app, shop) as client:
            await attach(runtime, shop, await create_offer(client), variant)
        payloads[shop.shop_id] = order(oid, line(next_id(), variant, quantity))
        ok(await deliver(app, shop, "orders/create", payloads[shop.shop_id]))
    assert (await preorder_count(runtime, a, variant), await preorder_count(runtime, b, variant)) == (1, 4)
    cancelled = {**payloads[b.shop_id], "cancelled_at": "2026-11-21T10:00:00+00:00"}
    ok(await deliver(app, b, "orders/cancelled", cancelled))
    assert (await stored_order(runtime, a, oid)).cancelled_at is None
    assert (await stored_order(runtime, b, oid)).cancelled_at is not None
    assert (await preorder_count(runtime, a, variant), await preorder_count(runtime, b, variant)) == (1, 0)
