"""The low-level MCP server built from a Runtime: tools/list and tools/call, nothing per tool.

A call splits its arguments into path params and the rest (a write's JSON body, a read's query)
and runs ``Runtime.invoke``: the same permission check, points, validation, transaction and
handler as the HTTP action. Failures come back as tool errors carrying the HTTP error body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mcp.types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from openstoq import __version__
from openstoq.context import Principal
from openstoq.errors import ActionError, ValidationFailed, as_action_error
from openstoq.mcp.tools import Catalog
from openstoq.registry import Action
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH

INSTRUCTIONS = (
    "Each tool is one action of the STOQ v2 external API, acting on the shop the API key belongs to. "
    "Pick the tool whose description or aliases match the intent. Settings change through the "
    "capability's update tool (send only what changes); side effects are named tools. A failed call "
    'answers {"errors": [...]} naming the field and the rule, or what would unblock it. '
    f"Flows and conventions: {BASE_PATH}/preorders/skill.md."
)


@dataclass(slots=True)
class Caller:
    """Who a call runs for; ``headers`` collects the last call's rate-limit headers for HTTP to echo."""

    principal: Principal
    # stdio keeps one key for the life of the process: re-check it on every call, so a key revoked
    # meanwhile is refused at once (HTTP authenticates each request before the call instead).
    token: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    headers: dict[str, str] = field(default_factory=dict)


# Finds the caller of a request: the authenticated HTTP request's, or the one stdio key's.
CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]


def split(action: Action, arguments: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Path params (as the text a URL would carry) and everything else."""
    rest = dict(arguments)
    missing = [p.name for p in action.params if rest.get(p.name) is None]
    if missing:
        raise ValidationFailed(*(f"{name} is required" for name in missing))
    return {p.name: str(rest.pop(p.name)) for p in action.params}, rest


def error_result(exc: ActionError) -> types.CallToolResult:
    """The HTTP error body (the same messages, the 429's retry_after) plus the HTTP ``status`` it would
    have had: a tool error has no status line, and ``403`` or ``409`` is what an agent acts on."""
    text = orjson.dumps({"status": exc.status, **exc.body()}).decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


async def call(runtime: Runtime, caller: Caller, action: Action, arguments: dict[str, Any]) -> types.CallToolResult:
    try:
        if caller.token is not None:
            caller.principal = await runtime.authenticate(caller.token)
        params, rest = split(action, arguments)
        outcome = await runtime.invoke(
            caller.principal,
            action,
            params,
            body=b"" if action.is_read else orjson.dumps(rest),
            query=rest if action.is_read else None,
            source="mcp",
        )
    except Exception as exc:
        error = as_action_error(exc, caller.request_id, f"tool {action.tool_name}")
        caller.headers.update(error.headers)
        return error_result(error)
    caller.headers.update(outcome.headers)
    text = orjson.dumps(outcome.payload).decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=outcome.payload)


def build_server(runtime: Runtime, caller_of: CallerOf) -> Server[Any]:
    """A low-level server whose tools are the runtime's registry."""
    catalog = Catalog(runtime.registry)

    async def list_tools(
        _ctx: ServerRequestContext[Any, Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=catalog.tools)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        action = catalog.action(params.name)
        if action is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        return await call(runtime, caller_of(ctx), action, params.arguments or {})

    return Server(
        "openstoq",
        version=__version__,
        title="openstoq: STOQ v2 external API",
        instructions=INSTRUCTIONS,
        # The schema for the 2026 transport's Mcp-Param header check, without running tools/list per call.
        get_tool_input_schema=catalog.input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
