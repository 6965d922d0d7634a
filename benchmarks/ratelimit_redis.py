"""Per-hit latency and throughput of the rate limiter, in memory and on Redis, in the same run.

``RateLimiter.spend`` as the API calls it (default budget: 360 points per 60 s, 1 point a hit),
timed from the call to its answer, with 1 and then 64 callers awaiting hits concurrently. The hits
go to shops of 300 hits each, so nothing is refused and every window is as full as a busy shop's;
concurrent callers share a shop. Prints p50 and p99 per hit and hits per second for:

- ``memory``: ``MemoryWindow``, this process only (the default, no Redis);
- ``redis``: ``RedisWindow``, one Lua script (one round trip) per hit;
- ``limits``: for reference, the ``limits`` moving window over coredis that ``RedisWindow``
  replaced (a hit, then a second round trip for the window stats), when coredis is installed.

    .venv/bin/python benchmarks/ratelimit_redis.py
    .venv/bin/python benchmarks/ratelimit_redis.py --redis redis://127.0.0.1:6379/0 --hits 20000

Keys are written under ``openstoq:ratelimit:bench-*`` (and ``LIMITS:*bench-*``) and deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from openstoq.ratelimit import RateLimiter
from openstoq.settings import Settings

HITS_PER_SHOP = 300  # under the 360-point budget: no refusals
Spend = Callable[[str, int], Awaitable[Any]]


async def measure(spend: Spend, callers: int, hits: int) -> tuple[list[float], float]:
    """``hits`` spends by ``callers`` concurrent tasks: each hit's latency (s) and the wall time."""
    run = f"bench-{uuid.uuid4().hex[:8]}"
    latencies: list[float] = []
    counter = iter(range(hits))

    async def caller() -> None:
        for i in counter:
            start = time.perf_counter()
            await spend(f"{run}-{i // HITS_PER_SHOP}", 1)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return latencies, time.perf_counter() - start


def report(name: str, callers: int, latencies: list[float], elapsed: float) -> None:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"{name:>7} {callers:>3} callers: p50 {q[49] * 1e3:7.3f} ms  p99 {q[98] * 1e3:7.3f} ms  "
        f"max {max(latencies) * 1e3:7.1f} ms  {len(latencies) / elapsed:9,.0f} hits/s"
    )


def limits_spend(url: str) -> tuple[Spend, Callable[[], Awaitable[None]]] | None:
    """The replaced path: ``limits`` MovingWindowRateLimiter over coredis, hit then window stats."""
    try:
        from limits import RateLimitItemPerSecond
        from limits.aio.strategies import MovingWindowRateLimiter
        from limits.storage import storage_from_string

        limiter = MovingWindowRateLimiter(storage_from_string("async+" + url))
    except Exception:  # coredis (limits[async-redis]) is no longer a dependency
        return None
    item = RateLimitItemPerSecond(360, 60)
    shops: set[str] = set()

    async def spend(shop: str, cost: int) -> Any:
        shops.add(shop)
        await limiter.hit(item, shop, cost=cost)
        return await limiter.get_window_stats(item, shop)

    async def clean() -> None:
        for shop in shops:
            await limiter.storage.clear(item.key_for(shop))

    return spend, clean


async def run(url: str, hits: int) -> None:
    memory = RateLimiter(Settings(redis_url=None))
    redis = RateLimiter(Settings(redis_url=url))
    old = limits_spend(url)
    targets: list[tuple[str, Spend]] = [("memory", memory.spend), ("redis", redis.spend)]
    if old:
        targets.append(("limits", old[0]))
    print(f"{hits} hits per line, 1 point each, {HITS_PER_SHOP} per shop; Redis at {url}")
    try:
        for name, spend in targets:
            await measure(spend, 8, 1000)  # warm up: connections, scripts loaded
            for callers in (1, 64):
                report(name, callers, *await measure(spend, callers, hits))
    finally:
        await redis.reset()
        await redis.close()
        if old:
            await old[1]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL (default: local)")
    parser.add_argument("--hits", type=int, default=10_000, help="timed hits per line (default 10000)")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(run(args.redis, args.hits))
    except ImportError:
        asyncio.run(run(args.redis, args.hits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
