"""Tools generated from the registry: one per action, built once (the registry is built once too)."""

from __future__ import annotations

from typing import Any

import mcp.types as types

from openstoq.registry import Action, Registry
from openstoq.schemas import describe, input_schema, response_schema


def tool(action: Action) -> types.Tool:
    """The tool for ``action``: its name, generated description, input and output schemas, hints."""
    if action.is_read:
        annotations = types.ToolAnnotations(read_only_hint=True)
    else:
        annotations = types.ToolAnnotations(read_only_hint=False, destructive_hint=action.is_destructive)
    return types.Tool(
        name=action.tool_name,
        description=describe(action),
        input_schema=input_schema(action),
        output_schema=response_schema(action),
        annotations=annotations,
    )


class Catalog:
    """The registry as tools: the list ``tools/list`` answers, and each tool's action and input schema."""

    def __init__(self, registry: Registry) -> None:
        self.actions: dict[str, Action] = {a.tool_name: a for a in registry}
        self.tools = [tool(a) for a in self.actions.values()]
        self._schemas: dict[str, dict[str, Any]] = {t.name: t.input_schema for t in self.tools}

    def action(self, name: str) -> Action | None:
        return self.actions.get(name)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        return self._schemas.get(name)
