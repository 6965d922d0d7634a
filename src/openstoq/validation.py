"""Request models and how their errors read.

Every action's request is a pydantic model; the same model validates requests and produces the
JSON Schema shown in ``/help``, OpenAPI and MCP. Bodies are validated from JSON in strict mode
(``"1"`` is not an integer, ``1`` is not a boolean); query strings in lax mode (everything
arrives as text there).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError, PydanticUndefined

from openstoq.errors import BadRequest, ValidationFailed

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
Color = Annotated[str, Field(pattern=COLOR_PATTERN, examples=["#1a2b3c"])]
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Shopify ids (products, variants, orders, customers, line items...) are positive BIGINTs: the one
# bound every model, path and payload checks, so a larger number is a 422 and never a database error.
MAX_SHOPIFY_ID = 2**63 - 1
ShopifyId = Annotated[int, Field(ge=1, le=MAX_SHOPIFY_ID)]

# Patterns get a reading a person understands; anything else prints the pattern itself.
PATTERN_NAMES = {COLOR_PATTERN: "a #rrggbb colour"}


def _nul_paths(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds text with a NUL character, as field paths relative to it."""
    # PostgreSQL text cannot hold NUL; refuse it at the edge instead of failing in the database.
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(path or "body")
            found += _nul_paths(item, name)
        return found
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _nul_paths(item, f"{path}[{i}]")]
    return []


class RequestModel(BaseModel):
    """Base of every request model: unknown keys are errors, text never holds NUL."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    # An "after" check: a "before" validator would make JSON input validate in Python mode,
    # where strict mode refuses ISO strings for datetimes.
    @model_validator(mode="after")
    def _no_nul(self) -> Any:
        paths = _nul_paths(self.__dict__)
        if paths:
            raise PydanticCustomError("nul_text", "text must not contain NUL characters", {"paths": paths})
        return self


class EmptyBody(RequestModel):
    """An action that takes no body."""


M = TypeVar("M", bound=BaseModel)


def no_default(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for a PATCH key: optional, not nullable, and no default to show."""
    schema.pop("default", None)


def patch_key(**constraints: Any) -> Any:
    """A PATCH model's field: optional (a key not sent is left alone), never null, no default shown.

    Declared ``name: str = patch_key(...)``; handlers read what was sent with ``exclude_unset``, so
    the unset placeholder (None) is never seen as a value.
    """
    return Field(None, json_schema_extra=no_default, **constraints)


def partial_model(model: type[BaseModel], name: str | None = None) -> type[RequestModel]:
    """The deep-partial twin of ``model``: every key optional at every depth, none nullable.

    A key that is not sent is not touched; ``null`` is refused unless the full model allows it.
    The schema shows no defaults, since a PATCH has none.
    """
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = partial_model(annotation)
        fields[field_name] = (
            annotation,
            Field(
                default=None,
                description=info.description,
                json_schema_extra=no_default,
                **_constraints(info),
            ),
        )
    return create_model(name or f"{model.__name__}Patch", __base__=RequestModel, __doc__=model.__doc__, **fields)


def _constraints(info: Any) -> dict[str, Any]:
    """The pattern/bound constraints of a field, carried over to its partial twin."""
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for key in ("pattern", "ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(meta, key, None)
            if value is not None and value is not PydanticUndefined:
                out[key] = value
    return out


def _loc(error: ErrorDetails) -> str:
    """The field path as a person writes it: ``line_items[0].quantity``."""
    name = ""
    for part in error["loc"]:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "datetime_type": "an ISO 8601 date-time with offset",
    "datetime_parsing": "an ISO 8601 date-time with offset",
    "datetime_from_date_parsing": "an ISO 8601 date-time with offset",
    "timezone_aware": "an ISO 8601 date-time with offset",
    "date_type": "an ISO 8601 date (YYYY-MM-DD)",
    "date_parsing": "an ISO 8601 date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "an ISO 8601 date (YYYY-MM-DD)",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
    "none_required": "null",
}


def error_message(error: ErrorDetails) -> str:
    """One pydantic error as one sentence that names the field and the rule."""
    kind, loc, ctx = error["type"], _loc(error), error.get("ctx") or {}
    if kind == "missing":
        return f"{loc} is required"
    if kind == "nul_text":  # paths relative to the model that found them
        paths = [p if loc == "body" else f"{loc}.{p}" for p in ctx.get("paths", [])]
        return f"{', '.join(paths) or loc} must not contain NUL characters"
    if kind == "extra_forbidden":
        return f"{loc} is not a known field"
    if kind in ("literal_error", "enum"):
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or [str(ctx.get("expected"))]
        return f"{loc} must be one of: {', '.join(allowed)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return f"{loc} must be {PATTERN_NAMES.get(pattern, f'text matching {pattern}')}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return f"{loc} must not be empty" if n == 1 else f"{loc} must be at least {n} characters"
    if kind == "string_too_long":
        return f"{loc} must be at most {ctx.get('max_length')} characters"
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"{loc} must have {bound} {n} items"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"{loc} must be {bounds[kind]} {limit}"
    if kind in _TYPE_WORDS:
        return f"{loc} must be {_TYPE_WORDS[kind]}"
    if kind == "value_error":
        return f"{loc}: {ctx.get('error', error['msg'])}" if loc != "body" else str(ctx.get("error"))
    return f"{loc}: {error['msg']}"


def messages(exc: ValidationError) -> list[str]:
    seen: dict[str, None] = {}
    for error in exc.errors(include_url=False):
        seen.setdefault(error_message(error), None)
    return list(seen)


def validate_body(model: type[M], raw: bytes) -> M:
    """Validate a JSON body (bytes) against ``model``: 400 when it is not JSON, 422 listing every problem."""
    if not raw:  # no body at all (curl -X POST): the same as {}; whitespace alone is not JSON
        raw = b"{}"
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            detail = errors[0].get("ctx", {}).get("error", "invalid JSON")
            raise BadRequest(f"request body is not valid JSON: {detail}") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in errors):
            raise ValidationFailed("request body must be a JSON object") from None
        raise ValidationFailed(*messages(exc)) from None


def validate_query(model: type[M], params: dict[str, Any]) -> M:
    """Validate query parameters (text) against ``model``, converting types leniently."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(*messages(exc)) from None
