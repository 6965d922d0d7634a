"""Product variants: list filters, read (offers, counts, metafield drift), offers by state, and the
single-variant repairs (recalculate the count, sync and reset the metafields), shop by shop."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from openstoq.clock import Clock
from openstoq.db.models import Metafield, Variant
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.catalog_helpers import product, seed_catalog, seed_order, shop_context
from tests.conftest import MakeShop, ShopKeys

OFFERS = "/preorders/offers"
VARIANTS = "/preorders/product_variants"
NAMESPACE = "restockrocket_production"


@pytest.fixture
async def catalog(runtime: Runtime, shop: ShopKeys) -> None:
    await seed_catalog(runtime, shop, product(1, [11, 12], title="Jacket"), product(2, [21, 22], title="Boots"))


async def new_offer(client: httpx.AsyncClient, name: str, variant_ids: list[int]) -> dict:
    offer = (await client.post(OFFERS, json={"name": name})).json()
    if variant_ids:
        added = await client.post(f"{OFFERS}/{offer['id']}/products/add_variants", json={"variant_ids": variant_ids})
        assert added.status_code == 202, added.text
    return (await client.get(f"{OFFERS}/{offer['id']}")).json()


async def tamper(runtime: Runtime, shop: ShopKeys, variant_id: int, key: str, value: str) -> None:
    """Change a metafield on the local platform behind openstoq's back."""
    async with shop_context(runtime, shop) as ctx:
        await ctx.session.execute(
            update(Metafield)
            .where(
                Metafield.shop_id == shop.shop_id,
                Metafield.owner_type == "variant",
                Metafield.owner_id == variant_id,
                Metafield.namespace == NAMESPACE,
                Metafield.key == key,
            )
            .values(value=value)
        )


async def test_read_shows_offers_counts_and_metafields_in_sync(client: httpx.AsyncClient, catalog: None) -> None:
    offer = await new_offer(client, "Spring", [11])
    await client.post(f"{OFFERS}/{offer['id']}/enable")
    url = f"{OFFERS}/{offer['id']}/products/variants/set_overrides"
    await client.post(url, json={"variant_id": 11, "max_count": 7})
    read = await client.get(f"{VARIANTS}/11")
    assert read.status_code == 200, read.text
    body = read.json()
    plan = offer["shopify_selling_plan_id"]
    assert {k: body[k] for k in ("id", "product_id", "product_title", "title", "sku", "price")} == {
        "id": 11,
        "product_id": 1,
        "product_title": "Jacket",
        "title": "Variant 11",
        "sku": "SKU-11",
        "price": "19.90",
    }
    assert body["inventory_quantity"] == 3 and body["preorder_count"] == 0 and body["max_count"] == 7
    assert body["offers"] == [
        {"id": offer["id"], "name": "Spring", "status": "enabled", "live": True, "max_count": 7, "shipping_text": None}
    ]
    assert body["metafields"] == {
        "namespace": NAMESPACE,
        "expected": {"preorder_count": 0, "preorder_max_count": 7, "selling_plan_ids": [plan]},
        "actual": {"preorder_count": 0, "preorder_max_count": 7, "selling_plan_ids": [plan]},
        "drift": [],
        "in_sync": True,
    }
    bare = (await client.get(f"{VARIANTS}/22")).json()
    assert bare["offers"] == [] and bare["max_count"] is None and bare["metafields"]["actual"] == {}
    assert bare["metafields"]["drift"] == ["preorder_count", "selling_plan_ids"], "never pushed: nothing is there"


async def test_unknown_variants_are_not_found(client: httpx.AsyncClient, catalog: None) -> None:
    for method, path in [
        ("GET", f"{VARIANTS}/999"),
        ("GET", f"{VARIANTS}/999/offers"),
        ("POST", f"{VARIANTS}/999/recalculate_preorder_count"),
        ("POST", f"{VARIANTS}/999/reset_metafields"),
        ("POST", f"{VARIANTS}/999/sync_metafields"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 404 and response.json() == {"errors": ["Variant 999 not found"]}, path
    for raw in ("abc", "0", "-1", str(2**63), "1.5"):
        response = await client.get(f"{VARIANTS}/{raw}")
        assert response.status_code == 404 and response.json() == {"errors": [f"Variant {raw} not found"]}, raw


async def test_drift_is_detected_and_sync_repairs_only_what_differs(
    client: httpx.AsyncClient, catalog: None, runtime: Runtime, shop: ShopKeys
) -> None:
    await new_offer(client, "Spring", [11])
    await tamper(runtime, shop, 11, "preorder_count", "42")
    read = (await client.get(f"{VARIANTS}/11")).json()["metafields"]
    assert read["drift"] == ["preorder_count"] and read["in_sync"] is False
    assert read["actual"]["preorder_count"] == 42 and read["expected"]["preorder_count"] == 0

    synced = await client.post(f"{VARIANTS}/11/sync_metafields")
    assert synced.status_code == 202
    assert synced.json()["metafields_written"] == ["preorder_count"]
    assert synced.json()["metafields"]["in_sync"] is True
    assert (await client.get(f"{VARIANTS}/11")).json()["metafields"]["drift"] == []
    again = (await client.post(f"{VARIANTS}/11/sync_metafields")).json()
    assert again["metafields_written"] == [], "nothing differs any more"


async def test_reset_rewrites_every_key_and_drops_stale_ones(
    client: httpx.AsyncClient, catalog: None, runtime: Runtime, shop: ShopKeys
) -> None:
    await new_offer(client, "Spring", [12])
    async with shop_context(runtime, shop) as ctx:  # a key openstoq no longer wants (no max count override)
        ctx.session.add(
            Metafield(
                shop_id=shop.shop_id,
                owner_type="variant",
                owner_id=12,
                namespace=NAMESPACE,
                key="preorder_max_count",
                type="number_integer",
                value="3",
                updated_at=ctx.clock.now(),
            )
        )
    assert (await client.get(f"{VARIANTS}/12")).json()["metafields"]["drift"] == ["preorder_max_count"]
    reset = await client.post(f"{VARIANTS}/12/reset_metafields")
    assert reset.status_code == 202
    assert reset.json()["metafields_written"] == ["preorder_count", "preorder_max_count", "selling_plan_ids"]
    state = reset.json()["metafields"]
    assert state["in_sync"] is True and "preorder_max_count" not in state["actual"]


async def test_recalculate_rebuilds_the_count_from_open_lines(
    client: httpx.AsyncClient, catalog: None, runtime: Runtime, shop: ShopKeys
) -> None:
    offer = await new_offer(client, "Spring", [21])
    await seed_order(runtime, shop, [(21, 2, offer["id"]), (22, 5, offer["id"])])
    await seed_order(runtime, shop, [(21, 3, offer["id"])])
    await seed_order(runtime, shop, [(21, 10, offer["id"])], cancelled=True)
    await seed_order(runtime, shop, [(21, 20, offer["id"])], fulfilled=True)
    await seed_order(runtime, shop, [(21, 40, None)])  # not a preorder line
    async with shop_context(runtime, shop) as ctx:
        await ctx.session.execute(
            update(Variant).where(Variant.shop_id == shop.shop_id, Variant.id == 21).values(preorder_count=99)
        )
    response = await client.post(f"{VARIANTS}/21/recalculate_preorder_count")
    assert response.status_code == 202, response.text
    assert response.json() == {
        "variant_id": 21,
        "preorder_count": {"before": 99, "after": 5},
        "metafields_written": ["preorder_count"],
    }
    read = (await client.get(f"{VARIANTS}/21")).json()
    assert read["preorder_count"] == 5 and read["metafields"]["actual"]["preorder_count"] == 5
    assert read["metafields"]["in_sync"] is True
    again = (await client.post(f"{VARIANTS}/21/recalculate_preorder_count")).json()
    assert again["preorder_count"] == {"before": 5, "after": 5} and again["metafields_written"] == []


async def test_list_filters_and_pages(client: httpx.AsyncClient, catalog: None) -> None:
    spring = await new_offer(client, "Spring", [11, 21])
    summer = await new_offer(client, "Summer", [21, 22])
    gone = await new_offer(client, "Gone", [12])
    await client.post(f"{OFFERS}/{gone['id']}/discard")

    async def ids(**params: object) -> list[int]:
        response = await client.get(VARIANTS, params=params)
        assert response.status_code == 200, response.text
        return [v["id"] for v in response.json()["product_variants"]]

    assert await ids() == [11, 21, 22], "attached to a live offer; 12 only to a discarded one"
    assert await ids(offer_id=spring["id"]) == [11, 21]
    assert await ids(offer_id=summer["id"].upper()) == [21, 22]
    assert await ids(offer_id=gone["id"]) == []
    assert await ids(product_id=2) == [21, 22]
    assert await ids(variant_ids="11,22") == [11, 22]
    assert (await client.get(f"{VARIANTS}?variant_ids[]=21&variant_ids[]=11")).json()["meta"]["total_count"] == 2
    assert (await client.get(f"{VARIANTS}?variant_ids=21&variant_ids=22&product_id=2")).json()["meta"][
        "total_count"
    ] == 2
    page = (await client.get(VARIANTS, params={"per_page": 2, "page": 2})).json()
    assert page["meta"] == {"total_count": 3, "page": 2, "per_page": 2, "total_pages": 2}
    assert [v["id"] for v in page["product_variants"]] == [22]
    entry = (await client.get(VARIANTS, params={"variant_ids": "21"})).json()["product_variants"][0]
    assert [o["name"] for o in entry["offers"]] == ["Spring", "Summer"]
    for bad in ({"offer_id": "nope"}, {"variant_ids": "1,x"}, {"product_id": "0"}, {"per_page": 201}, {"zz": 1}):
        assert (await client.get(VARIANTS, params=bad)).status_code == 422, bad
    too_many = ",".join(str(i) for i in range(1, 252))
    assert (await client.get(VARIANTS, params={"variant_ids": too_many})).status_code == 422


async def test_offers_of_a_variant_by_state(client: httpx.AsyncClient, catalog: None, clock: Clock) -> None:
    enabled = await new_offer(client, "Enabled", [11])
    disabled = await new_offer(client, "Disabled", [11])
    later = await new_offer(client, "Later", [11])
    gone = await new_offer(client, "Gone", [11])
    await client.post(f"{OFFERS}/{enabled['id']}/enable")
    start = clock.now() + timedelta(days=1)
    await client.post(f"{OFFERS}/{later['id']}/schedule", json={"starts_at": start.isoformat()})
    await client.post(f"{OFFERS}/{gone['id']}/discard")
    await client.post(
        f"{OFFERS}/{disabled['id']}/products/variants/set_overrides", json={"variant_id": 11, "max_count": 2}
    )

    async def names(state: str | None = None) -> list[str]:
        response = await client.get(f"{VARIANTS}/11/offers", params={"state": state} if state else {})
        assert response.status_code == 200, response.text
        return [o["name"] for o in response.json()["offers"]]

    assert await names() == ["Later", "Disabled", "Enabled"], "newest first, discarded left out"
    assert await names("live") == ["Enabled"]
    assert await names("enabled") == ["Enabled"]
    assert await names("disabled") == ["Disabled"]
    assert await names("scheduled") == ["Later"]
    assert await names("discarded") == ["Gone"]
    clock.advance(timedelta(days=2))
    assert await names("live") == ["Later", "Enabled"], "a schedule that started is live"
    listed = (await client.get(f"{VARIANTS}/11/offers", params={"state": "disabled"})).json()
    assert listed["offers"][0]["max_count"] == 2 and listed["offers"][0]["variant_count"] == 1
    assert listed["meta"]["total_count"] == 1
    assert (await client.get(f"{VARIANTS}/11/offers", params={"state": "gone"})).status_code == 422


async def test_another_shop_cannot_see_or_repair_a_variant(
    app, client: httpx.AsyncClient, catalog: None, make_shop: MakeShop, runtime: Runtime, shop: ShopKeys
) -> None:
    await new_offer(client, "Spring", [11])
    await tamper(runtime, shop, 11, "preorder_count", "42")
    other = await make_shop()
    await seed_catalog(runtime, other, product(9, [99]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=other.headers) as b:
        for method, path in [
            ("GET", f"{VARIANTS}/11"),
            ("GET", f"{VARIANTS}/11/offers"),
            ("POST", f"{VARIANTS}/11/recalculate_preorder_count"),
            ("POST", f"{VARIANTS}/11/reset_metafields"),
            ("POST", f"{VARIANTS}/11/sync_metafields"),
        ]:
            response = await b.request(method, path)
            assert response.status_code == 404 and response.json() == {"errors": ["Variant 11 not found"]}, path
        assert (await b.get(VARIANTS)).json()["product_variants"] == []
        assert (await b.get(VARIANTS, params={"variant_ids": "11"})).json()["meta"]["total_count"] == 0
        assert (await b.post(f"{VARIANTS}/99/sync_metafields")).status_code == 202, "B's own variant works"
    read = (await client.get(f"{VARIANTS}/11")).json()["metafields"]
    assert read["drift"] == ["preorder_count"], "B's calls repaired nothing of A's"
