"""The skill documents and llms.txt: Markdown for agents, with tables generated from the live registry."""

from __future__ import annotations

from openstoq.registry import Action, Registry
from openstoq.settings import Settings

AREAS = {
    "preorders": "Preorders: offers (selling plans), their capabilities, variants, orders and reports",
    "back_in_stock": "Back in stock: waitlist signups, notifications, settings and reports",
}

_INTRO = """\
# openstoq {area} skill

{title}. Load this document as your system prompt to operate a shop through the STOQ v2 external API.

## Connection
- Base URL: `{base}`
- Auth: header `X-Auth-Token: <shop API key>` (keys look like `stoq_api_key_` + 32 hex). The key
  decides the shop; you can never see another shop's data.
- Send and expect `Content-Type: application/json`.
- MCP: the same actions are tools at `{base}/mcp` (streamable HTTP, same key).

## How to think about this API
- Pick the **action** whose description or alias matches the intent. Do not guess REST resources:
  every operation is a named action listed below (or via `GET {base}/help`, `GET <path>/help`).
- Settings and every boolean toggle go through **one deep-partial PATCH per capability**: send only
  the keys you change, at any depth; keys you do not send stay as they are. The PATCH's notes list
  its toggles (e.g. `badge.enabled`).
- Side effects (state changes, fan-out to variants, calls to the platform, sends) are **named POST
  actions** (e.g. `POST /preorders/offers/:id/enable`).
- Reads answer `200`; every write answers `202` with the resulting object. Bulk work and exports
  answer `202` with `job_id` and `status_url`: poll `status_url` until `status` is `completed` or `ready`.
- Errors: `{{"errors": ["..."]}}`. `422` lists every problem with the request; `409` means the object's
  state forbids the action and the message says what unblocks it; `404` is an unknown id or action.
- Rate limit: {points} points per {window} s per shop; reads cost {read}, writes {write}. On `429`,
  wait `retry_after` seconds.
"""

_PREORDER_GUIDE = """
## The offer lifecycle
`disabled` (new) → `enabled` (live now) or `scheduled` (live between `starts_at` and `ends_at`;
the read shows `live`). `disable` stops it; `unschedule` returns a scheduled offer to `disabled`.
`discard` soft-deletes from any state; a discarded offer accepts only `read`, `restore` and `list`
(anything else is `409`: restore it first). `restore` brings it back `disabled`. Every transition
is in `GET /preorders/offers/:id/history`.

## Worked flows
**Change the preorder button text on a named offer.**
1. `GET /preorders/offers` and find the offer whose `name` or `internal_name` matches.
2. `POST /preorders/offers/:id/widget/set_button_text` with `{{"text": "Reserve yours"}}`.

**Pause an offer and stop overselling.**
1. `POST /preorders/offers/:id/disable`: the offer stops being live at once.
2. Check `GET /preorders/offers/:id`: `status` is `disabled`, `live` is `false`.

**Restyle the widget in one call.**
`PATCH /preorders/offers/:id/widget` with only what changes, e.g.
`{{"badge": {{"enabled": true, "text": "Coming soon"}}, "button": {{"custom_colors": true}}}}`.

**Schedule an offer.**
`POST /preorders/offers/:id/schedule` with `{{"starts_at": "2030-01-01T09:00:00Z", "ends_at":
"2030-02-01T09:00:00Z"}}` (either may be omitted, not both). It goes live and stops by itself.
"""

_BACK_IN_STOCK_GUIDE = """
## Worked flows
Back-in-stock actions appear in the table below as they are installed on this server.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def action_table(actions: list[Action]) -> str:
    if not actions:
        return "_No actions of this area are installed on this server yet._\n"
    rows = ["| method | path | description | aliases |", "|---|---|---|---|"]
    rows += [f"| {a.method} | `{a.path}` | {_cell(a.description)} | {_cell(', '.join(a.aliases))} |" for a in actions]
    return "\n".join(rows) + "\n"


def skill_markdown(registry: Registry, area: str, settings: Settings) -> str:
    base_url = settings.base_url
    intro = _INTRO.format(
        area=area.replace("_", " "),
        title=AREAS[area],
        base=base_url,
        points=settings.rate_limit_points,
        window=settings.rate_limit_window_seconds,
        read=settings.read_cost,
        write=settings.write_cost,
    )
    guide = (_PREORDER_GUIDE if area == "preorders" else _BACK_IN_STOCK_GUIDE).format()
    table = action_table(registry.with_prefix(f"/{area}"))
    return f"{intro}{guide}\n## Every {area.replace('_', ' ')} action\n{table}"


def llms_txt(registry: Registry, settings: Settings) -> str:
    base_url = settings.base_url
    areas = "\n".join(f"- [{area} skill]({base_url}/{area}/skill.md): {text}" for area, text in AREAS.items())
    return f"""# openstoq

> A self-hostable server for the STOQ v2 external API: preorders and back-in-stock alerts for
> Shopify shops. Every operation is an action from one registry ({len(registry)} on this server),
> served as HTTP, as MCP tools and as these documents.

## Skills
{areas}

## Discovery
- [Action manifest]({base_url}/help): `GET`, needs `X-Auth-Token`; `?prefix=/preorders/offers` or
  `<any path>/help` narrows it.
- [OpenAPI]({base_url}/openapi.json): every action with its request schema.
- MCP endpoint: `{base_url}/mcp` (streamable HTTP; `X-Auth-Token` or `Authorization: Bearer <key>`).
"""
