"""The runtime every face shares: authenticate a key, then invoke an action exactly one way.

HTTP and MCP both end in ``Runtime.invoke``: the same permission check, rate-limit points,
validation, single transaction and handler. Neither face has a path of its own past auth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.api.ratelimit import Budget, RateLimiter
from openstoq.clock import Clock
from openstoq.context import ActionContext, Principal, Source
from openstoq.db.engine import Database
from openstoq.errors import ActionError, BadRequest, Forbidden, NotFound, Unauthorized
from openstoq.registry import Action, Registry
from openstoq.settings import Settings
from openstoq.shops import KeyCache
from openstoq.validation import EmptyBody, validate_body, validate_query

MISSING_KEY = "Missing API key: send it in the X-Auth-Token header"
BAD_KEY = "Invalid API key: it is unknown or was revoked"
JSON = "application/json"


def check_content_type(content_type: str, body: bytes) -> None:
    """A body sent as anything but JSON is a 400; an empty body needs no content type."""
    media_type = content_type.split(";")[0].strip().lower()
    if body.strip() and media_type != JSON and not media_type.endswith("+json"):
        raise BadRequest(f"Content-Type must be {JSON}, not {media_type}")


@dataclass(slots=True)
class Outcome:
    payload: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        db: Database | None = None,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.db = db or Database(
            settings.sqlalchemy_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        self.clock = clock or Clock()
        self.limiter = limiter or RateLimiter(settings)
        self.keys = KeyCache(self.db)

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized(MISSING_KEY)
        principal = await self.keys.authenticate(token)
        if principal is None:
            raise Unauthorized(BAD_KEY)
        return principal

    async def spend(self, principal: Principal, cost: int) -> Budget:
        return await self.limiter.spend(principal.shop_id, cost)

    def cost(self, action: Action) -> int:
        return action.cost if action.cost is not None else self.limiter.cost(action.method)

    async def invoke(
        self,
        principal: Principal,
        action: Action,
        raw_params: dict[str, str],
        *,
        body: bytes = b"",
        query: dict[str, Any] | None = None,
        content_type: str | None = None,
        source: Source = "api",
    ) -> Outcome:
        """Run ``action`` for ``principal``: 403, 429, 404, 400/422 or the handler's payload.

        ``content_type`` is the HTTP Content-Type of ``body`` (None where there is none, e.g. MCP).
        """
        if principal.read_only and not action.is_read:
            budget = await self.limiter.peek(principal.shop_id)  # refused, so it costs nothing
            raise Forbidden(
                f"This API key is read-only; {action.method} {action.path} needs a read-write key",
                headers=budget.headers(),
            )
        budget = await self.spend(principal, self.cost(action))
        try:
            params = self._params(action, raw_params)
            if content_type is not None and not action.is_read:
                check_content_type(content_type, body)
            request = self._request(action, body, query)
            if action.is_read:
                ctx = self._context(principal, self.db.read_session, source, reads=self.db)
                try:
                    payload = await action.handler(ctx, params, request)
                finally:
                    await ctx.close()
            else:
                async with self.db.transaction(write=True) as session:
                    payload = await action.handler(self._context(principal, session, source), params, request)
        except ActionError as exc:
            exc.headers = {**budget.headers(), **exc.headers}
            raise
        return Outcome(payload, 200 if action.is_read else 202, budget.headers())

    def _context(
        self,
        principal: Principal,
        session: AsyncSession | Callable[[], AsyncSession],
        source: Source,
        reads: Database | None = None,
    ) -> ActionContext:
        return ActionContext(principal.shop_id, principal.domain, session, self.clock, self.settings, source, reads)

    @staticmethod
    def _request(action: Action, body: bytes, query: dict[str, Any] | None) -> Any:
        """The validated request model, or None for an action without one."""
        if action.request is None and action.is_read and not query:
            return None  # nothing sent, nothing expected: the one case with nothing to check
        # No request model means no keys at all, as the published schema ({} with no extra keys) says.
        model = action.request or EmptyBody
        checked = validate_query(model, query or {}) if action.is_read else validate_body(model, body)
        return checked if action.request is not None else None

    @staticmethod
    def _params(action: Action, raw: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for spec in action.params:
            value = spec.parse(str(raw.get(spec.name, "")))
            if value is None:
                raise NotFound(f"{spec.noun.capitalize()} {raw.get(spec.name)} not found")
            params[spec.name] = value
        return params

    async def close(self) -> None:
        await self.db.dispose()
