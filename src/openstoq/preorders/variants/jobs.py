"""Bulk variant jobs and the variants export: what a job does with its items, in batches.

Each bulk action takes ``variant_ids`` or ``offer_id`` (every variant attached to that offer, resolved
when the job is submitted) and answers at once with a job handle; workers then apply it in batches.
A bulk job is itself a durable delivery (recorded before, every batch exactly once), so its platform
pushes run in the batch, where a variant the platform refuses is recorded in the job's ``errors``
and counted in ``failed`` without failing its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Variant
from openstoq.errors import ActionError
from openstoq.feature import BulkKind, ExportKind, ItemError, Kind
from openstoq.jobs import records
from openstoq.jobs.submit import enqueue_after_commit
from openstoq.platform import Platform, platform_for
from openstoq.preorders import counts, metafields
from openstoq.preorders.offers import service as offers
from openstoq.preorders.variants.models import JOBS, BulkVariants
from openstoq.registry import Payload

log = logging.getLogger(__name__)

# --- the bulk work ---------------------------------------------------------------------------------

Apply = Callable[[ActionContext, Platform, list[int]], Awaitable[Any]]


RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def _transient(exc: Exception) -> bool:
    """A lost connection, a deadlock, a busy database: retry the whole batch rather than blame the item."""
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _reason(variant_id: int, exc: Exception) -> str:
    if isinstance(exc, ActionError | LookupError | ValueError):
        return str(exc)
    log.error("variant %s failed in a bulk job", variant_id, exc_info=exc)
    return f"unexpected error ({type(exc).__name__}); see the worker log"


async def apply_each(ctx: ActionContext, variant_ids: Sequence[int], apply: Apply) -> list[ItemError]:
    """Apply to every known variant, all at once; when that fails, one by one to isolate the failures."""
    rows = await ctx.session.execute(
        select(Variant.id, Variant.deleted_at).where(Variant.shop_id == ctx.shop_id, Variant.id.in_(list(variant_ids)))
    )
    deleted = {variant_id: gone is not None for variant_id, gone in rows}
    failed: dict[int, str] = {}
    for variant_id in variant_ids:
        if variant_id not in deleted:
            failed[variant_id] = f"variant {variant_id} not found"
        elif deleted[variant_id]:
            failed[variant_id] = f"variant {variant_id} was deleted"
    # Ascending ids: concurrent jobs over the same variants lock their rows in one order.
    todo = sorted(v for v in variant_ids if v not in failed)
    if todo:
        try:
            platform = await platform_for(ctx)
        except ActionError as exc:
            failed.update((v, str(exc)) for v in todo)
            todo = []
    if todo:
        try:
            async with ctx.session.begin_nested():
                await apply(ctx, platform, todo)
            todo = []
        except Exception as exc:
            if _transient(exc):
                raise
    for variant_id in todo:  # the batch as a whole failed: find which variants did
        try:
            async with ctx.session.begin_nested():
                await apply(ctx, platform, [variant_id])
        except Exception as exc:
            if _transient(exc):
                raise
            failed[variant_id] = _reason(variant_id, exc)
    return [(v, failed[v]) for v in variant_ids if v in failed]


async def _recalculate(ctx: ActionContext, platform: Platform, ids: list[int]) -> None:
    await counts.recalculate(ctx, ids)
    await metafields.sync(ctx, platform, ids)


async def _reset(ctx: ActionContext, platform: Platform, ids: list[int]) -> None:
    await metafields.sync(ctx, platform, ids, reset=True)


async def _sync(ctx: ActionContext, platform: Platform, ids: list[int]) -> None:
    await metafields.sync(ctx, platform, ids)


def _bulk(name: str, apply: Apply) -> BulkKind:
    async def run(ctx: ActionContext, items: Sequence[Any]) -> list[ItemError]:
        return await apply_each(ctx, [int(i) for i in items], apply)

    return BulkKind(name=name, status_path=JOBS, item_key="variant_id", run=run)


RECALCULATE = _bulk("bulk_recalculate_preorder_counts", _recalculate)
RESET = _bulk("bulk_reset_metafields", _reset)
SYNC = _bulk("bulk_sync_metafields", _sync)


# --- the export: every attached variant with its counts ----------------------------------------------

EXPORT_HEADER = ("variant_id", "product_id", "title", "sku", "offer_ids", "preorder_count", "max_count")


def _attached(ctx: ActionContext) -> Any:
    return (
        select(OfferVariant.variant_id)
        .join(Offer, Offer.id == OfferVariant.offer_id)
        .where(OfferVariant.shop_id == ctx.shop_id, Offer.shop_id == ctx.shop_id, Offer.status != "discarded")
    )


async def _export_count(ctx: ActionContext, _: dict[str, Any]) -> int:
    query = _attached(ctx).with_only_columns(func.count(distinct(OfferVariant.variant_id)))
    return int(await ctx.session.scalar(query) or 0)


async def _export_page(
    ctx: ActionContext, _: dict[str, Any], after: Any, limit: int
) -> tuple[list[Sequence[Any]], Any]:
    """The next ``limit`` attached variants after variant id ``after`` (keyset: no OFFSET, no rows held)."""
    ids = list(
        await ctx.session.scalars(
            _attached(ctx)
            .where(OfferVariant.variant_id > (after or 0))
            .group_by(OfferVariant.variant_id)
            .order_by(OfferVariant.variant_id)
            .limit(limit)
        )
    )
    if not ids:
        return [], None
    low, high = ids[0], ids[-1]
    links = (
        await ctx.session.execute(
            select(OfferVariant, Offer)
            .join(Offer, Offer.id == OfferVariant.offer_id)
            .where(
                OfferVariant.shop_id == ctx.shop_id,
                Offer.status != "discarded",
                OfferVariant.variant_id.between(low, high),
            )
            .order_by(OfferVariant.variant_id, Offer.created_at, Offer.id)
        )
    ).all()
    offer_ids: dict[int, list[str]] = {}
    for link, offer in links:
        offer_ids.setdefault(link.variant_id, []).append(offer.id)
    # As the metafields show it: one rule for whose overrides a variant shows.
    primary = metafields.primary_overrides(((link.variant_id, offer, link) for link, offer in links), ctx.clock.now())
    variants = {
        row.id: row
        for row in await ctx.session.execute(
            select(Variant.id, Variant.product_id, Variant.title, Variant.sku, Variant.preorder_count).where(
                Variant.shop_id == ctx.shop_id, Variant.id.between(low, high)
            )
        )
    }
    rows: list[Sequence[Any]] = []
    for variant_id in ids:
        variant = variants.get(variant_id)
        shown = primary.get(variant_id)
        max_count = shown.max_count if shown is not None else None
        rows.append(
            (
                variant_id,
                variant.product_id if variant else "",
                variant.title if variant else "",
                (variant.sku or "") if variant else "",
                ";".join(offer_ids.get(variant_id, [])),
                variant.preorder_count if variant else 0,
                "" if max_count is None else max_count,
            )
        )
    return rows, (high if len(ids) == limit else None)


EXPORT = ExportKind(
    name="product_variants_export",
    status_path=JOBS,
    filename="product_variants",
    header=EXPORT_HEADER,
    count=_export_count,
    page=_export_page,
)
KINDS: tuple[Kind, ...] = (RECALCULATE, RESET, SYNC, EXPORT)


# --- submitting ---------------------------------------------------------------------------------------


async def _variant_ids(ctx: ActionContext, body: BulkVariants) -> tuple[list[int], dict[str, Any]]:
    if body.offer_id is not None:
        offer, _ = await offers.load(ctx, body.offer_id)  # 404 for an unknown offer or another shop's
        ids = await ctx.session.scalars(
            select(OfferVariant.variant_id)
            .where(OfferVariant.shop_id == ctx.shop_id, OfferVariant.offer_id == offer.id)
            .order_by(OfferVariant.variant_id)
        )
        return list(ids), {"offer_id": offer.id}
    assert body.variant_ids is not None
    return list(dict.fromkeys(body.variant_ids)), {"variant_ids": body.variant_ids}


async def submit(ctx: ActionContext, kind: BulkKind, body: BulkVariants) -> Payload:
    """Create the job over the variants the body names; it is enqueued once this transaction commits."""
    variant_ids, params = await _variant_ids(ctx, body)
    job = await records.create(ctx, kind, params=params, items=variant_ids)
    if job.status == "running":
        enqueue_after_commit(ctx, job.id)
    return records.handle(kind, job, "variant_count")


async def export(ctx: ActionContext) -> Payload:
    job = await records.create(ctx, EXPORT, params={})
    enqueue_after_commit(ctx, job.id)
    return records.handle(EXPORT, job)
