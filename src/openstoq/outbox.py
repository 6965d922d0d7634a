"""The outbox: side effects recorded in the transaction that decides them, delivered after it commits.

A write collects commands in ``ctx.outbox`` (``context.Outbox``); the runtime writes them as
``outbox`` rows in the same transaction, so a rollback drops them and a commit keeps them, crash or
not. The ``Courier`` delivers rows after commit: right away in the process that wrote them on the
embedded default (so a client that reads after its 202 sees what it asked for), or by the workers'
drain when the API runs without workers. Each kind of command is declared by the feature that
decides it (``Command``); its ``deliver`` gets every pending payload of one shop at once, so a
burst of changes costs one delivery.

Two kinds of command. One whose effect is a database write (the ``local`` platform's tables, a
payment in the test processor's ledger) has a ``deliver`` that runs in one transaction with the
deletion of its rows: exactly once. One that talks to the network (SMTP, an HTTP API) has a ``send``
that runs in no transaction: it opens short ones itself through its ``ShopScope`` (to read what to
send, to record what happened), and its rows are deleted after it returns. A crash between the send
and that deletion sends again, so a send must be keyed (an idempotency key, a stable Message-ID).

A delivery claims its rows with a lease. A crash leaves them to be claimed again when the lease runs
out; commands are idempotent (they bring the platform to the state the database says, or send with an
idempotency key), so a repeat changes nothing. A failed delivery is retried with exponential backoff
and jitter, its error kept on the row.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.clock import Clock
from openstoq.context import ActionContext, Outbox
from openstoq.db.engine import Database
from openstoq.db.models import OutboxEntry, Shop
from openstoq.settings import Settings

log = logging.getLogger(__name__)

Deliver = Callable[[ActionContext, list[dict[str, Any]]], Awaitable[None]]
Send = Callable[["ShopScope", list[dict[str, Any]]], Awaitable[None]]
# Builds the context a delivery runs in: (shop id, domain, session, outbox for follow-up commands).
ContextFactory = Callable[[str, str, AsyncSession, Outbox], ActionContext]
FOLLOW_UPS = 3  # commands a delivery decides are delivered too, this many rounds deep


@dataclass(frozen=True, slots=True)
class Command:
    """A kind of side effect, declared by the feature that decides it: ``deliver`` (a database effect,
    in the transaction that removes its rows) or ``send`` (the network, in no transaction)."""

    kind: str  # e.g. preorders.variant_metafields
    deliver: Deliver | None = None  # gets every pending payload of one shop; must be idempotent
    send: Send | None = None  # gets every pending payload of one shop; must be keyed (sent again after a crash)
    rank: int = 100  # delivery order among one shop's kinds: lower first (a plan before the metafields naming it)

    def __post_init__(self) -> None:
        if (self.deliver is None) == (self.send is None):
            raise ValueError(f"outbox command {self.kind} needs exactly one of deliver and send")


class ShopScope:
    """What a ``send`` works with: the shop, and short write transactions of its own."""

    def __init__(self, courier: Courier, shop_id: str, domain: str) -> None:
        self._courier = courier
        self.shop_id = shop_id
        self.domain = domain
        self.follow_ups: list[int] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ActionContext]:
        """One write transaction for the shop; commands it decides are delivered after this send."""
        outbox = Outbox()
        async with self._courier.db.transaction(write=True) as session:
            yield self._courier.context(self.shop_id, self.domain, session, outbox)
            self.follow_ups += await self._courier.record(session, self.shop_id, outbox, inline=True)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    shop_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    token: str  # the lease this deliverer holds on the row


class Courier:
    """Writes a transaction's commands as rows, and delivers rows after commit."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        commands: Mapping[str, Command],
        context: ContextFactory,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.commands = commands
        self.context = context

    async def record(self, session: AsyncSession, shop_id: str, outbox: Outbox, *, inline: bool) -> list[int]:
        """Write the outbox's commands as rows of this transaction; their ids.

        ``inline``: the writer delivers them itself after commit, so the drain leaves them alone for
        ``outbox_inline_grace_seconds`` (it takes them only if the writer died first).
        """
        if not len(outbox):
            return []
        unknown = sorted({kind for kind, _ in outbox if kind not in self.commands})
        if unknown:
            raise LookupError(f"outbox commands {unknown} are declared by no feature of this process")
        now = self.clock.now()
        available = now + timedelta(seconds=self.settings.outbox_inline_grace_seconds if inline else 0)
        rows = [
            {"shop_id": shop_id, "kind": kind, "payload": payload, "created_at": now, "available_at": available}
            for kind, payload in outbox
        ]
        outbox.clear()
        result = await session.execute(insert(OutboxEntry).returning(OutboxEntry.id), rows)
        return list(result.scalars())

    async def deliver(self, ids: Sequence[int]) -> int:
        """Deliver these rows now (those another deliverer holds are left to it); how many were delivered."""
        return await self._run(await self._claim(list(ids)))

    async def drain(self, limit: int = 500) -> int:
        """Deliver rows that are due (new ones nobody delivers inline, retries, a dead writer's)."""
        return await self._run(await self._claim(None, limit))

    async def _claim(self, ids: list[int] | None, limit: int = 500) -> list[_Claimed]:
        now = self.clock.now()
        token = secrets.token_hex(16)
        free = (OutboxEntry.lease_until.is_(None)) | (OutboxEntry.lease_until < now)
        async with self.db.transaction(write=True) as session:
            if ids is None:
                due = (
                    select(OutboxEntry.id)
                    .where(OutboxEntry.available_at <= now, free)
                    .order_by(OutboxEntry.id)
                    .limit(limit)
                )
                chosen = list(await session.scalars(due))
            else:
                chosen = ids
            if not chosen:
                return []
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_(chosen), free)  # re-checked: a concurrent claim of one row wins once
                .values(lease_until=now + timedelta(seconds=self.settings.outbox_lease_seconds), lease_token=token)
            )
            rows = await session.execute(
                select(OutboxEntry.id, OutboxEntry.shop_id, OutboxEntry.kind, OutboxEntry.payload, OutboxEntry.attempts)
                .where(OutboxEntry.lease_token == token)
                .order_by(OutboxEntry.id)
            )
            return [_Claimed(row.id, row.shop_id, row.kind, row.payload, row.attempts, token) for row in rows]

    async def _run(self, claimed: list[_Claimed]) -> int:
        delivered = 0
        for _ in range(FOLLOW_UPS + 1):
            if not claimed:
                break
            follow_ups: list[int] = []
            for group in self._groups(claimed):
                done, more = await self._deliver_group(group)
                delivered += done
                follow_ups += more
            claimed = await self._claim(follow_ups) if follow_ups else []
        return delivered

    def _groups(self, claimed: list[_Claimed]) -> list[list[_Claimed]]:
        """Rows by shop, then by kind in rank order: each group is one delivery."""
        groups: dict[tuple[str, str], list[_Claimed]] = defaultdict(list)
        for row in claimed:
            groups[(row.shop_id, row.kind)].append(row)
        order = sorted(groups, key=lambda key: (key[0], self._rank(key[1]), groups[key][0].id))
        return [groups[key] for key in order]

    def _rank(self, kind: str) -> int:
        command = self.commands.get(kind)
        return command.rank if command else 0

    async def _deliver_group(self, group: list[_Claimed]) -> tuple[int, list[int]]:
        first = group[0]
        ids = [row.id for row in group]
        payloads = [row.payload for row in group]
        command = self.commands.get(first.kind)
        try:
            if command is None:
                raise LookupError(f"no feature of this process declares the outbox command {first.kind}")
            follow_ups: list[int] = []
            async with self.db.transaction(write=command.deliver is not None) as session:
                domain = await session.scalar(select(Shop.domain).where(Shop.id == first.shop_id))
                if domain is None:  # the shop is gone, and its rows with it (cascade); nothing to do
                    return 0, []
                if command.deliver is not None:
                    outbox = Outbox()
                    await command.deliver(self.context(first.shop_id, domain, session, outbox), payloads)
                    follow_ups = await self.record(session, first.shop_id, outbox, inline=True)
                    await self._remove(session, ids, first.token)
            if command.send is not None:
                scope = ShopScope(self, first.shop_id, domain)
                await command.send(scope, payloads)  # in no transaction: it opens its own
                async with self.db.transaction(write=True) as session:
                    await self._remove(session, ids, first.token)
                follow_ups = scope.follow_ups
        except _LeaseLost:
            log.warning("outbox rows %s were claimed by another deliverer meanwhile; left to it", ids)
            return 0, []
        except Exception as exc:
            await self._retry_later(group, exc)
            return 0, []
        return len(group), follow_ups

    @staticmethod
    async def _remove(session: AsyncSession, ids: list[int], token: str) -> None:
        """Delete the delivered rows this lease still holds (all of them, or the delivery does not count)."""
        removed = await session.execute(
            delete(OutboxEntry).where(OutboxEntry.id.in_(ids), OutboxEntry.lease_token == token)
        )
        if getattr(removed, "rowcount", len(ids)) != len(ids):
            raise _LeaseLost()

    async def _retry_later(self, group: list[_Claimed], exc: Exception) -> None:
        attempts = max(row.attempts for row in group) + 1
        delay = self.backoff(attempts)
        log.warning(
            "outbox %s for shop %s failed (attempt %d), retrying in %.0f s: %s",
            group[0].kind,
            group[0].shop_id,
            attempts,
            delay,
            exc,
            exc_info=not isinstance(exc, LookupError | ValueError),
        )
        async with self.db.transaction(write=True) as session:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_([row.id for row in group]), OutboxEntry.lease_token == group[0].token)
                .values(
                    attempts=OutboxEntry.attempts + 1,
                    available_at=self.clock.now() + timedelta(seconds=delay),
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    lease_until=None,
                    lease_token=None,
                )
            )

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling from the base up to the cap, with ±20% jitter."""
        base = self.settings.outbox_retry_base_seconds * 2.0 ** min(attempts - 1, 30)
        return min(base, self.settings.outbox_retry_max_seconds) * random.uniform(0.8, 1.2)


class _LeaseLost(Exception):
    """The rows being delivered were claimed by another deliverer after this one's lease ran out."""
