"""MCP over stdio for one API key: what ``openstoq mcp`` serves to a local client."""

from __future__ import annotations

from mcp.server.stdio import stdio_server

from openstoq.context import Principal
from openstoq.mcp.server import Caller, build_server
from openstoq.runtime import Runtime


async def serve_stdio(runtime: Runtime, principal: Principal, token: str) -> None:
    """Serve the registry's tools on stdin/stdout until stdin closes. Every call acts as ``principal``,
    whose key ``token`` is checked again on each call."""
    caller = Caller(principal, token=token)
    server = build_server(runtime, lambda _ctx: caller)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
