"""``openstoq worker`` and ``openstoq jobs list|show|cancel``: the operator's side of jobs."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from sqlalchemy import select

from openstoq.cli.common import console, fail, migrated, out, run, where
from openstoq.db.models import Job, Shop
from openstoq.db.types import utc_iso
from openstoq.jobs.engine import cancel, running
from openstoq.jobs.records import STATUSES, batches_by_executor, list_jobs, payload
from openstoq.runtime import Runtime
from openstoq.settings import Settings

jobs_app = typer.Typer(help="List, follow and cancel jobs (bulk actions, exports).", no_args_is_help=True)
FOLLOW_INTERVAL = 0.5
JobId = Annotated[str, typer.Argument(help="The job id, e.g. bulk_sync_metafields_0123456789abcdef")]


def worker() -> None:
    """Run job workers only (no HTTP), until SIGINT or SIGTERM. Any number may share one PostgreSQL database."""
    settings = migrated()

    async def main(runtime: Runtime) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running(runtime, "workers", role="worker") as engine:
            console.print(f"openstoq worker {engine.executor_id} running on {where(settings)}", soft_wrap=True)
            await stop.wait()
            console.print(f"openstoq worker {engine.executor_id} stopping", soft_wrap=True)

    run(main, settings)


def _row(job: Job, domain: str, settings: Settings) -> dict[str, Any]:
    return {
        **payload(job, settings),
        "kind": job.kind,
        "shop": domain,
        "source": job.source,
        "created_at": utc_iso(job.created_at),
        "finished_at": utc_iso(job.finished_at),
        "expires_at": utc_iso(job.expires_at),
    }


async def _read(runtime: Runtime, job_id: str) -> dict[str, Any] | None:
    async with runtime.db.transaction(write=False) as session:
        found = (await session.execute(select(Job, Shop.domain).join(Shop).where(Job.id == job_id))).first()
        if found is None:
            return None
        row = _row(found[0], found[1], runtime.settings)
        row["batches_by_executor"] = await batches_by_executor(session, job_id)
        return row


@jobs_app.command("list")
def jobs_list(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's jobs (its domain)")] = None,
    status: Annotated[str | None, typer.Option("--status", help="running, completed, ready, failed, cancelled")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, newest first."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of: {', '.join(STATUSES)}")

    async def main(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.db.transaction(write=False) as session:
            shop_id = None
            if shop is not None:
                shop_id = await session.scalar(select(Shop.id).where(Shop.domain == shop.strip().lower()))
                if shop_id is None:
                    raise fail(f"no shop {shop}")
            jobs = await list_jobs(session, shop_id=shop_id, status=status, limit=limit)
            domains = dict((await session.execute(select(Shop.id, Shop.domain))).all()) if jobs else {}
            return [_row(job, domains.get(job.shop_id, ""), runtime.settings) for job in jobs]

    rows = run(main)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("job id", "shop", "status", "progress", "processed", "failed", "created")
    for r in rows:
        processed = f"{r['processed']}/{r['total']}"
        table.add_row(
            r["job_id"], r["shop"], r["status"], f"{r['progress']}%", processed, str(r["failed"]), r["created_at"]
        )
    out.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: JobId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show a progress bar until the job ends")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one job: status, progress, errors, which executors ran its batches; --follow until it ends."""

    async def main(runtime: Runtime) -> dict[str, Any] | None:
        row = await _read(runtime, job_id)
        if row is None or not follow or row["status"] != "running":
            return row
        columns = (TextColumn(job_id), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[note]}"))
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task(job_id, total=max(row["total"], 1), note="")
            while row is not None:
                note = f"{row['status']} {row['processed']}/{row['total']}, {row['failed']} failed"
                bar.update(task, total=max(row["total"], 1), completed=row["processed"], note=note)
                if row["status"] != "running":
                    break
                await asyncio.sleep(FOLLOW_INTERVAL)
                row = await _read(runtime, job_id)
        return row

    started = time.monotonic()
    row = run(main)
    if row is None:
        raise fail(f"no job {job_id}")
    if as_json:
        print(json.dumps(row))
        return
    table = Table("field", "value", show_header=False)
    for key, value in row.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
        table.add_row(key, shown)
    out.print(table)
    if follow:
        out.print(f"followed for {time.monotonic() - started:.1f} s")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId) -> None:
    """Cancel a running job: it reports cancelled, and its remaining batches are skipped."""
    status = run(lambda runtime: cancel(runtime, job_id))
    if status is None:
        raise fail(f"no job {job_id}")
    if status != "cancelled":
        raise fail(f"job {job_id} is already {status}; only running jobs can be cancelled")
    out.print(f"cancelled job {job_id}")
