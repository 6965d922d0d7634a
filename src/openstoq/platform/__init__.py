"""The commerce platform boundary: events come in as webhooks, commands go out through ``Platform``.

Two implementations: ``local`` (openstoq is the platform; commands land in its own tables in the
caller's transaction) and, later, ``shopify`` (Admin GraphQL). The interface is shaped for the
latter: batched commands (Shopify's ``metafieldsSet`` takes 25 at a time; implementations batch),
idempotent by construction (set-to-value, add-if-missing), and no command reads back what it wrote.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Shop
from openstoq.errors import Conflict

NAMESPACE = "restockrocket_production"  # the namespace the reference app's storefront reads


@dataclass(frozen=True, slots=True)
class MetafieldKey:
    owner_type: str  # "variant" or "shop"
    owner_id: int  # the variant id; 0 for the shop
    key: str
    namespace: str = NAMESPACE


@dataclass(frozen=True, slots=True)
class MetafieldValue:
    owner_type: str
    owner_id: int
    key: str
    type: str  # Shopify metafield type: json, number_integer, ...
    value: str  # serialized, as the platform stores it
    namespace: str = NAMESPACE

    @property
    def ident(self) -> MetafieldKey:
        return MetafieldKey(self.owner_type, self.owner_id, self.key, self.namespace)


@dataclass(frozen=True, slots=True)
class SellingPlanRef:
    group_id: int
    selling_plan_id: int


class Platform(ABC):
    """Commands toward the shop's platform. Every method may be retried: each is idempotent."""

    name: str

    @abstractmethod
    async def ensure_selling_plan_group(self, ctx: ActionContext, offer_id: str, name: str) -> SellingPlanRef:
        """Create the offer's selling plan group, or return the one it has (``sellingPlanGroupCreate``)."""

    @abstractmethod
    async def add_variants(self, ctx: ActionContext, group: SellingPlanRef, variant_ids: Sequence[int]) -> None:
        """Add variants to a selling plan group; already present ones are left as they are."""

    @abstractmethod
    async def remove_variants(self, ctx: ActionContext, group: SellingPlanRef, variant_ids: Sequence[int]) -> None:
        """Remove variants from a selling plan group; absent ones are ignored."""

    @abstractmethod
    async def set_metafields(self, ctx: ActionContext, values: Iterable[MetafieldValue]) -> None:
        """Set metafields to these values (``metafieldsSet``)."""

    @abstractmethod
    async def delete_metafields(self, ctx: ActionContext, keys: Iterable[MetafieldKey]) -> None:
        """Delete metafields; missing ones are ignored (``metafieldsDelete``)."""

    @abstractmethod
    async def read_metafields(
        self, ctx: ActionContext, owner_type: str, owner_ids: Sequence[int], namespace: str = NAMESPACE
    ) -> dict[int, dict[str, MetafieldValue]]:
        """What the platform holds now, by owner id and key (for drift detection)."""


async def platform_for(ctx: ActionContext) -> Platform:
    """The platform of the context's shop."""
    from openstoq.platform.local import LocalPlatform

    kind = await ctx.session.scalar(select(Shop.platform).where(Shop.id == ctx.shop_id))
    if kind == "local":
        return LocalPlatform()
    raise Conflict(
        f"this shop runs on the {kind} platform, which this openstoq version cannot reach yet; "
        "create a local shop (`openstoq shops create DOMAIN --platform local`) to use this action"
    )
