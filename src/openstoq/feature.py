"""Features and the one place they are composed.

A feature (preorders, ingest, ...) is a package that declares, in one ``Feature`` value, everything
it adds: action groups, offer capabilities, job kinds, webhook topics it handles, outbox commands,
periodic duties and skill documents. ``Features`` composes a list of them into the lookup tables
the runtime uses, refusing two features that claim the same name. ``openstoq.composition`` holds
the list; every process (serve, worker, mcp, each CLI command) builds its runtime from it, so every
process sees the same actions, capabilities, kinds and topics. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from openstoq.capability import Capability
from openstoq.clock import Clock
from openstoq.context import ActionContext, Source
from openstoq.db.engine import Database
from openstoq.errors import ValidationFailed
from openstoq.outbox import Command
from openstoq.registry import ActionGroup, Registry
from openstoq.settings import Settings
from openstoq.validation import messages

# --- job kinds: what a job does with its items (bulk) or which rows it writes (export) --------------------

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


# --- webhook topics, periodic duties, skill documents ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """A webhook topic a feature handles: its payload model and what it does to the shop's data.

    ``apply`` runs in the delivery's one write transaction and returns a short note for the
    acknowledgement. Several features may handle one topic; they run in the order features are listed.
    """

    name: str
    model: type[BaseModel]
    apply: Callable[[ActionContext, Any], Awaitable[str]]

    def parse(self, payload: dict[str, Any]) -> BaseModel:
        """The validated payload, or a 422 naming every problem."""
        try:
            return self.model.model_validate(payload)
        except ValidationError as exc:
            raise ValidationFailed(*(f"{self.name} payload: {m}" for m in messages(exc))) from None


class Services(Protocol):
    """What a periodic duty works with: the runtime, seen through what duties need of it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def db(self) -> Database: ...

    def shop_transaction(
        self, shop_id: str, *, source: Source, domain: str | None = None
    ) -> AbstractAsyncContextManager[ActionContext]: ...


@dataclass(frozen=True, slots=True)
class Duty:
    """Periodic work for the workers (every process that runs jobs runs every duty)."""

    name: str
    every: Callable[[Settings], float]  # seconds between two runs
    run: Callable[[Services], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill document (``/<area>/skill.md``): the area's actions in a table, after this guide."""

    area: str  # the path prefix, e.g. preorders
    title: str
    guide: str  # Markdown: the area's ideas and worked flows


@dataclass(frozen=True)
class Feature:
    name: str
    actions: tuple[ActionGroup, ...] = ()
    capabilities: tuple[Capability, ...] = ()  # offer capabilities, in the order reads list them
    job_kinds: tuple[Kind, ...] = ()
    topics: tuple[Topic, ...] = ()
    commands: tuple[Command, ...] = ()
    duties: tuple[Duty, ...] = ()
    skills: tuple[Skill, ...] = ()


def _unique(kind: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} {name} is declared by two features")
        seen.add(name)


class Features:
    """The composed features of a process: its registry and every lookup table, built once."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self.features = tuple(features)
        _unique("feature", (f.name for f in self.features))
        self.registry = Registry(action for f in self.features for group in f.actions for action in group.actions)
        every = [item for f in self.features for item in f.capabilities]
        _unique("capability", (c.name for c in every))
        self.capabilities: Mapping[str, Capability] = {c.name: c for c in every}
        kinds = [k for f in self.features for k in f.job_kinds]
        _unique("job kind", (k.name for k in kinds))
        self.job_kinds: Mapping[str, Kind] = {k.name: k for k in kinds}
        commands = [c for f in self.features for c in f.commands]
        _unique("outbox command", (c.kind for c in commands))
        self.commands: Mapping[str, Command] = {c.kind: c for c in commands}
        topics: dict[str, list[Topic]] = {}
        for topic in (t for f in self.features for t in f.topics):
            topics.setdefault(topic.name, []).append(topic)
        self.topics: Mapping[str, tuple[Topic, ...]] = {name: tuple(handlers) for name, handlers in topics.items()}
        self.duties: tuple[Duty, ...] = tuple(d for f in self.features for d in f.duties)
        _unique("duty", (d.name for d in self.duties))
        skills = [s for f in self.features for s in f.skills]
        _unique("skill", (s.area for s in skills))
        self.skills: Mapping[str, Skill] = {s.area: s for s in skills}

    def job_kind(self, name: str) -> Kind:
        """The kind, or a LookupError naming what this process is missing."""
        try:
            return self.job_kinds[name]
        except KeyError:
            raise LookupError(f"job kind {name} is declared by no feature of this process") from None

    def kinds_read_by(self, status_path: str) -> set[str]:
        """The kinds whose jobs the status action at ``status_path`` reads."""
        return {k.name for k in self.job_kinds.values() if k.status_path == status_path}
