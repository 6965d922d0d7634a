"""The database engine and the two kinds of transaction every request uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from openstoq.db import loop_sqlite
from openstoq.db.types import AnySelect

# WAL lets readers run beside the one writer; a writer waits up to 30 s for the write lock.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000")


def _set_pragmas(dbapi_conn: Any) -> None:
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _explicit_begins(engine: AsyncEngine) -> None:
    """Explicit BEGINs, so a write transaction can take the lock up front.

    pysqlite opens transactions lazily and only before DML, which lets two read-modify-write
    transactions interleave; ``BEGIN IMMEDIATE`` makes a write transaction hold the write lock
    from its first read, the SQLite counterpart of ``SELECT ... FOR UPDATE``.
    """

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _threaded_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # autocommit in the driver: the begin event issues BEGINs
        _set_pragmas(dbapi_conn)

    _explicit_begins(engine)


FIRST_POOL_SIZE = 2  # a one-statement read holds its connection for one round trip


class Database:
    """The engine every transaction runs on, plus on SQLite the loop-thread paths for request reads.

    ``transaction`` runs on aiosqlite's worker thread (SQLite) or asyncpg (PostgreSQL): safe for
    writes, which may wait for the write lock, and for long reads. ``read_session`` and ``first``
    are for the short, bounded reads of one API request: on SQLite they run on the loop thread,
    because in WAL mode such a read takes microseconds and a thread hop costs far more.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 5) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            # Small by default: many API and worker processes share PostgreSQL's connection limit.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)
        self.engine = create_async_engine(url, **kwargs)
        self.request_engine = self.engine
        # PostgreSQL: ``first`` on a small pool of its own, in autocommit (one statement needs no BEGIN
        # and ROLLBACK) and without pre-ping (whose BEGIN, ping, ROLLBACK cost three round trips a read).
        self._first_engine = self.engine
        if not self.is_sqlite:
            self._first_engine = create_async_engine(
                url, echo=echo, pool_size=FIRST_POOL_SIZE, max_overflow=FIRST_POOL_SIZE, isolation_level="AUTOCOMMIT"
            )
        self._loop: loop_sqlite.LoopReads | None = None
        self._marker: loop_sqlite.WriteMarker | None = None
        if self.is_sqlite:
            path = parsed.database
            if not path or path == ":memory:":
                # Each connection to :memory: is a database of its own; requests, writes and jobs share one file.
                raise ValueError(f"{url}: openstoq needs a SQLite file, not an in-memory database")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _threaded_sqlite(self.engine)
            # Request reads on the loop thread, and the marker caches watch (see ``loop_sqlite``).
            self.request_engine = create_async_engine(url, async_creator=loop_sqlite.connector(path, _set_pragmas))
            _explicit_begins(self.request_engine)
            self._loop = loop_sqlite.LoopReads(path, _set_pragmas, self.engine.dialect)
            self._marker = loop_sqlite.WriteMarker(Path(f"{path}-written"))
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._request_reads = async_sessionmaker(self.request_engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        self._writes = async_sessionmaker(writer, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends cleanly, rolled back on any exception."""
        factory = self._writes if write else self._reads
        async with factory() as session, session.begin():
            yield session
        if write and self._marker is not None:
            self._marker.bump()  # after the commit: a cache that sees the old marker read before it

    def read_session(self) -> AsyncSession:
        """A read-only session for one API request (short, bounded reads only): it begins on its
        first query and is ended by ``close`` (a rollback: a read has nothing to commit)."""
        return self._request_reads()

    async def first(self, statement: AnySelect, params: dict[str, Any]) -> Any:
        """The first row of one short SELECT (attribute access by column key), or None.

        The per-request path: the key lookup, one-row reads. On SQLite a prepared statement on
        the loop thread's own connection, with no session, pool or thread hop (``loop_sqlite``);
        elsewhere SQLAlchemy Core. Each statement is its own snapshot, in no transaction.
        """
        if self._loop is not None:
            return self._loop.first(statement, params)
        try:
            return await self._first_on_server(statement, params)
        except DBAPIError as exc:
            # No pre-ping on this pool: a connection the server dropped (a restart) fails its first
            # use, SQLAlchemy then discards the pool's connections, and a read is safe to run again.
            if not exc.connection_invalidated:
                raise
            return await self._first_on_server(statement, params)

    async def _first_on_server(self, statement: AnySelect, params: dict[str, Any]) -> Any:
        async with self._first_engine.connect() as connection:
            return (await connection.execute(statement, params)).first()

    def write_marker(self) -> bytes | None:
        """A value that changes after every write transaction committed through any ``Database`` on
        this SQLite file, in any process; None on PostgreSQL, where no such signal exists yet."""
        return None if self._marker is None else self._marker.read()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._first_engine is not self.engine:
            await self._first_engine.dispose()
        if self.request_engine is not self.engine:
            await self.request_engine.dispose()
        if self._loop is not None:
            self._loop.close()
        if self._marker is not None:
            self._marker.close()
