"""What a handler gets: the shop it acts for, its transaction, the clock, the settings, the
features this process was composed of, and the outbox its side effects leave through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.capability import Capability
from openstoq.clock import Clock
from openstoq.db.engine import Database
from openstoq.db.types import AnySelect
from openstoq.settings import Settings

Source = Literal["api", "mcp", "cli", "scheduler", "webhook", "job", "outbox"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the shop a key belongs to, and what the key may do."""

    shop_id: str
    domain: str
    key_id: str
    read_only: bool


class Composed(Protocol):
    """What a handler may ask of the features this process was built from (``feature.Features``)."""

    @property
    def capabilities(self) -> Mapping[str, Capability]: ...

    def kinds_read_by(self, status_path: str) -> set[str]: ...


class Enqueuer(Protocol):
    """The job engine running in this process, as submitting a job needs it (``jobs.submit``)."""

    def spawn(self, work: Awaitable[Any]) -> None: ...

    async def enqueue(self, job_id: str) -> None: ...


class Outbox:
    """The side effects a write transaction decided: ``(kind, payload)`` commands, each once.

    The runtime writes them as outbox rows in the same transaction and delivers them after it
    commits (``openstoq.outbox``); nothing here talks to the platform or anyone else.
    """

    __slots__ = ("_commands",)

    def __init__(self) -> None:
        self._commands: dict[bytes, tuple[str, dict[str, Any]]] = {}

    def add(self, kind: str, payload: Mapping[str, Any] | None = None) -> None:
        body = dict(payload or {})
        self._commands.setdefault(orjson.dumps([kind, body], option=orjson.OPT_SORT_KEYS), (kind, body))

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(list(self._commands.values()))

    def __len__(self) -> int:
        return len(self._commands)

    def clear(self) -> None:
        self._commands.clear()


class ActionContext:
    """The shop an action runs for, and its one transaction.

    Writes, jobs and the CLI give ``session`` open, and an ``outbox``. An API read gives a factory
    instead, and the database as ``reads``: its session opens on first use (``close`` ends it), and
    ``first`` reads on the request fast path, so a read answered by ``first`` alone never opens a
    session. A read has no outbox: deciding a side effect in a read is a bug.
    """

    __slots__ = (
        "_outbox",
        "_reads",
        "_session",
        "clock",
        "domain",
        "features",
        "jobs",
        "settings",
        "shop_id",
        "source",
    )

    def __init__(
        self,
        shop_id: str,
        domain: str,
        session: AsyncSession | Callable[[], AsyncSession],
        *,
        clock: Clock,
        settings: Settings,
        features: Composed,
        source: Source = "api",
        reads: Database | None = None,
        outbox: Outbox | None = None,
        jobs: Enqueuer | None = None,
    ) -> None:
        self.shop_id = shop_id
        self.domain = domain
        self.clock = clock
        self.settings = settings
        self.features = features
        self.source: Source = source
        self._session = session
        self._reads = reads
        self._outbox = outbox
        self.jobs = jobs  # the job engine of this process, when one runs here

    @property
    def session(self) -> AsyncSession:
        if not isinstance(self._session, AsyncSession):
            self._session = self._session()
        return self._session

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("a read decided a side effect: only write transactions have an outbox")
        return self._outbox

    async def first(self, statement: AnySelect, params: dict[str, Any]) -> Any:
        """The first row of one short SELECT (attribute access by column key), or None: on the
        request fast path (``Database.first``) for an API read, else in this context's transaction."""
        if self._reads is not None:
            return await self._reads.first(statement, params)
        return (await self.session.execute(statement, params)).first()

    async def close(self) -> None:
        """End the session of an API read, if it opened one (a rollback: a read has nothing to commit)."""
        if self._reads is not None and isinstance(self._session, AsyncSession):
            await self._session.close()
