"""The runtime every face shares: authenticate a key, then invoke an action exactly one way.

HTTP and MCP both end in ``Runtime.invoke``: the same permission check, rate-limit points,
validation, single transaction and handler. Neither face has a path of its own past auth. Every
write, whoever makes it (an action, a webhook, the scheduler, a job, the CLI), runs in
``shop_transaction``: one transaction whose outbox is written with it and delivered after commit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.clock import Clock
from openstoq.context import ActionContext, Enqueuer, Outbox, Principal, Source
from openstoq.db.engine import Database
from openstoq.db.models import Shop
from openstoq.errors import ActionError, BadRequest, Forbidden, NotFound, Unauthorized
from openstoq.feature import Features
from openstoq.http import JSON
from openstoq.outbox import Courier
from openstoq.ratelimit import Budget, RateLimiter
from openstoq.registry import Action
from openstoq.settings import Settings
from openstoq.shops import KeyCache
from openstoq.validation import EmptyBody, validate_body, validate_query

log = logging.getLogger(__name__)

MISSING_KEY = "Missing API key: send it in the X-Auth-Token header"
BAD_KEY = "Invalid API key: it is unknown or was revoked"


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
    """The composed features and the services they run on: database, clock, rate limits, key cache, outbox.

    ``deliver_inline``: outbox rows are delivered by the process that wrote them, right after commit
    (the embedded default, and the CLI); False leaves them to the workers' drain (``serve --no-workers``).
    """

    def __init__(
        self,
        settings: Settings,
        features: Features,
        *,
        db: Database | None = None,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        deliver_inline: bool = True,
    ) -> None:
        self.settings = settings
        self.features = features
        self.registry = features.registry
        self.db = db or Database(
            settings.sqlalchemy_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        self.clock = clock or Clock()
        self.limiter = limiter or RateLimiter(settings)
        self.keys = KeyCache(self.db)
        self.deliver_inline = deliver_inline
        self.jobs: Enqueuer | None = None  # the job engine, while one runs in this process
        self.courier = Courier(self.db, self.clock, settings, features.commands, self._delivery_context)

    # --- contexts and transactions ---

    def context(
        self,
        shop_id: str,
        domain: str,
        session: AsyncSession | Callable[[], AsyncSession],
        *,
        source: Source,
        outbox: Outbox | None = None,
        reads: Database | None = None,
    ) -> ActionContext:
        return ActionContext(
            shop_id,
            domain,
            session,
            clock=self.clock,
            settings=self.settings,
            features=self.features,
            source=source,
            reads=reads,
            outbox=outbox,
            jobs=self.jobs,
        )

    def _delivery_context(self, shop_id: str, domain: str, session: AsyncSession, outbox: Outbox) -> ActionContext:
        return self.context(shop_id, domain, session, source="outbox", outbox=outbox)

    @asynccontextmanager
    async def shop_transaction(
        self, shop_id: str, *, source: Source, domain: str | None = None
    ) -> AsyncIterator[ActionContext]:
        """One write transaction acting for a shop; its outbox is written with it and delivered after commit."""
        outbox = Outbox()
        async with self.db.transaction(write=True) as session:
            if domain is None:
                domain = await session.scalar(select(Shop.domain).where(Shop.id == shop_id))
                if domain is None:
                    raise LookupError(f"shop {shop_id} does not exist")
            yield self.context(shop_id, domain, session, source=source, outbox=outbox)
            ids = await self.courier.record(session, shop_id, outbox, inline=self.deliver_inline)
        if ids and self.deliver_inline:
            await self.deliver(ids)

    async def deliver(self, ids: Sequence[int]) -> None:
        """Deliver committed outbox rows now; a failure is the courier's to retry, never the writer's."""
        try:
            await self.courier.deliver(ids)
        except Exception:
            log.exception("outbox rows %s could not be delivered now; the workers' drain retries them", list(ids))

    # --- the API path ---

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
                ctx = self.context(
                    principal.shop_id, principal.domain, self.db.read_session, source=source, reads=self.db
                )
                try:
                    payload = await action.handler(ctx, request, **params)
                finally:
                    await ctx.close()
            else:
                async with self.shop_transaction(principal.shop_id, source=source, domain=principal.domain) as ctx:
                    payload = await action.handler(ctx, request, **params)
        except ActionError as exc:
            exc.headers = {**budget.headers(), **exc.headers}
            raise
        return Outcome(payload, 200 if action.is_read else 202, budget.headers())

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
            value = spec.placeholder.parse(str(raw.get(spec.name, "")))
            if value is None:
                raise NotFound(f"{spec.noun.capitalize()} {raw.get(spec.name)} not found")
            params[spec.name] = value
        return params

    async def close(self) -> None:
        await self.limiter.close()
        await self.db.dispose()
