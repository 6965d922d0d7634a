"""Per-shop rate limits: a moving window of points, exact under concurrency.

Memory storage in one process; Redis storage (one Lua script per hit, so atomic) when several
processes share a budget. Never in the SQL database.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
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


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.item = RateLimitItemPerSecond(settings.rate_limit_points, settings.rate_limit_window_seconds)
        self.storage = storage_from_string(settings.rate_limit_storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)

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
        await self.storage.reset()
