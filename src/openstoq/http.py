"""What every HTTP face (the API, MCP's edge, webhooks, downloads) shares: one JSON encoder, one error
rendering (``errors.as_action_error``), reading a body with a size limit, and the request id every
response carries."""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openstoq.errors import BadRequest, PayloadTooLarge, as_action_error

JSON = "application/json"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type=JSON)


def error_response(exc: BaseException, request_id: str, where: str) -> Response:
    """The response for any exception: the envelope of an ActionError, or a logged 500 quoting the request id."""
    error = as_action_error(exc, request_id, where)
    return json_response(error.body(), error.status, error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


# --- request ids: every response carries X-Request-Id -----------------------------------------------

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
