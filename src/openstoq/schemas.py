"""What the documents and the MCP tools say of an action: its JSON Schemas (request, response, tool
input), inlined so each stands alone, and its description with aliases and notes."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel

from openstoq.registry import Action


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve ``$ref`` into ``$defs`` and drop the ``title`` keyword (not properties named title)."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        return {**target, **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "title"):
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


@cache
def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with every ``$ref`` resolved and titles dropped."""
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    if model.__doc__ and "description" not in inlined:
        inlined["description"] = model.__doc__.strip()
    return inlined


EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def request_schema(action: Action) -> dict[str, Any]:
    """The body schema of a write, the query schema of a read (path placeholders are not in it)."""
    return model_schema(action.request) if action.request is not None else EMPTY_OBJECT


def input_schema(action: Action) -> dict[str, Any]:
    """The request schema plus the path params, as one object: what an MCP tool takes."""
    schema = copy.deepcopy(request_schema(action))
    if action.params:
        properties = {p.name: dict(p.schema) for p in action.params}
        schema["properties"] = {**properties, **schema.get("properties", {})}
        schema["required"] = [p.name for p in action.params] + list(schema.get("required", []))
    schema.setdefault("type", "object")
    return schema


def response_schema(action: Action) -> dict[str, Any] | None:
    return model_schema(action.response) if action.response is not None else None


def describe(action: Action) -> str:
    """The description with aliases and notes, as OpenAPI and MCP tools show it."""
    parts = [action.description]
    if action.aliases:
        parts.append("Also known as: " + "; ".join(action.aliases) + ".")
    parts.extend(f"Note: {note}" for note in action.notes)
    return "\n\n".join(parts)
