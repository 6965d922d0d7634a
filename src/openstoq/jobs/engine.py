"""The DBOS binding: one queue, two workflows, and the workers' periodic duties.

- ``openstoq.jobs.dispatch`` (workflow id = the job id) plans a job: an export runs right there; a
  bulk job enqueues one ``openstoq.jobs.batch`` workflow per batch (ids ``<job id>-b00000``...), each
  enqueue checkpointed, so a crash mid-way neither loses nor doubles a batch. Every worker process
  polls the one queue, so several processes share a job's batches.
- A batch's effects, its done-marker and its progress commit in one application-database
  transaction (``records.run_batch``); DBOS makes sure every batch runs, the marker that it counts once.

Modes: ``workers`` launches DBOS in this process (``openstoq serve``, ``openstoq worker``); ``enqueue``
only enqueues through a ``DBOSClient`` (``openstoq serve --no-workers``), never executes. DBOS is a
process-wide singleton, so at most one engine runs per process; tests start and stop it around the
modules that need it, and apps built without a job mode never touch DBOS.

The system database is ``dbos.sqlite`` in the data directory on SQLite (its own file, so DBOS's
queue polling never takes the application database's single write lock), and the ``dbos`` schema of
the application database on PostgreSQL (one database to provision, back up and point every process
at; Alembic only compares the default schema, so the two never meet).

Each worker has a unique executor id and a heartbeat row (``job_executors``), deleted when it stops
cleanly. Every tick it enqueues jobs whose submitter died between commit and enqueue and recovers the
in-flight workflows of executors that stopped beating (DBOS recovers only its own executor id at
launch); it runs the features' periodic duties (``Feature.duties``, e.g. offer schedules) each at its
own interval, drains the outbox (``outbox_poll_seconds``), and every cleanup interval (and at start)
deletes expired jobs, their DBOS workflows and files.

DBOS workflows are module-level functions (DBOS registers them by name before launch); they reach
the runtime through the one engine running in this process (``_current``), as DBOS is itself one
per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Literal

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url

from openstoq import __version__
from openstoq.db.models import JobExecutor
from openstoq.feature import Duty
from openstoq.jobs import exports, records
from openstoq.runtime import Runtime
from openstoq.settings import Settings

log = logging.getLogger(__name__)

JobMode = Literal["workers", "enqueue"]
APP_NAME = "openstoq"
# Every process of one release enqueues and runs this version, whatever else it has imported.
APP_VERSION = f"openstoq-{__version__}"
QUEUE = "openstoq-jobs"
DISPATCH = "openstoq.jobs.dispatch"
BATCH = "openstoq.jobs.batch"

_current: JobEngine | None = None


def system_database_url(settings: Settings) -> str:
    if settings.dbos_system_database_url:
        return settings.dbos_system_database_url
    if settings.is_sqlite:
        return f"sqlite:///{(settings.data_dir / 'dbos.sqlite').resolve()}"
    # The application database itself (DBOS picks its own driver and keeps to the `dbos` schema).
    return make_url(settings.sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _options(workflow: str, workflow_id: str) -> EnqueueOptions:
    return {"workflow_name": workflow, "queue_name": QUEUE, "workflow_id": workflow_id, "app_version": APP_VERSION}


def batch_workflow_id(job_id: str, batch_no: int) -> str:
    return f"{job_id}-b{batch_no:05d}"


# --- workflows (registered at import, in every process) -----------------------------------------------


def _engine() -> JobEngine:
    if _current is None or _current.mode != "workers":
        raise RuntimeError("a job workflow ran in a process without a job engine")
    return _current


# Transient database errors are retried in place; what survives the retries fails the job (with a
# message for the client, the details in the worker log) rather than leave it running forever.
ATTEMPTS = 5


@DBOS.step(name="openstoq.jobs.plan", retries_allowed=True, max_attempts=ATTEMPTS)
async def _plan(job_id: str) -> int | None:
    """-1: nothing to do; None: an export; else the number of batches."""
    runtime = _engine().runtime
    async with runtime.db.transaction(write=False) as session:
        planned = await records.plan(session, runtime.features, job_id)
    return -1 if planned is None else planned.batches


@DBOS.step(name="openstoq.jobs.mark_dispatched", retries_allowed=True, max_attempts=ATTEMPTS)
async def _mark_dispatched(job_id: str) -> None:
    runtime = _engine().runtime
    async with runtime.db.transaction(write=True) as session:
        await records.mark_dispatched(session, job_id, runtime.clock.now())


@DBOS.step(name="openstoq.jobs.fail", retries_allowed=True, max_attempts=ATTEMPTS)
async def _fail(job_id: str, message: str) -> None:
    runtime = _engine().runtime
    async with runtime.db.transaction(write=True) as session:
        await records.fail(session, job_id, message, runtime.clock.now(), runtime.settings)


@DBOS.step(name="openstoq.jobs.export", retries_allowed=True, max_attempts=3)
async def _export(job_id: str) -> str:
    return await exports.run_export(_engine().runtime, job_id)


@DBOS.step(name="openstoq.jobs.run_batch", retries_allowed=True, max_attempts=ATTEMPTS)
async def _run_batch(job_id: str, batch_no: int) -> str:
    engine = _engine()
    return await records.run_batch(engine.runtime, job_id, batch_no, engine.executor_id)


@DBOS.workflow(name=DISPATCH)
async def dispatch_workflow(job_id: str) -> str:
    try:
        batches = await _plan(job_id)
        if batches == -1:
            return "nothing to do"
        if batches is None:
            return await _export(job_id)
    except Exception:
        log.exception("job %s failed", job_id)
        await _fail(job_id, "the job failed; the worker log has the details")
        return "failed"
    for batch_no in range(batches):
        await DBOS.enqueue_workflow_with_options_async(
            _options(BATCH, batch_workflow_id(job_id, batch_no)), job_id, batch_no
        )
    await _mark_dispatched(job_id)
    return f"{batches} batches"


@DBOS.workflow(name=BATCH)
async def batch_workflow(job_id: str, batch_no: int) -> str:
    try:
        return await _run_batch(job_id, batch_no)
    except Exception:  # one broken batch fails the job rather than leave it running forever
        log.exception("batch %d of job %s failed", batch_no, job_id)
        await _fail(job_id, f"batch {batch_no} failed; the worker log has the details")
        return "failed"


async def repeat(name: str, seconds: float, work: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run ``work`` now (catching up on any downtime), then every ``seconds`` until ``stop`` is set; a
    failing run is logged and the next one comes as usual."""
    while not stop.is_set():
        try:
            await work()
        except Exception:
            log.exception("duty %s failed; retrying in %s s", name, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


# --- the engine -----------------------------------------------------------------------------------------


def new_executor_id(role: str) -> str:
    return f"{role}-{socket.gethostname()[:64]}-{uuid.uuid4().hex[:8]}"


class JobEngine:
    """DBOS bound to a runtime, in one of two modes; ``start``/``stop`` bracket its life."""

    def __init__(self, runtime: Runtime, mode: JobMode, *, role: str = "serve") -> None:
        self.runtime = runtime
        self.mode = mode
        self.role = role
        self.executor_id = runtime.settings.executor_id or new_executor_id(role)
        self._client: DBOSClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def start(self) -> None:
        global _current
        if _current is not None:
            raise RuntimeError("a job engine already runs in this process (DBOS is a process-wide singleton)")
        url = system_database_url(self.settings)
        if self.settings.is_sqlite:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.mode == "enqueue":
            # A client never migrates; the system database may not exist yet when no worker ran.
            await asyncio.to_thread(DBOS.migrate, url)
            self._client = await asyncio.to_thread(DBOSClient, system_database_url=url, application_name=APP_NAME)
            _current = self
            self.runtime.jobs = self
            return
        await self._beat()  # a row before any workflow runs here, so a crash is always noticed
        DBOS(
            config=DBOSConfig(
                name=APP_NAME,
                system_database_url=url,
                application_version=APP_VERSION,
                executor_id=self.executor_id,
                # DBOS defaults to 20; a worker needs a few (queue polling, step records): spare PostgreSQL slots.
                sys_db_pool_size=10,
                # DBOS's own chatter (schema migrations, Conductor hints) only when debugging.
                log_level="DEBUG" if self.settings.log_level.lower() == "debug" else "WARNING",
            )
        )
        _current = self
        try:
            # Launched from this event loop, so async workflows run on it (and share the runtime's pools).
            DBOS.launch()
            await DBOS.register_queue_async(
                QUEUE,
                worker_concurrency=self.settings.job_worker_concurrency,
                polling_interval_sec=self.settings.job_queue_polling_seconds,
            )
        except BaseException:
            _current = None
            await self._destroy()
            raise
        self.runtime.jobs = self
        self.spawn(self._every(self.settings.worker_tick_seconds, self.tick))
        self.spawn(self._every(self.settings.cleanup_interval_seconds, self.cleanup))
        self.spawn(self._every(self.settings.outbox_poll_seconds, self._drain_outbox))
        for duty in self.runtime.features.duties:
            self.spawn(self._every(duty.every(self.settings), self._duty(duty)))
        log.info("job workers running as executor %s", self.executor_id)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the periodic duties, let running batches finish for up to ``grace`` seconds, shut DBOS down."""
        global _current
        self._stop.set()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if _current is not self:
            return
        self.runtime.jobs = None
        if self._client is not None:
            await asyncio.to_thread(self._client.destroy)
            self._client = None
        else:
            await self._destroy(grace)  # workflows still running during the drain need the engine
            await self._forget()
        _current = None

    async def _destroy(self, grace: float = 0) -> None:
        loop = asyncio.get_running_loop()
        # DBOS made its thread pool this loop's default executor and shuts that pool down: hand the
        # loop a fresh one first, so to_thread and DNS lookups keep working after DBOS is gone.
        loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        await asyncio.to_thread(DBOS.destroy, workflow_completion_timeout_sec=int(grace))

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background, keeping a reference until it ends (the loop keeps only weak ones)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- enqueue and cancel (both modes) ---

    async def enqueue(self, job_id: str) -> None:
        """Enqueue a job's dispatcher; idempotent (the workflow id is the job id). Failures are left to the sweep."""
        try:
            if self._client is not None:
                await self._client.enqueue_async(_options(DISPATCH, job_id), job_id)
            else:
                await DBOS.enqueue_workflow_with_options_async(_options(DISPATCH, job_id), job_id)
        except Exception:
            log.exception("could not enqueue job %s; a worker's sweep will", job_id)

    # --- periodic duties (workers only) ---

    async def _every(self, seconds: float, duty: Callable[[], Awaitable[object]]) -> None:
        await repeat(duty.__name__, seconds, duty, self._stop)

    def _duty(self, duty: Duty) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            return await duty.run(self.runtime)

        run.__name__ = duty.name
        return run

    async def tick(self) -> None:
        """One round of the engine's own duties; one failing does not hold back the others."""
        for duty in (self._beat, self._sweep_undispatched, self._recover_dead_executors):
            try:
                await duty()
            except Exception:
                log.exception("job engine duty %s failed; retrying next tick", duty.__name__)

    async def _drain_outbox(self) -> None:
        delivered = await self.runtime.courier.drain()
        if delivered:
            log.info("outbox: %d command(s) delivered", delivered)

    async def _forget(self) -> None:
        """A clean stop leaves nothing to recover: this executor's heartbeat row goes with it."""
        try:
            async with self.runtime.db.transaction(write=True) as session:
                await session.execute(delete(JobExecutor).where(JobExecutor.id == self.executor_id))
        except Exception:
            log.warning("executor %s could not remove its heartbeat row; it expires by itself", self.executor_id)

    async def _beat(self) -> None:
        now = self.runtime.clock.now()
        async with self.runtime.db.transaction(write=True) as session:
            row = await session.get(JobExecutor, self.executor_id)
            if row is None:
                row = JobExecutor(
                    id=self.executor_id,
                    role=self.role,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
                session.add(row)
            row.heartbeat_at = now

    async def _sweep_undispatched(self) -> None:
        cutoff = self.runtime.clock.now() - timedelta(seconds=max(2 * self.settings.worker_tick_seconds, 5))
        async with self.runtime.db.transaction(write=False) as session:
            job_ids = await records.undispatched(session, cutoff)
        for job_id in job_ids:
            await self.enqueue(job_id)

    async def _recover_dead_executors(self) -> None:
        cutoff = self.runtime.clock.now() - timedelta(seconds=self.settings.executor_dead_after_seconds)
        async with self.runtime.db.transaction(write=False) as session:
            dead = list(
                await session.scalars(
                    select(JobExecutor.id).where(JobExecutor.heartbeat_at < cutoff, JobExecutor.id != self.executor_id)
                )
            )
        for executor_id in dead:
            # Re-enqueues the dead executor's PENDING workflows; idempotent, so two workers may both try.
            handles = await asyncio.to_thread(DBOS._recover_pending_workflows, [executor_id])
            if handles:
                log.warning("executor %s stopped beating: recovered %d workflow(s)", executor_id, len(handles))
            else:
                log.info("executor %s stopped beating with nothing in flight; forgotten", executor_id)
            async with self.runtime.db.transaction(write=True) as session:
                await session.execute(
                    delete(JobExecutor).where(JobExecutor.id == executor_id, JobExecutor.heartbeat_at < cutoff)
                )

    async def cleanup(self) -> None:
        """Delete expired jobs (rows, DBOS workflows, files) and orphaned export files."""
        while True:
            async with self.runtime.db.transaction(write=True) as session:
                expired = await records.delete_expired(session, self.runtime.clock.now())
            if not expired:
                break
            job_ids = [job_id for job_id, _ in expired]
            exports.remove_files(self.settings, job_ids)
            await DBOS.delete_workflows_async(job_ids, delete_children=True)
        await exports.sweep_orphans(self.runtime)


@contextlib.asynccontextmanager
async def running(runtime: Runtime, mode: JobMode, *, role: str = "serve") -> AsyncIterator[JobEngine]:
    """The job engine for the duration of the block (an app's lifespan, a worker's life, a test module)."""
    engine = JobEngine(runtime, mode, role=role)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def cancel(runtime: Runtime, job_id: str) -> str | None:
    """Cancel a running job: it reports ``cancelled`` and its remaining batches are skipped; returns its status."""
    async with runtime.db.transaction(write=True) as session:
        job = await records.cancel(session, job_id, runtime.clock.now(), runtime.settings)
        status = None if job is None else job.status
    if status != "cancelled":
        return status
    # Batches already queued are dropped; one already running rolls back when it sees the status.
    engine = _current
    if engine is not None and engine.mode == "workers":
        await DBOS.cancel_workflow_async(job_id, cancel_children=True)
    else:
        client = await asyncio.to_thread(
            DBOSClient, system_database_url=system_database_url(runtime.settings), application_name=APP_NAME
        )
        try:
            await client.cancel_workflow_async(job_id, cancel_children=True)
        finally:
            await asyncio.to_thread(client.destroy)
    return status
