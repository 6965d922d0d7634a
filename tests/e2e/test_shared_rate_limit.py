"""Two real ``openstoq serve`` processes on one database and one Redis share each shop's budget:
200 concurrent writes split across both accept exactly 180 (360 points at 2 each), and each accepted
answer tells the budget right after itself (180 different X-RateLimit-Remaining, 358 down to 0)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from openstoq.db.models import Offer
from openstoq.runtime import Runtime
from tests.conftest import REDIS_URL, MakeShop
from tests.e2e.servers import Server, Servers, openstoq_env


@pytest.fixture(scope="module")
def two_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two processes on the test database and Redis; every test makes its own shop, so they can be shared."""
    tmp = tmp_path_factory.mktemp("shared-rate-limit")
    env = openstoq_env(OPENSTOQ_DATABASE_URL=database_url, OPENSTOQ_REDIS_URL=REDIS_URL, OPENSTOQ_DATA_DIR=str(tmp))
    with Servers(tmp / "logs") as servers:
        first, second = servers.start_many(2, env)
        yield first, second


def logs(servers: tuple[Server, Server]) -> list[str]:
    """The end of each server's output, for a failure message."""
    return [server.output()[-3000:] for server in servers]


async def test_two_processes_share_one_budget_through_redis(
    two_servers: tuple[Server, Server], make_shop: MakeShop, runtime: Runtime
) -> None:
    shop = await make_shop()
    # As right after Redis starts (a CI machine's first run): the first hits get NOSCRIPT, which
    # made the old client drop and retry every hit in flight, charging twice those that had run.
    async with aioredis.Redis.from_url(REDIS_URL) as plain:
        await plain.script_flush()
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(headers=shop.headers, limits=limits, timeout=120) as http:
        responses = await asyncio.gather(
            *(http.post(f"{two_servers[i % 2].api}/preorders/offers", json={"name": f"offer {i}"}) for i in range(200))
        )
    by_server = [Counter(r.status_code for r in responses[i::2]) for i in range(2)]
    odd = {f"{r.status_code}: {r.text[:300]}" for r in responses if r.status_code not in (202, 429)}
    assert Counter(r.status_code for r in responses) == {202: 180, 429: 20}, (by_server, odd, *logs(two_servers))
    assert all(counts[202] for counts in by_server), f"both processes accepted writes: {by_server}"
    left = sorted((int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.status_code == 202), reverse=True)
    assert left == list(range(358, -1, -2)), f"each accepted write sees the budget right after itself: {left}"
    async with runtime.db.transaction(write=False) as session:
        stored = await session.scalar(select(func.count()).select_from(Offer).where(Offer.shop_id == shop.shop_id))
    assert stored == 180


async def test_the_budget_left_is_the_same_seen_from_either_process(
    two_servers: tuple[Server, Server], make_shop: MakeShop
) -> None:
    shop = await make_shop()
    first, second = two_servers
    async with httpx.AsyncClient(headers=shop.headers, timeout=30) as http:
        a = await http.post(f"{first.api}/preorders/offers", json={})
        b = await http.get(f"{second.api}/preorders/offers")
    assert a.headers["X-RateLimit-Remaining"] == "358"
    assert b.headers["X-RateLimit-Remaining"] == "357"
