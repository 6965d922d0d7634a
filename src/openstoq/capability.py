"""A capability: one named block of settings with defaults, merged by deep-partial PATCHes.

Offers carry twelve of them (``preorders.capabilities``). This module knows nothing of offers: a
block is read from the stored blocks of whatever owns it, with the defaults of every field it does
not store, so fields added in a later release read as their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import orjson
from pydantic import BaseModel

from openstoq.merge import lay


@dataclass(frozen=True)
class Capability:
    name: str
    model: type[BaseModel]  # the whole block, with the defaults a new owner starts from
    summary: str  # what the block holds, for action descriptions
    toggles: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @cached_property
    def default_json(self) -> bytes:
        # Built once: a pydantic dump costs ~50 µs per read, orjson.loads of these bytes ~1 µs.
        return orjson.dumps(self.model().model_dump(mode="json"))

    def defaults(self) -> dict[str, Any]:
        """A fresh copy of the defaults: callers may change it."""
        defaults: dict[str, Any] = orjson.loads(self.default_json)
        return defaults

    def block(self, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        """This capability's block out of the owner's stored blocks: defaults under what is stored."""
        return lay(self.defaults(), (stored or {}).get(self.name, {}))


def summaries(capabilities: Mapping[str, Capability], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every capability's block out of the stored blocks, in one parse of all the defaults (the
    offer read's hot spot: twelve pydantic dumps would cost more than the rest of the request)."""
    blocks: dict[str, Any] = orjson.loads(_all_defaults(tuple(capabilities.values())))
    for name, block in blocks.items():
        if stored and name in stored:
            lay(block, stored[name])
    return blocks


@cache
def _all_defaults(capabilities: tuple[Capability, ...]) -> bytes:
    return orjson.dumps({c.name: c.defaults() for c in capabilities})
