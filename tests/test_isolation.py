"""Isolation: a key acts only inside its own shop, for every offer and widget action in the registry.

Shop B holding shop A's offer id learns nothing (the same 404 as a made-up id) and changes nothing.
The actions are taken from the registry, with bodies built from their own request schemas, so an
action added later is covered without editing this file.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from openstoq.registry import Action
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings
from tests.catalog_helpers import attach_example_request, give_example_variant
from tests.conftest import MakeShop, ShopKeys
from tests.request_bodies import call, concrete_path, minimal_body, unlimited_app

OFFERS = "/preorders/offers"


@dataclass
class Tenant:
    keys: ShopKeys
    client: httpx.AsyncClient


@pytest.fixture
async def tenants(settings: Settings, make_shop: MakeShop) -> AsyncIterator[tuple[Tenant, Tenant]]:
    """Two shops on one app (rate limit out of reach: the sweep below calls every action thrice)."""
    a, b = await make_shop(), await make_shop()
    base_url = f"http://test{BASE_PATH}"
    async with (
        unlimited_app(settings) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=a.headers) as client_a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=b.headers) as client_b,
    ):
        yield Tenant(a, client_a), Tenant(b, client_b)


def offer_actions(runtime: Runtime) -> list[Action]:
    """Every action that addresses one offer by its id: the offer actions and every capability's."""
    return [a for a in runtime.registry.with_prefix(OFFERS) if "id" in a.param]


async def snapshot(client: httpx.AsyncClient, offer_id: str) -> dict[str, bytes]:
    """The raw bytes of everything shop A can read about its offer."""
    paths = [f"{OFFERS}/{offer_id}", f"{OFFERS}/{offer_id}/history", f"{OFFERS}/{offer_id}/widget"]
    responses = {p: await client.get(p) for p in paths}
    assert all(r.status_code == 200 for r in responses.values())
    return {p: r.content for p, r in responses.items()}


async def test_the_registry_iteration_covers_offers_and_widget(runtime: Runtime) -> None:
    names = {(a.method, a.path) for a in offer_actions(runtime)}
    for expected in [
        ("GET", "/preorders/offers/:id"),
        ("PATCH", "/preorders/offers/:id"),
        ("POST", "/preorders/offers/:id/discard"),
        ("GET", "/preorders/offers/:id/history"),
        ("PATCH", "/preorders/offers/:id/widget"),
        ("POST", "/preorders/offers/:id/widget/set_button_colors"),
    ]:
        assert expected in names
    assert len(names) == len([a for a in runtime.registry if ":id" in a.path])


async def test_another_shops_offer_id_is_not_found_for_every_action(
    tenants: tuple[Tenant, Tenant], runtime: Runtime
) -> None:
    a, b = tenants
    offer = (await a.client.post(OFFERS, json={"name": "A's secret drop", "internal_name": "A internal"})).json()
    await a.client.post(f"{OFFERS}/{offer['id']}/widget/set_button_text", json={"text": "A only"})
    await a.client.post(f"{OFFERS}/{offer['id']}/enable")
    before = await snapshot(a.client, offer["id"])

    actions = offer_actions(runtime)
    assert len(actions) > 15
    await give_example_variant(runtime, b.keys)  # B's own catalog, for the actions that take variant ids
    for action in actions:
        body = minimal_body(action)
        theirs = await call(b.client, action, concrete_path(action, id=offer["id"]), body)
        label = f"{action.method} {action.path}"
        assert theirs.status_code == 404, f"{label}: {theirs.status_code} {theirs.text}"
        assert theirs.json() == {"errors": [f"Offer {offer['id']} not found"]}, label
        # A made-up id answers the same way: nothing tells B that A's offer exists.
        made_up = str(uuid.uuid4())
        unknown = await call(b.client, action, concrete_path(action, id=made_up), body)
        assert unknown.status_code == 404 and unknown.json() == {"errors": [f"Offer {made_up} not found"]}, label
        # The same request on B's own offer is valid, so the 404 above is the shop scope, not the body.
        own = (await b.client.post(OFFERS, json={"name": "B's offer"})).json()
        path, attach = attach_example_request(own["id"])
        assert (await b.client.post(path, json=attach)).status_code == 202
        mine = await call(b.client, action, concrete_path(action, id=own["id"]), body)
        assert mine.status_code in (200, 202, 409), f"{label} on B's own offer: {mine.text}"

    assert await snapshot(a.client, offer["id"]) == before, "A's offer, widget and history are byte-for-byte unchanged"


async def test_lists_show_only_the_shops_own_offers(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    mine = [(await a.client.post(OFFERS, json={"name": f"A{i}"})).json()["id"] for i in range(3)]
    await a.client.post(f"{OFFERS}/{mine[0]}/enable")
    await a.client.post(f"{OFFERS}/{mine[1]}/discard")
    theirs = (await b.client.post(OFFERS, json={"name": "B"})).json()["id"]

    for status in (None, "disabled", "enabled", "scheduled", "discarded"):
        params = {"status": status} if status else {}
        listed_b = (await b.client.get(OFFERS, params=params)).json()
        ids_b = {o["id"] for o in listed_b["offers"]}
        assert not ids_b & set(mine), f"status={status}"
        assert listed_b["meta"]["total_count"] == len(ids_b)
    assert {o["id"] for o in (await b.client.get(OFFERS)).json()["offers"]} == {theirs}
    listed_a = (await a.client.get(OFFERS)).json()
    assert {o["id"] for o in listed_a["offers"]} == {mine[0], mine[2]}
    assert theirs not in {o["id"] for o in (await a.client.get(OFFERS, params={"status": "disabled"})).json()["offers"]}


async def test_help_and_rate_limits_are_per_shop(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for _ in range(3):
        await a.client.post(OFFERS, json={})
    remaining_a = int((await a.client.get("/help")).headers["X-RateLimit-Remaining"])
    remaining_b = int((await b.client.get("/help")).headers["X-RateLimit-Remaining"])
    assert remaining_b - remaining_a == 3 * 2, "A's writes are not billed to B"
