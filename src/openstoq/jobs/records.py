"""The ``jobs`` table: what clients poll, and every transition a job goes through.

A bulk job's batch commits its effects, its ``job_batches`` done-marker and the progress increment in
one transaction; a batch whose marker exists is skipped, so a crash or a retry never applies an item
twice and ``processed`` only grows. The batch that brings ``processed`` to ``total`` completes the job
in that same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from openstoq.context import ActionContext
from openstoq.db.models import Job, JobBatch
from openstoq.db.types import utc_iso
from openstoq.errors import NotFound
from openstoq.feature import BulkKind, ExportKind, Features, Kind
from openstoq.jobs import signing
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings

ERRORS_CAP = 100  # per-item errors kept on a job; `failed` counts every one
STATUSES = ("running", "completed", "ready", "failed", "cancelled")
# Published forms: bulk_<action>_<16 hex> (bulk_orders_<action>_... for orders) and exp_<16 hex>.
JOB_ID_PATTERN = r"^(bulk_[a-z][a-z0-9_]*|exp)_[0-9a-f]{16}$"
# Job rows are locked FOR NO KEY UPDATE (key_share=True): a batch's marker insert holds a KEY SHARE lock on
# its job row (the foreign key), which FOR UPDATE would wait on; two batches each holding one and wanting
# the other's would deadlock.


def new_job_id(kind: Kind) -> str:
    return f"{kind.prefix}_{secrets.token_hex(8)}"


def status_url(kind: Kind, job_id: str) -> str:
    return f"{BASE_PATH}{kind.status_path}/{job_id}"


# --- submit and read -----------------------------------------------------------------------------


async def create(ctx: ActionContext, kind: Kind, *, params: dict[str, Any], items: Sequence[Any] | None = None) -> Job:
    """A new running job of the context's shop (bulk: over ``items``, resolved now; export: no items)."""
    now = ctx.clock.now()
    job = Job(
        id=new_job_id(kind),
        shop_id=ctx.shop_id,
        kind=kind.name,
        status="running",
        source=ctx.source,
        total=len(items) if items is not None else 0,
        processed=0,
        failed=0,
        batch_size=ctx.settings.job_batch_size,
        errors=[],
        params=params,
        items=list(items) if items is not None else None,
        created_at=now,
        updated_at=now,
    )
    if items is not None and not items:  # nothing to do: done at once, and nothing to dispatch
        _finish(job, "completed", now, ctx.settings)
        job.dispatched_at = now
    ctx.session.add(job)
    await ctx.session.flush()
    return job


def handle(kind: Kind, job: Job, count_key: str | None = None) -> dict[str, Any]:
    """The published job handle: ``job_id``, ``status_url`` and, for bulk jobs, the item count."""
    out: dict[str, Any] = {"job_id": job.id, "status_url": status_url(kind, job.id)}
    if count_key is not None:
        out[count_key] = job.total
    return out


async def load(ctx: ActionContext, job_id: str, kind_names: set[str]) -> Job:
    """The shop's job of one of these kinds, or 404: unknown, another shop's, or expired."""
    job = await ctx.session.get(Job, job_id, options=[defer(Job.items), defer(Job.params)])  # not polled
    now = ctx.clock.now()
    if (
        job is None
        or job.shop_id != ctx.shop_id
        or job.kind not in kind_names
        or (job.expires_at is not None and job.expires_at <= now)
    ):
        raise NotFound(f"Job {job_id} not found")
    return job


def progress(job: Job) -> int:
    if job.status in ("completed", "ready"):
        return 100
    return min(100, job.processed * 100 // job.total) if job.total else 0


def payload(job: Job, settings: Settings) -> dict[str, Any]:
    """The status payload: the published keys, then ours (``failed``, ``errors``), then what the status adds."""
    out: dict[str, Any] = {
        "job_id": job.id,
        "status": job.status,
        "progress": progress(job),
        "total": job.total,
        "processed": job.processed,
        "failed": job.failed,
        "errors": list(job.errors or []),
    }
    if job.status == "failed":
        out["error"] = job.error or "the job failed"
    if job.status == "ready" and job.result is not None and job.expires_at is not None:
        out["download_url"] = signing.download_url(settings, job.id, job.result["filename"], job.expires_at)
        out["expires_at"] = utc_iso(job.expires_at)
        out["row_count"] = job.result["row_count"]
    return out


# --- transitions -----------------------------------------------------------------------------------


def _finish(job: Job, status: str, now: datetime, settings: Settings) -> None:
    job.status = status
    job.updated_at = job.finished_at = now
    job.expires_at = now + timedelta(hours=settings.job_retention_hours)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    kind: str
    batches: int | None  # None: an export (one workflow, no batches)


async def plan(session: AsyncSession, features: Features, job_id: str) -> BatchPlan | None:
    """What the dispatcher must do for a job; None when it has nothing left to do."""
    row = (
        await session.execute(
            select(Job.kind, Job.status, Job.total, Job.batch_size, Job.items).where(Job.id == job_id)
        )
    ).first()
    if row is None or row.status != "running":
        return None
    if isinstance(features.job_kind(row.kind), ExportKind):
        return BatchPlan(row.kind, None)
    return BatchPlan(row.kind, -(-row.total // row.batch_size))


async def mark_dispatched(session: AsyncSession, job_id: str, now: datetime) -> None:
    await session.execute(
        update(Job).where(Job.id == job_id, Job.dispatched_at.is_(None)).values(dispatched_at=now, updated_at=now)
    )


class _Stop(Exception):
    """Roll the batch back: the job is no longer running (cancelled or failed meanwhile)."""


async def run_batch(runtime: Runtime, job_id: str, batch_no: int, executor_id: str) -> str:
    """Apply one batch exactly once: ``done``, ``skipped`` (already done, or the job is over) or ``stopped``."""
    async with runtime.db.transaction(write=False) as session:
        job = (await session.execute(select(Job.shop_id, Job.source).where(Job.id == job_id))).first()
    if job is None:
        return "skipped"
    try:
        async with runtime.shop_transaction(job.shop_id, source=cast(Any, job.source)) as ctx:
            return await _apply_batch(ctx, runtime.features, job_id, batch_no, executor_id)
    except _Duplicate:
        return "skipped"
    except _Stop:
        return "stopped"


class _Duplicate(Exception):
    """Another run of this batch committed first (its marker exists)."""


async def _apply_batch(ctx: ActionContext, features: Features, job_id: str, batch_no: int, executor_id: str) -> str:
    session = ctx.session
    job = (
        await session.execute(select(Job.kind, Job.status, Job.batch_size, Job.items).where(Job.id == job_id))
    ).first()
    if job is None or job.status != "running":
        return "skipped"
    if await session.get(JobBatch, (ctx.shop_id, job_id, batch_no)) is not None:
        return "skipped"
    kind = features.job_kind(job.kind)
    if not isinstance(kind, BulkKind):
        raise TypeError(f"job {job_id} is a {job.kind}, which has no batches")
    items = (job.items or [])[batch_no * job.batch_size : (batch_no + 1) * job.batch_size]
    failures = await kind.run(ctx, items) if items else []
    now = ctx.clock.now()
    session.add(
        JobBatch(
            shop_id=ctx.shop_id,
            job_id=job_id,
            batch_no=batch_no,
            items=len(items),
            failed=len(failures),
            executor_id=executor_id,
            finished_at=now,
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        raise _Duplicate() from None
    # Progress under the row lock, taken last so concurrent batches of one job overlap in their work.
    current = await session.scalar(
        select(Job).where(Job.id == job_id).with_for_update(key_share=True).execution_options(populate_existing=True)
    )
    if current is None or current.status != "running":
        raise _Stop()
    current.processed += len(items)
    current.failed += len(failures)
    room = ERRORS_CAP - len(current.errors or [])
    if failures and room > 0:
        current.errors = [*(current.errors or []), *({kind.item_key: i, "error": m} for i, m in failures[:room])]
    current.updated_at = now
    if current.processed >= current.total:
        _finish(current, "completed", now, ctx.settings)
    return "done"


async def fail(session: AsyncSession, job_id: str, message: str, now: datetime, settings: Settings) -> bool:
    """Mark a running job failed; False when it was already over."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(
            status="failed",
            error=message[:2000],
            updated_at=now,
            finished_at=now,
            expires_at=now + timedelta(hours=settings.job_retention_hours),
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def cancel(session: AsyncSession, job_id: str, now: datetime, settings: Settings) -> Job | None:
    """Cancel a running job (the operator's ``jobs cancel``); returns it, or None when unknown."""
    job = await session.get(Job, job_id, with_for_update={"key_share": True})
    if job is not None and job.status == "running":
        _finish(job, "cancelled", now, settings)
    return job


# --- exports --------------------------------------------------------------------------------------


async def start_export(session: AsyncSession, job_id: str, total: int, now: datetime) -> bool:
    """Set the row count an export expects (only on its first run, so progress never goes backwards)."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.processed == 0)
        .values(total=total, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0)) or await _running(session, job_id)


async def export_progress(session: AsyncSession, job_id: str, written: int, now: datetime) -> bool:
    """Record rows written so far (never lower than before); False when the job is no longer running."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(
            processed=case((Job.processed < written, written), else_=Job.processed),
            total=case((Job.total < written, written), else_=Job.total),
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def finish_export(
    session: AsyncSession, job_id: str, result: dict[str, Any], now: datetime, settings: Settings
) -> bool:
    """The export is ``ready``; False when it was cancelled meanwhile (its file must go)."""
    job = await session.get(Job, job_id, with_for_update={"key_share": True})
    if job is None or job.status != "running":
        return False
    rows = int(result["row_count"])
    job.status, job.result = "ready", result
    job.total = job.processed = rows
    job.updated_at = job.finished_at = now
    job.expires_at = now + timedelta(hours=settings.export_ttl_hours)
    return True


async def _running(session: AsyncSession, job_id: str) -> bool:
    return await session.scalar(select(Job.status).where(Job.id == job_id)) == "running"


# --- operators and sweeps ----------------------------------------------------------------------------


async def list_jobs(
    session: AsyncSession, *, shop_id: str | None = None, status: str | None = None, limit: int = 50
) -> list[Job]:
    query = select(Job).options(defer(Job.items)).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if shop_id is not None:
        query = query.where(Job.shop_id == shop_id)
    if status is not None:
        query = query.where(Job.status == status)
    return list(await session.scalars(query))


async def batches_by_executor(session: AsyncSession, job_id: str) -> dict[str, int]:
    rows = await session.execute(select(JobBatch.executor_id, JobBatch.batch_no).where(JobBatch.job_id == job_id))
    counts: dict[str, int] = {}
    for executor_id, _ in rows:
        counts[executor_id] = counts.get(executor_id, 0) + 1
    return counts


async def undispatched(session: AsyncSession, created_before: datetime, limit: int = 100) -> list[str]:
    """Running jobs whose batches were never enqueued (their submitter died between commit and enqueue)."""
    rows = await session.scalars(
        select(Job.id)
        .where(Job.status == "running", Job.dispatched_at.is_(None), Job.created_at < created_before)
        .order_by(Job.created_at)
        .limit(limit)
    )
    return list(rows)


async def delete_expired(session: AsyncSession, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """Delete jobs past ``expires_at`` (their batch markers go with them): [(job id, kind)]."""
    rows = (
        await session.execute(
            select(Job.id, Job.kind).where(Job.expires_at <= now).order_by(Job.expires_at).limit(limit)
        )
    ).all()
    if rows:
        ids = [job_id for job_id, _ in rows]
        await session.execute(delete(JobBatch).where(JobBatch.job_id.in_(ids)))
        await session.execute(delete(Job).where(Job.id.in_(ids)))
    return [(job_id, kind) for job_id, kind in rows]
