"""What each webhook topic does to the mirror: preorder orders and counts, catalog, inventory,
customers and the privacy topics. Every delivery goes through the signed endpoint."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from openstoq.db.models import (
    ApiKey,
    Customer,
    InventoryLevel,
    Offer,
    OfferVariant,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    WebhookDelivery,
)
from openstoq.runtime import Runtime
from tests.conftest import ShopKeys
from tests.webhook_support import (
    attach,
    create_offer,
    customers,
    deliver,
    line,
    metafield,
    next_id,
    ok,
    order,
    order_lines,
    preorder_count,
    product,
    row_count,
    stored_order,
)


@pytest.fixture
async def variant(app, shop: ShopKeys) -> int:
    """A variant in the shop's catalog, attached to nothing yet."""
    vid = next_id()
    ok(await deliver(app, shop, "products/create", product(next_id(), vid)))
    return vid


@pytest.fixture
async def offer_id(client: httpx.AsyncClient) -> str:
    return await create_offer(client)


@pytest.fixture
async def preorder_variant(runtime: Runtime, shop: ShopKeys, variant: int, offer_id: str) -> int:
    await attach(runtime, shop, offer_id, variant)
    return variant


def level(item: int, location: int, available: int | None) -> dict:
    return {"inventory_item_id": item, "location_id": location, "available": available}


def iso(moment) -> str:
    return moment.isoformat()


# --- which orders are preorder orders --------------------------------------------------------


async def test_an_order_before_the_variant_joins_an_offer_is_not_a_preorder_and_after_it_is(
    app, runtime, shop, variant, offer_id
) -> None:
    before, after = next_id(), next_id()
    result = ok(await deliver(app, shop, "orders/create", order(before, line(next_id(), variant, 2))))
    assert "no preorder line" in result["result"]
    assert await stored_order(runtime, shop, before) is None
    assert await preorder_count(runtime, shop, variant) == 0
    await attach(runtime, shop, offer_id, variant)
    ok(await deliver(app, shop, "orders/create", order(after, line(next_id(), variant, 2))))
    assert await stored_order(runtime, shop, after) is not None
    assert [ln.offer_id for ln in await order_lines(runtime, shop, after)] == [offer_id]
    assert await preorder_count(runtime, shop, variant) == 2


async def test_an_order_on_a_disabled_offers_variant_is_not_a_preorder(app, runtime, shop, client, variant) -> None:
    disabled = await create_offer(client, "Paused", enable=False)
    await attach(runtime, shop, disabled, variant)
    oid = next_id()
    ok(await deliver(app, shop, "orders/create", order(oid, line(next_id(), variant, 1))))
    assert await stored_order(runtime, shop, oid) is None
    assert await preorder_count(runtime, shop, variant) == 0


async def test_a_scheduled_offer_counts_only_inside_its_window(app, runtime, shop, client, clock, variant) -> None:
    oid = await create_offer(client, "Later", enable=False)
    start = clock.now() + timedelta(hours=1)
    body = {"starts_at": iso(start), "ends_at": iso(start + timedelta(days=1))}
    assert (await client.post(f"/preorders/offers/{oid}/schedule", json=body)).status_code == 202
    await attach(runtime, shop, oid, variant)
    early = next_id()
    ok(await deliver(app, shop, "orders/create", order(early, line(next_id(), variant))))
    assert await stored_order(runtime, shop, early) is None
    clock.advance(timedelta(hours=2))
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), variant))))
    assert await preorder_count(runtime, shop, variant) == 1


@pytest.mark.parametrize("form", ["selling_plan", "selling_plan_id", "gid"])
async def test_a_line_naming_an_offers_selling_plan_is_a_preorder_line(
    app, runtime, shop, client, variant, form: str
) -> None:
    # The plan's offer is disabled now and the variant is not attached: the line's plan decides.
    oid = await create_offer(client, "Plan", enable=False)
    plan = await attach(runtime, shop, oid)
    allocation = {
        "selling_plan": {"selling_plan": {"id": plan, "name": "Preorder"}},
        "selling_plan_id": {"selling_plan_id": plan},
        "gid": {"selling_plan": {"id": f"gid://shopify/SellingPlan/{plan}"}},
    }[form]
    order_id = next_id()
    planned = line(next_id(), variant, 3, selling_plan_allocation=allocation)
    ok(await deliver(app, shop, "orders/create", order(order_id, planned, line(next_id(), next_id(), 1))))
    lines = await order_lines(runtime, shop, order_id)
    assert [ln.offer_id for ln in lines] == [oid, None]
    assert await preorder_count(runtime, shop, variant) == 3


async def test_a_preorder_order_is_stored_whole_with_its_customer_totals_and_state(
    app, runtime, shop, preorder_variant, offer_id
) -> None:
    oid, regular = next_id(), next_id()
    payload = order(
        oid,
        line(next_id(), preorder_variant, 2),
        line(next_id(), regular, 1, title="Socks", price="9.5"),
        line(next_id(), None, 1, title="Gift wrap", price=2),
        financial_status="partially_paid",
        total_price="251.5",
        total_outstanding="125.75",
    )
    ok(await deliver(app, shop, "orders/create", payload))
    stored = await stored_order(runtime, shop, oid)
    assert stored.name == payload["name"] and stored.email == "ada@example.com" and stored.currency == "EUR"
    assert (stored.financial_status, stored.total_price, stored.total_outstanding) == (
        "partially_paid",
        "251.50",
        "125.75",
    )
    assert stored.tags == ["vip", "spring"]
    lines = await order_lines(runtime, shop, oid)
    assert [(ln.variant_id, ln.offer_id, ln.quantity) for ln in lines] == [
        (preorder_variant, offer_id, 2),
        (regular, None, 1),
        (None, None, 1),
    ]
    assert lines[1].price == "9.50" and lines[2].price == "2.00"
    (customer,) = await customers(runtime, shop)
    assert stored.customer_id == customer.id
    assert (customer.platform_customer_id, customer.first_name, customer.phone) == (
        payload["customer"]["id"],
        "Ada",
        "+441234567890",
    )
    assert await preorder_count(runtime, shop, preorder_variant) == 2
    assert await preorder_count(runtime, shop, regular) is None  # not in the catalog; nothing counted


async def test_customers_are_found_by_platform_id_else_by_email(app, runtime, shop, preorder_variant) -> None:
    first = order(next_id(), line(next_id(), preorder_variant))
    again = order(next_id(), line(next_id(), preorder_variant), customer={**first["customer"], "first_name": "A."})
    guest = order(next_id(), line(next_id(), preorder_variant), customer=None, email="guest@example.com")
    guest_again = order(next_id(), line(next_id(), preorder_variant), customer=None, email="guest@example.com")
    for payload in (first, again, guest, guest_again):
        ok(await deliver(app, shop, "orders/create", payload))
    found = sorted(await customers(runtime, shop), key=lambda c: c.email)
    assert [(c.email, c.platform_customer_id, c.first_name) for c in found] == [
        ("ada@example.com", first["customer"]["id"], "A."),
        ("guest@example.com", None, None),
    ]


# --- counts follow the order's state ---------------------------------------------------------


async def test_a_cancelled_order_lowers_the_count(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 3))
    ok(await deliver(app, shop, "orders/create", payload))
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), preorder_variant, 1))))
    assert await preorder_count(runtime, shop, preorder_variant) == 4
    ok(await deliver(app, shop, "orders/cancelled", {**payload, "cancelled_at": "2026-11-21T09:00:00+00:00"}))
    assert await preorder_count(runtime, shop, preorder_variant) == 1
    stored = await stored_order(runtime, shop, payload["id"])
    assert stored.cancelled_at is not None


async def test_orders_cancelled_without_a_timestamp_still_cancels(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 2))
    ok(await deliver(app, shop, "orders/create", payload))
    ok(await deliver(app, shop, "orders/cancelled", payload))
    assert await preorder_count(runtime, shop, preorder_variant) == 0


async def test_replayed_updates_never_double_count(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 2))
    ok(await deliver(app, shop, "orders/create", payload))
    # The same event under new delivery ids (Shopify sends create and updated close together).
    for topic in ("orders/create", "orders/updated", "orders/updated", "orders/paid"):
        ok(await deliver(app, shop, topic, payload))
    assert await preorder_count(runtime, shop, preorder_variant) == 2
    fulfilled = {**payload, "fulfillment_status": "fulfilled"}
    for topic in ("orders/updated", "orders/updated", "orders/fulfilled"):
        ok(await deliver(app, shop, topic, fulfilled))
    assert await preorder_count(runtime, shop, preorder_variant) == 0
    cancelled = {**fulfilled, "cancelled_at": "2026-11-22T00:00:00+00:00"}
    ok(await deliver(app, shop, "orders/cancelled", cancelled))
    assert await preorder_count(runtime, shop, preorder_variant) == 0


async def test_orders_fulfilled_and_payment_state_are_mirrored(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 2), financial_status="pending")
    ok(await deliver(app, shop, "orders/create", payload))
    paid = {**payload, "financial_status": "paid", "total_outstanding": "0.00", "tags": "vip, paid"}
    ok(await deliver(app, shop, "orders/paid", paid))
    stored = await stored_order(runtime, shop, payload["id"])
    assert (stored.financial_status, stored.tags) == ("paid", ["vip", "paid"])
    ok(await deliver(app, shop, "orders/fulfilled", {**paid, "fulfillment_status": None}))
    assert (await stored_order(runtime, shop, payload["id"])).fulfillment_status == "fulfilled"
    assert await preorder_count(runtime, shop, preorder_variant) == 0


async def test_an_order_edit_moves_the_count_by_the_difference(app, runtime, shop, preorder_variant) -> None:
    first_line = line(next_id(), preorder_variant, 5)
    payload = order(next_id(), first_line)
    ok(await deliver(app, shop, "orders/create", payload))
    edited = {**payload, "line_items": [{**first_line, "current_quantity": 2}]}
    ok(await deliver(app, shop, "orders/updated", edited))
    ok(await deliver(app, shop, "orders/updated", edited))
    assert await preorder_count(runtime, shop, preorder_variant) == 2
    added = {**edited, "line_items": [*edited["line_items"], line(next_id(), preorder_variant, 4)]}
    ok(await deliver(app, shop, "orders/updated", added))
    assert await preorder_count(runtime, shop, preorder_variant) == 6


async def test_an_event_older_than_the_state_held_is_ignored(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 2), updated_at="2026-11-20T10:00:00+00:00")
    ok(await deliver(app, shop, "orders/create", payload))
    cancelled = {**payload, "cancelled_at": "2026-11-20T12:00:00+00:00", "updated_at": "2026-11-20T12:00:00+00:00"}
    ok(await deliver(app, shop, "orders/cancelled", cancelled))
    late = {**payload, "financial_status": "refunded", "updated_at": "2026-11-20T11:00:00+00:00"}
    assert "older" in ok(await deliver(app, shop, "orders/updated", late))["result"]
    stored = await stored_order(runtime, shop, payload["id"])
    assert stored.cancelled_at is not None and stored.financial_status == "paid"
    assert await preorder_count(runtime, shop, preorder_variant) == 0


async def test_an_update_for_an_unseen_order_counts_only_if_placed_after_the_attachment(
    app, runtime, shop, clock, variant, offer_id
) -> None:
    now = clock.now()
    await attach(runtime, shop, offer_id, variant, at=now)
    older = order(next_id(), line(next_id(), variant, 4), created_at=iso(now - timedelta(days=1)))
    newer = order(next_id(), line(next_id(), variant, 1), created_at=iso(now + timedelta(seconds=1)))
    ok(await deliver(app, shop, "orders/updated", older))
    ok(await deliver(app, shop, "orders/updated", newer))  # arrived before its orders/create
    ok(await deliver(app, shop, "orders/create", newer))
    assert await stored_order(runtime, shop, older["id"]) is None
    assert await stored_order(runtime, shop, newer["id"]) is not None
    assert await preorder_count(runtime, shop, variant) == 1


async def test_metafields_follow_the_count(app, runtime, shop, preorder_variant) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 3))
    ok(await deliver(app, shop, "orders/create", payload))
    assert await metafield(runtime, shop, preorder_variant, "preorder_count") == "3"
    ok(await deliver(app, shop, "orders/cancelled", payload))
    assert await metafield(runtime, shop, preorder_variant, "preorder_count") == "0"


async def test_a_refund_updates_the_financial_state_only_when_the_payload_has_it(
    app, runtime, shop, preorder_variant
) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant, 1), total_outstanding="60.00")
    ok(await deliver(app, shop, "orders/create", payload))
    ok(await deliver(app, shop, "refunds/create", {"id": next_id(), "order_id": payload["id"]}))
    stored = await stored_order(runtime, shop, payload["id"])
    assert (stored.financial_status, stored.total_outstanding) == ("paid", "60.00")
    refund = {"id": next_id(), "order_id": payload["id"], "financial_status": "partially_refunded"}
    ok(await deliver(app, shop, "refunds/create", refund))
    assert (await stored_order(runtime, shop, payload["id"])).financial_status == "partially_refunded"
    unknown = ok(await deliver(app, shop, "refunds/create", {"id": next_id(), "order_id": next_id()}))
    assert "nothing to record" in unknown["result"]
    assert await preorder_count(runtime, shop, preorder_variant) == 1


# --- catalog and inventory -------------------------------------------------------------------


async def test_products_create_update_and_delete(app, runtime, shop) -> None:
    pid, v1, v2, v3 = next_id(), next_id(), next_id(), next_id()
    created = ok(await deliver(app, shop, "products/create", product(pid, v1, v2, title="Rain jacket")))
    assert "2 new" in created["result"]
    ok(await deliver(app, shop, "products/update", product(pid, v2, v3, title="Rain jacket II")))
    async with runtime.db.transaction(write=False) as session:
        stored = await session.get(Product, (shop.shop_id, pid))
        variants = {v.id: v for v in await session.scalars(select(Variant).where(Variant.shop_id == shop.shop_id))}
    assert stored.title == "Rain jacket II" and stored.deleted_at is None
    assert set(variants) == {v1, v2, v3}
    assert variants[v1].deleted_at is not None and variants[v3].deleted_at is None
    assert variants[v3].inventory_item_id == v3 + 500_000
    ok(await deliver(app, shop, "products/delete", {"id": pid}))
    async with runtime.db.transaction(write=False) as session:
        assert (await session.get(Product, (shop.shop_id, pid))).deleted_at is not None
        assert all(
            v.deleted_at is not None
            for v in await session.scalars(select(Variant).where(Variant.shop_id == shop.shop_id))
        )


async def test_inventory_levels_map_to_the_variant_and_sum_over_locations(app, runtime, shop, variant) -> None:
    item = variant + 500_000
    ok(await deliver(app, shop, "inventory_levels/update", level(item, 1, 7)))
    ok(await deliver(app, shop, "inventory_levels/update", level(item, 2, 5)))
    ok(await deliver(app, shop, "inventory_levels/update", level(item, 1, 3)))
    async with runtime.db.transaction(write=False) as session:
        quantity = await session.scalar(select(Variant.inventory_quantity).where(Variant.id == variant))
    assert quantity == 8
    ok(await deliver(app, shop, "inventory_levels/update", level(item, 2, None)))  # no longer stocked there
    late = {**level(item, 1, 50), "updated_at": "2020-01-01T00:00:00Z"}
    newest = {**level(item, 1, 4), "updated_at": "2026-11-20T00:00:00Z"}
    ok(await deliver(app, shop, "inventory_levels/update", newest))
    assert "ignored" in ok(await deliver(app, shop, "inventory_levels/update", late))["result"]
    async with runtime.db.transaction(write=False) as session:
        quantity = await session.scalar(select(Variant.inventory_quantity).where(Variant.id == variant))
    assert quantity == 4


async def test_an_unmapped_inventory_item_is_kept_until_a_product_maps_it(app, runtime, shop) -> None:
    vid = next_id()
    item = vid + 500_000
    unmapped = ok(await deliver(app, shop, "inventory_levels/update", level(item, 9, 11)))
    assert "not mapped" in unmapped["result"]
    payload = product(next_id(), vid)
    del payload["variants"][0]["inventory_quantity"]
    ok(await deliver(app, shop, "products/create", payload))
    async with runtime.db.transaction(write=False) as session:
        assert await session.scalar(select(Variant.inventory_quantity).where(Variant.id == vid)) == 11
        assert await session.get(InventoryLevel, (shop.shop_id, item, 9)) is not None


# --- customers and privacy -------------------------------------------------------------------


async def test_customers_update_changes_a_known_customer_and_stores_no_one_else(
    app, runtime, shop, preorder_variant
) -> None:
    payload = order(next_id(), line(next_id(), preorder_variant))
    ok(await deliver(app, shop, "orders/create", payload))
    update = {"id": payload["customer"]["id"], "email": "ada@new.example", "first_name": "Ada", "last_name": "King"}
    ok(await deliver(app, shop, "customers/update", update))
    stranger = {"id": next_id(), "email": "someone@example.com", "first_name": "Not", "last_name": "Stored"}
    assert "nothing stored" in ok(await deliver(app, shop, "customers/update", stranger))["result"]
    (customer,) = await customers(runtime, shop)
    assert (customer.email, customer.last_name, customer.phone) == ("ada@new.example", "King", None)


async def test_customers_redact_erases_personal_data_everywhere(app, runtime, shop, preorder_variant) -> None:
    mine = order(next_id(), line(next_id(), preorder_variant, 2))
    other = order(
        next_id(),
        line(next_id(), preorder_variant, 1),
        email="bo@example.com",
        customer={"id": next_id(), "email": "bo@example.com", "first_name": "Bo"},
    )
    for payload in (mine, other):
        ok(await deliver(app, shop, "orders/create", payload))
    redact = {
        "shop_domain": shop.domain,
        "customer": {"id": mine["customer"]["id"], "email": "ada@example.com", "phone": "+441234567890"},
        "orders_to_redact": [mine["id"]],
    }
    ok(await deliver(app, shop, "customers/redact", redact))
    by_email = {c.platform_customer_id: c for c in await customers(runtime, shop)}
    gone = by_email[mine["customer"]["id"]]
    assert (gone.email, gone.first_name, gone.last_name, gone.phone) == (None, None, None, None)
    assert gone.redacted_at is not None
    assert by_email[other["customer"]["id"]].email == "bo@example.com"
    assert (await stored_order(runtime, shop, mine["id"])).email is None
    assert (await stored_order(runtime, shop, other["id"])).email == "bo@example.com"
    assert await preorder_count(runtime, shop, preorder_variant) == 3  # orders stay for counts and reports
    # A late replay of the customer's old order must not bring the data back.
    ok(await deliver(app, shop, "orders/updated", mine))
    ok(await deliver(app, shop, "customers/update", {**mine["customer"], "updated_at": "2026-01-01T00:00:00Z"}))
    gone = next(c for c in await customers(runtime, shop) if c.platform_customer_id == mine["customer"]["id"])
    assert (gone.email, gone.first_name) == (None, None)
    assert (await stored_order(runtime, shop, mine["id"])).email is None


async def test_customers_data_request_stores_nothing(app, runtime, shop, preorder_variant) -> None:
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), preorder_variant))))
    tables = (Customer, Order, OrderLine, Variant, Product)
    before = [await row_count(runtime, shop, t) for t in tables]
    (customer_before,) = await customers(runtime, shop)
    request = {
        "shop_domain": shop.domain,
        "customer": {"id": customer_before.platform_customer_id, "email": "ada@example.com"},
        "orders_requested": [1],
        "data_request": {"id": 9999},
    }
    result = ok(await deliver(app, shop, "customers/data_request", request))
    assert "nothing to export" in result["result"]
    assert [await row_count(runtime, shop, t) for t in tables] == before
    (customer_after,) = await customers(runtime, shop)
    assert customer_after.updated_at == customer_before.updated_at


async def test_privacy_topics_for_another_shops_domain_are_refused(app, runtime, shop, preorder_variant) -> None:
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), preorder_variant))))
    wrong = await deliver(app, shop, "shop/redact", {"shop_domain": "someone-else.myshopify.com"})
    assert wrong.status_code == 422 and "shop_domain" in wrong.json()["errors"][0]
    assert await row_count(runtime, shop, Order) == 1


async def test_shop_redact_deletes_the_mirror_and_keeps_the_shop(app, runtime, shop, preorder_variant) -> None:
    item = preorder_variant + 500_000
    ok(await deliver(app, shop, "orders/create", order(next_id(), line(next_id(), preorder_variant, 2))))
    ok(await deliver(app, shop, "inventory_levels/update", level(item, 1, 1)))
    ok(await deliver(app, shop, "app/uninstalled", {"id": 1, "domain": shop.domain}))
    assert await row_count(runtime, shop, Order) == 1  # uninstalling erases nothing
    ok(await deliver(app, shop, "shop/redact", {"shop_id": 1, "shop_domain": shop.domain}))
    for model in (Order, OrderLine, Customer, Product, Variant, InventoryLevel):
        assert await row_count(runtime, shop, model) == 0, model.__tablename__
    for model in (ApiKey, Offer, OfferVariant, WebhookDelivery):
        assert await row_count(runtime, shop, model) > 0, model.__tablename__
    async with runtime.db.transaction(write=False) as session:
        assert await session.get(Shop, shop.shop_id) is not None


async def test_customers_redact_reaches_the_customer_of_the_orders_named(app, runtime, shop, preorder_variant) -> None:
    # A guest order placed with another address: only orders_to_redact ties it to the customer.
    guest = order(next_id(), line(next_id(), preorder_variant), customer=None, email="old-address@example.com")
    ok(await deliver(app, shop, "orders/create", guest))
    redact = {"shop_domain": shop.domain, "customer": {"email": "ada@example.com"}, "orders_to_redact": [guest["id"]]}
    ok(await deliver(app, shop, "customers/redact", redact))
    (customer,) = await customers(runtime, shop)
    assert customer.email is None and customer.redacted_at is not None
    assert (await stored_order(runtime, shop, guest["id"])).email is None


def shopify_order(order_id: int, variant_id: int, line_id: int) -> dict:
    """An order as Shopify's REST webhooks send it, with the many fields openstoq does not read."""
    money = {"amount": "129.00", "currency_code": "USD"}
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": "203.0.113.7",
        "buyer_accepts_marketing": False,
        "cancel_reason": None,
        "cancelled_at": None,
        "checkout_id": 901234,
        "confirmed": True,
        "contact_email": "jon@example.com",
        "created_at": "2026-11-25T09:12:44-05:00",
        "currency": "USD",
        "current_subtotal_price": "129.00",
        "current_total_price": "139.50",
        "email": "jon@example.com",
        "financial_status": "authorized",
        "fulfillment_status": None,
        "name": "#9999",
        "note": None,
        "note_attributes": [{"name": "gift", "value": "no"}],
        "number": 8999,
        "order_number": 9999,
        "presentment_currency": "USD",
        "processed_at": "2026-11-25T09:12:44-05:00",
        "subtotal_price": "129.00",
        "tags": "",
        "test": False,
        "total_discounts": "0.00",
        "total_outstanding": "139.50",
        "total_price": "139.50",
        "total_price_set": {"shop_money": money, "presentment_money": money},
        "total_tax": "10.50",
        "updated_at": "2026-11-25T09:12:45-05:00",
        "customer": {
            "id": 6_100_000_001,
            "email": "jon@example.com",
            "created_at": "2026-01-02T10:00:00-05:00",
            "first_name": "Jon",
            "last_name": "Snow",
            "state": "enabled",
            "verified_email": True,
            "phone": None,
            "tags": "",
            "currency": "USD",
            "default_address": {"id": 1, "city": "Ottawa", "country_code": "CA", "default": True},
        },
        "line_items": [
            {
                "id": line_id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                "current_quantity": 1,
                "fulfillable_quantity": 1,
                "fulfillment_service": "manual",
                "fulfillment_status": None,
                "gift_card": False,
                "grams": 900,
                "name": "Trail shoe - Size 42",
                "price": "129.00",
                "price_set": {"shop_money": money, "presentment_money": money},
                "product_exists": True,
                "product_id": 4_400_000_001,
                "properties": [],
                "quantity": 1,
                "requires_shipping": True,
                "sku": "TS-42",
                "taxable": True,
                "title": "Trail shoe",
                "total_discount": "0.00",
                "variant_id": variant_id,
                "variant_inventory_management": "shopify",
                "variant_title": "Size 42",
                "vendor": "Acme",
                "tax_lines": [{"price": "10.50", "rate": 0.13, "title": "HST"}],
                "discount_allocations": [],
            }
        ],
        "shipping_lines": [{"id": 1, "code": "Standard", "price": "0.00", "title": "Standard"}],
        "shipping_address": {"first_name": "Jon", "city": "Ottawa", "zip": "K1A 0B1"},
        "refunds": [],
    }


async def test_a_full_shopify_order_payload_is_mirrored(app, runtime, shop, preorder_variant) -> None:
    payload = shopify_order(next_id(), preorder_variant, next_id())
    ok(await deliver(app, shop, "orders/create", payload))
    stored = await stored_order(runtime, shop, payload["id"])
    assert (stored.name, stored.financial_status, stored.total_outstanding) == ("#9999", "authorized", "139.50")
    assert stored.placed_at.isoformat() == "2026-11-25T14:12:44+00:00"
    assert stored.tags == []
    assert await preorder_count(runtime, shop, preorder_variant) == 1
