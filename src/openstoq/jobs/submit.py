"""Submitting a job: its row in the action's transaction, its enqueue once that transaction commits.

Kept free of DBOS so that building the runtime (every process, every CLI command) stays light; the
job engine, when one runs in this process, is the runtime's ``jobs`` and reaches handlers as ``ctx.jobs``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from openstoq.context import ActionContext


def enqueue_after_commit(ctx: ActionContext, job_id: str) -> None:
    """Enqueue the job's dispatcher once the transaction that created it commits.

    Before the commit a worker could dequeue a job it cannot see yet. A process that dies between
    the commit and the enqueue leaves the job undispatched, and a worker's sweep enqueues it (by
    its id, so never twice). No engine in this process (tests, one-off scripts): the sweep does it.
    """
    enqueuer = ctx.jobs
    if enqueuer is None:
        return

    def fire(_session: Any) -> None:
        enqueuer.spawn(enqueuer.enqueue(job_id))

    event.listen(ctx.session.sync_session, "after_commit", fire, once=True)
