"""Every action group of the product, gathered into one registry."""

from __future__ import annotations

from openstoq.registry import ActionGroup, Registry


def groups() -> list[ActionGroup]:
    from openstoq.preorders import offers, variant_jobs, variants
    from openstoq.preorders.capabilities import products, widget

    return [offers.actions, widget.actions, products.actions, variants.actions, variant_jobs.actions]


def build_registry() -> Registry:
    return Registry(action for group in groups() for action in group.actions)
