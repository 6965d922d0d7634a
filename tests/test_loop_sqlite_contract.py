"""The contract ``db.loop_sqlite.LoopConnection`` keeps with SQLAlchemy's aiosqlite adapter.

LoopConnection stands in for an aiosqlite connection: the adapter reads ``_connection`` (None once
closed) before it commits or rolls back, calls ``close`` to close and ``stop`` to terminate, and
reads ``isolation_level``. pyproject pins SQLAlchemy below the next minor release; when it moves,
these tests say whether the stand-in still fits, before any request path depends on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import text

from openstoq.db import loop_sqlite
from openstoq.db.engine import Database


@pytest.fixture
async def engine(tmp_path: Path):
    """The request engine exactly as ``Database`` builds it on SQLite."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}")
    yield db.request_engine
    await db.dispose()


def test_sqlalchemy_is_within_the_pinned_release() -> None:
    major, minor = (int(part) for part in sqlalchemy.__version__.split(".")[:2])
    assert (major, minor) == (2, 1), "LoopConnection was checked against SQLAlchemy 2.1: run this module, then repin"


async def test_the_adapter_runs_statements_commits_and_rolls_back(engine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("create table t (x integer)"))
        await connection.execute(text("insert into t values (1)"))
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("insert into t values (2)"))
        await transaction.rollback()
        assert (await connection.execute(text("select x from t"))).scalars().all() == [1]


async def test_the_driver_connection_is_the_loop_connection(engine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, loop_sqlite.LoopConnection)
        assert raw.driver_connection.isolation_level is None  # autocommit at the driver: BEGINs come from SQLAlchemy


async def test_commit_rollback_and_close_of_a_closed_connection_are_harmless(engine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, loop_sqlite.LoopConnection)
        driver.stop()  # what the adapter's terminate calls: _connection is None from now on

        def end(_: object) -> None:  # the adapter checks _connection first: none of these may raise
            adapted = raw.dbapi_connection
            assert adapted is not None
            adapted.commit()
            adapted.rollback()
            adapted.close()

        await connection.run_sync(end)
        await connection.invalidate()
    async with engine.connect() as connection:  # a fresh connection from the pool
        assert (await connection.execute(text("select 1"))).scalar() == 1


async def test_the_engine_terminates_and_disposes_cleanly(engine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("select 1"))
    await engine.dispose()
