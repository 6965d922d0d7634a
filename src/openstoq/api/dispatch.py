"""The one dispatcher for every path under the base path.

client → match method+path (or 404 in the published wording) → auth → rate limit → validate
→ handler in one transaction → bare JSON. Public documents and ``/help`` are answered here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from openstoq.api.docs import Documents
from openstoq.errors import MethodNotAllowed, NotFound, ValidationFailed
from openstoq.http import JSON, error_response, json_response, read_body
from openstoq.http import request_id as middleware_request_id
from openstoq.runtime import Runtime

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DOCUMENT_TYPES = {"skill": "text/markdown; charset=utf-8", "llms": "text/plain; charset=utf-8", "openapi": JSON}


def unknown_action(method: str, path: str) -> NotFound:
    return NotFound(f"No v2 action registered for {method} {path}")


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
        self.docs = Documents(runtime.registry, runtime.settings, runtime.features.skills)
        self.handoff = Router(routes=list(handoff), default=self.serve)  # no route matched: an action path
        # "/mcp" is matched whole; "/downloads/{job_id}/{filename}" by what precedes its first parameter.
        self._handoff_paths = tuple(route.path.partition("{")[0] for route in handoff)
        self.documents = {
            "/llms.txt": "llms",
            "/openapi.json": "openapi",
            **{f"/{area}/skill.md": f"skill:{area}" for area in self.docs.areas},
        }

    def _handed_off(self, path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in self._handoff_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if self._handed_off(path):
            await self.handoff(scope, receive, send)
        else:
            await self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.dispatch(request)
        except Exception as exc:
            where = f"{request.method} {request.url.path}"
            response = error_response(exc, middleware_request_id(scope), where)  # the middleware echoes the id
        if request.method == "HEAD":  # a GET's headers, no body
            response.body = b""
        await response(scope, receive, send)

    def _path(self, request: Request) -> str:
        # Mounted: the path below the base path (Starlette keeps the full path and sets root_path).
        full: str = request.scope["path"]
        return "/" + full.removeprefix(request.scope.get("root_path", "")).strip("/")

    async def dispatch(self, request: Request) -> Response:
        path = self._path(request)
        method = "GET" if request.method == "HEAD" else request.method
        if method == "GET" and path in self.documents:
            return self.document(self.documents[path])
        runtime = self.runtime
        if method not in METHODS:
            allowed = runtime.registry.allowed_methods(path)
            if allowed:
                raise MethodNotAllowed(
                    f"{request.method} is not allowed on {path}; use {', '.join(allowed)}",
                    headers={"Allow": ", ".join([*allowed, "HEAD"] if "GET" in allowed else allowed)},
                )
            raise unknown_action(request.method, path)
        matched = runtime.registry.match(method, path)
        # `<prefix>/help` is scoped help unless an action declares that literal path: a placeholder
        # must not swallow it (GET /preorders/offers/help is help, not the offer with id "help").
        if method == "GET" and path.endswith("/help") and (matched is None or matched[0].segments[-1] != "help"):
            return await self.help(request, path.removesuffix("help"))
        if matched is None:
            raise unknown_action(method, path)
        action, values = matched
        principal = await runtime.authenticate(request.headers.get("x-auth-token"))
        body = b"" if action.is_read else await read_body(request, runtime.settings.max_body_bytes)
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

    def document(self, name: str) -> Response:
        if name == "openapi":
            content = self.docs.openapi()
        elif name == "llms":
            content = self.docs.llms()
        else:
            content = self.docs.skill(name.removeprefix("skill:"))
        return Response(content, 200, media_type=DOCUMENT_TYPES[name.partition(":")[0]])
