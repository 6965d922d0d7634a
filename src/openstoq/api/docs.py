"""Documents generated from the registry: the /help manifest, OpenAPI, the skill documents, llms.txt.

Nothing here describes an action by hand. The registry is built once per process, so each
document is built on first use and served from a cache: ``/help`` costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from openstoq import __version__
from openstoq.api.skills import AREAS, llms_txt, skill_markdown
from openstoq.feature import Skill
from openstoq.registry import Action, Registry
from openstoq.schemas import describe, request_schema, response_schema
from openstoq.settings import BASE_PATH, Settings

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
}
RATE_LIMIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "retry_after", "message"],
    "properties": {
        "error": {"type": "string"},
        "retry_after": {"type": "integer", "minimum": 0},
        "message": {"type": "string"},
    },
}
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "base_path", "actions"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "v2"},
        "base_path": {"const": BASE_PATH},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "method", "path", "description", "aliases", "request_schema"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                    "path": {"type": "string"},
                    "description": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                    "path_params": {"type": "array", "items": {"type": "string"}},
                    "request_schema": {"type": "object"},
                    "notes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
ERROR_STATUSES = {
    "400": "Malformed request: the body is not JSON, or not sent as application/json",
    "401": "Missing or invalid API key",
    "403": "The API key is read-only",
    "404": "Unknown action, or no such object in this shop",
    "409": "Not allowed in the object's current state; the message says how to unblock it",
    "422": "The request does not match the action's request schema; every problem is listed",
}


class Documents:
    """Serialized documents by name, built on first use."""

    def __init__(self, registry: Registry, settings: Settings, skills: Mapping[str, Skill]) -> None:
        self.registry = registry
        self.settings = settings
        self.skills = skills
        self._cache: dict[str, bytes] = {}

    @property
    def areas(self) -> list[str]:
        """The product areas with a skill document: every area of the product, installed here or not yet."""
        return list(dict.fromkeys([*AREAS, *self.skills]))

    def get(self, name: str, build: Callable[[], bytes]) -> bytes:
        found = self._cache.get(name)
        if found is None:
            if len(self._cache) > 256:  # odd help prefixes must not pile up
                self._cache.clear()
            found = self._cache[name] = build()
        return found

    def help(self, prefix: str = "") -> bytes | None:
        """The manifest of actions under ``prefix`` (all when empty); None when none match."""

        def build() -> bytes:
            actions = self.registry.with_prefix(prefix)
            if not actions:
                return b""
            manifest = {"version": "v2", "base_path": BASE_PATH, "actions": [help_entry(a) for a in actions]}
            return orjson.dumps(manifest)

        return self.get(f"help:{prefix}", build) or None

    def openapi(self) -> bytes:
        return self.get("openapi", lambda: orjson.dumps(openapi(self.registry)))

    def skill(self, area: str) -> bytes:
        return self.get(
            f"skill:{area}", lambda: skill_markdown(self.registry, area, self.skills.get(area), self.settings).encode()
        )

    def llms(self) -> bytes:
        return self.get("llms", lambda: llms_txt(self.registry, self.areas, self.skills, self.settings).encode())


def help_entry(action: Action) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": action.name,
        "method": action.method,
        "path": action.path,
        "description": action.description,
        "aliases": list(action.aliases),
    }
    if action.params:
        entry["path_params"] = [p.name for p in action.params]  # their types and formats are in OpenAPI
    entry["request_schema"] = request_schema(action)
    if action.notes:
        entry["notes"] = list(action.notes)
    return entry


def _query_parameters(action: Action) -> list[dict[str, Any]]:
    schema = request_schema(action)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "description"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(action: Action) -> dict[str, Any]:
    success = "200" if action.is_read else "202"
    payload = response_schema(action) or {"type": "object"}
    responses: dict[str, Any] = {
        success: {"description": "OK" if action.is_read else "Accepted", "content": _json(payload)},
        **{code: {"description": text, "content": _json(ERROR_SCHEMA)} for code, text in ERROR_STATUSES.items()},
        "429": {"description": "Rate limit exceeded", "content": _json(RATE_LIMIT_SCHEMA)},
    }
    operation: dict[str, Any] = {
        "operationId": action.tool_name,
        "summary": action.description.split(". ")[0].rstrip("."),
        "description": describe(action),
        "tags": [action.segments[0]] if action.segments else [],
        "parameters": [{"name": p.name, "in": "path", "required": True, "schema": p.schema} for p in action.params],
        "responses": responses,
    }
    if action.is_read:
        operation["parameters"] += _query_parameters(action)
    else:
        body = request_schema(action)
        operation["requestBody"] = {"required": bool(body.get("required")), "content": _json(body)}
    return operation


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi(registry: Registry) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for action in registry:
        path = "/" + "/".join("{" + s[1:] + "}" if s.startswith(":") else s for s in action.segments)
        paths.setdefault(path, {})[action.method.lower()] = _operation(action)
    help_op = {
        "operationId": "help",
        "summary": "The manifest of every action, or of those under a path prefix",
        "parameters": [{"name": "prefix", "in": "query", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "OK", "content": _json(MANIFEST_SCHEMA)},
            **{
                code: {"description": ERROR_STATUSES[code], "content": _json(ERROR_SCHEMA)}
                for code in ("401", "404", "422")
            },
            "429": {"description": "Rate limit exceeded", "content": _json(RATE_LIMIT_SCHEMA)},
        },
    }
    paths["/help"] = {"get": help_op}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "openstoq: STOQ v2 external API",
            "version": __version__,
            "description": "Every operation is an action from one registry; see /help and /preorders/skill.md.",
        },
        "servers": [{"url": BASE_PATH}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
        },
        "paths": paths,
    }
