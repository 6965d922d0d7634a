"""Rate limits as published: 360 points per rolling 60 s per shop, reads 1, writes 2, /help 1; the
X-RateLimit-* headers on every authenticated response; the published 429; rejected requests
consume nothing; exact under concurrency; limit, window and costs are settings.

Each test creates its own shop, so its window starts empty.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from openstoq.app import create_app
from openstoq.composition import build_runtime
from openstoq.db.models import Offer
from openstoq.ratelimit import MemoryWindow
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings
from tests.conftest import MakeShop, ShopKeys, new_shop
from tests.test_auth import add_key

RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def remaining(response: httpx.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


def assert_budget_headers(response: httpx.Response, limit: int = 360, window: int = 60) -> None:
    for name in RATE_LIMIT_HEADERS:
        assert re.fullmatch(r"[0-9]+", response.headers.get(name, "")), f"{name} missing or not an integer"
    assert int(response.headers["X-RateLimit-Limit"]) == limit
    assert 0 <= remaining(response) <= limit
    # Unix time in whole seconds when the window frees up: no later than a window from now.
    reset = int(response.headers["X-RateLimit-Reset"])
    now = time.time()
    assert now - 1 <= reset <= now + window + 1, f"X-RateLimit-Reset {reset} is not a Unix time within the window"


def assert_published_429(response: httpx.Response, *, window: int = 60) -> int:
    """The published 429: Retry-After in whole seconds and exactly the published body. Returns retry_after."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"error", "retry_after", "message"}
    assert body["error"] == "Rate limit exceeded"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= window
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


# --- costs -----------------------------------------------------------------------------------


async def test_costs_as_published(client: httpx.AsyncClient) -> None:
    listed = await client.get("/preorders/offers")
    assert listed.status_code == 200 and remaining(listed) == 359, "a GET costs 1 from a full 360"
    created = await client.post("/preorders/offers", json={"name": "Spring"})
    assert created.status_code == 202 and remaining(created) == 357, "a POST costs 2"
    oid = created.json()["id"]
    assert remaining(await client.patch(f"/preorders/offers/{oid}", json={"name": "Summer"})) == 355, "PATCH: 2"
    assert remaining(await client.get(f"/preorders/offers/{oid}/widget")) == 354, "a GET with an id: 1"
    assert remaining(await client.get("/help")) == 353, "/help costs 1"
    assert remaining(await client.get("/preorders/offers/help")) == 352, "scoped help costs 1"
    assert remaining(await client.get("/help", params={"prefix": "/preorders"})) == 351


async def test_public_documents_cost_nothing(client: httpx.AsyncClient) -> None:
    for path in ("/preorders/skill.md", "/llms.txt", "/openapi.json"):
        assert (await client.get(path)).status_code == 200
    assert remaining(await client.get("/preorders/offers")) == 359


async def test_shops_have_separate_budgets(client: httpx.AsyncClient, runtime: Runtime, make_shop: MakeShop) -> None:
    other = await make_shop()
    await runtime.limiter.spend(other.shop_id, 360)
    assert (await client.get("/preorders/offers", headers=other.headers)).status_code == 429
    assert remaining(await client.get("/preorders/offers")) == 359


async def test_keys_of_one_shop_share_its_budget(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys
) -> None:
    _, second_key = await add_key(runtime, shop)
    assert remaining(await client.get("/preorders/offers")) == 359
    assert remaining(await anon.get("/preorders/offers", headers={"X-Auth-Token": second_key})) == 358


# --- headers on every authenticated response -------------------------------------------------

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

RESPONSES: dict[str, tuple[int, Send]] = {
    "200 read": (200, lambda c, oid: c.get(f"/preorders/offers/{oid}")),
    "200 list": (200, lambda c, oid: c.get("/preorders/offers")),
    "200 help": (200, lambda c, oid: c.get("/help")),
    "202 write": (202, lambda c, oid: c.post("/preorders/offers", json={})),
    "404 unknown offer id": (404, lambda c, oid: c.get(f"/preorders/offers/{UNKNOWN_ID}")),
    "404 malformed offer id": (404, lambda c, oid: c.post("/preorders/offers/not-an-id/enable")),
    "404 unknown help prefix": (404, lambda c, oid: c.get("/help", params={"prefix": "/nothing"})),
    "422 body": (422, lambda c, oid: c.patch(f"/preorders/offers/{oid}", json={"status": "enabled"})),
    "422 query": (422, lambda c, oid: c.get("/preorders/offers", params={"per_page": 0})),
    "409 state": (409, lambda c, oid: c.post(f"/preorders/offers/{oid}/enable")),
    "400 bad JSON": (
        400,
        lambda c, oid: c.post("/preorders/offers", content=b"{", headers={"Content-Type": "application/json"}),
    ),
    "400 content type": (
        400,
        lambda c, oid: c.post("/preorders/offers", content=b"name=x", headers={"Content-Type": "text/plain"}),
    ),
}


@pytest.mark.parametrize("case", RESPONSES)
async def test_every_authenticated_response_carries_the_budget(client: httpx.AsyncClient, case: str) -> None:
    offer = (await client.post("/preorders/offers", json={"name": "Spring"})).json()
    await client.post(f"/preorders/offers/{offer['id']}/discard")  # so that enable is a 409
    status, send = RESPONSES[case]
    response = await send(client, offer["id"])
    assert response.status_code == status, response.text
    assert_budget_headers(response)


async def test_a_read_only_refusal_carries_the_budget_and_costs_nothing(
    anon: httpx.AsyncClient, make_shop: MakeShop
) -> None:
    reader = await make_shop(read_only=True)
    refused = await anon.post("/preorders/offers", json={}, headers=reader.headers)
    assert refused.status_code == 403
    assert_budget_headers(refused)
    assert remaining(await anon.get("/preorders/offers", headers=reader.headers)) == 359


# --- over budget -----------------------------------------------------------------------------


async def test_over_budget_is_the_published_429(client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys) -> None:
    await runtime.limiter.spend(shop.shop_id, 360)
    response = await client.get("/preorders/offers")
    assert_published_429(response)
    assert_budget_headers(response)
    assert remaining(response) == 0
    message = response.json()["message"]
    assert "360 points" in message and "60 seconds" in message
    assert re.search(r"\breads\b.*\bcost 1 point\b", message, re.IGNORECASE), message
    assert re.search(r"\bwrites\b.*\bcost 2\b", message, re.IGNORECASE), message


async def test_help_is_rate_limited_too(client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys) -> None:
    await runtime.limiter.spend(shop.shop_id, 360)
    assert_published_429(await client.get("/help"))
    assert_published_429(await client.get("/preorders/offers/help"))
    assert (await client.get("/llms.txt")).status_code == 200, "public documents are never rate limited"


async def test_a_rejected_request_consumes_nothing(client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys):
    await runtime.limiter.spend(shop.shop_id, 358)
    assert remaining(await client.get("/preorders/offers")) == 1, "359 points spent"
    rejected = await client.post("/preorders/offers", json={"name": "too expensive"})
    assert_published_429(rejected)
    assert remaining(rejected) == 1
    accepted = await client.get("/preorders/offers")
    assert accepted.status_code == 200, "the rejected write took nothing, so 1 point is left for a read"
    assert accepted.json()["meta"]["total_count"] == 0, "the rejected write created nothing"
    assert remaining(accepted) == 0
    assert_published_429(await client.get("/preorders/offers"))


async def test_exact_under_concurrency(client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys) -> None:
    responses = await asyncio.gather(
        *(client.post("/preorders/offers", json={"name": f"offer {i}"}) for i in range(200))
    )
    assert Counter(r.status_code for r in responses) == {202: 180, 429: 20}
    async with runtime.db.transaction(write=False) as session:
        stored = await session.scalar(select(func.count()).select_from(Offer).where(Offer.shop_id == shop.shop_id))
    assert stored == 180


# --- settings --------------------------------------------------------------------------------


@pytest.fixture
async def small_budget(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ShopKeys]]:
    """An app whose shops get 10 points per 30 s; reads cost 3, writes 5."""
    custom = Settings(
        database_url=settings.database_url,
        data_dir=tmp_path,
        rate_limit_points=10,
        rate_limit_window_seconds=30,
        read_cost=3,
        write_cost=5,
    )
    runtime = build_runtime(custom)
    shop = await new_shop(runtime.db)
    transport = httpx.ASGITransport(app=create_app(custom, runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers) as c:
        yield c, shop
    await runtime.close()


async def test_limit_window_and_costs_are_settings(small_budget: tuple[httpx.AsyncClient, ShopKeys]) -> None:
    client, _ = small_budget
    created = await client.post("/preorders/offers", json={})
    assert created.status_code == 202
    assert_budget_headers(created, limit=10, window=30)
    assert remaining(created) == 5
    listed = await client.get("/preorders/offers")
    assert listed.status_code == 200 and remaining(listed) == 2
    refused = await client.get("/help")
    assert_published_429(refused, window=30)
    assert remaining(refused) == 2
    message = refused.json()["message"]
    assert "10 points" in message and "30 seconds" in message
    assert "cost 3 point" in message and "cost 5" in message


async def test_the_settings_decide_what_a_write_costs(small_budget: tuple[httpx.AsyncClient, ShopKeys]) -> None:
    client, _ = small_budget
    assert remaining(await client.post("/preorders/offers", json={})) == 5
    assert remaining(await client.post("/preorders/offers", json={})) == 0
    assert_published_429(await client.post("/preorders/offers", json={}), window=30)


async def test_the_default_runtime_reads_its_settings(database_url: str, settings: Settings) -> None:
    """``create_app(settings)`` without a runtime builds its limiter from the same settings."""
    custom = Settings(database_url=database_url, data_dir=settings.data_dir, rate_limit_points=4, write_cost=4)
    app = create_app(custom)
    runtime: Runtime = app.state.runtime
    try:
        shop = await new_shop(runtime.db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://test{BASE_PATH}", headers=shop.headers
        ) as client:
            first = await client.post("/preorders/offers", json={})
            assert first.status_code == 202 and first.headers["X-RateLimit-Limit"] == "4" and remaining(first) == 0
            assert_published_429(await client.get("/preorders/offers"))
    finally:
        await runtime.close()


def test_the_memory_window_answers_as_the_limits_moving_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same accept/refuse decisions and the same window stats as ``limits``, on a random stream of hits."""
    import random

    from limits import RateLimitItemPerSecond, strategies
    from limits.storage import MemoryStorage

    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    item = RateLimitItemPerSecond(20, 10)
    ours, reference = MemoryWindow(), strategies.MovingWindowRateLimiter(MemoryStorage())
    rng = random.Random(7)
    for _ in range(2_000):
        # Random gaps (ties at the window's edge have measure zero), bursts at one instant included.
        now[0] += rng.choice((0.0, rng.uniform(0, 0.05), rng.uniform(0, 1), rng.uniform(0, 5)))
        cost = rng.choice((1, 1, 2, 5))
        key = rng.choice(("a", "b"))
        assert asyncio.run(ours.hit(item, key, cost)) == reference.hit(item, key, cost=cost)
        reset, remaining = asyncio.run(ours.get_window_stats(item, key))
        expected = reference.get_window_stats(item, key)
        assert (reset, remaining) == (expected.reset_time, expected.remaining)
