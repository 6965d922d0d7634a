"""Job kinds: what a job does with its items (bulk) or which rows it writes (export).

A module declares its kinds next to its actions and registers them at import, so every process that
builds the registry (API or worker) knows every kind by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openstoq.context import ActionContext

ItemError = tuple[Any, str]  # an item that failed, and why
# Applies a batch of items in the caller's transaction; returns the items that failed (the others are done).
BulkRun = Callable[[ActionContext, Sequence[Any]], Awaitable[list[ItemError]]]
# One page of export rows after the keyset cursor (None: from the start), and the next cursor (None: done).
ExportPage = Callable[[ActionContext, dict[str, Any], Any, int], Awaitable[tuple[list[Sequence[Any]], Any]]]
ExportCount = Callable[[ActionContext, dict[str, Any]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class BulkKind:
    """A bulk action over items: ids ``<name>_<16 hex>``, e.g. ``bulk_sync_metafields_0123456789abcdef``."""

    name: str
    status_path: str  # the action path that reads its jobs, e.g. /preorders/product_variants/jobs
    item_key: str  # how an error names its item, e.g. variant_id
    run: BulkRun

    @property
    def prefix(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ExportKind:
    """A CSV export: ids ``exp_<16 hex>``; ends ``ready`` with a signed download link."""

    name: str
    status_path: str
    filename: str  # the download's file name, without the job id and extension
    header: tuple[str, ...]
    count: ExportCount
    page: ExportPage

    @property
    def prefix(self) -> str:
        return "exp"


Kind = BulkKind | ExportKind
_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if _KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"job kind {kind.name} is declared twice")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> Kind:
    """The kind, or a LookupError naming what this process is missing."""
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"job kind {name} is not registered in this process") from None


def read_by(status_path: str) -> set[str]:
    """The kinds whose jobs the status action at ``status_path`` reads."""
    return {k.name for k in _KINDS.values() if k.status_path == status_path}
