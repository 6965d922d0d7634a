"""MCP over streamable HTTP at ``/api/v2/external/mcp``: the key is checked before the SDK sees the request.

Stateless, JSON-response mode: no session lives in a process, so any number of API processes can
serve one client behind a load balancer, and each POST is answered with one JSON body.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from mcp.server import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from openstoq.errors import MethodNotAllowed, Unauthorized
from openstoq.http import error_response, json_response, read_body, request_id
from openstoq.mcp.server import Caller, build_server
from openstoq.runtime import Runtime

CALLER = "openstoq.mcp.caller"  # the scope key the authenticated caller travels under
MISSING_KEY = "Missing API key: send it in the X-Auth-Token header or as Authorization: Bearer <key>"
NO_STREAM = (
    "this MCP endpoint is stateless and answers each JSON-RPC POST with one JSON body: there is no "
    "event stream to open with GET and no session to end with DELETE"
)


def presented_key(headers: Headers) -> str | None:
    """``X-Auth-Token``, else the token of ``Authorization: Bearer``."""
    if token := headers.get("x-auth-token"):
        return token
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def caller_of_request(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    if not isinstance(request, Request) or CALLER not in request.scope:
        raise RuntimeError("an MCP request reached a tool without passing McpEndpoint's authentication")
    caller: Caller = request.scope[CALLER]
    return caller


class McpEndpoint:
    """The ASGI app: 401 in the API's error envelope for a missing or bad key, else the SDK's transport."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.server = build_server(runtime, caller_of_request)
        self.sessions = StreamableHTTPSessionManager(app=self.server, json_response=True, stateless=True)

    def run(self) -> AbstractAsyncContextManager[None]:
        """The session manager's task group; enter it once, in the app's lifespan."""
        return self.sessions.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id(scope)  # the middleware puts it on the response
        try:
            if scope["method"] != "POST":
                # Stateless JSON mode: no server-sent event stream to open (GET), no session to end (DELETE).
                raise MethodNotAllowed(NO_STREAM, headers={"Allow": "POST"})
            token = presented_key(Headers(scope=scope))
            if not token:
                raise Unauthorized(MISSING_KEY)
            principal = await self.runtime.authenticate(token)
            body = await read_body(Request(scope, receive), self.runtime.settings.max_body_bytes)
            invalid = invalid_request(body)
        except Exception as exc:
            await error_response(exc, rid, "MCP")(scope, receive, send)
            return
        if invalid is not None:
            await json_response(invalid, 400)(scope, receive, send)
            return
        caller = Caller(principal, request_id=rid)
        scope[CALLER] = caller

        async def send_with_headers(message: Message) -> None:
            # JSON-response mode starts the response after the tool ran, so its budget is known here.
            if message["type"] == "http.response.start":
                extra = caller.headers
                names = {k.lower().encode() for k in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + [(k.lower().encode(), v.encode()) for k, v in extra.items()]}
            await send(message)

        await self.sessions.handle_request(scope, replay(body), send_with_headers)


def invalid_request(body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC error for a request whose ``id`` is neither a string nor a number, which the SDK
    would otherwise take as a notification and answer with nothing; None when the body is fine for it."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the SDK answers a parse error itself
    for item in message if isinstance(message, list) else [message]:
        if isinstance(item, dict) and "method" in item and "id" in item:
            ident = item["id"]
            if isinstance(ident, bool) or not isinstance(ident, str | int):
                return {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "Invalid Request: id must be a string or an integer"},
                }
    return None


def replay(body: bytes) -> Receive:
    """A ``receive`` that hands the already-read body to the SDK, then waits for the disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # nothing more will come; the server cancels this when done
        return {"type": "http.disconnect"}

    return receive
