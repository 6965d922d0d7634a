"""What every offer capability shares: its paths, its read and deep-partial PATCH, and ``change``.

A capability is declared once (``openstoq.capability.Capability``: its block model with defaults,
its toggles) and ``declare`` turns it into its read and update actions. Named actions call
``change`` so every write follows the same path: lock the offer, refuse when discarded, merge,
validate the whole block, store, record history, and tell the storefront.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from openstoq.capability import Capability
from openstoq.context import ActionContext
from openstoq.errors import ValidationFailed
from openstoq.merge import changed_paths, deep_merge
from openstoq.preorders import storefront
from openstoq.preorders.offers.models import PATH, OfferId
from openstoq.preorders.offers.service import load_active, read_row, record
from openstoq.registry import ActionGroup, Handler, Payload
from openstoq.validation import RequestModel, messages, partial_model


def path(capability: Capability) -> str:
    return f"{PATH}/:id/{capability.name}"


def validated(capability: Capability, block: dict[str, Any]) -> dict[str, Any]:
    """The whole block, checked against its model (a 422 listing every problem), as JSON."""
    try:
        return capability.model.model_validate(block).model_dump(mode="json")
    except ValidationError as exc:
        raise ValidationFailed(*messages(exc)) from None


async def change(
    ctx: ActionContext, offer_id: str, capability: Capability, patch: dict[str, Any], action: str
) -> Payload:
    """Apply ``patch`` to the offer's block in this transaction and return the whole block."""
    offer, _ = await load_active(ctx, offer_id)
    before = capability.block(offer.capabilities)
    after = validated(capability, deep_merge(before, patch))
    changes = changed_paths(before, after)
    if changes:
        # Assign a new dict: JSON columns do not track in-place mutation.
        offer.capabilities = {**(offer.capabilities or {}), capability.name: after}
        record(ctx, offer, f"{capability.name}.{action}", changes=changes)
        await ctx.session.flush()
        await storefront.publish(ctx)  # the shop-level metafield carries the offer's storefront settings
    return after


def declare(
    group: ActionGroup,
    capability: Capability,
    *,
    read: Handler | None = None,
    update: Handler | None = None,
    response: type[BaseModel] | None = None,
    notes: tuple[str, ...] = (),
) -> None:
    """Declare the capability's read and its deep-partial PATCH.

    A capability whose writes do more than store the block (e.g. products: membership on the
    platform) passes its own ``read``/``update`` handlers, ``response`` model and extra PATCH ``notes``;
    the declarations (paths, descriptions, the partial request model) stay the same for every capability.
    """
    patch_model = partial_model(capability.model, f"{capability.model.__name__}Patch")
    label = capability.name.replace("_", " ")

    async def read_block(ctx: ActionContext, _: None, *, id: OfferId) -> Payload:
        return capability.block((await read_row(ctx, id)).capabilities)

    async def update_block(ctx: ActionContext, body: RequestModel, *, id: OfferId) -> Payload:
        return await change(ctx, id, capability, body.model_dump(exclude_unset=True), "update")

    group.action(
        "read",
        "GET",
        path(capability),
        f"Read an offer's {label} settings: {capability.summary}.",
        aliases=tuple(f"show {a}" for a in capability.aliases),
        response=response or capability.model,
    )(read or read_block)
    patch_notes = ["Deep-partial: send only the keys you change, at any depth; keys not sent are untouched."]
    if capability.toggles:
        patch_notes.append("Toggles: " + ", ".join(capability.toggles) + ".")
    group.action(
        "update",
        "PATCH",
        path(capability),
        f"Change an offer's {label} settings ({capability.summary}); answers the whole block.",
        aliases=tuple(f"change {a}" for a in capability.aliases),
        notes=(*patch_notes, *notes),
        request=patch_model,
        response=response or capability.model,
    )(update or update_block)
