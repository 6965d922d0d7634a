"""CSV exports: written in keyset pages with constant memory, served through signed, expiring links.

Each page is read in its own short transaction (no snapshot held for minutes, no server-side
cursor to keep alive), written, and counted into the job's progress. The file is written to
``<job id>.csv.part`` and renamed when complete, so a download never sees half a file; a rerun after
a crash writes it again from the start.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from openstoq.db.models import Job, Shop
from openstoq.errors import Forbidden, NotFound
from openstoq.feature import ExportKind
from openstoq.http import error_response
from openstoq.jobs import records, signing
from openstoq.runtime import Runtime
from openstoq.settings import Settings

PAGE_ROWS = 1000  # rows per read transaction: small pages keep the writer's memory flat
PROGRESS_EVERY = 1.0  # seconds between progress writes (and cancellation checks)
ORPHAN_AGE_SECONDS = 3600  # a file no live job owns is deleted once this old (a crashed writer's .part)
_FILE = re.compile(r"^(exp_[0-9a-f]{16})\.csv(\.part)?$")
# Cells a spreadsheet would run as a formula (CSV injection): written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_for(settings: Settings, job_id: str) -> Path:
    return settings.exports_path / f"{job_id}.csv"


def _sync(fh: IO[str]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


async def run_export(runtime: Runtime, job_id: str) -> str:
    """Write the export's file and mark it ``ready``: ``ready``, ``skipped`` (not running) or ``cancelled``."""
    db, clock, settings = runtime.db, runtime.clock, runtime.settings
    async with db.transaction(write=False) as session:
        job = await session.get(Job, job_id)
        if job is None or job.status != "running":
            return "skipped"
        kind = runtime.features.job_kind(job.kind)
        if not isinstance(kind, ExportKind):
            raise TypeError(f"job {job_id} is a {job.kind}, not an export")
        shop_id, params, source = job.shop_id, dict(job.params or {}), cast(Any, job.source)
        domain = await session.scalar(select(Shop.domain).where(Shop.id == shop_id)) or ""
        total = await kind.count(runtime.context(shop_id, domain, session, source=source), params)
    async with db.transaction(write=True) as session:
        if not await records.start_export(session, job_id, total, clock.now()):
            return "skipped"

    path = file_for(settings, job_id)
    partial = path.with_name(path.name + ".part")
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    written, cursor, reported = 0, None, time.monotonic()
    # The file is written off the event loop (a page of rows, then fsync): disk waits never stall requests.
    fh = await asyncio.to_thread(partial.open, "w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(fh)
        await asyncio.to_thread(writer.writerow, kind.header)
        while True:
            async with db.transaction(write=False) as session:
                rows, cursor = await kind.page(
                    runtime.context(shop_id, domain, session, source=source), params, cursor, PAGE_ROWS
                )
            await asyncio.to_thread(writer.writerows, [[_cell(v) for v in row] for row in rows])
            written += len(rows)
            del rows
            if cursor is not None and time.monotonic() - reported < PROGRESS_EVERY:
                continue
            reported = time.monotonic()
            async with db.transaction(write=True) as session:
                running = await records.export_progress(session, job_id, written, clock.now())
            if not running:  # cancelled (or failed) meanwhile
                await asyncio.to_thread(partial.unlink, missing_ok=True)
                return "cancelled"
            if cursor is None:
                break
        await asyncio.to_thread(_sync, fh)
    finally:
        await asyncio.to_thread(fh.close)
    await asyncio.to_thread(os.replace, partial, path)
    filename = f"{kind.filename}-{clock.now():%Y%m%d-%H%M%S}.csv"
    result = {"row_count": written, "filename": filename, "bytes": (await asyncio.to_thread(path.stat)).st_size}
    async with db.transaction(write=True) as session:
        ready = await records.finish_export(session, job_id, result, clock.now(), settings)
    if not ready:
        path.unlink(missing_ok=True)
        return "cancelled"
    return "ready"


def download_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """``GET {BASE_PATH}/downloads/<job id>/<file name>?expires=..&signature=..``: no API key, the link is the key."""

    async def download(request: Request) -> Response:
        job_id = str(request.path_params["job_id"])
        filename = str(request.path_params["filename"])
        try:
            signing.verify(
                runtime.settings,
                job_id,
                filename,
                request.query_params.get("expires", ""),
                request.query_params.get("signature", ""),
                runtime.clock.now(),
            )
        except Forbidden as exc:
            return error_response(exc, "", "download")
        path = file_for(runtime.settings, job_id) if _FILE.match(f"{job_id}.csv") else None
        if path is None or not path.is_file():
            return error_response(NotFound(f"Export {job_id} not found; it may have been cleaned up"), "", "download")
        # FileResponse streams the file in chunks: constant memory whatever its size.
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=filename)

    return download


def remove_files(settings: Settings, job_ids: Sequence[str]) -> int:
    removed = 0
    for job_id in job_ids:
        for path in (file_for(settings, job_id), file_for(settings, job_id).with_suffix(".csv.part")):
            if path.exists():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


async def sweep_orphans(runtime: Runtime) -> int:
    """Delete export files no running or ready job owns (a cancelled writer's, a crashed writer's)."""
    directory = runtime.settings.exports_path
    if not directory.is_dir():
        return 0
    cutoff = time.time() - ORPHAN_AGE_SECONDS
    candidates: dict[str, list[Path]] = {}
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match and path.stat().st_mtime < cutoff:
            candidates.setdefault(match.group(1), []).append(path)
    if not candidates:
        return 0
    async with runtime.db.transaction(write=False) as session:
        owned = set(
            await session.scalars(
                select(Job.id).where(Job.id.in_(list(candidates)), Job.status.in_(("running", "ready")))
            )
        )
    removed = 0
    for job_id, paths in candidates.items():
        if job_id not in owned:
            for path in paths:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
