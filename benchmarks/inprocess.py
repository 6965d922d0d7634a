"""Calling an ASGI app straight, with no HTTP server: what the in-process benchmarks share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def asgi_caller(app: Any, path: str, api_key: str) -> Callable[[], Awaitable[tuple[int, int]]]:
    """A function making one request straight into the ASGI app; returns (status, body length)."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"x-auth-token", api_key.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def call() -> tuple[int, int]:
        status, size = 0, 0
        request: dict[str, Any] = {"type": "http.request", "body": b"", "more_body": False}
        disconnect = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal request
            if request:
                message, request = request, {}
                return message
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))

        await app(dict(scope_base), receive, send)
        return status, size

    return call
