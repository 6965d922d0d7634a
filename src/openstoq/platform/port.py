"""The commerce platform port: the commands openstoq sends to a shop's platform, and its reads.

Two adapters: ``local`` (openstoq is the platform; commands land in its own tables) and, later,
``shopify`` (Admin GraphQL). The interface is shaped for the latter: batched commands (Shopify's
``metafieldsSet`` takes 25 at a time; adapters batch), idempotent by construction (set-to-value,
add-if-missing), and no command reads back what it wrote. Commands are only ever called from
outbox deliveries (``openstoq.outbox``) and background jobs, never from a request's transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openstoq.context import ActionContext

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
    async def ensure_selling_plan_group(
        self, ctx: ActionContext, offer_id: str, name: str, known: SellingPlanRef | None
    ) -> SellingPlanRef:
        """The offer's selling plan group, named ``name``: the ``known`` one (renamed if need be), or a new
        one (``sellingPlanGroupCreate``); the caller keeps the ref it returns."""

    @abstractmethod
    async def selling_plan_variants(self, ctx: ActionContext, group: SellingPlanRef) -> list[int]:
        """The variants the selling plan group holds now."""

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
