"""Per-shop rate limits: a moving window of points, exact under concurrency.

Memory storage in one process; Redis storage (one Lua script per hit, so atomic) when several
processes share a budget. Never in the SQL database.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from openstoq.errors import RateLimited
from openstoq.settings import Settings


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


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.item = RateLimitItemPerSecond(settings.rate_limit_points, settings.rate_limit_window_seconds)
        # Redis when several processes share each shop's budget, else this process's memory.
        shared = settings.rate_limit_storage_uri
        self.limiter: MovingWindowRateLimiter | MemoryWindow = (
            MovingWindowRateLimiter(storage_from_string(shared)) if shared else MemoryWindow()
        )

    def cost(self, method: str) -> int:
        return self.settings.read_cost if method == "GET" else self.settings.write_cost

    async def peek(self, shop_id: str) -> Budget:
        """The shop's budget now, spending nothing (for responses that cost no points)."""
        reset, remaining = await self.limiter.get_window_stats(self.item, shop_id)
        return Budget(self.item.amount, max(0, remaining), math.ceil(reset))

    async def spend(self, shop_id: str, cost: int) -> Budget:
        """Take ``cost`` points from the shop's window, or raise 429 having taken nothing."""
        accepted = cost == 0 or await self.limiter.hit(self.item, shop_id, cost=cost)
        reset, remaining = await self.limiter.get_window_stats(self.item, shop_id)
        budget = Budget(self.item.amount, max(0, remaining), math.ceil(reset))
        if not accepted:
            retry_after = max(1, math.ceil(reset - time.time()))
            window = self.settings.rate_limit_window_seconds
            raise RateLimited(
                retry_after,
                f"This shop has used its {self.item.amount} points for the last {window} seconds. "
                f"Reads (GET) cost {self.settings.read_cost} point, writes (POST, PUT, PATCH, DELETE) cost "
                f"{self.settings.write_cost}. Retry after {retry_after} seconds.",
                headers={**budget.headers(), "Retry-After": str(retry_after)},
            )
        return budget

    async def reset(self) -> None:
        if isinstance(self.limiter, MemoryWindow):
            await self.limiter.reset()
        else:
            await self.limiter.storage.reset()
