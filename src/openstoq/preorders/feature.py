"""The preorders feature: everything this package adds to a process, declared in one place."""

from __future__ import annotations

from openstoq.feature import Feature, Skill
from openstoq.preorders import storefront
from openstoq.preorders.capabilities import widget
from openstoq.preorders.offers import actions as offers
from openstoq.preorders.offers.scheduler import SCHEDULES
from openstoq.preorders.products import actions as products
from openstoq.preorders.products.models import PRODUCTS
from openstoq.preorders.variants import actions as variants
from openstoq.preorders.variants import jobs as variant_jobs

GUIDE = """
## The offer lifecycle
`disabled` (new) → `enabled` (live now) or `scheduled` (live between `starts_at` and `ends_at`;
the read shows `live`). `disable` stops it; `unschedule` returns a scheduled offer to `disabled`.
`discard` soft-deletes from any state; a discarded offer accepts only `read`, `restore` and `list`
(anything else is `409`: restore it first). `restore` brings it back `disabled`. Every transition
is in `GET /preorders/offers/:id/history`.

## Worked flows
**Change the preorder button text on a named offer.**
1. `GET /preorders/offers` and find the offer whose `name` or `internal_name` matches.
2. `POST /preorders/offers/:id/widget/set_button_text` with `{"text": "Reserve yours"}`.

**Put products on preorder.**
1. `POST /preorders/offers` with `{"name": "Spring drop"}`, then
   `POST /preorders/offers/:id/products/add_variants` with `{"variant_ids": [...]}`.
2. `POST /preorders/offers/:id/enable`: shoppers can preorder those variants now.

**Pause an offer and stop overselling.**
1. `POST /preorders/offers/:id/disable`: the offer stops being live at once.
2. Check `GET /preorders/offers/:id`: `status` is `disabled`, `live` is `false`.

**Restyle the widget in one call.**
`PATCH /preorders/offers/:id/widget` with only what changes, e.g.
`{"badge": {"enabled": true, "text": "Coming soon"}, "button": {"custom_colors": true}}`.

**Schedule an offer.**
`POST /preorders/offers/:id/schedule` with `{"starts_at": "2030-01-01T09:00:00Z", "ends_at":
"2030-02-01T09:00:00Z"}` (either may be omitted, not both). It goes live and stops by itself.

**Fix a preorder count that looks wrong.**
`POST /preorders/product_variants/:variant_id/recalculate_preorder_count` rebuilds it from the open
orders; for a whole offer, `POST /preorders/product_variants/bulk_recalculate_preorder_counts` with
`{"offer_id": "..."}` and poll the `status_url` it answers.

## On this server now, and coming
Offers with the widget and products capabilities, product variants (counts, metafields, bulk jobs,
export) and the orders mirror fed by the platform's webhooks are here. Order actions (release,
charge the balance, refund, cancel), the other ten capabilities and reports are coming: an action
that is not in the table below does not exist on this server yet.
"""

FEATURE = Feature(
    name="preorders",
    actions=(offers.actions, widget.actions, products.actions, variants.actions),
    capabilities=(widget.WIDGET, PRODUCTS),
    job_kinds=variant_jobs.KINDS,
    commands=storefront.COMMANDS,
    duties=(SCHEDULES,),
    skills=(Skill("preorders", "Preorders: offers (selling plans), their capabilities and variants", GUIDE),),
)
