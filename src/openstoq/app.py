"""The ASGI app: the API dispatcher under the base path, the platform's webhooks, the root documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from openstoq.api.dispatch import Dispatcher
from openstoq.composition import build_runtime
from openstoq.errors import ActionError
from openstoq.http import RequestIdMiddleware, error_response, request_id
from openstoq.inbound.webhooks import PATH as WEBHOOKS_PATH
from openstoq.inbound.webhooks import shopify_webhooks
from openstoq.jobs import engine as jobs_engine
from openstoq.jobs.exports import download_endpoint
from openstoq.jobs.signing import DOWNLOADS
from openstoq.mcp.http import McpEndpoint
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    jobs: jobs_engine.JobMode | None = None,
) -> Starlette:
    """Build the app on ``runtime`` (default: the product's features on ``settings``).

    ``jobs``: ``workers`` runs DBOS job workers in the app's lifespan, ``enqueue`` only enqueues jobs
    for workers elsewhere, None (tests) leaves DBOS alone: submitted jobs wait for a worker's sweep.
    """
    settings = settings or Settings()
    runtime = runtime or build_runtime(settings, deliver_inline=jobs != "enqueue")
    mcp = McpEndpoint(runtime)

    async def llms(_: Request) -> Response:
        return Response(dispatcher.docs.llms(), media_type="text/plain; charset=utf-8")

    async def root(_: Request) -> Response:
        return RedirectResponse(f"{BASE_PATH}/llms.txt")

    async def routing_error(request: Request, exc: Exception) -> Response:
        """Starlette's own 404 and 405 (outside the dispatcher), in the envelope."""
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
        error = ActionError(f"{detail}: {request.method} {request.url.path}", headers=getattr(exc, "headers", None))
        error.status = status
        return error_response(error, request_id(request.scope), "routing")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(mcp.run())  # the MCP session manager's task group
                if jobs is not None:
                    await stack.enter_async_context(jobs_engine.running(runtime, jobs, role="serve"))
                yield
        finally:
            await runtime.close()

    # Under the base path the dispatcher answers (the API's hot path: one prefix match); it hands the
    # two non-action endpoints there, MCP and the signed export links, to these routes.
    dispatcher = Dispatcher(
        runtime,
        handoff=[
            Route("/mcp", mcp),
            # Signed export links: no API key (the signature is the credential), so not an action.
            Route(f"{DOWNLOADS}/{{job_id}}/{{filename}}", download_endpoint(runtime), methods=["GET"]),
        ],
    )
    app = Starlette(
        routes=[
            Mount(BASE_PATH, app=dispatcher),
            Route("/", root),
            Route("/llms.txt", llms),
            Route(WEBHOOKS_PATH, shopify_webhooks(runtime), methods=["POST"]),  # outside the API base path
        ],
        exception_handlers={HTTPException: routing_error},
        middleware=[Middleware(RequestIdMiddleware)],  # X-Request-Id on every response, in or out of the API
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.mcp = mcp
    return app
