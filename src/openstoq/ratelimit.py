"""Per-shop rate limits: a moving window of points, exact under concurrency.

Memory storage in one process (``MemoryWindow``); Redis storage (``RedisWindow``) when several
processes share a budget (``OPENSTOQ_REDIS_URL``). Never in the SQL database.

In Redis, each shop's window is one sorted set, ``openstoq:ratelimit:<shop id>`` (``KEY_PREFIX``):
one member per point, ``<hit id>:<n>``, scored by the Redis server's clock in microseconds, the key
expiring a window after its last point. One Lua script per hit expires the points that left the
window, records the hit's points or refuses it (recording nothing), and returns in the same atomic
step the points remaining and when the oldest point leaves the window: the headers are the state
right after this hit. The server's clock (``TIME``) is the only clock, so processes never disagree
on time. A hit id already in the window is not charged again, so a client retry of a hit whose
answer was lost cannot charge twice.

The Redis client is redis-py (``redis.asyncio``, Redis's own client; 6.0 or later, whose ``Retry``
alone turns retries on), chosen because it runs each command on a connection of its own. coredis,
under the ``limits`` storage this replaces, multiplexes commands on a shared connection and drops
all of them when one fails: with an empty script cache (a Redis just started, as on a CI machine),
one NOSCRIPT answer failed every hit in flight on that connection, coredis retried them all, and
those that had already run were charged twice: 130 to 179 of 200 concurrent writes accepted
instead of 180.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.commands.core import AsyncScript

from openstoq.errors import RateLimited
from openstoq.settings import Settings

KEY_PREFIX = "openstoq:ratelimit:"  # every key this module writes in Redis starts with it

# A hit is idempotent, so the client may retry a command whose answer was lost (connection
# dropped, socket timeout): twice, after 10-20 ms then 20-40 ms.
REDIS_RETRIES = 2
REDIS_TIMEOUT_SECONDS = 5.0  # to connect, and for an answer
# Commands in flight per process, so connections per process. More hits wait their turn, first
# come first served (an asyncio.Semaphore): redis-py's BlockingConnectionPool let some waiters
# wait over a second while others went ahead.
REDIS_CONNECTIONS = 64

# KEYS[1]: the shop's window. ARGV: limit (points), window (µs), cost (points, >= 1), hit id.
# Returns {accepted (1 or 0), points remaining, when the oldest point leaves (µs), now (µs)}.
HIT_SCRIPT = """
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, hit = tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- scores are whole microseconds: this drops the points older than now - window
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window - 1)
local accepted = 0
if redis.call('ZSCORE', key, hit .. ':1') then
  accepted = 1  -- this hit ran before (a retry): charged then, not again
elseif redis.call('ZCARD', key) + cost <= limit then
  local args = {}
  for n = 1, cost do
    args[2 * n - 1] = now
    args[2 * n] = hit .. ':' .. n
  end
  for i = 1, #args, 1000 do
    redis.call('ZADD', key, unpack(args, i, math.min(i + 999, #args)))
  end
  redis.call('PEXPIRE', key, math.floor(window / 1000) + 1)
  accepted = 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
return {accepted, limit - redis.call('ZCARD', key), (oldest and tonumber(oldest) or now) + window, now}
"""

# The same answer without a hit, and without writing: KEYS[1], ARGV: limit, window (µs).
PEEK_SCRIPT = """
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local horizon = now - window
local used = redis.call('ZCOUNT', key, horizon, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', key, horizon, '+inf', 'LIMIT', 0, 1, 'WITHSCORES')[2]
return {1, limit - used, (oldest and tonumber(oldest) or now) + window, now}
"""


@dataclass(frozen=True, slots=True)
class Budget:
    limit: int
    remaining: int
    reset: int  # Unix seconds when the window frees up

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


@dataclass(frozen=True, slots=True)
class Hit:
    """A storage's answer to one hit (or peek): taken or not, and the window right after it."""

    accepted: bool
    remaining: int
    reset: int  # Unix seconds, rounded up, when the oldest point leaves the window
    retry_after: int  # whole seconds from now until then, at least 1


class _Window:
    """One shop's hits in the window, oldest first, and their points.

    Times and points sit in two deques of plain numbers, not a deque of tuples: numbers are not
    tracked by the garbage collector, so a busy window adds nothing for it to scan.
    """

    __slots__ = ("costs", "points", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.costs: deque[int] = deque()
        self.points = 0

    def expire(self, horizon: float) -> None:
        while self.times and self.times[0] < horizon:
            self.times.popleft()
            self.points -= self.costs.popleft()

    def add(self, now: float, cost: int) -> None:
        self.times.append(now)
        self.costs.append(cost)
        self.points += cost


class MemoryWindow:
    """Moving windows of points for one process, in memory: the default storage.

    A hit costs O(1) amortised, and since nothing awaits between the check and the append, it
    is atomic on the event loop. Same answers as the ``limits`` moving window, whose own memory
    storages cost 10-110 µs a hit here: a task and a thread hop after every hit, or a timer
    thread started every 10 ms, and an O(n) insert at the front of a list.
    """

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def _window(self, item: RateLimitItem, key: str, now: float) -> _Window:
        window = self._windows.get(key) or self._windows.setdefault(key, _Window())
        window.expire(now - item.get_expiry())
        return window

    async def hit(self, item: RateLimitItem, key: str, cost: int = 1) -> bool:
        now = time.time()
        window = self._window(item, key, now)
        if window.points + cost > item.amount:
            return False
        window.add(now, cost)
        return True

    async def get_window_stats(self, item: RateLimitItem, key: str) -> tuple[float, int]:
        """When the window frees up (Unix seconds) and the points left in it, as ``limits`` says."""
        now = time.time()
        window = self._window(item, key, now)
        if not window.times:
            del self._windows[key]  # a shop whose window has emptied keeps no memory
            return now + item.get_expiry(), item.amount
        return window.times[0] + item.get_expiry(), item.amount - window.points

    async def reset(self) -> None:
        self._windows.clear()


def _seconds_up(microseconds: int) -> int:
    """Whole seconds, rounded up, in exact integer arithmetic."""
    return -(-microseconds // 1_000_000)


class RedisWindow:
    """Moving windows of points shared by every process on one Redis (see the module docstring).

    ``reset()`` deletes the windows of the shops this instance has charged, and nothing else: never
    another process's keys, nor keys found by a pattern.
    """

    def __init__(self, url: str, points: int, window_seconds: int, *, key_prefix: str = KEY_PREFIX) -> None:
        self.points = points
        self.window_us = window_seconds * 1_000_000
        self.key_prefix = key_prefix
        pool = ConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(EqualJitterBackoff(cap=0.1, base=0.01), REDIS_RETRIES),
        )
        self.client = Redis.from_pool(pool)
        self._turns = asyncio.Semaphore(REDIS_CONNECTIONS)
        self._hit = self.client.register_script(HIT_SCRIPT)
        self._peek = self.client.register_script(PEEK_SCRIPT)
        # Hit ids: this instance's random prefix, then a counter. Unique across processes.
        self._instance = secrets.token_hex(8)
        self._serial = itertools.count()
        # The keys this instance wrote, with when (time.monotonic()) they expire at the latest;
        # pruned as it grows, so a long-lived process keeps only the shops of the last window.
        self._written: dict[str, float] = {}
        self._prune_at = 1024

    def key(self, shop_id: str) -> str:
        return self.key_prefix + shop_id

    def new_hit_id(self) -> str:
        return f"{self._instance}.{next(self._serial):x}"

    async def hit(self, shop_id: str, cost: int, hit_id: str | None = None) -> Hit:
        """Take ``cost`` (>= 1) points or refuse; ``hit_id`` only to replay a hit (tests)."""
        key = self.key(shop_id)
        self._wrote(key)
        return await self._run(self._hit, key, self.points, self.window_us, cost, hit_id or self.new_hit_id())

    async def peek(self, shop_id: str) -> Hit:
        return await self._run(self._peek, self.key(shop_id), self.points, self.window_us)

    async def _run(self, script: AsyncScript, key: str, *args: int | str) -> Hit:
        async with self._turns:
            answer = await script(keys=[key], args=args)
        accepted, remaining, reset_us, now_us = (int(value) for value in answer)
        return Hit(bool(accepted), remaining, _seconds_up(reset_us), max(1, _seconds_up(reset_us - now_us)))

    def _wrote(self, key: str) -> None:
        now = time.monotonic()
        self._written[key] = now + self.window_us / 1_000_000 + 1
        if len(self._written) > self._prune_at:
            self._written = {k: until for k, until in self._written.items() if until > now}
            self._prune_at = max(1024, 2 * len(self._written))

    async def reset(self) -> None:
        keys = list(self._written)
        self._written.clear()
        for start in range(0, len(keys), 1000):
            async with self._turns:
                await self.client.unlink(*keys[start : start + 1000])

    async def close(self) -> None:
        await self.client.aclose()


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.item = RateLimitItemPerSecond(settings.rate_limit_points, settings.rate_limit_window_seconds)
        # Redis when several processes share each shop's budget, else this process's memory.
        self.store: MemoryWindow | RedisWindow = (
            RedisWindow(settings.redis_url, settings.rate_limit_points, settings.rate_limit_window_seconds)
            if settings.redis_url
            else MemoryWindow()
        )

    def cost(self, method: str) -> int:
        return self.settings.read_cost if method == "GET" else self.settings.write_cost

    async def peek(self, shop_id: str) -> Budget:
        """The shop's budget now, spending nothing (for responses that cost no points)."""
        return self._budget(await self._peek(shop_id))

    async def spend(self, shop_id: str, cost: int) -> Budget:
        """Take ``cost`` points from the shop's window, or raise 429 having taken nothing."""
        hit = await self._peek(shop_id) if cost <= 0 else await self._spend(shop_id, cost)
        budget = self._budget(hit)
        if not hit.accepted:
            window = self.settings.rate_limit_window_seconds
            raise RateLimited(
                hit.retry_after,
                f"This shop has used its {self.item.amount} points for the last {window} seconds. "
                f"Reads (GET) cost {self.settings.read_cost} point, writes (POST, PUT, PATCH, DELETE) cost "
                f"{self.settings.write_cost}. Retry after {hit.retry_after} seconds.",
                headers={**budget.headers(), "Retry-After": str(hit.retry_after)},
            )
        return budget

    def _budget(self, hit: Hit) -> Budget:
        return Budget(self.item.amount, max(0, hit.remaining), hit.reset)

    async def _spend(self, shop_id: str, cost: int) -> Hit:
        if isinstance(self.store, RedisWindow):
            return await self.store.hit(shop_id, cost)
        # Nothing awaits between the hit and the stats: one atomic step on the event loop.
        accepted = await self.store.hit(self.item, shop_id, cost=cost)
        return self._memory_answer(accepted, *await self.store.get_window_stats(self.item, shop_id))

    async def _peek(self, shop_id: str) -> Hit:
        if isinstance(self.store, RedisWindow):
            return await self.store.peek(shop_id)
        return self._memory_answer(True, *await self.store.get_window_stats(self.item, shop_id))

    @staticmethod
    def _memory_answer(accepted: bool, reset: float, remaining: int) -> Hit:
        return Hit(accepted, remaining, math.ceil(reset), max(1, math.ceil(reset - time.time())))

    async def reset(self) -> None:
        """Forget the points this limiter has recorded (tests): its own keys only, in Redis."""
        await self.store.reset()

    async def close(self) -> None:
        if isinstance(self.store, RedisWindow):
            await self.store.close()
