"""Discovery: /help, the skill document, llms.txt and OpenAPI are generated from the live registry.

A new action declared in a test shows up in all four and can be called; every request schema is
valid JSON Schema and is the very model that validates requests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from pydantic import Field
from starlette.applications import Starlette

from openstoq.app import create_app
from openstoq.composition import build_runtime
from openstoq.context import ActionContext
from openstoq.feature import Feature
from openstoq.registry import ActionGroup, Payload, Registry, uuid_placeholder
from openstoq.runtime import Runtime
from openstoq.schemas import request_schema
from openstoq.settings import BASE_PATH, Settings
from openstoq.validation import COLOR_PATTERN, RequestModel
from tests.catalog_helpers import EXAMPLE_VARIANT, attach_example_request, give_example_variant
from tests.conftest import ShopKeys
from tests.request_bodies import call, concrete_path, minimal_body, unlimited_app

PUBLIC_DOCUMENTS = {
    "/preorders/skill.md": "text/markdown",
    "/back_in_stock/skill.md": "text/markdown",
    "/llms.txt": "text/plain",
    "/openapi.json": "application/json",
}
ENTRY_KEYS = {"name", "method", "path", "description", "aliases", "request_schema"}


# --- a brand-new action, declared only here ------------------------------------------------------


class ShoutRequest(RequestModel):
    """What to shout, and how."""

    text: str = Field(min_length=1, max_length=40, description="What to shout")
    times: int = Field(1, ge=1, le=5, description="How many times")
    volume: Literal["low", "high"] = Field("high", description="How loud")


MegaphoneId = Annotated[str, uuid_placeholder("megaphone")]
megaphones = ActionGroup()


@megaphones.action(
    "shout",
    "POST",
    "/preorders/megaphones/:id/shout",
    "Shout a message through a megaphone (declared by the discovery test).",
    aliases=("yell through the megaphone", "announce loudly"),
    notes=("Only exists in tests.",),
    request=ShoutRequest,
)
async def shout(ctx: ActionContext, body: ShoutRequest, *, id: MegaphoneId) -> Payload:
    words = " ".join([body.text.upper() if body.volume == "high" else body.text] * body.times)
    return {"megaphone": id, "shop_id": ctx.shop_id, "shout": words}


@megaphones.action("whisper", "GET", "/preorders/megaphones/:id/whisper", "Whisper through a megaphone.")
async def whisper(ctx: ActionContext, _: None, *, id: MegaphoneId) -> Payload:
    return {"megaphone": id, "whisper": "psst"}


MEGAPHONES = Feature("megaphones", actions=(megaphones,))


@dataclass
class ExtendedApp:
    app: Starlette
    registry: Registry
    client: httpx.AsyncClient
    anon: httpx.AsyncClient


@pytest.fixture
async def extended(settings: Settings, shop: ShopKeys) -> AsyncIterator[ExtendedApp]:
    app = create_app(settings, runtime=build_runtime(settings, MEGAPHONES))
    registry = app.state.runtime.registry
    transport = httpx.ASGITransport(app=app)
    base_url = f"http://test{BASE_PATH}"
    async with (
        httpx.AsyncClient(transport=transport, base_url=base_url, headers=shop.headers) as client,
        httpx.AsyncClient(transport=transport, base_url=base_url) as anon,
    ):
        yield ExtendedApp(app, registry, client, anon)
    await app.state.runtime.close()


def entry(manifest: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found = [a for a in manifest["actions"] if a["method"] == method and a["path"] == path]
    assert len(found) == 1, f"{method} {path}: {len(found)} entries"
    return found[0]


async def test_a_new_action_appears_in_every_document_and_can_be_called(
    extended: ExtendedApp, anon: httpx.AsyncClient
) -> None:
    # /help
    manifest = (await extended.client.get("/help")).json()
    shout_entry = entry(manifest, "POST", "/preorders/megaphones/:id/shout")
    assert shout_entry["name"] == "shout"
    assert shout_entry["aliases"] == ["yell through the megaphone", "announce loudly"]
    assert shout_entry["notes"] == ["Only exists in tests."]
    assert shout_entry["path_params"] == ["id"]
    schema = shout_entry["request_schema"]
    assert schema["required"] == ["text"]
    assert schema["properties"]["times"]["minimum"] == 1 and schema["properties"]["times"]["maximum"] == 5
    assert schema["properties"]["volume"]["enum"] == ["low", "high"]
    assert schema["additionalProperties"] is False
    assert "id" not in schema["properties"], "path placeholders are not body keys"
    Draft202012Validator.check_schema(schema)

    # the skill document's table
    skill = (await extended.anon.get("/preorders/skill.md")).text
    assert "| POST | `/preorders/megaphones/:id/shout` | Shout a message through a megaphone" in skill
    assert "yell through the megaphone, announce loudly" in skill
    assert "/preorders/megaphones/" not in (await anon.get("/preorders/skill.md")).text, "the stock app lacks it"

    # llms.txt counts the actions of this server
    llms = (await extended.anon.get("/llms.txt")).text
    assert f"({len(extended.registry)} on this server)" in llms
    assert f"({len(extended.registry) - 2} on this server)" in (await anon.get("/llms.txt")).text

    # OpenAPI
    spec = (await extended.anon.get("/openapi.json")).json()
    operation = spec["paths"]["/preorders/megaphones/{id}/shout"]["post"]
    assert operation["operationId"] == "preorders_megaphones_shout"
    assert operation["requestBody"]["content"]["application/json"]["schema"] == schema
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("id", "path")]
    validate_openapi(spec)

    # and it runs, validated by its own model
    megaphone = str(uuid.uuid4())
    called = await extended.client.post(f"/preorders/megaphones/{megaphone}/shout", json={"text": "hi", "times": 2})
    assert called.status_code == 202, called.text
    assert called.json()["shout"] == "HI HI" and called.json()["megaphone"] == megaphone
    refused = await extended.client.post(
        f"/preorders/megaphones/{megaphone}/shout", json={"times": "2", "volume": "max", "pitch": 3}
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {
        "text is required",
        "times must be an integer",
        "volume must be one of: low, high",
        "pitch is not a known field",
    }


async def test_a_features_actions_appear_in_every_document(extended: ExtendedApp) -> None:
    found = (await extended.client.get("/help?prefix=/preorders/megaphones")).json()
    assert [a["name"] for a in found["actions"]] == ["shout", "whisper"]
    assert "/preorders/megaphones/{id}/whisper" in (await extended.anon.get("/openapi.json")).json()["paths"]
    assert "`/preorders/megaphones/:id/whisper`" in (await extended.anon.get("/preorders/skill.md")).text
    megaphone = str(uuid.uuid4())
    whispered = await extended.client.get(f"/preorders/megaphones/{megaphone}/whisper")
    assert whispered.status_code == 200 and whispered.json() == {"megaphone": megaphone, "whisper": "psst"}


# --- /help -------------------------------------------------------------------------------------


async def test_help_envelope_lists_every_action_in_registry_order(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await client.get("/help")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    manifest = response.json()
    assert set(manifest) == {"version", "base_path", "actions"}
    assert manifest["version"] == "v2" and manifest["base_path"] == "/api/v2/external"
    actions = list(runtime.registry)
    assert [(a["method"], a["path"]) for a in manifest["actions"]] == [(a.method, a.path) for a in actions]
    for action, item in zip(actions, manifest["actions"], strict=True):
        expected = set(ENTRY_KEYS)
        if action.params:
            expected.add("path_params")
        if action.notes:
            expected.add("notes")
        assert set(item) == expected, f"{action.method} {action.path}"
        assert item["name"] == action.name and item["description"] == action.description
        assert item["aliases"] == list(action.aliases) and isinstance(item["aliases"], list)
        assert "{" not in item["path"], "the manifest uses :placeholders"
        placeholders = [s[1:] for s in item["path"].split("/") if s.startswith(":")]
        assert item.get("path_params", []) == placeholders, "published: an array of placeholder names"
        assert item["request_schema"] == request_schema(action)


async def test_patch_notes_list_the_toggle_paths(client: httpx.AsyncClient) -> None:
    manifest = (await client.get("/help")).json()
    patches = [a for a in manifest["actions"] if a["method"] == "PATCH"]
    assert patches and all(a.get("notes") for a in patches)
    widget = entry(manifest, "PATCH", "/preorders/offers/:id/widget")
    toggles = next(n for n in widget["notes"] if n.startswith("Toggles:"))
    for path in ("badge.enabled", "button.custom_colors", "disclaimer.enabled"):
        assert path in toggles
    assert any("Deep-partial" in n for n in widget["notes"])


@pytest.mark.parametrize(
    "prefix",
    ["/preorders", "/preorders/offers", "/preorders/offers/:id", "/preorders/offers/:id/widget"],
)
async def test_scoped_help_has_two_equal_forms(client: httpx.AsyncClient, runtime: Runtime, prefix: str) -> None:
    by_query = await client.get("/help", params={"prefix": prefix})
    by_path = await client.get(f"{prefix}/help")
    assert by_query.status_code == by_path.status_code == 200, (by_query.text, by_path.text)
    assert by_query.json() == by_path.json()
    manifest = by_query.json()
    assert set(manifest) == {"version", "base_path", "actions"}
    expected = [a.path for a in runtime.registry if a.path == prefix or a.path.startswith(prefix + "/")]
    assert [a["path"] for a in manifest["actions"]] == expected
    full = (await client.get("/help")).json()
    assert manifest["actions"] == [a for a in full["actions"] if a["path"] in expected]


async def test_widget_scope_is_exactly_the_widget_actions(client: httpx.AsyncClient) -> None:
    manifest = (await client.get("/preorders/offers/:id/widget/help")).json()
    assert [a["name"] for a in manifest["actions"]] == [
        "read",
        "update",
        "set_button_text",
        "set_button_colors",
        "set_badge_text",
        "set_badge_colors",
        "set_disclaimer_text",
        "set_disclaimer_style",
        "set_billing_widget_text",
    ]


@pytest.mark.parametrize(
    "path", ["/help?prefix=/nope", "/nope/help", "/preorders/offers/nope/help", "/help?prefix=/pre"]
)
async def test_unknown_help_prefix_is_a_404_envelope(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0].startswith("No v2 action registered for GET /")
    assert errors[0].endswith("/help")


async def test_help_refuses_unknown_query_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/help", params={"prefx": "/preorders"})
    assert response.status_code == 422
    assert response.json() == {"errors": ["prefx is not a known field"]}


async def test_help_needs_a_key_and_costs_a_point_public_documents_do_not(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await anon.get("/help")).status_code == 401
    assert (await anon.get("/preorders/offers/help")).status_code == 401
    first = await client.get("/help")
    second = await client.get("/help")
    spent = int(first.headers["X-RateLimit-Remaining"]) - int(second.headers["X-RateLimit-Remaining"])
    assert spent == settings.read_cost == 1
    for path, media_type in PUBLIC_DOCUMENTS.items():
        for who in (anon, client):
            response = await who.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(media_type)
            assert "X-RateLimit-Remaining" not in response.headers, f"{path} is free"
    third = await client.get("/help")
    assert int(second.headers["X-RateLimit-Remaining"]) - int(third.headers["X-RateLimit-Remaining"]) == 1


# --- request schemas: valid JSON Schema, and the same model the API validates with ----------------


async def test_every_request_schema_is_valid_json_schema(client: httpx.AsyncClient) -> None:
    manifest = (await client.get("/help")).json()
    for item in manifest["actions"]:
        schema = item["request_schema"]
        Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object" and schema.get("additionalProperties") is False, item["path"]
        text = str(schema)
        assert "$ref" not in text and "$defs" not in text, "each schema stands alone"
        for param in item.get("path_params", []):
            assert param not in schema.get("properties", {}), "path placeholders are not in the request schema"


@pytest.fixture
async def roomy(settings: Settings, shop: ShopKeys) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``shop`` on an app whose rate limit a sweep over every action cannot reach."""
    async with (
        unlimited_app(settings) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://test{BASE_PATH}", headers=shop.headers
        ) as client,
    ):
        yield client


async def test_schema_and_api_agree_on_every_action(roomy: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys) -> None:
    """For every action: a body the schema rejects (an unknown key) is a 422 naming the key, and the
    example the schema accepts passes validation (a 409 is a state rule, after validation; a 404 is
    an unknown object behind a placeholder this test had to make up, e.g. a job id)."""
    client = roomy
    checked = 0
    await give_example_variant(runtime, shop)  # the variant minimal bodies and paths name
    for action in runtime.registry:
        schema = request_schema(action)
        validator = Draft202012Validator(schema)
        offer = (await client.post("/preorders/offers", json={"name": "Schema check"})).json()
        attach_path, attach = attach_example_request(offer["id"])
        assert (await client.post(attach_path, json=attach)).status_code == 202
        path = concrete_path(action, id=offer["id"], variant_id=EXAMPLE_VARIANT)
        good = minimal_body(action)
        bad = {**good, "zz_unknown": 1}
        assert validator.is_valid(good) and not validator.is_valid(bad), action.path
        refused = await call(client, action, path, bad)
        assert refused.status_code == 422, f"{action.method} {path}: {refused.text}"
        assert "zz_unknown is not a known field" in refused.json()["errors"]
        accepted = await call(client, action, path, good)
        allowed = {200 if action.is_read else 202, 409}
        if {p.name for p in action.params} - {"id", "variant_id"}:
            allowed.add(404)
        assert accepted.status_code in allowed, f"{action.method} {path} {good}: {accepted.text}"
        checked += 1
    assert checked == len(runtime.registry) > 15


def _branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional property."""
    if "anyOf" in prop:
        (branch,) = [b for b in prop["anyOf"] if b.get("type") != "null"]
        return branch
    return prop


async def test_required_enum_and_bounds_are_in_the_schemas(client: httpx.AsyncClient) -> None:
    manifest = (await client.get("/help")).json()

    listing = entry(manifest, "GET", "/preorders/offers")["request_schema"]["properties"]
    assert listing["per_page"]["maximum"] == 200 and listing["per_page"]["minimum"] == 1
    assert listing["page"]["minimum"] == 1
    assert _branch(listing["status"])["enum"] == ["disabled", "enabled", "scheduled", "discarded"]

    colors = entry(manifest, "POST", "/preorders/offers/:id/widget/set_button_colors")["request_schema"]
    for key in ("text_color", "background_color"):
        assert _branch(colors["properties"][key])["pattern"] == COLOR_PATTERN == "^#[0-9a-fA-F]{6}$"

    text = entry(manifest, "POST", "/preorders/offers/:id/widget/set_button_text")["request_schema"]
    assert text["required"] == ["text"]
    assert text["properties"]["text"]["type"] == "string", "required and not nullable"
    assert text["properties"]["text"]["minLength"] == 1

    style = entry(manifest, "POST", "/preorders/offers/:id/widget/set_disclaimer_style")["request_schema"]
    radius = _branch(style["properties"]["border_radius"])
    assert (radius["minimum"], radius["maximum"]) == (0, 50)

    schedule = entry(manifest, "POST", "/preorders/offers/:id/schedule")["request_schema"]
    assert _branch(schedule["properties"]["starts_at"])["format"] == "date-time"

    patch = entry(manifest, "PATCH", "/preorders/offers/:id/widget")["request_schema"]
    assert "required" not in patch and "default" not in str(patch), "a PATCH has no required keys or defaults"
    badge = patch["properties"]["badge"]
    assert badge["additionalProperties"] is False and badge["properties"]["enabled"] == {
        "type": "boolean",
        "description": "Show a badge on product images",
    }
    assert patch["properties"]["disclaimer"]["properties"]["border_radius"]["maximum"] == 50


# --- public documents ----------------------------------------------------------------------------


async def test_skill_document_tables_every_preorder_action(anon: httpx.AsyncClient, runtime: Runtime) -> None:
    skill = (await anon.get("/preorders/skill.md")).text
    assert "X-Auth-Token" in skill and "application/json" in skill and BASE_PATH in skill
    for action in runtime.registry.with_prefix("/preorders"):
        assert f"| {action.method} | `{action.path}` | {action.description}" in skill, action.path


async def test_llms_txt_points_to_every_entry_point(anon: httpx.AsyncClient) -> None:
    llms = (await anon.get("/llms.txt")).text
    for target in ("/preorders/skill.md", "/back_in_stock/skill.md", "/help", "/mcp", "/openapi.json"):
        assert f"{BASE_PATH}{target}" in llms, target
    root = await anon.get("http://test/llms.txt")
    assert root.status_code == 200 and root.text == llms


async def test_openapi_is_valid_3_1_and_covers_the_registry(anon: httpx.AsyncClient, runtime: Runtime) -> None:
    spec = (await anon.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    validate_openapi(spec)
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
    }
    operation_ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids)) == len(runtime.registry) + 1  # + /help
    for path in spec["paths"]:
        assert ":" not in path, f"{path}: OpenAPI uses {{id}} placeholders"
    for action in runtime.registry:
        path = "/" + "/".join("{" + s[1:] + "}" if s.startswith(":") else s for s in action.segments)
        operation = spec["paths"][path][action.method.lower()]
        assert operation["operationId"] == action.tool_name
        in_path = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
        assert in_path == [p.name for p in action.params]
        schema = request_schema(action)
        if action.is_read:
            in_query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert in_query == set(schema.get("properties", {}))
        else:
            assert operation["requestBody"]["content"]["application/json"]["schema"] == schema
        success = "200" if action.is_read else "202"
        assert success in operation["responses"] and "422" in operation["responses"]
