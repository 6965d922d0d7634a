"""Actions and the registry they are declared in.

An action is declared once: name, method, path, description, aliases, notes, request model,
cost and handler. The dispatcher, ``/help``, the skill documents, ``llms.txt``, OpenAPI and the
MCP tools are all generated from the registry, so none of them can drift from what the API accepts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from openstoq.context import ActionContext

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Params = dict[str, Any]  # path placeholders, parsed
Payload = dict[str, Any]  # what a handler returns: the bare JSON body
Handler = Callable[["ActionContext", Params, Any], Awaitable[Payload]]

_PLACEHOLDER = re.compile(r"^:([a-z_][a-z0-9_]*)$")
# Actions whose names say they remove or undo something the user cannot get back by reading.
DESTRUCTIVE_NAMES = frozenset({"discard", "cancel", "delete", "bulk_delete", "bulk_cancel", "refund"})


@dataclass(frozen=True, slots=True)
class PathParam:
    """A ``:placeholder`` in an action's path: its JSON Schema and how to read it from text."""

    name: str
    schema: dict[str, Any]
    noun: str = ""  # what the value names, for "Offer 123 not found"

    @property
    def description(self) -> str:
        return str(self.schema.get("description", ""))

    def parse(self, raw: str) -> str | int | None:
        """The value, or None when the text cannot be one (the dispatcher answers 404)."""
        if self.schema.get("type") == "integer":
            value = int(raw) if re.fullmatch(r"[0-9]{1,19}", raw) else 0
            return value if 0 < value < 2**63 else None
        if self.schema.get("format") == "uuid":
            raw = raw.lower()
        pattern = self.schema.get("pattern")
        if pattern and not re.fullmatch(pattern, raw):
            return None
        return raw


UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def uuid_param(name: str, noun: str) -> PathParam:
    schema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN, "description": f"The {noun}'s id"}
    return PathParam(name, schema, noun)


def shopify_id_param(name: str, noun: str) -> PathParam:
    return PathParam(name, {"type": "integer", "minimum": 1, "description": f"The Shopify {noun} id"}, noun)


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    method: Method
    path: str
    description: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # The body model for writes, the query model for reads; None when the action takes neither.
    request: type[BaseModel] | None = None
    # The success payload's model, for OpenAPI and MCP output schemas (handlers return plain data).
    response: type[BaseModel] | None = None
    params: tuple[PathParam, ...] = ()
    cost: int | None = None  # None: the settings' read or write cost, by method
    destructive: bool | None = None  # None: decided by the name
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        placeholders = [m.group(1) for s in self.segments if (m := _PLACEHOLDER.match(s))]
        declared = [p.name for p in self.params]
        missing = [p for p in placeholders if p not in declared]
        if missing:
            # Undeclared placeholders are plain strings.
            undeclared = tuple(PathParam(n, {"type": "string"}, n) for n in missing)
            object.__setattr__(self, "params", self.params + undeclared)
        extra = set(declared) - set(placeholders)
        if extra:
            raise ValueError(f"{self.method} {self.path}: params {sorted(extra)} are not in the path")

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    @property
    def is_read(self) -> bool:
        return self.method == "GET"

    @property
    def is_destructive(self) -> bool:
        return self.name in DESTRUCTIVE_NAMES if self.destructive is None else self.destructive

    @property
    def param(self) -> dict[str, PathParam]:
        return {p.name: p for p in self.params}

    @property
    def tool_name(self) -> str:
        """Literal path segments joined by ``_``, plus the action name unless it is the last segment."""
        literal = [s for s in self.segments if not s.startswith(":")]
        if not literal or literal[-1] != self.name:
            literal.append(self.name)
        return "_".join(literal)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


class _Node:
    __slots__ = ("actions", "literal", "placeholder")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.placeholder: _Node | None = None
        self.actions: dict[str, Action] = {}


class Registry:
    """All actions, matched by method and path (literal segments win over placeholders)."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[tuple[str, str], Action] = {}
        self._root = _Node()
        self.version = 0  # bumped on every change, so generated documents know when to rebuild
        for action in actions:
            self.add(action)

    def add(self, action: Action) -> Action:
        if action.key in self._actions:
            raise ValueError(f"{action.method} {action.path} is declared twice")
        names = {a.tool_name for a in self._actions.values()}
        if action.tool_name in names:
            raise ValueError(f"tool name {action.tool_name} is taken")
        node = self._root
        for segment in action.segments:
            if segment.startswith(":"):
                node.placeholder = node.placeholder or _Node()
                node = node.placeholder
            else:
                node = node.literal.setdefault(segment, _Node())
        node.actions[action.method] = action
        self._actions[action.key] = action
        self.version += 1
        return action

    def __iter__(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def by_tool_name(self, name: str) -> Action | None:
        return next((a for a in self._actions.values() if a.tool_name == name), None)

    def match(self, method: str, path: str) -> tuple[Action, list[str]] | None:
        """The action for ``method path`` and the raw placeholder values, or None."""
        segments = [s for s in path.split("/") if s]
        return self._walk(self._root, method, segments, 0, [])

    def _walk(
        self, node: _Node, method: str, segments: list[str], i: int, values: list[str]
    ) -> tuple[Action, list[str]] | None:
        if i == len(segments):
            action = node.actions.get(method)
            return (action, values) if action else None
        child = node.literal.get(segments[i])
        if child is not None and (hit := self._walk(child, method, segments, i + 1, values)):
            return hit
        if node.placeholder is not None:
            return self._walk(node.placeholder, method, segments, i + 1, [*values, segments[i]])
        return None

    def with_prefix(self, prefix: str) -> list[Action]:
        prefix = "/" + prefix.strip("/")
        if prefix == "/":
            return list(self)
        return [a for a in self if a.path == prefix or a.path.startswith(prefix + "/")]


class ActionGroup:
    """A module's declarations, collected with the ``action`` decorator and added to a registry later."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def action(
        self, name: str, method: Method, path: str, description: str, **kwargs: Any
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.actions.append(Action(name, method, path, description, handler, **kwargs))
            return handler

        return declare

    def add(self, action: Action) -> None:
        self.actions.append(action)
