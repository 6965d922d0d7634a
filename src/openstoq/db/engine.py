"""The database engine and the two kinds of transaction every request uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, and explicit BEGINs so a write transaction can take the lock up front.

    pysqlite opens transactions lazily and only before DML, which lets two read-modify-write
    transactions interleave; ``BEGIN IMMEDIATE`` makes a write transaction hold the write lock
    from its first read, the SQLite counterpart of ``SELECT ... FOR UPDATE``.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine, a session factory for reads and one for writes."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 5) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # Small by default: many API and worker processes share PostgreSQL's connection limit.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)
        self.engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        self._writes = async_sessionmaker(writer, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends cleanly, rolled back on any exception."""
        factory = self._writes if write else self._reads
        async with factory() as session, session.begin():
            yield session

    @asynccontextmanager
    async def core_read(self) -> AsyncIterator[AsyncConnection]:
        """A read on a bare connection, no ORM session: half the CPU of ``transaction`` for hot lookups."""
        async with self.engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
