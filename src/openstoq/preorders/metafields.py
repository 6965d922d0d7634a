"""What the storefront reads: the metafields openstoq keeps on the platform, and their drift.

Variant level: ``selling_plan_ids`` (json), ``preorder_count``, ``preorder_max_count`` (integers),
``shipping_text`` (json keyed by market). Shop level: ``selling_plans`` (json, one entry per live
offer with the widget copy the storefront needs). ``expected_*`` computes what the platform should
hold; ``plan`` compares it with what the platform holds; ``sync`` applies a plan (only what differs,
or, with ``reset``, clear and rewrite everything).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Offer, OfferVariant, Variant
from openstoq.platform import NAMESPACE, MetafieldKey, MetafieldValue, Platform
from openstoq.preorders.lifecycle import Scheduled, is_live

VARIANT_KEYS = ("selling_plan_ids", "preorder_count", "preorder_max_count", "shipping_text")
SHOP_OWNER = 0


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class Overrides(Protocol):
    @property
    def max_count(self) -> int | None: ...
    @property
    def shipping_text(self) -> str | None: ...


L = TypeVar("L", bound=Overrides)


def primary_overrides(links: Iterable[tuple[int, Scheduled, L]], now: datetime) -> dict[int, L]:
    """Per variant, the link whose overrides (max count, shipping text) the storefront shows: that of
    its first live offer, else of its first offer. ``links`` are (variant id, offer, link) in offer order."""
    chosen: dict[int, tuple[bool, L]] = {}
    for variant_id, offer, link in links:
        live = is_live(offer, now)
        if variant_id not in chosen or (live and not chosen[variant_id][0]):
            chosen[variant_id] = (live, link)
    return {variant_id: link for variant_id, (_, link) in chosen.items()}


async def expected_variant_metafields(
    ctx: ActionContext, variant_ids: Sequence[int]
) -> dict[int, dict[str, MetafieldValue]]:
    """What each variant's metafields should be, from its offers (not discarded) and its count."""
    counts = dict(
        (
            await ctx.session.execute(
                select(Variant.id, Variant.preorder_count).where(
                    Variant.shop_id == ctx.shop_id, Variant.id.in_(list(variant_ids))
                )
            )
        ).all()
    )
    rows = (
        await ctx.session.execute(
            select(OfferVariant, Offer)
            .join(Offer, Offer.id == OfferVariant.offer_id)
            .where(
                OfferVariant.shop_id == ctx.shop_id,
                OfferVariant.variant_id.in_(list(variant_ids)),
                Offer.status != "discarded",
            )
            .order_by(OfferVariant.variant_id, Offer.created_at)
        )
    ).all()
    plans: dict[int, list[int]] = {v: [] for v in variant_ids}
    for link, offer in rows:
        if offer.shopify_selling_plan_id:
            plans[link.variant_id].append(offer.shopify_selling_plan_id)
    primary = primary_overrides(((link.variant_id, offer, link) for link, offer in rows), ctx.clock.now())
    expected: dict[int, dict[str, MetafieldValue]] = {}
    for variant_id in variant_ids:
        values = [
            MetafieldValue("variant", variant_id, "selling_plan_ids", "json", _json(sorted(plans[variant_id]))),
            MetafieldValue("variant", variant_id, "preorder_count", "number_integer", str(counts.get(variant_id, 0))),
        ]
        shown = primary.get(variant_id)
        if shown is not None and shown.max_count is not None:
            values.append(
                MetafieldValue("variant", variant_id, "preorder_max_count", "number_integer", str(shown.max_count))
            )
        if shown is not None and shown.shipping_text is not None:
            values.append(
                MetafieldValue("variant", variant_id, "shipping_text", "json", _json({"default": shown.shipping_text}))
            )
        expected[variant_id] = {v.key: v for v in values}
    return expected


def _cmp(value: MetafieldValue | None) -> tuple[str, str] | None:
    return None if value is None else (value.type, value.value)


def _plain(value: MetafieldValue) -> Any:
    """A metafield value as JSON: parsed json, integers as numbers."""
    if value.type == "json":
        return orjson.loads(value.value)
    if value.type == "number_integer":
        return int(value.value)
    return value.value


def state(want: dict[str, MetafieldValue], have: dict[str, MetafieldValue]) -> dict[str, Any]:
    """What the platform holds against what it should, and which keys drifted."""
    drift = sorted(k for k in set(want) | set(have) if k in VARIANT_KEYS and _cmp(want.get(k)) != _cmp(have.get(k)))
    return {
        "namespace": NAMESPACE,
        "expected": {k: _plain(v) for k, v in sorted(want.items())},
        "actual": {k: _plain(v) for k, v in sorted(have.items()) if k in VARIANT_KEYS},
        "drift": drift,
        "in_sync": not drift,
    }


async def metafield_state(
    ctx: ActionContext, platform: Platform, variant_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Per variant: what the platform holds, what it should hold, and which keys drifted."""
    expected = await expected_variant_metafields(ctx, variant_ids)
    held = await platform.read_metafields(ctx, "variant", variant_ids)
    return {v: state(expected[v], held.get(v, {})) for v in variant_ids}


@dataclass
class Plan:
    """What a sync writes and deletes, per variant the keys it touches, and what the platform holds after."""

    writes: list[MetafieldValue] = field(default_factory=list)
    deletes: list[MetafieldKey] = field(default_factory=list)
    touched: dict[int, list[str]] = field(default_factory=dict)
    after: dict[int, dict[str, MetafieldValue]] = field(default_factory=dict)
    expected: dict[int, dict[str, MetafieldValue]] = field(default_factory=dict)


async def plan(ctx: ActionContext, platform: Platform, variant_ids: Sequence[int], *, reset: bool = False) -> Plan:
    """Compare what the variants' metafields should be with what the platform holds."""
    out = Plan()
    if not variant_ids:
        return out
    out.expected = await expected_variant_metafields(ctx, variant_ids)
    held = await platform.read_metafields(ctx, "variant", variant_ids)
    for variant_id in variant_ids:
        want, have = out.expected[variant_id], held.get(variant_id, {})
        stale = [k for k in have if k in VARIANT_KEYS and (reset or k not in want)]
        changed = [k for k, v in want.items() if reset or _cmp(have.get(k)) != _cmp(v)]
        out.deletes += [MetafieldKey("variant", variant_id, k) for k in stale]
        out.writes += [want[k] for k in changed]
        out.touched[variant_id] = sorted(set(stale) | set(changed))
        kept = {k: v for k, v in have.items() if k not in stale}
        out.after[variant_id] = {**kept, **{k: want[k] for k in changed}}
    return out


async def sync(
    ctx: ActionContext, platform: Platform, variant_ids: Sequence[int], *, reset: bool = False
) -> dict[int, list[str]]:
    """Push what differs (or, with ``reset``, clear every key and rewrite): variant id → keys written or deleted.

    The variants are locked (shared) first, so a count moving meanwhile waits until this push is done,
    and the push that follows its own commit sees it.
    """
    if not variant_ids:
        return {}
    await ctx.session.execute(
        select(Variant.id)
        .where(Variant.shop_id == ctx.shop_id, Variant.id.in_(sorted(variant_ids)))
        .order_by(Variant.id)
        .with_for_update(read=True)
    )
    todo = await plan(ctx, platform, variant_ids, reset=reset)
    await platform.delete_metafields(ctx, todo.deletes)
    await platform.set_metafields(ctx, todo.writes)
    return todo.touched


async def expected_shop_metafield(ctx: ActionContext) -> MetafieldValue:
    """``selling_plans``: one entry per live offer with the widget copy and colours the storefront renders."""
    now = ctx.clock.now()
    offers = await ctx.session.scalars(
        select(Offer)
        .where(Offer.shop_id == ctx.shop_id, Offer.status.in_(("enabled", "scheduled")))
        .order_by(Offer.created_at)
    )
    widget = ctx.features.capabilities.get("widget")
    entries = []
    for offer in offers:
        if not is_live(offer, now):
            continue
        entry: dict[str, Any] = {
            "offer_id": offer.id,
            "name": offer.name,
            "selling_plan_id": offer.shopify_selling_plan_id,
        }
        if widget is not None:
            entry["widget"] = widget.block(offer.capabilities)
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
