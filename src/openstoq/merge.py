"""Deep-partial merge, the one rule every capability PATCH follows."""

from __future__ import annotations

from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``patch`` laid over ``base``. Nested objects merge; absent keys stay; lists replace."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def changed_paths(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``{"badge.enabled": [old, new], ...}`` for every leaf that differs: what history records."""
    changes: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        path = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            changes.update(changed_paths(old, new, path + "."))
        elif old != new:
            changes[path] = [old, new]
    return changes
