"""The request read path: ``Database.first`` (prepared on SQLite), read sessions on the loop thread,
the write marker and the API key cache that relies on it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, select

from openstoq.clock import Clock
from openstoq.db.engine import Database
from openstoq.db.loop_sqlite import LoopConnection
from openstoq.db.models import ApiKey, Offer, Shop
from openstoq.db.prepared import Prepared
from openstoq.preorders.offers.service import READ as _READ
from openstoq.runtime import Runtime
from openstoq.shops import _PRINCIPAL, KeyCache, get_shop, hash_key, revoke_key
from tests.conftest import POSTGRES_URL, MakeShop, ShopKeys


async def core_first(db: Database, statement: Any, params: dict[str, Any]) -> Any:
    async with db.transaction(write=False) as session:
        return (await session.execute(statement, params)).first()


async def test_first_reads_exactly_what_core_reads(runtime: Runtime, shop: ShopKeys, offer: dict) -> None:
    db = runtime.db
    async with db.transaction(write=True) as session:
        row = await session.get(Offer, offer["id"])
        assert row is not None
        row.starts_at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        row.capabilities = {"widget": {"button_text": "Preorder ✨", "colors": {"text": "#ffffff"}}}
    params = {"shop_id": shop.shop_id, "offer_id": offer["id"]}
    fast, core = await db.first(_READ, params), await core_first(db, _READ, params)
    assert tuple(fast) == tuple(core)
    assert fast.starts_at == datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC) and fast.starts_at.tzinfo is not None
    assert fast.capabilities["widget"]["button_text"] == "Preorder ✨"
    assert fast.ends_at is None and fast.variant_count == 0

    digest = hash_key(shop.api_key)
    principal, core = (
        await db.first(_PRINCIPAL, {"digest": digest}),
        await core_first(db, _PRINCIPAL, {"digest": digest}),
    )
    assert tuple(principal) == tuple(core)
    assert principal.read_only is False  # a boolean, as Core returns it, not SQLite's 0


async def test_first_answers_none_when_no_row_matches(runtime: Runtime, shop: ShopKeys) -> None:
    assert await runtime.db.first(_READ, {"shop_id": shop.shop_id, "offer_id": "nothing"}) is None


def test_prepared_statements_refuse_expanding_in() -> None:
    from sqlalchemy.dialects import sqlite

    statement = select(Offer.id).where(Offer.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        Prepared(statement, sqlite.dialect())


async def test_rows_keep_duplicate_column_keys_by_position(runtime: Runtime, shop: ShopKeys) -> None:
    statement = (
        select(ApiKey.id, Shop.id).join(Shop, Shop.id == ApiKey.shop_id).where(ApiKey.key_hash == bindparam("digest"))
    )
    params = {"digest": hash_key(shop.api_key)}
    row = await runtime.db.first(statement, params)
    assert tuple(row) == tuple(await core_first(runtime.db, statement, params))
    assert row[1] == shop.shop_id


async def test_api_read_sessions_run_on_the_loop_thread_on_sqlite(runtime: Runtime, backend: str) -> None:
    session = runtime.db.read_session()
    try:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, LoopConnection) is (backend == "sqlite")
        assert (await session.execute(select(1))).scalar() == 1
    finally:
        await session.close()


def test_an_in_memory_sqlite_database_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a SQLite file"):
        Database("sqlite+aiosqlite:///:memory:")


async def test_the_write_marker_changes_after_a_commit_from_any_database_on_the_file(
    runtime: Runtime, backend: str, make_shop: MakeShop
) -> None:
    if backend != "sqlite":
        assert runtime.db.write_marker() is None
        return
    other = Database(runtime.db.url)  # another process's view of the same file
    try:
        before = runtime.db.write_marker()
        async with other.transaction(write=False):
            pass
        assert runtime.db.write_marker() == before, "a read changes nothing"
        with pytest.raises(RuntimeError):
            async with other.transaction(write=True):
                raise RuntimeError("rolled back")
        assert runtime.db.write_marker() == before, "a rolled-back write changes nothing"
        await new_shop_in(other, make_shop)
        assert runtime.db.write_marker() != before
    finally:
        await other.dispose()


async def new_shop_in(db: Database, _: MakeShop) -> None:
    from tests.conftest import new_shop

    await new_shop(db)


async def test_a_cached_key_is_refused_once_revoked_elsewhere(runtime: Runtime, shop: ShopKeys) -> None:
    cache = KeyCache(runtime.db)
    first = await cache.authenticate(shop.api_key)
    assert first is not None and first.shop_id == shop.shop_id
    assert await cache.authenticate(shop.api_key) == first  # from the cache while nothing is written
    other = Database(runtime.db.url)  # the CLI in another process
    try:
        async with other.transaction(write=True) as session:
            await revoke_key(session, await get_shop(session, shop.domain), shop.api_key, Clock().now())
    finally:
        await other.dispose()
    assert await cache.authenticate(shop.api_key) is None


async def test_the_key_cache_keeps_no_unknown_or_malformed_keys(runtime: Runtime) -> None:
    cache = KeyCache(runtime.db)
    unknown = "stoq_api_key_" + "0" * 32
    assert await cache.authenticate(unknown) is None
    assert await cache.authenticate("not a key") is None
    assert await cache.authenticate(None) is None
    assert hash_key(unknown) not in cache._principals


async def test_a_database_serves_threads_of_their_own(runtime: Runtime, shop: ShopKeys, backend: str) -> None:
    """SQLite loop connections belong to a thread: another thread, with its own loop, reads through
    its own. (An asyncpg pool belongs to one loop, so on PostgreSQL the thread opens its own Database.)"""
    import asyncio

    async def lookup() -> Any:
        db = runtime.db if backend == "sqlite" else Database(runtime.db.url)
        try:
            return await KeyCache(db).authenticate(shop.api_key), await db.first(_PRINCIPAL, {"digest": "none"})
        finally:
            if db is not runtime.db:
                await db.dispose()

    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(lookup())))
    thread.start()
    thread.join()
    principal, missing = results[0]
    assert principal is not None and principal.shop_id == shop.shop_id
    assert missing is None


async def test_first_survives_the_server_dropping_its_connections(
    runtime: Runtime, shop: ShopKeys, backend: str
) -> None:
    """PostgreSQL: ``first``'s pool has no pre-ping, so a read on a connection the server dropped
    (a restart, a failover) is run again on a fresh one instead of failing the request."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server connection to drop")
    import asyncpg

    digest = hash_key(shop.api_key)
    assert await runtime.db.first(_PRINCIPAL, {"digest": digest}) is not None  # the pool holds a connection now
    database = runtime.db.engine.url.database
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", database
        )
    finally:
        await admin.close()
    assert dropped >= 1
    row = await runtime.db.first(_PRINCIPAL, {"digest": digest})
    assert row is not None and row.shop_id == shop.shop_id
