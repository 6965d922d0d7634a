"""Actions and the registry they are declared in.

An action is declared once: name, method, path, description, aliases, notes, request model,
cost and handler. The dispatcher, ``/help``, the skill documents, ``llms.txt``, OpenAPI and the
MCP tools are all generated from the registry, so none of them can drift from what the API accepts.

A handler is typed from its signature::

    @actions.action("read", "GET", "/preorders/offers/:id", "Read one offer.")
    async def read_offer(ctx: ActionContext, _: None, *, id: OfferId) -> Payload: ...

Its second parameter receives the validated request model (``request=``; None when the action
takes none), and every ``:placeholder`` of the path is a keyword-only parameter annotated with a
``Placeholder`` (``OfferId = Annotated[str, uuid_placeholder("offer")]``): the declaration is refused
when the two disagree, and the type checker sees plain ``str`` and ``int`` arguments.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from pydantic import BaseModel

from openstoq.validation import MAX_SHOPIFY_ID, UUID_PATTERN

if TYPE_CHECKING:
    from openstoq.context import ActionContext

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Payload = dict[str, Any]  # what a handler returns: the bare JSON body
Handler = Callable[..., Awaitable[Payload]]

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")

_PLACEHOLDER = re.compile(r"^:([a-z_][a-z0-9_]*)$")
# Actions whose names say they remove or undo something the user cannot get back by reading.
DESTRUCTIVE_NAMES = frozenset({"discard", "cancel", "delete", "bulk_delete", "bulk_cancel", "refund"})


@dataclass(frozen=True, slots=True)
class Placeholder:
    """What a path placeholder holds: its JSON Schema and the noun an unknown value is reported as."""

    schema: dict[str, Any]
    noun: str

    def parse(self, raw: str) -> str | int | None:
        """The value, or None when the text cannot be one (the dispatcher answers 404)."""
        if self.schema.get("type") == "integer":
            value = int(raw) if re.fullmatch(r"[0-9]{1,19}", raw) else 0
            return value if 0 < value <= MAX_SHOPIFY_ID else None
        if self.schema.get("format") == "uuid":
            raw = raw.lower()
        pattern = self.schema.get("pattern")
        if pattern and not re.fullmatch(pattern, raw):
            return None
        return raw


def uuid_placeholder(noun: str) -> Placeholder:
    return Placeholder(
        {"type": "string", "format": "uuid", "pattern": UUID_PATTERN, "description": f"The {noun}'s id"}, noun
    )


def shopify_placeholder(noun: str) -> Placeholder:
    return Placeholder({"type": "integer", "minimum": 1, "description": f"The Shopify {noun} id"}, noun)


@dataclass(frozen=True, slots=True)
class PathParam:
    """A ``:placeholder`` of an action's path and the keyword argument its handler takes it as."""

    name: str
    placeholder: Placeholder

    @property
    def schema(self) -> dict[str, Any]:
        return self.placeholder.schema

    @property
    def noun(self) -> str:
        return self.placeholder.noun


def _path_params(path: str, handler: Handler) -> tuple[PathParam, ...]:
    """The handler's keyword-only parameters, which must be exactly the path's placeholders."""
    placeholders = [m.group(1) for s in path.split("/") if (m := _PLACEHOLDER.match(s))]
    hints = typing.get_type_hints(handler, include_extras=True)
    keywords = [p.name for p in inspect.signature(handler).parameters.values() if p.kind is p.KEYWORD_ONLY]
    if sorted(keywords) != sorted(placeholders):
        raise ValueError(
            f"{path}: handler {handler.__qualname__} takes keyword arguments {keywords}; the path has {placeholders}"
        )
    params = []
    for name in placeholders:
        found = [m for m in getattr(hints.get(name), "__metadata__", ()) if isinstance(m, Placeholder)]
        if not found:
            raise ValueError(f"{path}: handler {handler.__qualname__} must annotate {name} with a Placeholder")
        params.append(PathParam(name, found[0]))
    return tuple(params)


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
    cost: int | None = None  # None: the settings' read or write cost, by method
    destructive: bool | None = None  # None: decided by the name
    params: tuple[PathParam, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _path_params(self.path, self.handler))

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
    """All actions, matched by method and path (literal segments win over placeholders). Built once."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[tuple[str, str], Action] = {}
        self._tools: dict[str, Action] = {}
        self._root = _Node()
        for action in actions:
            self._add(action)

    def _add(self, action: Action) -> None:
        if action.key in self._actions:
            raise ValueError(f"{action.method} {action.path} is declared twice")
        if action.tool_name in self._tools:
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
        self._tools[action.tool_name] = action

    def __iter__(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def by_tool_name(self, name: str) -> Action | None:
        return self._tools.get(name)

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

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some action declares for ``path`` (for a 405's ``Allow``)."""
        return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if self.match(m, path) is not None]

    def with_prefix(self, prefix: str) -> list[Action]:
        prefix = "/" + prefix.strip("/")
        if prefix == "/":
            return list(self)
        return [a for a in self if a.path == prefix or a.path.startswith(prefix + "/")]


class ActionGroup:
    """A module's declarations, collected with the ``action`` decorator; a feature lists its groups."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    @overload
    def action(
        self,
        name: str,
        method: Method,
        path: str,
        description: str,
        *,
        request: type[M],
        aliases: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        response: type[BaseModel] | None = None,
        cost: int | None = None,
        destructive: bool | None = None,
    ) -> Callable[
        [Callable[Concatenate[ActionContext, M, P], Awaitable[Payload]]],
        Callable[Concatenate[ActionContext, M, P], Awaitable[Payload]],
    ]: ...

    @overload
    def action(
        self,
        name: str,
        method: Method,
        path: str,
        description: str,
        *,
        request: None = None,
        aliases: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        response: type[BaseModel] | None = None,
        cost: int | None = None,
        destructive: bool | None = None,
    ) -> Callable[
        [Callable[Concatenate[ActionContext, None, P], Awaitable[Payload]]],
        Callable[Concatenate[ActionContext, None, P], Awaitable[Payload]],
    ]: ...

    def action(
        self,
        name: str,
        method: Method,
        path: str,
        description: str,
        *,
        request: type[BaseModel] | None = None,
        aliases: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        response: type[BaseModel] | None = None,
        cost: int | None = None,
        destructive: bool | None = None,
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.actions.append(
                Action(
                    name,
                    method,
                    path,
                    description,
                    handler,
                    aliases=aliases,
                    notes=notes,
                    request=request,
                    response=response,
                    cost=cost,
                    destructive=destructive,
                )
            )
            return handler

        return declare
