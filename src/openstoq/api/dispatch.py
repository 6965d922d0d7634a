"""The one dispatcher for every path under the base path.

client → match method+path (or 404 in the published wording) → auth → rate limit → validate
→ handler in one transaction → bare JSON. Public documents and ``/help`` are answered here too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, get_args, get_origin

import orjson
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router, get_route_path
from starlette.types import Receive, Scope, Send

from openstoq.api.docs import Documents
from openstoq.api.middleware import request_id as middleware_request_id
from openstoq.errors import ActionError, NotFound, ValidationFailed
from openstoq.runtime import Runtime

log = logging.getLogger("openstoq.api")

JSON = "application/json"
PUBLIC_DOCUMENTS = {
    "/preorders/skill.md": ("skill:preorders", "text/markdown; charset=utf-8"),
    "/back_in_stock/skill.md": ("skill:back_in_stock", "text/markdown; charset=utf-8"),
    "/llms.txt": ("llms", "text/plain; charset=utf-8"),
    "/openapi.json": ("openapi", JSON),
}


def unknown_action(method: str, path: str) -> NotFound:
    return NotFound(f"No v2 action registered for {method} {path}")


def json_response(payload: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type=JSON)


def query_dict(model: type[BaseModel] | None, params: QueryParams) -> dict[str, Any]:
    """Query text as the model expects it: lists from repeated keys, ``key[]`` or commas."""
    out: dict[str, Any] = {}
    list_fields = {name for name, info in (model.model_fields if model else {}).items() if _is_list(info.annotation)}
    for key in params:
        name = key.removesuffix("[]")
        if name in list_fields:
            values = out.setdefault(name, [])
            for raw in params.getlist(key):
                values.extend(v for v in raw.split(",") if v)
        else:
            out[name] = params[key]
    return out


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in get_args(annotation))


class Dispatcher:
    """An ASGI app mounted at the base path: every request below it goes through ``dispatch``,
    except those for the ``handoff`` routes (endpoints under the base path that are not actions)."""

    def __init__(self, runtime: Runtime, handoff: Sequence[Route] = ()) -> None:
        self.runtime = runtime
        self.docs = Documents(runtime.registry, runtime.settings)
        self.handoff = Router(routes=list(handoff), default=self.serve)  # no route matched: an action path
        # "/mcp" is matched whole; "/downloads/{job_id}/{filename}" by what precedes its first parameter.
        self._handoff_paths = tuple(route.path.partition("{")[0] for route in handoff)

    def _handed_off(self, path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in self._handoff_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._handed_off(get_route_path(scope)):
            await self.handoff(scope, receive, send)
        else:
            await self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = middleware_request_id(scope)  # the middleware puts it on the response
        try:
            response = await self.dispatch(request)
        except ActionError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
            response = json_response(
                {"errors": [f"Internal error; quote request id {request_id} when reporting it"]},
                500,
                {},
            )
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        method = request.method
        # Mounted: the path below the base path (Starlette keeps the full path and sets root_path).
        full, root = request.scope["path"], request.scope.get("root_path", "")
        path = "/" + full.removeprefix(root).strip("/")
        if method in ("GET", "HEAD") and path in PUBLIC_DOCUMENTS:
            return self.document(path)
        runtime = self.runtime
        matched = runtime.registry.match(method, path)
        # `<prefix>/help` is scoped help unless an action declares that literal path: a placeholder
        # must not swallow it (GET /preorders/offers/help is help, not the offer with id "help").
        if method == "GET" and path.endswith("/help") and (matched is None or matched[0].segments[-1] != "help"):
            return await self.help(request, path.removesuffix("help"))
        if matched is None:
            raise unknown_action(method, path)
        action, values = matched
        principal = await runtime.authenticate(request.headers.get("x-auth-token"))
        body = b"" if action.is_read else await request.body()
        query = (
            query_dict(action.request, request.query_params)
            if action.is_read and request.scope["query_string"]
            else None
        )
        outcome = await runtime.invoke(
            principal,
            action,
            dict(zip((p.name for p in action.params), values, strict=True)),
            body=body,
            query=query,
            # Checked after the permission check and the rate limit, so the 400 carries the budget.
            content_type=None if action.is_read else request.headers.get("content-type", JSON),
        )
        return json_response(outcome.payload, outcome.status, outcome.headers)

    async def help(self, request: Request, prefix: str) -> Response:
        query = request.query_params
        unknown = [k for k in query if k != "prefix"]
        principal = await self.runtime.authenticate(request.headers.get("x-auth-token"))
        budget = await self.runtime.spend(principal, self.runtime.limiter.cost("GET"))
        if unknown:
            raise ValidationFailed(*(f"{k} is not a known field" for k in unknown), headers=budget.headers())
        prefix = query.get("prefix", prefix).rstrip("/")
        manifest = self.docs.help(prefix)
        if manifest is None:
            exc = unknown_action("GET", (prefix or "") + "/help")
            exc.headers = budget.headers()
            raise exc
        return Response(manifest, 200, budget.headers(), media_type=JSON)

    def document(self, path: str) -> Response:
        name, media_type = PUBLIC_DOCUMENTS[path]
        if name == "openapi":
            content = self.docs.openapi()
        elif name == "llms":
            content = self.docs.llms()
        else:
            content = self.docs.skill(name.removeprefix("skill:"))
        return Response(content, 200, media_type=media_type)
