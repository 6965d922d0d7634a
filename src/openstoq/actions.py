"""Every action group of the product, gathered into one registry."""

from __future__ import annotations

from openstoq.registry import ActionGroup, Registry


def groups() -> list[ActionGroup]:
    from openstoq.preorders import offers
    from openstoq.preorders.capabilities import widget

    return [offers.actions, widget.actions]


def build_registry() -> Registry:
    return Registry(action for group in groups() for action in group.actions)
