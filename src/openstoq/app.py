"""The ASGI app: the API dispatcher under the base path, plus the root documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from openstoq.actions import build_registry
from openstoq.api.dispatch import Dispatcher
from openstoq.clock import Clock
from openstoq.registry import Registry
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings


def create_app(
    settings: Settings | None = None,
    *,
    registry: Registry | None = None,
    clock: Clock | None = None,
    runtime: Runtime | None = None,
) -> Starlette:
    """Build the app. Pass ``registry`` to serve extra actions (tests declare their own)."""
    settings = settings or Settings()
    runtime = runtime or Runtime(settings, registry or build_registry(), clock=clock)
    dispatcher = Dispatcher(runtime)

    async def llms(_: Request) -> Response:
        return Response(dispatcher.docs.llms(), media_type="text/plain; charset=utf-8")

    async def root(_: Request) -> Response:
        return RedirectResponse(f"{BASE_PATH}/llms.txt")

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"errors": [f"{exc.detail}: {request.method} {request.url.path}"]}, exc.status_code)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runtime.close()

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/llms.txt", llms),
            Mount(BASE_PATH, app=dispatcher),
        ],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
