"""The rate limiter on Redis (several processes, one budget), against the real Redis at REDIS_URL.

Exact and atomic: every accepted hit sees the window right after itself (so 180 concurrent writes
see 180 different ``remaining`` values), a refused hit records nothing, a hit replayed by a client
retry is charged once, the Redis server's clock is the only clock, and ``reset()`` touches only
the limiter's own keys. Each test uses its own shop ids (uuid4), so tests never share a window.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from openstoq.errors import RateLimited
from openstoq.ratelimit import KEY_PREFIX, Budget, RateLimiter, RedisWindow
from openstoq.settings import Settings
from tests.conftest import REDIS_URL

LIMIT, WINDOW = 360, 60


@pytest.fixture
async def plain() -> AsyncIterator[aioredis.Redis]:
    """A separate client, to look at what the limiter stored."""
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def new_limiter(tmp_path: Path) -> AsyncIterator[Callable[[], RateLimiter]]:
    """Makes Redis limiters (each one standing for a process); closes them and deletes their keys after."""
    made: list[RateLimiter] = []

    def make() -> RateLimiter:
        made.append(RateLimiter(Settings(redis_url=REDIS_URL, data_dir=tmp_path)))
        return made[-1]

    yield make
    for limiter in made:
        await limiter.reset()
        await limiter.close()


@pytest.fixture
def limiter(new_limiter: Callable[[], RateLimiter]) -> RateLimiter:
    return new_limiter()


def store(limiter: RateLimiter) -> RedisWindow:
    assert isinstance(limiter.store, RedisWindow), "a redis_url setting makes a Redis store"
    return limiter.store


def new_shop() -> str:
    return str(uuid.uuid4())


async def points(plain: aioredis.Redis, shop: str) -> int:
    """The points recorded in Redis for ``shop``: one sorted-set member per point."""
    return int(await plain.zcard(KEY_PREFIX + shop))


async def server_now(plain: aioredis.Redis) -> float:
    seconds, microseconds = await plain.time()
    return seconds + microseconds / 1e6


async def burst(limiters: list[RateLimiter], shop: str, hits: int, cost: int) -> tuple[list[Budget], list[RateLimited]]:
    """``hits`` concurrent spends, round-robin over ``limiters``: the accepted budgets and the refusals."""
    answers = await asyncio.gather(
        *(limiters[i % len(limiters)].spend(shop, cost) for i in range(hits)), return_exceptions=True
    )
    unexpected = [a for a in answers if isinstance(a, BaseException) and not isinstance(a, RateLimited)]
    assert not unexpected, unexpected[:3]
    return [a for a in answers if isinstance(a, Budget)], [a for a in answers if isinstance(a, RateLimited)]


def assert_each_saw_the_window_right_after_itself(accepted: list[Budget]) -> None:
    """180 accepted writes of 2 points: remaining 358, 356, ..., 0, each exactly once."""
    assert sorted((b.remaining for b in accepted), reverse=True) == list(range(LIMIT - 2, -1, -2))
    # The oldest point (the first hit) stays in the window throughout, so one reset time for all.
    assert len({b.reset for b in accepted}) == 1


async def test_200_concurrent_writes_accept_180_each_with_its_own_remaining(
    limiter: RateLimiter, plain: aioredis.Redis
) -> None:
    shop = new_shop()
    accepted, refused = await burst([limiter], shop, 200, 2)
    assert (len(accepted), len(refused)) == (180, 20)
    assert_each_saw_the_window_right_after_itself(accepted)
    assert await points(plain, shop) == LIMIT, "every recorded point belongs to an accepted write"
    for refusal in refused:
        assert refusal.headers["X-RateLimit-Remaining"] == "0"
        assert 1 <= refusal.retry_after <= WINDOW
        assert refusal.headers["Retry-After"] == str(refusal.retry_after)


async def test_a_cold_script_cache_loses_no_points(limiter: RateLimiter, plain: aioredis.Redis) -> None:
    """Right after Redis starts (or SCRIPT FLUSH), the first hits get NOSCRIPT. With coredis that
    dropped every command in flight on the shared connection, retried them, and charged twice
    those that had already run: 170 or fewer writes accepted."""
    shop = new_shop()
    await plain.script_flush()
    accepted, refused = await burst([limiter], shop, 200, 2)
    assert (len(accepted), len(refused)) == (180, 20)
    assert_each_saw_the_window_right_after_itself(accepted)
    assert await points(plain, shop) == LIMIT


async def test_two_processes_share_one_budget(new_limiter: Callable[[], RateLimiter], plain: aioredis.Redis) -> None:
    first, second = new_limiter(), new_limiter()
    shop = new_shop()
    assert (await first.spend(shop, 2)).remaining == 358
    assert (await second.spend(shop, 1)).remaining == 357
    assert (await first.peek(shop)).remaining == 357

    shop = new_shop()
    accepted, refused = await burst([first, second], shop, 200, 2)
    assert (len(accepted), len(refused)) == (180, 20)
    assert_each_saw_the_window_right_after_itself(accepted)
    assert await points(plain, shop) == LIMIT


async def test_a_refused_hit_charges_nothing(limiter: RateLimiter, plain: aioredis.Redis) -> None:
    shop = new_shop()
    assert (await limiter.spend(shop, 359)).remaining == 1
    with pytest.raises(RateLimited) as refused:
        await limiter.spend(shop, 2)
    assert refused.value.headers["X-RateLimit-Remaining"] == "1"
    assert await points(plain, shop) == 359
    assert (await limiter.peek(shop)).remaining == 1
    assert (await limiter.spend(shop, 1)).remaining == 0, "the refused write left its point for a read"
    with pytest.raises(RateLimited):
        await limiter.spend(shop, 1)
    assert await points(plain, shop) == LIMIT


async def test_a_replayed_hit_id_charges_once(limiter: RateLimiter, plain: aioredis.Redis) -> None:
    """Running the hit script twice with one hit id (what a client retry does) records it once."""
    shop = new_shop()
    first = await store(limiter).hit(shop, 2, hit_id="one-hit")
    again = await store(limiter).hit(shop, 2, hit_id="one-hit")
    assert first.accepted and again.accepted
    assert first.remaining == again.remaining == 358
    assert await points(plain, shop) == 2
    assert (await store(limiter).hit(shop, 2)).remaining == 356, "another hit id is another hit"


async def test_a_lost_reply_retried_by_the_client_charges_once(
    limiter: RateLimiter, plain: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script ran, then the connection dropped before the reply: the client retries the same
    command (same hit id), which finds the hit already recorded."""
    client = store(limiter).client
    real = client.parse_response
    evalsha = 0

    async def lose_first_reply(connection: Any, command_name: str | bytes, **options: Any) -> Any:
        nonlocal evalsha
        reply = await real(connection, command_name, **options)
        if command_name == "EVALSHA":
            evalsha += 1
            if evalsha == 1:
                raise RedisConnectionError("the reply was lost (test)")
        return reply

    monkeypatch.setattr(client, "parse_response", lose_first_reply)
    shop = new_shop()
    assert (await limiter.spend(shop, 2)).remaining == 358
    assert evalsha == 2, "the client sent the hit again"
    assert await points(plain, shop) == 2


async def test_peek_is_the_budget_after_the_last_spend(limiter: RateLimiter, plain: aioredis.Redis) -> None:
    shop = new_shop()
    empty = await limiter.peek(shop)
    assert empty.remaining == LIMIT
    assert not await plain.exists(KEY_PREFIX + shop), "a peek writes nothing"
    last = None
    for cost in (2, 1, 5, 2):
        last = await limiter.spend(shop, cost)
    assert await limiter.peek(shop) == last == Budget(LIMIT, LIMIT - 10, last.reset)
    assert await points(plain, shop) == 10


async def test_the_window_runs_on_the_redis_servers_clock(
    limiter: RateLimiter, plain: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process whose clock is an hour ahead still gets the window of the server's clock."""
    import time

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    shop = new_shop()
    before = await server_now(plain)
    budget = await limiter.spend(shop, 360)
    after = await server_now(plain)
    assert before + WINDOW - 1 <= budget.reset <= after + WINDOW + 1
    with pytest.raises(RateLimited) as refused:
        await limiter.spend(shop, 1)
    assert 1 <= refused.value.retry_after <= WINDOW
    assert (await limiter.peek(shop)).reset == budget.reset


async def test_reset_clears_only_its_own_keys(new_limiter: Callable[[], RateLimiter], plain: aioredis.Redis) -> None:
    mine, other = new_limiter(), new_limiter()
    my_shop, other_shop, foreign = new_shop(), new_shop(), KEY_PREFIX + new_shop()
    await mine.spend(my_shop, 10)
    await other.spend(other_shop, 10)
    await plain.set(foreign, "someone else's", ex=60)
    try:
        await mine.reset()
        assert (await mine.peek(my_shop)).remaining == LIMIT
        assert (await mine.peek(other_shop)).remaining == LIMIT - 10, "another limiter's window stays"
        assert await plain.get(foreign) == b"someone else's"
    finally:
        await plain.delete(foreign)
