"""Bulk variant actions and the variants export: jobs over many variants (actions + job kinds).

Each bulk action takes ``variant_ids`` or ``offer_id`` (every variant attached to that offer, resolved
when the job is submitted) and answers at once with a job handle; workers then apply it in batches.
A variant that fails (unknown, deleted, refused by the platform) is recorded in the job's ``errors``
and counted in ``failed`` without failing its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import distinct, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Variant
from openstoq.errors import ActionError
from openstoq.jobs import kinds, records
from openstoq.jobs.kinds import BulkKind, ExportKind, ItemError, Kind
from openstoq.jobs.submit import enqueue_after_commit
from openstoq.platform import Platform, platform_for
from openstoq.preorders import counts, metafields, offers
from openstoq.registry import UUID_PATTERN, ActionGroup, Params, PathParam, Payload
from openstoq.validation import RequestModel

log = logging.getLogger(__name__)

PATH = "/preorders/product_variants"
JOBS = f"{PATH}/jobs"
MAX_VARIANTS = 10_000
MAX_ID = 2**63 - 1  # a BIGINT: anything larger is a 422, never a database error
JOB_ID = PathParam(
    "job_id",
    {"type": "string", "pattern": records.JOB_ID_PATTERN, "description": "The job id from the job handle"},
    "job",
)

actions = ActionGroup()


# --- request and response models -------------------------------------------------------------


class BulkVariants(RequestModel):
    """Which variants: ``variant_ids``, or every variant attached to ``offer_id`` (exactly one of the two)."""

    variant_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, min_length=1, max_length=MAX_VARIANTS, description="Shopify variant ids (1 to 10,000)"
    )
    offer_id: str | None = Field(None, pattern=UUID_PATTERN, description="Every variant attached to this offer")

    @model_validator(mode="after")
    def _exactly_one(self) -> BulkVariants:
        if (self.variant_ids is None) == (self.offer_id is None):
            raise ValueError("send either variant_ids or offer_id (exactly one of them)")
        return self


class VariantJobHandle(BaseModel):
    job_id: str
    status_url: str
    variant_count: int


class ExportJobHandle(BaseModel):
    job_id: str
    status_url: str


class JobItemError(BaseModel):
    variant_id: int
    error: str


class VariantJobStatus(BaseModel):
    job_id: str
    status: Literal["running", "completed", "ready", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100)
    total: int
    processed: int
    failed: int
    errors: list[JobItemError]
    error: str | None = None
    download_url: str | None = None
    expires_at: str | None = None
    row_count: int | None = None


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


RECALCULATE = kinds.register(_bulk("bulk_recalculate_preorder_counts", _recalculate))
RESET = kinds.register(_bulk("bulk_reset_metafields", _reset))
SYNC = kinds.register(_bulk("bulk_sync_metafields", _sync))


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


async def _live_offers(ctx: ActionContext) -> dict[str, bool]:
    """Whether each of the shop's offers (not discarded) is live now: a handful of rows, read per page."""
    now = ctx.clock.now()
    rows = await ctx.session.scalars(select(Offer).where(Offer.shop_id == ctx.shop_id, Offer.status != "discarded"))
    return {offer.id: offers.is_live(offer, now) for offer in rows}


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
    live = await _live_offers(ctx)
    links = await ctx.session.execute(
        select(OfferVariant.variant_id, OfferVariant.offer_id, OfferVariant.max_count)
        .join(Offer, Offer.id == OfferVariant.offer_id)
        .where(
            OfferVariant.shop_id == ctx.shop_id,
            Offer.status != "discarded",
            OfferVariant.variant_id.between(low, high),
        )
        .order_by(OfferVariant.variant_id, Offer.created_at, Offer.id)
    )
    offer_ids: dict[int, list[str]] = {}
    # As the metafields show it: the overrides of the variant's first live offer, else of its first offer.
    primary: dict[int, tuple[bool, int | None]] = {}
    for variant_id, offer_id, max_count in links:
        offer_ids.setdefault(variant_id, []).append(offer_id)
        is_live = live.get(offer_id, False)
        if variant_id not in primary or (is_live and not primary[variant_id][0]):
            primary[variant_id] = (is_live, max_count)
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
        max_count = primary.get(variant_id, (False, None))[1]
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


EXPORT = kinds.register(
    ExportKind(
        name="product_variants_export",
        status_path=JOBS,
        filename="product_variants",
        header=EXPORT_HEADER,
        count=_export_count,
        page=_export_page,
    )
)


# --- the actions -----------------------------------------------------------------------------------


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


async def _submit(ctx: ActionContext, kind: Kind, body: BulkVariants) -> Payload:
    variant_ids, params = await _variant_ids(ctx, body)
    job = await records.create(ctx, kind, params=params, items=variant_ids)
    if job.status == "running":
        enqueue_after_commit(ctx, job.id)
    return records.handle(kind, job, "variant_count")


BULK_NOTES = (
    "Returns a job handle at once (job_id, status_url, variant_count); poll status_url for progress.",
    "Send variant_ids (1 to 10,000; duplicates count once) or offer_id (every variant attached to it), not both.",
    "A variant that fails is listed in the job's errors and counted in failed; the others still run.",
)


@actions.action(
    "bulk_recalculate_preorder_counts",
    "POST",
    f"{PATH}/bulk_recalculate_preorder_counts",
    "Rebuild the preorder count of many variants from their open order lines, then push counts and "
    "metafields to the platform, as a background job.",
    aliases=("recount preorders for many variants", "fix preorder counts of an offer", "bulk recalculate counts"),
    notes=BULK_NOTES,
    request=BulkVariants,
    response=VariantJobHandle,
)
async def bulk_recalculate(ctx: ActionContext, _: Params, body: BulkVariants) -> Payload:
    return await _submit(ctx, RECALCULATE, body)


@actions.action(
    "bulk_reset_metafields",
    "POST",
    f"{PATH}/bulk_reset_metafields",
    "Clear and rewrite the preorder metafields of many variants on the platform, as a background job.",
    aliases=("reset metafields for many variants", "rewrite storefront data of an offer", "bulk reset metafields"),
    notes=BULK_NOTES,
    request=BulkVariants,
    response=VariantJobHandle,
)
async def bulk_reset(ctx: ActionContext, _: Params, body: BulkVariants) -> Payload:
    return await _submit(ctx, RESET, body)


@actions.action(
    "bulk_sync_metafields",
    "POST",
    f"{PATH}/bulk_sync_metafields",
    "Push the preorder metafields that differ from what they should be, for many variants, as a background job.",
    aliases=("sync metafields for many variants", "repair storefront data drift", "bulk sync metafields"),
    notes=BULK_NOTES,
    request=BulkVariants,
    response=VariantJobHandle,
)
async def bulk_sync(ctx: ActionContext, _: Params, body: BulkVariants) -> Payload:
    return await _submit(ctx, SYNC, body)


@actions.action(
    "export",
    "POST",
    f"{PATH}/export",
    "Export every variant attached to an offer, with its offers and counts, as a CSV file (a background job).",
    aliases=("download preorder variants", "csv of preorder counts", "export product variants"),
    notes=(
        "Returns a job handle (job_id, status_url); when the job is ready its status has download_url, "
        "a signed link that needs no API key, valid until expires_at.",
        "Columns: variant_id, product_id, title, sku, offer_ids (separated by ;), preorder_count, max_count.",
    ),
    response=ExportJobHandle,
)
async def export(ctx: ActionContext, _: Params, __: None) -> Payload:
    job = await records.create(ctx, EXPORT, params={})
    enqueue_after_commit(ctx, job.id)
    return records.handle(EXPORT, job)


@actions.action(
    "job",
    "GET",
    f"{JOBS}/:job_id",
    "Read a product variant job (bulk action or export): status, progress, per-variant errors and, once "
    "an export is ready, its download link.",
    aliases=("job status", "is the bulk job done", "export progress", "get download link"),
    notes=(
        "status: running (queued or working), completed (bulk done), ready (export done), failed, cancelled.",
        "Unknown, expired or another shop's job ids are 404.",
    ),
    params=(JOB_ID,),
    response=VariantJobStatus,
)
async def read_job(ctx: ActionContext, params: Params, _: None) -> Payload:
    job = await records.load(ctx, params["job_id"], kinds.read_by(JOBS))
    return records.payload(job, ctx.settings)
