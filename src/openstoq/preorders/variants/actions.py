"""The product variant actions: declarations only; each handler calls ``service`` or ``jobs``."""

from __future__ import annotations

from openstoq.context import ActionContext
from openstoq.jobs import records
from openstoq.preorders.variants import jobs, service
from openstoq.preorders.variants.models import (
    JOBS,
    PATH,
    BulkVariants,
    ExportJobHandle,
    JobId,
    ListVariants,
    MetafieldsPushed,
    Recalculated,
    VariantDetail,
    VariantId,
    VariantJobHandle,
    VariantJobStatus,
    VariantList,
    VariantOfferList,
    VariantOffersQuery,
)
from openstoq.registry import ActionGroup, Payload
from openstoq.validation import EmptyBody

actions = ActionGroup()


@actions.action(
    "list",
    "GET",
    PATH,
    "List the variants attached to the shop's offers, with their preorder counts and offers.",
    aliases=("all variants on preorder", "preorder variants", "variants on an offer", "find a variant"),
    notes=(
        "Variants of discarded offers are left out (a discarded offer covers nothing).",
        "variant_ids takes up to 250 ids: repeat the key, use variant_ids[], or separate with commas.",
    ),
    request=ListVariants,
    response=VariantList,
)
async def list_variants(ctx: ActionContext, query: ListVariants) -> Payload:
    return await service.list_variants(ctx, query)


@actions.action(
    "read",
    "GET",
    f"{PATH}/:variant_id",
    "Read one variant: its offers, its preorder count and max count, and its metafields on the platform "
    "(expected vs actual, with the keys that drifted).",
    aliases=("show variant", "variant preorder count", "is this variant on preorder", "check variant metafields"),
    notes=("drift lists the metafield keys whose platform value differs; sync_metafields repairs them.",),
    response=VariantDetail,
)
async def read_variant(ctx: ActionContext, _: None, *, variant_id: VariantId) -> Payload:
    return await service.read(ctx, variant_id)


@actions.action(
    "offers",
    "GET",
    f"{PATH}/:variant_id/offers",
    "List the offers a variant is attached to, newest first, with the offer's overrides for it.",
    aliases=("which offers cover this variant", "variant offers", "is this variant live on an offer"),
    notes=(
        "state live: shoppers can preorder under the offer now (enabled, or scheduled inside its window); "
        "enabled, disabled, scheduled, discarded: the offer's status. Without state: all but discarded.",
    ),
    request=VariantOffersQuery,
    response=VariantOfferList,
)
async def variant_offers(ctx: ActionContext, query: VariantOffersQuery, *, variant_id: VariantId) -> Payload:
    return await service.variant_offers(ctx, variant_id, query.state, query)


@actions.action(
    "recalculate_preorder_count",
    "POST",
    f"{PATH}/:variant_id/recalculate_preorder_count",
    "Rebuild a variant's preorder count from its open preorder order lines, then push it to the platform.",
    aliases=("fix preorder count", "recount preorders", "preorder count is wrong", "recompute variant count"),
    notes=("Open lines are on orders neither cancelled nor fulfilled. Answers the count before and after.",),
    request=EmptyBody,
    response=Recalculated,
)
async def recalculate(ctx: ActionContext, _: EmptyBody, *, variant_id: VariantId) -> Payload:
    return await service.recalculate(ctx, variant_id)


@actions.action(
    "reset_metafields",
    "POST",
    f"{PATH}/:variant_id/reset_metafields",
    "Clear a variant's preorder metafields on the platform and write them again from openstoq's data.",
    aliases=("rewrite variant metafields", "clear metafields", "storefront shows stale preorder data"),
    notes=("Every key is rewritten, even those already right; sync_metafields writes only what differs.",),
    request=EmptyBody,
    response=MetafieldsPushed,
)
async def reset_metafields(ctx: ActionContext, _: EmptyBody, *, variant_id: VariantId) -> Payload:
    return await service.push_metafields(ctx, variant_id, reset=True)


@actions.action(
    "sync_metafields",
    "POST",
    f"{PATH}/:variant_id/sync_metafields",
    "Push a variant's preorder metafields to the platform where they differ from what they should be.",
    aliases=("repair metafield drift", "sync variant metafields", "update storefront data for a variant"),
    notes=("Answers the keys written (or deleted) and the state after, which is in sync.",),
    request=EmptyBody,
    response=MetafieldsPushed,
)
async def sync_metafields(ctx: ActionContext, _: EmptyBody, *, variant_id: VariantId) -> Payload:
    return await service.push_metafields(ctx, variant_id, reset=False)


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
async def bulk_recalculate(ctx: ActionContext, body: BulkVariants) -> Payload:
    return await jobs.submit(ctx, jobs.RECALCULATE, body)


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
async def bulk_reset(ctx: ActionContext, body: BulkVariants) -> Payload:
    return await jobs.submit(ctx, jobs.RESET, body)


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
async def bulk_sync(ctx: ActionContext, body: BulkVariants) -> Payload:
    return await jobs.submit(ctx, jobs.SYNC, body)


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
    request=EmptyBody,
    response=ExportJobHandle,
)
async def export(ctx: ActionContext, _: EmptyBody) -> Payload:
    return await jobs.export(ctx)


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
    response=VariantJobStatus,
)
async def read_job(ctx: ActionContext, _: None, *, job_id: JobId) -> Payload:
    job = await records.load(ctx, job_id, ctx.features.kinds_read_by(JOBS))
    return records.payload(job, ctx.settings)
