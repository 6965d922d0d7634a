"""``POST /webhooks/shopify``: Shopify-format webhooks in, exactly as Shopify sends them.

Order of checks: the shop (``X-Shopify-Shop-Domain``) and the signature (``X-Shopify-Hmac-Sha256``,
base64 HMAC-SHA256 of the raw body with the shop's webhook secret, compared in constant time) come
first, so an unsigned request learns nothing and stores nothing (401). Then the topic and delivery
id headers (400 when missing), the body (413 over ``MAX_BODY``; 422 when not a JSON object, not the
topic's shape, or holding a value the database refuses). A shop's id and secret stay in memory a
few seconds (``SECRET_TTL``): webhooks come in bursts.

Each webhook is processed synchronously in one write transaction that also records its
``X-Shopify-Webhook-Id``: a repeated id is acknowledged and ignored, and a failed processing leaves
no record, so the platform's retry is processed. Processing is a couple of dozen statements (tens
of milliseconds), well inside Shopify's acknowledgement window; moving it into a durable job, so a
slow downstream can never delay the acknowledgement, is left to the job engine.

An unknown topic is acknowledged (200) and logged, not refused: Shopify retries every non-2xx for
48 hours and then removes the subscription, and no retry can ever make an unknown topic known.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from openstoq.db.models import Shop, WebhookDelivery
from openstoq.errors import BadRequest, Unauthorized, ValidationFailed
from openstoq.http import error_response, json_response, read_body
from openstoq.http import request_id as request_id_of
from openstoq.runtime import Runtime

log = logging.getLogger("openstoq.webhooks")

PATH = "/webhooks/shopify"
TOPIC = "X-Shopify-Topic"
SHOP_DOMAIN = "X-Shopify-Shop-Domain"
WEBHOOK_ID = "X-Shopify-Webhook-Id"
HMAC = "X-Shopify-Hmac-Sha256"
MAX_BODY = 10 * 1024 * 1024  # larger than any order or product Shopify sends
ATTEMPTS = 4  # a concurrent writer of the same order or customer makes a transaction fail; retry it
SECRET_TTL = 10.0  # seconds a shop's id and secret are kept in memory
# Compared against when the shop is unknown, so both refusals take the same time.
_NO_SECRET = "0" * 64


def sign(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value for ``body``: base64 of HMAC-SHA256 with ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, presented: str) -> bool:
    # Header values arrive as latin-1 text; compare bytes, in constant time.
    return hmac.compare_digest(sign(secret, body).encode(), presented.strip().encode("latin-1"))


def headers_for(topic: str, domain: str, webhook_id: str, secret: str, body: bytes) -> dict[str, str]:
    """The headers Shopify sends with ``body`` (for the CLI, the demo and tests)."""
    return {
        "Content-Type": "application/json",
        TOPIC: topic,
        SHOP_DOMAIN: domain,
        WEBHOOK_ID: webhook_id,
        HMAC: sign(secret, body),
    }


@dataclass(frozen=True, slots=True)
class Delivery:
    shop_id: str
    domain: str
    topic: str
    webhook_id: str


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"webhook body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("webhook body must be a JSON object")
    # JSON can carry NUL only as \u0000; PostgreSQL text cannot hold it. Refused on every backend alike.
    if b"\\u0000" in body and (where := _nul_path(payload)):
        raise ValidationFailed(f"{where} must not contain NUL characters")
    return payload


def _nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first text holding NUL, or None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if "\x00" in str(key):
            return path or "body"
        name = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        if found := _nul_path(item, name):
            return found
    return None


def _unstorable(exc: DBAPIError) -> bool:
    """A value the database refuses (SQLSTATE class 22, data exception): the payload's fault, a 422."""
    return isinstance(exc, DataError) or str(getattr(exc.orig, "sqlstate", "") or "").startswith("22")


def _retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return isinstance(exc, IntegrityError) or "deadlock" in text or "could not serialize" in text


async def claim(session: AsyncSession, delivery: Delivery, now: Any) -> bool:
    """Record the delivery; False when it was recorded before (a concurrent copy waits, then sees it)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    row = {"shop_id": delivery.shop_id, "webhook_id": delivery.webhook_id, "topic": delivery.topic, "received_at": now}
    statement = dialect.insert(WebhookDelivery).values(**row).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


class ShopifyWebhooks:
    """The endpoint: authenticate, parse, then process in one write transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._secrets: dict[str, tuple[float, str, str]] = {}  # domain -> (expiry, shop id, secret)
        # SQLite has one writer at a time. Concurrent webhooks queue on this lock, in order, instead
        # of in SQLite's busy handler, whose growing sleeps leave the database idle while writers wait.
        self._writers: AbstractAsyncContextManager[Any] = asyncio.Lock() if runtime.db.is_sqlite else nullcontext()

    async def _shop(self, domain: str) -> tuple[str, str] | None:
        cached = self._secrets.get(domain)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        async with self.runtime.db.transaction(write=False) as session:
            row = (await session.execute(select(Shop.id, Shop.webhook_secret).where(Shop.domain == domain))).first()
        if row is None:
            return None  # not cached: a shop created a moment later is found at once
        if len(self._secrets) > 10_000:
            self._secrets.clear()
        self._secrets[domain] = (time.monotonic() + SECRET_TTL, row[0], row[1])
        return row[0], row[1]

    async def authenticate(self, request: Request, body: bytes) -> Delivery:
        """The shop that signed this body, or 401; then the topic and delivery id, or 400."""
        domain = request.headers.get(SHOP_DOMAIN, "").strip().lower()
        presented = request.headers.get(HMAC)
        if not domain:
            raise Unauthorized(f"{SHOP_DOMAIN} header is missing")
        shop = await self._shop(domain)
        valid = presented is not None and signature_matches(shop[1] if shop else _NO_SECRET, body, presented)
        if shop is None:
            raise Unauthorized(f"unknown shop {domain}: no shop with this domain is set up here")
        if presented is None:
            raise Unauthorized(f"{HMAC} header is missing")
        if not valid:
            raise Unauthorized(f"{HMAC} does not match the body signed with the shop's webhook secret")
        topic = request.headers.get(TOPIC, "").strip()
        webhook_id = request.headers.get(WEBHOOK_ID, "").strip()
        if not topic:
            raise BadRequest(f"{TOPIC} header is missing")
        if not webhook_id:
            raise BadRequest(f"{WEBHOOK_ID} header is missing")
        if len(webhook_id) > 128:
            raise BadRequest(f"{WEBHOOK_ID} must be at most 128 characters")
        return Delivery(shop[0], domain, topic, webhook_id)

    async def process(self, delivery: Delivery, payload: dict[str, Any]) -> dict[str, Any]:
        """Record the delivery and apply its topic in one write transaction; a seen delivery id is a no-op."""
        handlers = self.runtime.features.topics.get(delivery.topic, ())
        ack = {"topic": delivery.topic, "webhook_id": delivery.webhook_id}
        if not handlers:
            log.warning("shop %s: topic %r is not handled; acknowledged and ignored", delivery.domain, delivery.topic)
            return {**ack, "status": "ignored", "result": f"topic {delivery.topic} is not handled"}
        models = [topic.parse(payload) for topic in handlers]  # before the transaction: a bad payload takes no lock
        runtime = self.runtime
        for attempt in range(ATTEMPTS):
            try:
                async with (
                    self._writers,
                    runtime.shop_transaction(delivery.shop_id, source="webhook", domain=delivery.domain) as ctx,
                ):
                    # Claimed first, in the transaction that does the work: if the work fails, so does the claim.
                    if not await claim(ctx.session, delivery, ctx.clock.now()):
                        return {**ack, "status": "duplicate", "result": "this delivery was processed before"}
                    notes = [await topic.apply(ctx, model) for topic, model in zip(handlers, models, strict=True)]
                return {**ack, "status": "processed", "result": "; ".join(notes)}
            except DBAPIError as exc:
                if _unstorable(exc):
                    reason = str(exc.orig).splitlines()[0]
                    raise ValidationFailed(
                        f"{delivery.topic} payload holds a value the database refuses: {reason}"
                    ) from None
                if not _retryable(exc) or attempt == ATTEMPTS - 1:
                    raise
                log.info(
                    "shop %s: %s conflicted with a concurrent write; retrying", delivery.domain, delivery.webhook_id
                )
        raise AssertionError("unreachable")

    async def receive(self, request: Request) -> Response:
        body = await read_body(request, MAX_BODY)
        delivery = await self.authenticate(request, body)
        return json_response(await self.process(delivery, parse_json(body)))

    async def endpoint(self, request: Request) -> Response:
        """``POST /webhooks/shopify``: errors as ``{"errors": [...]}``, never a stack trace."""
        try:
            return await self.receive(request)
        except Exception as exc:
            return error_response(exc, request_id_of(request.scope), f"webhook {request.headers.get(TOPIC)}")


def shopify_webhooks(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint for ``POST /webhooks/shopify``, bound to ``runtime``."""
    return ShopifyWebhooks(runtime).endpoint
