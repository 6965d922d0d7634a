"""The commerce platform: the port (``port``), its adapters (``local``), and the wire formats of its
events (``payloads``). Nothing here knows the preorder or back-in-stock domains."""

from __future__ import annotations

from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Shop
from openstoq.errors import Conflict
from openstoq.platform.local import LocalPlatform
from openstoq.platform.port import NAMESPACE, MetafieldKey, MetafieldValue, Platform, SellingPlanRef

__all__ = ["NAMESPACE", "MetafieldKey", "MetafieldValue", "Platform", "SellingPlanRef", "platform_for"]


async def platform_for(ctx: ActionContext) -> Platform:
    """The platform of the context's shop, or a 409 when this version cannot reach it."""
    kind = await ctx.session.scalar(select(Shop.platform).where(Shop.id == ctx.shop_id))
    if kind == "local":
        return LocalPlatform()
    raise Conflict(
        f"this shop runs on the {kind} platform, which this openstoq version cannot reach yet; "
        "create a local shop (`openstoq shops create DOMAIN --platform local`) to use this action"
    )
