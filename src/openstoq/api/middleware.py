"""ASGI middleware every response passes through."""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_INCOMING = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
# New ids: 32 hex digits, a random per-process prefix and a counter. Unique across processes like
# a UUID4, without a getrandom syscall and a UUID object per request.
_PREFIX = os.urandom(8).hex()
_SEQUENCE = itertools.count()


def new_request_id() -> str:
    return f"{_PREFIX}{next(_SEQUENCE):016x}"


def request_id(scope: Scope) -> str:
    """This request's id: the caller's ``X-Request-Id`` when it is sane, else a new one; assigned once."""
    state = scope.setdefault("state", {})
    if not state.get("request_id"):
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        state["request_id"] = incoming.decode() if _INCOMING.match(incoming) else new_request_id()
    return str(state["request_id"])


class RequestIdMiddleware:
    """Give every request an id and echo it on every response: the edges (dispatcher, MCP, webhooks)
    only read it, to quote it in a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_id)
