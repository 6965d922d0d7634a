"""The ``local`` platform: openstoq is the platform, so every command lands in its own tables at once.

Commands run in the caller's transaction (an outbox delivery's, or a bulk job batch's), so they
commit together with the record that they were delivered. Selling plan ids are drawn from the offer
id so they are stable and need no counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select, tuple_

from openstoq.context import ActionContext
from openstoq.db.models import Metafield, SellingPlanGroup
from openstoq.platform.port import NAMESPACE, MetafieldKey, MetafieldValue, Platform, SellingPlanRef


def _stable_id(offer_id: str, salt: int) -> int:
    # 52 bits of the UUID: positive, fits a BIGINT and a JavaScript number, stable across retries.
    return (int(offer_id.replace("-", "")[:13], 16) << 1 | salt) & ((1 << 53) - 1) or 1


class LocalPlatform(Platform):
    name = "local"

    async def ensure_selling_plan_group(
        self, ctx: ActionContext, offer_id: str, name: str, known: SellingPlanRef | None
    ) -> SellingPlanRef:
        ref = known or SellingPlanRef(_stable_id(offer_id, 0), _stable_id(offer_id, 1))
        group = await ctx.session.get(SellingPlanGroup, (ctx.shop_id, ref.group_id), with_for_update=True)
        if group is None:
            ctx.session.add(
                SellingPlanGroup(
                    shop_id=ctx.shop_id,
                    id=ref.group_id,
                    selling_plan_id=ref.selling_plan_id,
                    name=name,
                    variant_ids=[],
                    updated_at=ctx.clock.now(),
                )
            )
            await ctx.session.flush()
        elif group.name != name:
            group.name, group.updated_at = name, ctx.clock.now()
        return ref

    async def _group(self, ctx: ActionContext, ref: SellingPlanRef) -> SellingPlanGroup:
        group = await ctx.session.get(SellingPlanGroup, (ctx.shop_id, ref.group_id), with_for_update=True)
        if group is None:
            raise LookupError(f"selling plan group {ref.group_id} does not exist on the local platform")
        return group

    async def selling_plan_variants(self, ctx: ActionContext, group: SellingPlanRef) -> list[int]:
        return list((await self._group(ctx, group)).variant_ids)

    async def add_variants(self, ctx: ActionContext, group: SellingPlanRef, variant_ids: Sequence[int]) -> None:
        row = await self._group(ctx, group)
        members = list(row.variant_ids)
        row.variant_ids = members + [v for v in dict.fromkeys(variant_ids) if v not in set(members)]
        row.updated_at = ctx.clock.now()

    async def remove_variants(self, ctx: ActionContext, group: SellingPlanRef, variant_ids: Sequence[int]) -> None:
        row = await self._group(ctx, group)
        gone = set(variant_ids)
        row.variant_ids = [v for v in row.variant_ids if v not in gone]
        row.updated_at = ctx.clock.now()

    async def set_metafields(self, ctx: ActionContext, values: Iterable[MetafieldValue]) -> None:
        now = ctx.clock.now()
        wanted = {(v.owner_type, v.owner_id, v.namespace, v.key): v for v in values}
        if not wanted:
            return
        # One read for the whole batch (bulk jobs push thousands), then insert or update in memory.
        columns = tuple_(Metafield.owner_type, Metafield.owner_id, Metafield.namespace, Metafield.key)
        held = {
            (row.owner_type, row.owner_id, row.namespace, row.key): row
            for row in await ctx.session.scalars(
                select(Metafield).where(Metafield.shop_id == ctx.shop_id, columns.in_(list(wanted)))
            )
        }
        for ident, value in wanted.items():
            row = held.get(ident)
            if row is None:
                ctx.session.add(
                    Metafield(
                        shop_id=ctx.shop_id,
                        owner_type=value.owner_type,
                        owner_id=value.owner_id,
                        namespace=value.namespace,
                        key=value.key,
                        type=value.type,
                        value=value.value,
                        updated_at=now,
                    )
                )
            elif (row.type, row.value) != (value.type, value.value):
                row.type, row.value, row.updated_at = value.type, value.value, now
        await ctx.session.flush()

    async def delete_metafields(self, ctx: ActionContext, keys: Iterable[MetafieldKey]) -> None:
        idents = [(k.owner_type, k.owner_id, k.namespace, k.key) for k in keys]
        if not idents:
            return
        columns = tuple_(Metafield.owner_type, Metafield.owner_id, Metafield.namespace, Metafield.key)
        await ctx.session.execute(
            delete(Metafield).where(Metafield.shop_id == ctx.shop_id, columns.in_(idents)),
            # "fetch" drops deleted rows from the session too, so a following set re-inserts them.
            execution_options={"synchronize_session": "fetch"},
        )

    async def read_metafields(
        self, ctx: ActionContext, owner_type: str, owner_ids: Sequence[int], namespace: str = NAMESPACE
    ) -> dict[int, dict[str, MetafieldValue]]:
        rows = await ctx.session.scalars(
            select(Metafield).where(
                Metafield.shop_id == ctx.shop_id,
                Metafield.owner_type == owner_type,
                Metafield.owner_id.in_(list(owner_ids)),
                Metafield.namespace == namespace,
            )
        )
        held: dict[int, dict[str, MetafieldValue]] = {owner: {} for owner in owner_ids}
        for row in rows:
            held[row.owner_id][row.key] = MetafieldValue(
                row.owner_type, row.owner_id, row.key, row.type, row.value, row.namespace
            )
        return held
