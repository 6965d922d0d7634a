"""Deep-partial merge, the one rule every capability PATCH follows."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``patch`` laid over ``base``. Nested objects merge; absent keys stay; lists replace.

    The result shares nothing with its inputs, so changing it can never reach ``base`` or ``patch``.
    """
    merged = copy.deepcopy(base)
    _lay(merged, patch)
    return merged


def _lay(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _lay(current, value)
        else:
            target[key] = copy.deepcopy(value)


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
