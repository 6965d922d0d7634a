"""Deep-partial merge, the one rule every capability PATCH follows."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``patch`` laid over ``base``. Nested objects merge; absent keys stay; lists replace.

    The result shares nothing with its inputs, so changing it can never reach ``base`` or ``patch``.
    """
    return lay(copy.deepcopy(base), patch)


def lay(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``deep_merge`` into ``target`` itself (for a ``target`` the caller owns): returns it."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            lay(current, value)
        else:
            # Only containers need copying: strings, numbers, booleans and None are immutable.
            target[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return target


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
