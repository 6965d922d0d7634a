"""Tools generated from the registry: one per action, rebuilt only when the registry changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp.types as types

from openstoq.api.docs import describe
from openstoq.api.schemas import input_schema, response_schema
from openstoq.registry import Action, Registry


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


@dataclass(frozen=True, slots=True)
class ToolSet:
    version: int
    tools: list[types.Tool]
    actions: dict[str, Action]
    schemas: dict[str, dict[str, Any]]


class Catalog:
    """The registry as tools. Looked up on every request, rebuilt when ``registry.version`` moves,
    so an action added at any time is listed and callable without code here knowing about it."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._current: ToolSet | None = None

    def current(self) -> ToolSet:
        found = self._current
        if found is None or found.version != self.registry.version:
            version = self.registry.version  # read first: a change during the build triggers a rebuild
            actions = {a.tool_name: a for a in self.registry}
            tools = [tool(a) for a in actions.values()]
            found = self._current = ToolSet(version, tools, actions, {t.name: t.input_schema for t in tools})
        return found

    def action(self, name: str) -> Action | None:
        return self.current().actions.get(name)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        return self.current().schemas.get(name)
