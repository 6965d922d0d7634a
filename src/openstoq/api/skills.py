"""The skill documents and llms.txt: Markdown for agents, with tables generated from the live registry.

Each feature declares its area's guide (``Feature.skills``); this module adds what every skill
document shares (connection, conventions) and the table of the area's actions.
"""

from __future__ import annotations

from collections.abc import Mapping

from openstoq.feature import Skill
from openstoq.registry import Action, Registry
from openstoq.settings import Settings

# The product's areas, whether this server installs them yet or not: each has a public skill document.
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

_NOT_INSTALLED = """
## Not on this server yet
This area is part of the product, but this server does not install it yet: none of its actions
exist here. The other skill documents listed in `{base}/llms.txt` describe what does.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def action_table(actions: list[Action]) -> str:
    if not actions:
        return "_No actions of this area are installed on this server yet._\n"
    rows = ["| method | path | description | aliases |", "|---|---|---|---|"]
    rows += [f"| {a.method} | `{a.path}` | {_cell(a.description)} | {_cell(', '.join(a.aliases))} |" for a in actions]
    return "\n".join(rows) + "\n"


def skill_markdown(registry: Registry, area: str, skill: Skill | None, settings: Settings) -> str:
    base_url = settings.base_url
    intro = _INTRO.format(
        area=area.replace("_", " "),
        title=skill.title if skill else AREAS[area],
        base=base_url,
        points=settings.rate_limit_points,
        window=settings.rate_limit_window_seconds,
        read=settings.read_cost,
        write=settings.write_cost,
    )
    guide = skill.guide if skill else _NOT_INSTALLED.format(base=base_url)
    table = action_table(registry.with_prefix(f"/{area}"))
    return f"{intro}{guide}\n## Every {area.replace('_', ' ')} action\n{table}"


def llms_txt(registry: Registry, areas: list[str], skills: Mapping[str, Skill], settings: Settings) -> str:
    base_url = settings.base_url

    def line(area: str) -> str:
        skill = skills.get(area)
        title = skill.title if skill else f"{AREAS.get(area, area)} (not on this server yet)"
        return f"- [{area} skill]({base_url}/{area}/skill.md): {title}"

    return f"""# openstoq

> A self-hostable server for the STOQ v2 external API: preorders and back-in-stock alerts for
> Shopify shops. Every operation is an action from one registry ({len(registry)} on this server),
> served as HTTP, as MCP tools and as these documents.

## Skills
{chr(10).join(line(area) for area in areas)}

## Discovery
- [Action manifest]({base_url}/help): `GET`, needs `X-Auth-Token`; `?prefix=/preorders/offers` or
  `<any path>/help` narrows it.
- [OpenAPI]({base_url}/openapi.json): every action with its request schema.
- MCP endpoint: `{base_url}/mcp` (streamable HTTP; `X-Auth-Token` or `Authorization: Bearer <key>`).
"""
