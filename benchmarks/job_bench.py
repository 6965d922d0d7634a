"""Shared by the job benchmarks: a fresh database, a real ``openstoq serve``, fast seeding, /proc readings.

Seeding writes rows straight into the database (sqlite3 ``executemany``, PostgreSQL ``COPY``): a
million rows in seconds, where the API would take minutes. Everything listens on 127.0.0.1 and is
removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import procs
from procs import BIN, Server, openstoq_serve

BASE_PATH = "/api/v2/external"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
SEED_CHUNK = 50_000


async def _pg(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def workspace(backend: str, pg_base: str = DEFAULT_PG) -> Iterator[dict[str, str]]:
    """The environment of a fresh openstoq: a temp data dir, and a fresh PostgreSQL database when asked."""
    data = Path(tempfile.mkdtemp(prefix="openstoq-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTOQ_")}
    env.update(OPENSTOQ_DATA_DIR=str(data), PYTHONUNBUFFERED="1", COLUMNS="200", OPENSTOQ_LOG_LEVEL="warning")
    name = f"openstoq_bench_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        asyncio.run(_pg(pg_base, f'CREATE DATABASE "{name}"'))
        env["OPENSTOQ_DATABASE_URL"] = f"{pg_base}/{name}"
    try:
        yield env
    finally:
        if backend == "postgresql":
            asyncio.run(_pg(pg_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(data, ignore_errors=True)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "openstoq"), *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"openstoq {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def new_shop(env: dict[str, str]) -> dict[str, str]:
    cli(env, "db", "upgrade")
    return dict(json.loads(cli(env, "shops", "create", "bench", "--json")))


def serve(env: dict[str, str], *args: str) -> Server:
    """``openstoq serve`` on a free loopback port, with its output in the data dir."""
    return openstoq_serve(env, Path(env["OPENSTOQ_DATA_DIR"]) / "serve.log", *args)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start), in kB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", text).group(1)) for key in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a server process; the job benchmarks read /proc, so they need Linux."""
    used = procs.cpu_seconds(pid)
    if used is None:
        raise RuntimeError("the job benchmarks read /proc/<pid>/stat: run them on Linux")
    return used


def wait_for_job(url: str, headers: dict[str, str], status_url: str, deadline: float) -> dict[str, Any]:
    while True:
        status = httpx.get(url + status_url, headers=headers, timeout=30).json()
        if status["status"] != "running":
            return dict(status)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job still running at the deadline: {status}")
        time.sleep(0.2)


# --- seeding ------------------------------------------------------------------------------------------------


def _sqlite_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DateTime on SQLite


def seed(env: dict[str, str], shop_id: str, variant_ids: Iterable[int], *, offer: bool) -> str | None:
    """Insert variants (and, with ``offer``, one enabled offer with all of them attached); returns the offer id."""
    now = datetime.now(UTC)
    offer_id = str(uuid.uuid4()) if offer else None
    ids = list(variant_ids)
    if "OPENSTOQ_DATABASE_URL" in env:
        asyncio.run(_seed_postgres(env["OPENSTOQ_DATABASE_URL"], shop_id, ids, offer_id, now))
    else:
        _seed_sqlite(Path(env["OPENSTOQ_DATA_DIR"]) / "openstoq.db", shop_id, ids, offer_id, now)
    return offer_id


def _variant_rows(shop_id: str, ids: list[int], stamp: Any) -> Iterator[tuple[Any, ...]]:
    for v in ids:
        yield (shop_id, v, 1 + v // 10, f"Variant {v}", f"SKU-{v}", "19.90", 1, 0, "deny", v % 7, stamp)


def _seed_sqlite(path: Path, shop_id: str, ids: list[int], offer_id: str | None, now: datetime) -> None:
    stamp = _sqlite_time(now)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO variants (shop_id, id, product_id, title, sku, price, position, inventory_quantity,"
                " inventory_policy, preorder_count, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                _variant_rows(shop_id, ids, stamp),
            )
            if offer_id is not None:
                conn.execute(
                    "INSERT INTO offers (id, shop_id, name, internal_name, status, capabilities, created_at,"
                    " updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (offer_id, shop_id, "Bench", "Bench", "enabled", "{}", stamp, stamp),
                )
                conn.executemany(
                    "INSERT INTO offer_variants (shop_id, offer_id, variant_id, max_count, created_at)"
                    " VALUES (?,?,?,?,?)",
                    ((shop_id, offer_id, v, 100 if v % 3 == 0 else None, stamp) for v in ids),
                )
    finally:
        conn.close()


async def _seed_postgres(url: str, shop_id: str, ids: list[int], offer_id: str | None, now: datetime) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            columns = [
                "shop_id",
                "id",
                "product_id",
                "title",
                "sku",
                "price",
                "position",
                "inventory_quantity",
                "inventory_policy",
                "preorder_count",
                "updated_at",
            ]
            for start in range(0, len(ids), SEED_CHUNK):
                rows = list(_variant_rows(shop_id, ids[start : start + SEED_CHUNK], now))
                await conn.copy_records_to_table("variants", records=rows, columns=columns)
            if offer_id is not None:
                await conn.execute(
                    "INSERT INTO offers (id, shop_id, name, internal_name, status, capabilities, created_at,"
                    " updated_at) VALUES ($1,$2,'Bench','Bench','enabled','{}'::jsonb,$3,$3)",
                    offer_id,
                    shop_id,
                    now,
                )
                for start in range(0, len(ids), SEED_CHUNK):
                    chunk = ids[start : start + SEED_CHUNK]
                    rows = [(shop_id, offer_id, v, 100 if v % 3 == 0 else None, now) for v in chunk]
                    await conn.copy_records_to_table(
                        "offer_variants",
                        records=rows,
                        columns=["shop_id", "offer_id", "variant_id", "max_count", "created_at"],
                    )
        await conn.execute("ANALYZE variants; ANALYZE offer_variants")
    finally:
        await conn.close()
