"""sqlite3 on the event loop's own thread: request reads without a thread hop.

``LoopConnection`` is shaped like an aiosqlite connection for SQLAlchemy; ``LoopReads`` runs
prepared one-row reads (``prepared``); ``WriteMarker`` tells caches that something was written.

aiosqlite runs every call in a worker thread: a request's key lookup and one-row read cost
about nine thread hops, some 30 times the CPU of the queries themselves. In WAL mode a reader
never waits for a writer, so a short indexed read returns in microseconds and may run on the
loop directly. ``create_async_engine(url, async_creator=...)`` (public SQLAlchemy API) wraps
these connections with its aiosqlite adapter, so sessions, Core and the ORM work unchanged.

Only for short, bounded reads: a call here never yields to the loop, so a long scan (an export,
a report over every row) would stall every other request; those keep the threaded engine.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Dialect

from openstoq.db.prepared import Prepared
from openstoq.db.types import AnySelect

Params = Sequence[Any] | dict[str, Any]


class LoopCursor:
    """The aiosqlite cursor surface SQLAlchemy's adapter uses, each call run synchronously."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Params | None = None) -> Self:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Params]) -> Self:
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class LoopConnection:
    """The aiosqlite connection surface SQLAlchemy's adapter uses.

    ``_connection`` is the name the adapter checks (it is None once closed), as on aiosqlite.
    """

    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> LoopCursor:
        return LoopCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Params | None = None) -> LoopCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._conn.create_function(name, num_params, func, **kw)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _open(path: str, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    # Autocommit at the driver level: BEGINs come from SQLAlchemy's begin event, or not at all.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    setup(connection)
    return connection


def connector(path: str, setup: Callable[[sqlite3.Connection], None]) -> Callable[[], Any]:
    """The ``async_creator`` for ``path``: a new loop connection, set up by ``setup`` (pragmas)."""

    async def connect() -> LoopConnection:
        return LoopConnection(_open(path, setup))

    return connect


class LoopReads:
    """One-statement prepared reads on a sqlite3 connection each thread keeps.

    The driver is in autocommit, so each statement is its own snapshot.
    """

    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None], dialect: Dialect) -> None:
        self._path, self._setup, self._dialect = path, setup, dialect
        self._local = threading.local()
        self._prepared: weakref.WeakKeyDictionary[AnySelect, Prepared] = weakref.WeakKeyDictionary()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _open(self._path, self._setup)
        return connection

    def first(self, statement: AnySelect, params: dict[str, Any]) -> Any:
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = Prepared(statement, self._dialect)
        return prepared.first(self._connection(), params)

    def close(self) -> None:
        """Close the calling thread's connection (other threads' close when their thread ends)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            del self._local.connection


class WriteMarker:
    """16 bytes beside the database file that every committed write transaction replaces.

    Mapped into memory (shared between processes by the page cache), so reading it costs a
    memory copy where ``PRAGMA data_version`` costs a read transaction with its file locks.
    Caches of rows that rarely change (the API key cache) hold only while it is unchanged.
    A torn read only makes it look changed, which is safe.
    """

    SIZE = 16

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # as SQLite creates its own files
        try:
            if os.fstat(fd).st_size < self.SIZE:
                os.ftruncate(fd, self.SIZE)
            self._map = mmap.mmap(fd, self.SIZE)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return self._map[: self.SIZE]

    def bump(self) -> None:
        self._map[: self.SIZE] = os.urandom(self.SIZE)

    def close(self) -> None:
        self._map.close()
