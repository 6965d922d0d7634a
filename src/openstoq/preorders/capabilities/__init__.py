"""Offer capabilities: each is one block of settings with a read, a deep-partial PATCH and named POSTs.

A capability is declared once (its model with defaults, its toggles) and ``declare`` turns it into
its read and update actions. Named actions call ``change`` so every write follows the same path:
lock the offer, refuse when discarded, merge, validate the whole block, store, record history.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from openstoq.context import ActionContext
from openstoq.errors import ValidationFailed
from openstoq.merge import changed_paths, deep_merge, lay
from openstoq.preorders import storefront
from openstoq.preorders.offers import OFFER_ID, PATH, OfferFields, load_active, read_row, record
from openstoq.registry import ActionGroup, Handler, Params, Payload
from openstoq.validation import messages, partial_model


@dataclass(frozen=True)
class Capability:
    name: str
    model: type[BaseModel]  # the whole block, with the defaults a new offer starts from
    summary: str  # what the block holds, for action descriptions
    toggles: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"{PATH}/:id/{self.name}"

    @cached_property
    def _default_json(self) -> bytes:
        # Built once: a pydantic dump costs ~50 µs per read, orjson.loads of these bytes ~1 µs.
        return orjson.dumps(self.model().model_dump(mode="json"))

    def defaults(self) -> dict[str, Any]:
        return orjson.loads(self._default_json)  # a fresh copy each time: callers may change it

    def block(self, offer: OfferFields) -> dict[str, Any]:
        """The offer's block: defaults under what was stored, so fields added later get defaults."""
        return lay(self.defaults(), (offer.capabilities or {}).get(self.name, {}))


CAPABILITIES: dict[str, Capability] = {}


def summaries(offer: OfferFields) -> dict[str, Any]:
    """Every capability block of the offer (one parse of all the defaults: the offer read's hot spot)."""
    blocks: dict[str, Any] = orjson.loads(_all_defaults(tuple(CAPABILITIES)))
    stored = offer.capabilities or {}
    for name, block in blocks.items():
        if name in stored:
            lay(block, stored[name])
    return blocks


@cache
def _all_defaults(names: tuple[str, ...]) -> bytes:
    return orjson.dumps({name: CAPABILITIES[name].defaults() for name in names})


async def change(
    ctx: ActionContext, offer_id: str, capability: Capability, patch: dict[str, Any], action: str
) -> Payload:
    """Apply ``patch`` to the offer's block in this transaction and return the whole block."""
    offer, _ = await load_active(ctx, offer_id)
    before = capability.block(offer)
    merged = deep_merge(before, patch)
    try:
        after = capability.model.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        raise ValidationFailed(*messages(exc)) from None
    changes = changed_paths(before, after)
    if changes:
        # Assign a new dict: JSON columns do not track in-place mutation.
        offer.capabilities = {**(offer.capabilities or {}), capability.name: after}
        record(ctx, offer, f"{capability.name}.{action}", changes=changes)
        await ctx.session.flush()
        await storefront.publish(ctx)  # the shop-level metafield carries the widget copy
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
    """Register the capability and declare its read and its deep-partial PATCH.

    A capability whose writes do more than store the block (e.g. products: membership on the
    platform) passes its own ``read``/``update`` handlers, ``response`` model and extra PATCH ``notes``;
    the declarations (paths, descriptions, the partial request model) stay the same for every capability.
    """
    CAPABILITIES[capability.name] = capability
    patch_model = partial_model(capability.model, f"{capability.model.__name__}Patch")
    label = capability.name.replace("_", " ")

    async def read_block(ctx: ActionContext, params: Params, _: None) -> Payload:
        return capability.block(await read_row(ctx, params["id"]))

    async def update_block(ctx: ActionContext, params: Params, body: BaseModel) -> Payload:
        return await change(ctx, params["id"], capability, body.model_dump(exclude_unset=True), "update")

    group.action(
        "read",
        "GET",
        capability.path,
        f"Read an offer's {label} settings: {capability.summary}.",
        aliases=tuple(f"show {a}" for a in capability.aliases),
        params=(OFFER_ID,),
        response=response or capability.model,
    )(read or read_block)
    patch_notes = ["Deep-partial: send only the keys you change, at any depth; keys not sent are untouched."]
    if capability.toggles:
        patch_notes.append("Toggles: " + ", ".join(capability.toggles) + ".")
    group.action(
        "update",
        "PATCH",
        capability.path,
        f"Change an offer's {label} settings ({capability.summary}); answers the whole block.",
        aliases=tuple(f"change {a}" for a in capability.aliases),
        notes=(*patch_notes, *notes),
        params=(OFFER_ID,),
        request=patch_model,
        response=response or capability.model,
    )(update or update_block)
