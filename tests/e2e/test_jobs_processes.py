"""Jobs across real processes: an API process and two workers sharing a bulk job's batches on a fresh
PostgreSQL database; and a serving process killed (SIGKILL) mid-job, started again, finishing the
job with every item processed exactly once and progress never going backwards.

Exactly once is read from the done-markers: one per batch (their primary key), written in the
transaction that applied the batch, each naming the executor that ran it, their item counts summing
to the total. The processes run ``openstoq`` with every batch slowed down (``tests.e2e.slow_batches``) so
a job is still running when the test acts; every wait has a deadline, nothing asserts on durations.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from openstoq.db.engine import Database
from openstoq.db.models import JobBatch, JobExecutor, Metafield
from openstoq.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.e2e import slow_batches
from tests.e2e.servers import Server, Servers, openstoq_env, run_cli
from tests.jobs_support import seed_variants

BULK = "/preorders/product_variants/bulk_sync_metafields"
DEADLINE = 180.0
WORKER_READY = re.compile(r"openstoq worker (\S+) running")
SLOW = slow_batches.COMMAND


# --- processes and databases -------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    executor_id: str = ""

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_worker(env: dict[str, str], log_dir: Path) -> Worker:
    """``openstoq worker``, returned once it says it runs (with its executor id)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"openstoq-worker-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SLOW, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=slow_batches.ROOT
        )
    worker = Worker(process, log_path)
    deadline = time.monotonic() + 60
    while not (found := WORKER_READY.search(worker.output())):
        if process.poll() is not None:
            raise RuntimeError(f"openstoq worker exited with {process.returncode}:\n{worker.output()}")
        if time.monotonic() > deadline:
            worker.stop()
            raise TimeoutError(f"openstoq worker did not start:\n{worker.output()}")
        time.sleep(0.1)
    worker.executor_id = found.group(1)
    return worker


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with Servers(tmp_path / "logs") as started:
        yield started


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _fresh_postgres() -> Iterator[str]:
    name = f"openstoq_jobs_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped after the processes using it stopped), as a URL.

    Request it before ``servers`` and ``workers``, so it is torn down after them.
    """
    yield from _fresh_postgres()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the embedded SQLite default (a fresh data dir), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        yield from _fresh_postgres()


def job_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    return openstoq_env(OPENSTOQ_DATA_DIR=str(data_dir), OPENSTOQ_DATABASE_URL=database_url, **extra)


def database(env: dict[str, str]) -> Database:
    settings = Settings(data_dir=Path(env["OPENSTOQ_DATA_DIR"]), database_url=env.get("OPENSTOQ_DATABASE_URL"))
    return Database(settings.sqlalchemy_url)


def db_run(env: dict[str, str], work: Any) -> Any:
    """Run ``work(db)`` (a coroutine function) against the processes' database, from this sync test."""

    async def main() -> Any:
        db = database(env)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def new_shop(env: dict[str, str], name: str) -> dict[str, str]:
    created = run_cli(["shops", "create", name, "--json"], env)
    assert created.returncode == 0, created.stderr
    return dict(json.loads(created.stdout))


def seed(env: dict[str, str], shop_id: str, count: int) -> list[int]:
    async def work(db: Database) -> list[int]:
        return await seed_variants(db, shop_id, range(1, count + 1))

    return list(db_run(env, work))


def batch_markers(env: dict[str, str], job_id: str) -> list[tuple[int, int, str]]:
    async def work(db: Database) -> list[tuple[int, int, str]]:
        async with db.transaction(write=False) as session:
            rows = await session.execute(
                select(JobBatch.batch_no, JobBatch.items, JobBatch.executor_id).where(JobBatch.job_id == job_id)
            )
            return [tuple(r) for r in rows]

    return list(db_run(env, work))


def poll(api: str, headers: dict[str, str], status_url: str) -> dict[str, Any] | None:
    """The job's status, or None while the server is not answering (killed, starting)."""
    try:
        response = httpx.get(api.removesuffix("/api/v2/external") + status_url, headers=headers, timeout=5)
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- the tests ---------------------------------------------------------------------------------------------------


def test_an_api_process_and_two_workers_share_a_bulk_job(
    fresh_postgres: str, servers: Servers, workers: list[Worker], tmp_path: Path
) -> None:
    env = job_env(
        tmp_path / "data",
        fresh_postgres,
        OPENSTOQ_JOB_BATCH_SIZE="10",
        OPENSTOQ_JOB_WORKER_CONCURRENCY="4",
        OPENSTOQ_E2E_BATCH_DELAY_SECONDS="0.1",
    )
    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    api = servers.start(env, "--no-workers", command=SLOW)
    workers.extend(start_worker(env, tmp_path / "logs") for _ in range(2))
    executors = {w.executor_id for w in workers}
    assert len(executors) == 2, "each worker has its own executor id"
    shop = new_shop(env, "distributed")
    headers = {"X-Auth-Token": shop["api_key"]}
    ids = seed(env, shop["shop_id"], 1000)

    submitted = httpx.post(api.api + BULK, json={"variant_ids": ids}, headers=headers, timeout=30)
    assert submitted.status_code == 202, submitted.text
    handle = submitted.json()
    assert handle["variant_count"] == 1000
    deadline = time.monotonic() + DEADLINE
    while (status := poll(api.api, headers, handle["status_url"])) is None or status["status"] == "running":
        assert time.monotonic() < deadline, f"job still running: {status}"
        time.sleep(0.25)
    assert (status["status"], status["processed"], status["total"], status["failed"]) == ("completed", 1000, 1000, 0)

    marks = batch_markers(env, handle["job_id"])
    assert sorted(b for b, _, _ in marks) == list(range(100)), "every batch committed exactly once"
    assert sum(items for _, items, _ in marks) == 1000
    ran = {executor for _, _, executor in marks}
    assert ran == executors, f"both workers processed batches: {ran} vs {executors}"

    async def state(db: Database) -> tuple[set[str], set[int]]:
        async with db.transaction(write=False) as session:
            alive = set(await session.scalars(select(JobExecutor.id)))
            synced = set(
                await session.scalars(
                    select(Metafield.owner_id).where(
                        Metafield.shop_id == shop["shop_id"], Metafield.key == "preorder_count"
                    )
                )
            )
            return alive, synced

    alive, synced = db_run(env, state)
    assert alive == executors, "the API process runs no executor: it only enqueues"
    assert synced == set(ids)
    logs = api.output() + "".join(w.output() for w in workers)
    assert not re.search(r"job \S+ failed", logs), "no batch or job failed on the way"


def test_a_job_survives_its_serving_process_being_killed(
    fresh_database: str | None, servers: Servers, tmp_path: Path
) -> None:
    env = job_env(
        tmp_path / "data",
        fresh_database,
        OPENSTOQ_JOB_BATCH_SIZE="10",
        OPENSTOQ_JOB_WORKER_CONCURRENCY="2",
        OPENSTOQ_E2E_BATCH_DELAY_SECONDS="0.25",
        OPENSTOQ_WORKER_TICK_SECONDS="0.5",
        OPENSTOQ_EXECUTOR_DEAD_AFTER_SECONDS="3",
    )
    first: Server = servers.start(env, command=SLOW)
    shop = new_shop(env, "crash")
    headers = {"X-Auth-Token": shop["api_key"]}
    ids = seed(env, shop["shop_id"], 600)
    submitted = httpx.post(first.api + BULK, json={"variant_ids": ids}, headers=headers, timeout=30)
    assert submitted.status_code == 202, submitted.text
    handle = submitted.json()

    seen: list[int] = []
    deadline = time.monotonic() + DEADLINE
    while not seen or seen[-1] < 100:  # a sixth of the way: well inside the job
        status = poll(first.api, headers, handle["status_url"])
        assert status is not None and status["status"] == "running", status
        seen.append(status["processed"])
        assert time.monotonic() < deadline, f"the job did not get going: {seen}"
        time.sleep(0.1)
    first.process.kill()  # SIGKILL: no shutdown, no cleanup, transactions cut mid-way
    first.process.wait(timeout=10)
    assert seen[-1] < 600, "killed mid-job"

    second = servers.start(env, command=SLOW)
    statuses: list[str] = []
    while True:
        status = poll(second.api, headers, handle["status_url"])
        if status is not None:
            seen.append(status["processed"])
            statuses.append(status["status"])
            if status["status"] != "running":
                break
        assert time.monotonic() < deadline, f"the job did not finish after the restart: {seen[-5:]}"
        time.sleep(0.2)
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert (status["status"], status["processed"], status["total"], status["failed"]) == ("completed", 600, 600, 0)
    assert set(statuses) <= {"running", "completed"}

    marks = batch_markers(env, handle["job_id"])
    assert sorted(b for b, _, _ in marks) == list(range(60)), "every batch committed exactly once"
    assert sum(items for _, items, _ in marks) == 600
    assert len({executor for _, _, executor in marks}) == 2, "batches before and after the crash"
    assert "stopped beating: recovered" in second.output(), second.output()
