"""MCP over streamable HTTP at ``/api/v2/external/mcp``: the key is checked before the SDK sees the request.

Stateless, JSON-response mode: no session lives in a process, so any number of API processes can
serve one client behind a load balancer, and each POST is answered with one JSON body.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from mcp.server import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from openstoq.api.middleware import request_id
from openstoq.errors import ActionError, Unauthorized
from openstoq.mcp.server import Caller, build_server
from openstoq.runtime import Runtime

log = logging.getLogger("openstoq.mcp")

CALLER = "openstoq.mcp.caller"  # the scope key the authenticated caller travels under
MISSING_KEY = "Missing API key: send it in the X-Auth-Token header or as Authorization: Bearer <key>"


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
        headers = Headers(scope=scope)
        rid = request_id(scope)  # the middleware puts it on the response
        try:
            token = presented_key(headers)
            if not token:
                raise Unauthorized(MISSING_KEY)
            principal = await self.runtime.authenticate(token)
        except ActionError as exc:
            await _json(exc.body(), exc.status)(scope, receive, send)
            return
        except Exception:
            log.exception("MCP authentication failed (request %s)", rid)
            body = {"errors": [f"Internal error; quote request id {rid} when reporting it"]}
            await _json(body, 500)(scope, receive, send)
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

        await self.sessions.handle_request(scope, receive, send_with_headers)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
