"""SELECTs compiled once by SQLAlchemy, run straight on a sqlite3 connection: the request fast path.

SQLAlchemy writes the SQL, orders the parameters and supplies every column's result processor
(UTC datetimes, JSON), so a row reads exactly as ``Connection.execute`` would read it. What is
left out is the per-execution machinery (cache key, execution context, result object), about
60 µs of a one-row read that takes 15 µs in the driver; on a request that is the largest cost
after the HTTP server itself (``benchmarks/offer_read.py``).

Only for SQLite and only for SELECTs with plain bound parameters (no expanding ``IN``).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable
from typing import Any

from sqlalchemy import Dialect

from openstoq.db.types import AnySelect


class Prepared:
    """One statement, compiled for ``dialect`` on first use and reused by every call."""

    __slots__ = ("_binds", "_processors", "_row", "sql")

    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError("a prepared statement needs a positional paramstyle (SQLite's qmark)")
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("expanding IN parameters are not supported by a prepared statement")
        self.sql = compiled.string
        self._binds = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup
        )
        columns = statement.selected_columns
        processors = (column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        # Only the columns that need converting (datetimes, JSON, booleans); the rest pass as they are.
        self._processors: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, process) for index, process in enumerate(processors) if process is not None
        )
        # Duplicate or unnamed keys become positional (_3): reachable by index, as in a Row.
        self._row = namedtuple("Row", [column.key or "_" for column in columns], rename=True)  # type: ignore[misc]

    def first(self, connection: sqlite3.Connection, params: dict[str, Any]) -> Any:
        """The first row (attribute access by column key), or None."""
        values = [params[name] if bind is None else bind(params[name]) for name, bind in self._binds]
        raw = connection.execute(self.sql, values).fetchone()
        if raw is None:
            return None
        row = list(raw)
        for index, process in self._processors:
            row[index] = process(row[index])
        return tuple.__new__(self._row, row)
