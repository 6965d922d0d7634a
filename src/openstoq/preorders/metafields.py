"""What the storefront reads: the metafields openstoq keeps on the platform, and their drift.

Variant level: ``selling_plan_ids`` (json), ``preorder_count``, ``preorder_max_count`` (integers),
``shipping_text`` (json keyed by market). Shop level: ``selling_plans`` (json, one entry per live
offer with the widget copy the storefront needs). ``expected_*`` computes what the platform should
hold; ``sync`` pushes only what differs; ``reset`` clears and rewrites.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Variant
from openstoq.platform import NAMESPACE, MetafieldKey, MetafieldValue, Platform

VARIANT_KEYS = ("selling_plan_ids", "preorder_count", "preorder_max_count", "shipping_text")
SHOP_OWNER = 0


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


async def expected_variant_metafields(
    ctx: ActionContext, variant_ids: Sequence[int]
) -> dict[int, dict[str, MetafieldValue]]:
    """What each variant's metafields should be, from its offers (not discarded) and its count."""
    from openstoq.preorders.offers import is_live

    now = ctx.clock.now()
    counts = dict(
        (
            await ctx.session.execute(
                select(Variant.id, Variant.preorder_count).where(
                    Variant.shop_id == ctx.shop_id, Variant.id.in_(list(variant_ids))
                )
            )
        ).all()
    )
    rows = await ctx.session.execute(
        select(OfferVariant, Offer)
        .join(Offer, Offer.id == OfferVariant.offer_id)
        .where(
            OfferVariant.shop_id == ctx.shop_id,
            OfferVariant.variant_id.in_(list(variant_ids)),
            Offer.status != "discarded",
        )
        .order_by(OfferVariant.variant_id, Offer.created_at)
    )
    plans: dict[int, list[int]] = {v: [] for v in variant_ids}
    # The overrides shown are those of the variant's first live offer, else of its first offer.
    primary: dict[int, tuple[bool, OfferVariant]] = {}
    for link, offer in rows:
        if offer.shopify_selling_plan_id:
            plans[link.variant_id].append(offer.shopify_selling_plan_id)
        live = is_live(offer, now)
        if link.variant_id not in primary or (live and not primary[link.variant_id][0]):
            primary[link.variant_id] = (live, link)
    max_count = {v: link.max_count for v, (_, link) in primary.items() if link.max_count is not None}
    shipping = {v: link.shipping_text for v, (_, link) in primary.items() if link.shipping_text is not None}
    expected: dict[int, dict[str, MetafieldValue]] = {}
    for variant_id in variant_ids:
        values = [
            MetafieldValue("variant", variant_id, "selling_plan_ids", "json", _json(sorted(plans[variant_id]))),
            MetafieldValue("variant", variant_id, "preorder_count", "number_integer", str(counts.get(variant_id, 0))),
        ]
        if variant_id in max_count:
            values.append(
                MetafieldValue(
                    "variant", variant_id, "preorder_max_count", "number_integer", str(max_count[variant_id])
                )
            )
        if variant_id in shipping:
            values.append(
                MetafieldValue("variant", variant_id, "shipping_text", "json", _json({"default": shipping[variant_id]}))
            )
        expected[variant_id] = {v.key: v for v in values}
    return expected


async def metafield_state(
    ctx: ActionContext, platform: Platform, variant_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Per variant: what the platform holds, what it should hold, and which keys drifted."""
    expected = await expected_variant_metafields(ctx, variant_ids)
    held = await platform.read_metafields(ctx, "variant", variant_ids)
    state: dict[int, dict[str, Any]] = {}
    for variant_id in variant_ids:
        want, have = expected[variant_id], held.get(variant_id, {})
        drift = sorted(k for k in set(want) | set(have) if k in VARIANT_KEYS and _cmp(want.get(k)) != _cmp(have.get(k)))
        state[variant_id] = {
            "namespace": NAMESPACE,
            "expected": {k: _plain(v) for k, v in sorted(want.items())},
            "actual": {k: _plain(v) for k, v in sorted(have.items()) if k in VARIANT_KEYS},
            "drift": drift,
            "in_sync": not drift,
        }
    return state


def _cmp(value: MetafieldValue | None) -> tuple[str, str] | None:
    return None if value is None else (value.type, value.value)


def _plain(value: MetafieldValue) -> Any:
    """A metafield value as JSON: parsed json, integers as numbers."""
    if value.type == "json":
        return orjson.loads(value.value)
    if value.type == "number_integer":
        return int(value.value)
    return value.value


async def sync(
    ctx: ActionContext, platform: Platform, variant_ids: Sequence[int], *, reset: bool = False
) -> dict[int, list[str]]:
    """Push what differs (or, with ``reset``, clear every key and rewrite): variant id → keys written or deleted."""
    if not variant_ids:
        return {}
    expected = await expected_variant_metafields(ctx, variant_ids)
    held = await platform.read_metafields(ctx, "variant", variant_ids)
    writes: list[MetafieldValue] = []
    deletes: list[MetafieldKey] = []
    touched: dict[int, list[str]] = {}
    for variant_id in variant_ids:
        want, have = expected[variant_id], held.get(variant_id, {})
        stale = [k for k in have if k in VARIANT_KEYS and (reset or k not in want)]
        changed = [k for k, v in want.items() if reset or _cmp(have.get(k)) != _cmp(v)]
        deletes += [MetafieldKey("variant", variant_id, k) for k in stale]
        writes += [want[k] for k in changed]
        touched[variant_id] = sorted(set(stale) | set(changed))
    await platform.delete_metafields(ctx, deletes)
    await platform.set_metafields(ctx, writes)
    return touched


async def expected_shop_metafield(ctx: ActionContext) -> MetafieldValue:
    """``selling_plans``: one entry per live offer with the widget copy and colours the storefront renders."""
    from openstoq.preorders.capabilities import CAPABILITIES
    from openstoq.preorders.offers import is_live

    now = ctx.clock.now()
    offers = await ctx.session.scalars(
        select(Offer)
        .where(Offer.shop_id == ctx.shop_id, Offer.status.in_(("enabled", "scheduled")))
        .order_by(Offer.created_at)
    )
    entries = []
    for offer in offers:
        if not is_live(offer, now):
            continue
        entry: dict[str, Any] = {
            "offer_id": offer.id,
            "name": offer.name,
            "selling_plan_id": offer.shopify_selling_plan_id,
        }
        widget = CAPABILITIES.get("widget")
        if widget is not None:
            entry["widget"] = widget.block(offer)
        entries.append(entry)
    return MetafieldValue("shop", SHOP_OWNER, "selling_plans", "json", _json(entries))


async def sync_shop(ctx: ActionContext, platform: Platform) -> bool:
    """Push the shop-level metafield when it differs; True when it was written."""
    want = await expected_shop_metafield(ctx)
    have = (await platform.read_metafields(ctx, "shop", [SHOP_OWNER])).get(SHOP_OWNER, {}).get("selling_plans")
    if _cmp(have) == _cmp(want):
        return False
    await platform.set_metafields(ctx, [want])
    return True
