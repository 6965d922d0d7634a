"""What a handler gets: the shop it acts for, its transaction, the clock and the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.clock import Clock
from openstoq.db.engine import Database
from openstoq.settings import Settings

Source = Literal["api", "mcp", "cli", "scheduler", "webhook"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the shop a key belongs to, and what the key may do."""

    shop_id: str
    domain: str
    key_id: str
    read_only: bool


class ActionContext:
    """The shop an action runs for, and its one transaction.

    Writes, jobs and the CLI give ``session`` open. An API read gives a factory instead, and the
    database as ``reads``: its session opens on first use (``close`` ends it), and ``first`` reads
    on the request fast path, so a read answered by ``first`` alone never opens a session.
    """

    __slots__ = ("_reads", "_session", "clock", "domain", "settings", "shop_id", "source")

    def __init__(
        self,
        shop_id: str,
        domain: str,
        session: AsyncSession | Callable[[], AsyncSession],
        clock: Clock,
        settings: Settings,
        source: Source = "api",
        reads: Database | None = None,
    ) -> None:
        self.shop_id = shop_id
        self.domain = domain
        self.clock = clock
        self.settings = settings
        self.source: Source = source
        self._session = session
        self._reads = reads

    @property
    def session(self) -> AsyncSession:
        if not isinstance(self._session, AsyncSession):
            self._session = self._session()
        return self._session

    async def first(self, statement: Select[Any], params: dict[str, Any]) -> Any:
        """The first row of one short SELECT (attribute access by column key), or None: on the
        request fast path (``Database.first``) for an API read, else in this context's transaction."""
        if self._reads is not None:
            return await self._reads.first(statement, params)
        return (await self.session.execute(statement, params)).first()

    async def close(self) -> None:
        """End the session of an API read, if it opened one (a rollback: a read has nothing to commit)."""
        if self._reads is not None and isinstance(self._session, AsyncSession):
            await self._session.close()
