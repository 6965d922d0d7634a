"""The products capability: membership (custom, all, collection), overrides, platform pushes, history, 409/422."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from openstoq.db.models import Metafield, SellingPlanGroup, Shop
from openstoq.inbound.catalog import upsert_products
from openstoq.platform.payloads import ProductPayload
from openstoq.preorders.products.service import on_new_variants
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.catalog_helpers import product, seed_catalog, shop_context
from tests.conftest import MakeShop, ShopKeys

OFFERS = "/preorders/offers"


def products_path(offer: dict, action: str = "") -> str:
    return f"{OFFERS}/{offer['id']}/products" + (f"/{action}" if action else "")


@pytest.fixture
async def catalog(runtime: Runtime, shop: ShopKeys) -> dict[str, list[int]]:
    """Three products: two in collection 77 (variants 11, 12 and 21), one in collection 88 (variant 31)."""
    await seed_catalog(
        runtime,
        shop,
        product(1, [11, 12], collections=[77]),
        product(2, [21], collections=[77, 99]),
        product(3, [31], collections=[88]),
    )
    return {"77": [11, 12, 21], "88": [31], "all": [11, 12, 21, 31]}


async def group_members(runtime: Runtime, shop: ShopKeys, offer_id: str) -> list[int]:
    """The variants of the offer's selling plan group on the local platform."""
    async with shop_context(runtime, shop) as ctx:
        groups = list(
            await ctx.session.scalars(select(SellingPlanGroup).where(SellingPlanGroup.shop_id == shop.shop_id))
        )
        (group,) = [g for g in groups if g.name]  # one offer per test shop here
        return sorted(group.variant_ids)


async def metafield(runtime: Runtime, shop: ShopKeys, owner_id: int, key: str, owner: str = "variant") -> Any:
    async with shop_context(runtime, shop) as ctx:
        row = await ctx.session.get(Metafield, (shop.shop_id, owner, owner_id, "restockrocket_production", key))
        return None if row is None else orjson.loads(row.value)


async def events(client: httpx.AsyncClient, offer: dict) -> list[dict]:
    return (await client.get(f"{OFFERS}/{offer['id']}/history")).json()["events"]


async def test_defaults_in_the_read_and_in_the_offer(client: httpx.AsyncClient, offer: dict) -> None:
    read = await client.get(products_path(offer))
    assert read.status_code == 200
    assert read.json() == {"source": "custom", "collection_id": None, "variant_count": 0}
    assert offer["capabilities"]["products"] == {"source": "custom", "collection_id": None}


async def test_add_variants_attaches_pushes_and_is_idempotent(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    added = await client.post(products_path(offer, "add_variants"), json={"variant_ids": [12, 11, 12]})
    assert added.status_code == 202, added.text
    assert added.json() == {"source": "custom", "collection_id": None, "variant_count": 2}
    read = (await client.get(f"{OFFERS}/{offer['id']}")).json()
    assert read["variant_count"] == 2 and read["shopify_selling_plan_id"]
    assert await group_members(runtime, shop, offer["id"]) == [11, 12]
    assert await metafield(runtime, shop, 11, "selling_plan_ids") == [read["shopify_selling_plan_id"]]
    assert await metafield(runtime, shop, 11, "preorder_count") == 0

    again = await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    assert again.status_code == 202 and again.json()["variant_count"] == 2
    adds = [e for e in await events(client, offer) if e["action"] == "products.add_variants"]
    assert len(adds) == 1, "a no-op add records nothing"
    assert adds[0]["changes"] == {"variant_count": [0, 2], "variant_ids_added": [11, 12]}


async def test_unknown_variant_ids_are_a_422_listing_them_all(
    client: httpx.AsyncClient, offer: dict, catalog: dict
) -> None:
    response = await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11, 404, 12, 505]})
    assert response.status_code == 422
    assert response.json() == {"errors": ["variant_ids: this shop has no variant with id 404, 505"]}
    assert (await client.get(products_path(offer))).json()["variant_count"] == 0, "nothing attached"
    removed = await client.post(products_path(offer, "remove_variants"), json={"variant_ids": [606, 11]})
    assert removed.status_code == 422 and "606" in removed.json()["errors"][0]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"variant_ids": []}, "variant_ids must have at least 1 items"),
        ({"variant_ids": list(range(1, 252))}, "variant_ids must have at most 250 items"),
        ({"variant_ids": [0]}, "variant_ids[0] must be >= 1"),
        ({"variant_ids": [-5]}, "variant_ids[0] must be >= 1"),
        ({"variant_ids": [2**64]}, "variant_ids[0] must be <= 9223372036854775807"),
        ({"variant_ids": ["11"]}, "variant_ids[0] must be an integer"),
        ({"variant_ids": [True]}, "variant_ids[0] must be an integer"),
        ({"variant_ids": 11}, "variant_ids must be an array"),
        ({}, "variant_ids is required"),
    ],
)
async def test_variant_ids_validation(client: httpx.AsyncClient, offer: dict, body: dict, message: str) -> None:
    for action in ("add_variants", "remove_variants"):
        response = await client.post(products_path(offer, action), json=body)
        assert response.status_code == 422, response.text
        assert message in response.json()["errors"], response.json()


async def test_remove_variants_detaches_and_pushes(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11, 12, 21]})
    removed = await client.post(products_path(offer, "remove_variants"), json={"variant_ids": [12, 31]})
    assert removed.status_code == 202 and removed.json()["variant_count"] == 2, "31 was never attached: a no-op"
    assert await group_members(runtime, shop, offer["id"]) == [11, 21]
    assert await metafield(runtime, shop, 12, "selling_plan_ids") == []
    listed = (await client.get(products_path(offer, "variants"))).json()
    assert [v["id"] for v in listed["variants"]] == [11, 21]
    last = (await events(client, offer))[-1]
    assert last["action"] == "products.remove_variants" and last["changes"]["variant_ids_removed"] == [12]


async def test_source_all_attaches_every_variant_and_new_ones(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    response = await client.post(products_path(offer, "set_source"), json={"source": "all"})
    assert response.status_code == 202, response.text
    assert response.json() == {"source": "all", "collection_id": None, "variant_count": 4}
    assert await group_members(runtime, shop, offer["id"]) == catalog["all"]
    blocked = await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    assert blocked.status_code == 409 and "set_source" in blocked.json()["errors"][0]

    async with shop_context(runtime, shop) as ctx:
        created = await upsert_products(ctx, [ProductPayload.model_validate(product(4, [41, 42]))])
        await on_new_variants(ctx, created)
    assert created == [41, 42]
    assert (await client.get(products_path(offer))).json()["variant_count"] == 6
    assert await group_members(runtime, shop, offer["id"]) == [*catalog["all"], 41, 42]
    assert await metafield(runtime, shop, 41, "selling_plan_ids") != []
    assert (await events(client, offer))[-1]["action"] == "products.on_new_variants"


async def test_on_new_variants_follows_each_offers_source(
    client: httpx.AsyncClient, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    make = [(await client.post(OFFERS, json={"name": n})).json() for n in ("custom", "coll77", "coll88", "gone")]
    _custom, coll77, coll88, gone = make
    await client.post(products_path(coll77, "set_source"), json={"source": "collection", "collection_id": 77})
    await client.post(products_path(coll88, "set_source"), json={"source": "collection", "collection_id": 88})
    await client.post(products_path(gone, "set_source"), json={"source": "all"})
    await client.post(f"{OFFERS}/{gone['id']}/discard")
    async with shop_context(runtime, shop) as ctx:
        created = await upsert_products(ctx, [ProductPayload.model_validate(product(5, [51], collections=[77]))])
        await on_new_variants(ctx, created)
    counts = {o["name"]: (await client.get(products_path(o))).json()["variant_count"] for o in make}
    assert counts == {"custom": 0, "coll77": 4, "coll88": 1, "gone": 4}, "the discarded offer is left alone"


async def test_set_source_collection_and_back_to_custom(client: httpx.AsyncClient, offer: dict, catalog: dict) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [31]})
    response = await client.post(products_path(offer, "set_source"), json={"source": "collection", "collection_id": 77})
    assert response.json() == {"source": "collection", "collection_id": 77, "variant_count": 3}
    listed = (await client.get(products_path(offer, "variants"))).json()["variants"]
    assert [v["id"] for v in listed] == catalog["77"], "the collection replaces the old list"
    moved = await client.patch(products_path(offer), json={"collection_id": 99})
    assert moved.status_code == 202 and moved.json()["variant_count"] == 1
    custom = await client.patch(products_path(offer), json={"source": "custom"})
    assert custom.json() == {"source": "custom", "collection_id": None, "variant_count": 1}, "custom keeps the list"
    history = [e for e in await events(client, offer) if e["action"].startswith("products.")]
    assert [e["action"] for e in history] == [
        "products.add_variants",
        "products.set_source",
        "products.update",
        "products.update",
    ]
    assert history[1]["changes"]["source"] == ["custom", "collection"]
    assert history[2]["changes"]["variant_ids_removed"] == [11, 12]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"source": "collection"}, "collection_id is required when source is collection"),
        ({"source": "all", "collection_id": 5}, "collection_id is only used with source collection"),
        ({"source": "some"}, "source must be one of: all, collection, custom"),
        ({"source": "collection", "collection_id": 2**63}, "collection_id must be <= 9223372036854775807"),
        ({"collection_id": 5}, "source is required"),
    ],
)
async def test_set_source_validation(client: httpx.AsyncClient, offer: dict, body: dict, message: str) -> None:
    response = await client.post(products_path(offer, "set_source"), json=body)
    assert response.status_code == 422
    assert any(message in e for e in response.json()["errors"]), response.json()


async def test_patch_validation(client: httpx.AsyncClient, offer: dict) -> None:
    orphan = await client.patch(products_path(offer), json={"collection_id": 5})
    assert orphan.status_code == 422 and "only used with source collection" in orphan.json()["errors"][0]
    missing = await client.patch(products_path(offer), json={"source": "collection"})
    assert missing.status_code == 422 and "required when source is collection" in missing.json()["errors"][0]
    for body in ({"variant_count": 3}, {"source": None}, {"source": "everything"}):
        assert (await client.patch(products_path(offer), json=body)).status_code == 422, body
    assert (await client.get(products_path(offer))).json()["source"] == "custom"


async def test_overrides_set_clear_and_reach_the_metafields(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11, 12]})
    url = products_path(offer, "variants/set_overrides")
    set_both = await client.post(url, json={"variant_id": 11, "max_count": 5, "shipping_text": "Ships in May"})
    assert set_both.status_code == 202, set_both.text
    assert set_both.json() == {
        "id": 11,
        "product_id": 1,
        "product_title": "Product 1",
        "title": "Variant 11",
        "sku": "SKU-11",
        "preorder_count": 0,
        "max_count": 5,
        "shipping_text": "Ships in May",
        "deleted_at": None,
    }
    assert await metafield(runtime, shop, 11, "preorder_max_count") == 5
    assert await metafield(runtime, shop, 11, "shipping_text") == {"default": "Ships in May"}

    cleared = (await client.post(url, json={"variant_id": 11, "max_count": None})).json()
    assert cleared["max_count"] is None and cleared["shipping_text"] == "Ships in May", "unsent keys stay"
    assert await metafield(runtime, shop, 11, "preorder_max_count") is None, "a cleared override leaves the platform"
    listed = (await client.get(products_path(offer, "variants"), params={"per_page": 1, "page": 1})).json()
    assert listed["meta"] == {"total_count": 2, "page": 1, "per_page": 1, "total_pages": 2}
    assert listed["variants"][0]["shipping_text"] == "Ships in May"

    unattached = await client.post(url, json={"variant_id": 21, "max_count": 1})
    assert unattached.status_code == 422 and "not attached" in unattached.json()["errors"][0]
    for bad in ({"variant_id": 11, "max_count": -1}, {"variant_id": 11, "max_count": 2**40}, {"max_count": 1}):
        assert (await client.post(url, json=bad)).status_code == 422, bad
    last = (await events(client, offer))[-1]
    assert last["action"] == "products.set_overrides" and last["changes"] == {"variants.11.max_count": [5, None]}


async def test_a_discarded_offer_refuses_every_change(client: httpx.AsyncClient, offer: dict, catalog: dict) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    await client.post(f"{OFFERS}/{offer['id']}/discard")
    writes = [
        ("POST", "add_variants", {"variant_ids": [12]}),
        ("POST", "remove_variants", {"variant_ids": [11]}),
        ("POST", "set_source", {"source": "all"}),
        ("POST", "variants/set_overrides", {"variant_id": 11, "max_count": 1}),
        ("PATCH", "", {"source": "all"}),
    ]
    for method, action, body in writes:
        response = await client.request(method, products_path(offer, action), json=body)
        assert response.status_code == 409 and "restore it first" in response.json()["errors"][0], action
    assert (await client.get(products_path(offer))).json()["variant_count"] == 1
    assert (await client.get(products_path(offer, "variants"))).status_code == 200


async def test_shop_metafield_follows_offer_changes(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    assert await metafield(runtime, shop, 0, "selling_plans", "shop") == [], "a disabled offer is not listed"
    await client.post(f"{OFFERS}/{offer['id']}/enable")
    (entry,) = await metafield(runtime, shop, 0, "selling_plans", "shop")
    assert entry["offer_id"] == offer["id"] and entry["widget"]["button"]["text"] == "Preorder now"
    await client.post(f"{OFFERS}/{offer['id']}/widget/set_button_text", json={"text": "Reserve"})
    (entry,) = await metafield(runtime, shop, 0, "selling_plans", "shop")
    assert entry["widget"]["button"]["text"] == "Reserve"
    await client.patch(f"{OFFERS}/{offer['id']}", json={"name": "Renamed"})
    assert (await metafield(runtime, shop, 0, "selling_plans", "shop"))[0]["name"] == "Renamed"
    await client.post(f"{OFFERS}/{offer['id']}/discard")
    assert await metafield(runtime, shop, 0, "selling_plans", "shop") == []
    assert await metafield(runtime, shop, 11, "selling_plan_ids") == [], "a discarded offer leaves its variants"
    await client.post(f"{OFFERS}/{offer['id']}/restore")
    assert await metafield(runtime, shop, 11, "selling_plan_ids") != []


async def test_a_shop_on_an_unreachable_platform_still_manages_offers(
    client: httpx.AsyncClient, offer: dict, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    broad = (await client.post(OFFERS, json={"name": "broad"})).json()
    await client.post(products_path(broad, "set_source"), json={"source": "all"})
    async with shop_context(runtime, shop) as ctx:
        await ctx.session.execute(update(Shop).where(Shop.id == shop.shop_id).values(platform="shopify"))
    async with shop_context(runtime, shop) as ctx:  # catalog ingestion goes on; membership waits
        await on_new_variants(ctx, await upsert_products(ctx, [ProductPayload.model_validate(product(6, [61]))]))
    assert (await client.get(products_path(broad))).json()["variant_count"] == 4
    assert (await client.post(f"{OFFERS}/{offer['id']}/enable")).status_code == 202
    assert (await client.post(f"{OFFERS}/{offer['id']}/widget/set_button_text", json={"text": "Go"})).status_code == 202
    blocked = await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    assert blocked.status_code == 409 and "platform" in blocked.json()["errors"][0]
    assert (await client.get(products_path(offer))).json()["variant_count"] == 0, "nothing half-done"


async def test_another_shop_can_neither_read_nor_change_membership(
    app, client: httpx.AsyncClient, offer: dict, catalog: dict, make_shop: MakeShop, runtime: Runtime
) -> None:
    await client.post(products_path(offer, "add_variants"), json={"variant_ids": [11]})
    await client.post(products_path(offer, "variants/set_overrides"), json={"variant_id": 11, "max_count": 3})
    before = [(await client.get(p)).content for p in (products_path(offer), products_path(offer, "variants"))]
    other = await make_shop()
    await seed_catalog(runtime, other, product(1, [11, 12]))  # the same ids, in B's own catalog
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=other.headers) as b:
        requests = [
            ("GET", "", None),
            ("GET", "variants", None),
            ("PATCH", "", {"source": "all"}),
            ("POST", "add_variants", {"variant_ids": [12]}),
            ("POST", "remove_variants", {"variant_ids": [11]}),
            ("POST", "set_source", {"source": "all"}),
            ("POST", "variants/set_overrides", {"variant_id": 11, "max_count": 9}),
        ]
        for method, action, body in requests:
            response = await b.request(method, products_path(offer, action), json=body)
            assert response.status_code == 404, (method, action, response.text)
            assert response.json() == {"errors": [f"Offer {offer['id']} not found"]}
        own = (await b.post(OFFERS, json={"name": "B"})).json()
        mine = await b.post(products_path(own, "add_variants"), json={"variant_ids": [11, 21]})
        assert mine.status_code == 422 and "21" in mine.json()["errors"][0], "A's variant 21 is not B's"
    after = [(await client.get(p)).content for p in (products_path(offer), products_path(offer, "variants"))]
    assert after == before


async def test_offers_attaching_the_same_variants_at_once_both_land(
    client: httpx.AsyncClient, catalog: dict, runtime: Runtime, shop: ShopKeys
) -> None:
    """Each variant's metafields list every offer's selling plan, whichever transaction commits last."""
    offers = [(await client.post(OFFERS, json={"name": f"o{i}"})).json() for i in range(4)]
    body = {"variant_ids": catalog["all"]}
    responses = await asyncio.gather(*(client.post(products_path(o, "add_variants"), json=body) for o in offers))
    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
    plans = sorted([(await client.get(f"{OFFERS}/{o['id']}")).json()["shopify_selling_plan_id"] for o in offers])
    for variant_id in catalog["all"]:
        assert sorted(await metafield(runtime, shop, variant_id, "selling_plan_ids")) == plans, variant_id


async def test_offers_enabled_at_once_all_reach_the_shop_metafield(
    client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys
) -> None:
    offers = [(await client.post(OFFERS, json={"name": f"o{i}"})).json() for i in range(4)]
    responses = await asyncio.gather(*(client.post(f"{OFFERS}/{o['id']}/enable") for o in offers))
    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
    listed = await metafield(runtime, shop, 0, "selling_plans", "shop")
    assert sorted(e["offer_id"] for e in listed) == sorted(o["id"] for o in offers)
