"""Minimal valid requests built from an action's published request schema (not from hand-kept lists).

Used by the discovery and isolation tests to call every registered action generically: whatever a
new action declares, these helpers produce a body its own schema accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import httpx
from hypothesis import find, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from openstoq.app import create_app
from openstoq.registry import Action
from openstoq.schemas import request_schema
from openstoq.settings import Settings

FUTURE = "2099-01-01T09:00:00Z"


def example_value(schema: dict[str, Any]) -> Any:
    """One value the schema accepts: its example, first enum member, or the smallest that fits."""
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            branches = [b for b in schema[combinator] if b.get("type") != "null"]
            return example_value(branches[0])
    kind = schema.get("type")
    if kind == "object":
        return minimal_object(schema)
    if kind == "array":
        return [example_value(schema.get("items", {"type": "string"}))] * schema.get("minItems", 0)
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        return min(1, schema.get("maximum", 1))
    if kind == "string":
        if schema.get("format") == "date-time":
            return FUTURE
        if schema.get("format") == "date":
            return FUTURE[:10]
        if "pattern" in schema:
            return simplest_match(schema["pattern"])
        return "x" * max(1, schema.get("minLength", 1))
    raise AssertionError(f"no example for schema {schema}")


@cache
def simplest_match(pattern: str) -> str:
    """The simplest text matching ``pattern`` (deterministic: hypothesis shrinks to it)."""
    strategy = st.from_regex(pattern, fullmatch=True)
    return find(strategy, lambda _: True, settings=settings(database=None, derandomize=True))


def minimal_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The required properties; when none are required, the first property (an empty body may mean
    "nothing to do", which some actions refuse)."""
    properties: dict[str, Any] = schema.get("properties", {})
    names = list(schema.get("required", [])) or list(properties)[:1]
    return {name: example_value(properties[name]) for name in names}


def minimal_body(action: Action) -> dict[str, Any]:
    """A body (writes) or query (reads: only the required keys) that the action's request schema accepts."""
    schema = request_schema(action)
    if action.is_read:
        return {name: example_value(schema["properties"][name]) for name in schema.get("required", [])}
    return minimal_object(schema)


def concrete_path(action: Action, **values: object) -> str:
    """The action's path with its ``:placeholders`` filled in: from ``values``, else an example of the param."""
    for param in action.params:
        values.setdefault(param.name, example_value(param.schema))
    return "/" + "/".join(str(values[s[1:]]) if s.startswith(":") else s for s in action.segments)


async def call(client: httpx.AsyncClient, action: Action, path: str, request: dict[str, Any]) -> httpx.Response:
    """Send ``request`` the way the action takes it: as the query of a read, the JSON body of a write."""
    if action.is_read:
        return await client.get(path, params=request)
    return await client.request(action.method, path, json=request)


@asynccontextmanager
async def unlimited_app(base: Settings) -> AsyncIterator[Starlette]:
    """An app on the same database whose rate limit a sweep over every action cannot reach."""
    app = create_app(base.model_copy(update={"rate_limit_points": 1_000_000}))
    try:
        yield app
    finally:
        await app.state.runtime.close()
