"""The MCP face in process: the SDK's own client over streamable HTTP against the ASGI app.

Every tool call must behave like its HTTP action: same payloads, same error messages, same shop
scoping, same rate-limit points. The real processes (``openstoq serve`` and ``openstoq mcp``) are
covered in tests/e2e/test_mcp_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import jsonschema
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel
from starlette.applications import Starlette

from openstoq.app import create_app
from openstoq.composition import build_runtime
from openstoq.context import ActionContext
from openstoq.feature import Feature
from openstoq.mcp import server as mcp_server
from openstoq.registry import Action, ActionGroup, Payload
from openstoq.runtime import Runtime
from openstoq.schemas import describe, input_schema, response_schema
from openstoq.settings import BASE_PATH, Settings
from openstoq.shops import get_shop, revoke_key
from openstoq.validation import RequestModel
from tests.conftest import MakeShop, ShopKeys
from tests.request_bodies import call, concrete_path, example_value, minimal_body

MCP_URL = f"http://test{BASE_PATH}/mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[Starlette]:
    """An app on the shared runtime with only its MCP session manager running (the full lifespan
    would close the session-wide runtime; the e2e tests cover the real lifespan)."""
    app = create_app(runtime.settings, runtime=runtime)
    async with app.state.mcp.run():
        yield app


@asynccontextmanager
async def session(app: Starlette, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session over streamable HTTP, sending ``headers`` on every request."""
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), headers=headers)
    async with (
        http,
        streamable_http_client(MCP_URL, http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


def http_client(app: Starlette, shop: ShopKeys) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers)


def error_body(result: types.CallToolResult, status: int | None = None) -> Any:
    """The HTTP error body a failed call carries, without the ``status`` it adds (checked when given)."""
    assert result.is_error, result
    assert result.structured_content is None
    [content] = result.content
    assert isinstance(content, types.TextContent)
    body = json.loads(content.text)
    said = body.pop("status")
    assert status is None or said == status, body
    return body


def payload(result: types.CallToolResult) -> Any:
    assert not result.is_error, result.content
    [content] = result.content
    assert isinstance(content, types.TextContent)
    assert json.loads(content.text) == result.structured_content
    return result.structured_content


async def test_one_tool_per_action_from_the_registry(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    actions = {a.tool_name: a for a in runtime.registry}
    assert set(tools) == set(actions)
    for name, tool in tools.items():
        action = actions[name]
        assert tool.input_schema == input_schema(action)
        assert tool.output_schema == response_schema(action)
        assert tool.description == describe(action)
        assert tool.annotations is not None
        if action.is_read:
            assert tool.annotations.read_only_hint is True
        else:
            assert tool.annotations.read_only_hint is False
            assert tool.annotations.destructive_hint is action.is_destructive
    assert tools["preorders_offers_read"].annotations.read_only_hint is True
    assert tools["preorders_offers_discard"].annotations.destructive_hint is True
    assert tools["preorders_offers_enable"].annotations.destructive_hint is False


async def test_offer_flow_matches_http(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        created = payload(await client.call_tool("preorders_offers_create", {"name": "Spring drop"}))
        oid = created["id"]
        assert created["status"] == "disabled" and created["name"] == "Spring drop"
        widget = payload(
            await client.call_tool("preorders_offers_widget_set_button_text", {"id": oid, "text": "Reserve yours"})
        )
        assert widget["button"]["text"] == "Reserve yours"
        enabled = payload(await client.call_tool("preorders_offers_enable", {"id": oid}))
        assert enabled["status"] == "enabled" and enabled["live"] is True
        read = payload(await client.call_tool("preorders_offers_read", {"id": oid}))
        over_http = await http.get(f"/preorders/offers/{oid}")
        assert over_http.status_code == 200
        assert read == over_http.json()
        assert read["capabilities"]["widget"]["button"]["text"] == "Reserve yours"
        history = (await http.get(f"/preorders/offers/{oid}/history")).json()
        assert [e["source"] for e in history["events"]] == ["mcp", "mcp", "mcp"]


async def test_read_arguments_are_the_query(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        for name in ("a", "b"):
            payload(await client.call_tool("preorders_offers_create", {"name": name}))
        listed = payload(await client.call_tool("preorders_offers_list", {"per_page": 1, "page": 2}))
        assert listed == (await http.get("/preorders/offers", params={"per_page": 1, "page": 2})).json()
        assert [o["name"] for o in listed["offers"]] == ["a"]
        too_many = error_body(await client.call_tool("preorders_offers_list", {"per_page": 500, "status": "gone"}))
        over_http = await http.get("/preorders/offers", params={"per_page": 500, "status": "gone"})
        assert over_http.status_code == 422
        assert too_many == over_http.json()


@pytest.mark.parametrize(
    ("tool", "path", "arguments"),
    [
        ("preorders_offers_widget_set_button_colors", "widget/set_button_colors", {"text_color": "red"}),
        ("preorders_offers_widget_set_button_colors", "widget/set_button_colors", {}),
        ("preorders_offers_widget_update", "widget", {"button": {"text": "", "size": 3}}),
        ("preorders_offers_update", "", {"name": 5, "colour": "x"}),
    ],
)
async def test_validation_errors_are_the_http_messages(
    runtime: Runtime, shop: ShopKeys, tool: str, path: str, arguments: dict[str, Any]
) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        oid = payload(await client.call_tool("preorders_offers_create", {}))["id"]
        over_mcp = error_body(await client.call_tool(tool, {"id": oid, **arguments}))
        method = "PATCH" if tool.endswith("update") else "POST"
        over_http = await http.request(method, f"/preorders/offers/{oid}/{path}".rstrip("/"), json=arguments)
    assert over_http.status_code == 422
    assert over_mcp == over_http.json()
    assert over_mcp["errors"]


async def test_colour_error_message(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client:
        oid = payload(await client.call_tool("preorders_offers_create", {}))["id"]
        result = await client.call_tool("preorders_offers_widget_set_button_colors", {"id": oid, "text_color": "red"})
    assert error_body(result) == {"errors": ["text_color must be a #rrggbb colour"]}


async def test_missing_path_param_is_a_validation_error(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client:
        result = await client.call_tool("preorders_offers_widget_set_button_text", {"text": "Hi"})
    assert error_body(result) == {"errors": ["id is required"]}


async def test_conflict_and_not_found_carry_the_http_messages(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        oid = payload(await client.call_tool("preorders_offers_create", {}))["id"]
        payload(await client.call_tool("preorders_offers_discard", {"id": oid}))
        blocked = error_body(await client.call_tool("preorders_offers_enable", {"id": oid}))
        assert "restore it first" in blocked["errors"][0]
        over_http = await http.post(f"/preorders/offers/{oid}/enable")
        assert over_http.status_code == 409 and blocked == over_http.json()
        missing = "00000000-0000-4000-8000-000000000000"
        not_found = error_body(await client.call_tool("preorders_offers_read", {"id": missing}))
        assert not_found == (await http.get(f"/preorders/offers/{missing}")).json()
        assert not_found == {"errors": [f"Offer {missing} not found"]}


async def test_unknown_tool_is_a_protocol_error(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client:
        with pytest.raises(MCPError, match="Unknown tool: preorders_offers_nope"):
            await client.call_tool("preorders_offers_nope", {})


async def test_read_only_key_gets_the_http_403(runtime: Runtime, make_shop: MakeShop) -> None:
    shop = await make_shop(read_only=True)
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        refused = error_body(await client.call_tool("preorders_offers_create", {"name": "x"}))
        over_http = await http.post("/preorders/offers", json={"name": "x"})
        assert over_http.status_code == 403 and refused == over_http.json()
        assert payload(await client.call_tool("preorders_offers_list", {}))["offers"] == []


async def test_bearer_auth(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, {"Authorization": f"Bearer {shop.api_key}"}) as client:
        created = payload(await client.call_tool("preorders_offers_create", {"name": "via bearer"}))
    async with serving(runtime) as app, http_client(app, shop) as http:
        assert (await http.get(f"/preorders/offers/{created['id']}")).json()["name"] == "via bearer"


def _counting_feature() -> tuple[Feature, list[str]]:
    calls: list[str] = []
    group = ActionGroup()

    @group.action("count", "POST", "/test/count", "Count calls.")
    async def count(ctx: ActionContext, _: None) -> Payload:
        calls.append(ctx.shop_id)
        return {"count": len(calls)}

    return Feature("test", actions=(group,)), calls


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Auth-Token": "stoq_api_key_" + "0" * 32},
        {"Authorization": "Bearer stoq_api_key_" + "0" * 32},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Auth-Token": "nonsense"},
    ],
)
async def test_missing_or_bad_key_is_401_before_any_tool_runs(settings: Settings, headers: dict[str, str]) -> None:
    feature, calls = _counting_feature()
    app = create_app(settings, runtime=build_runtime(settings, feature))
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "test_count", "arguments": {}}}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, headers={**ACCEPT, **headers}) as http:
            for body in (INITIALIZE, call):
                response = await http.post(MCP_URL, json=body)
                assert response.status_code == 401
                errors = response.json()["errors"]
                assert len(errors) == 1 and "API key" in errors[0]
                assert response.headers["x-request-id"]
            assert (await http.get(MCP_URL)).status_code == 405, "no event stream: GET is refused at once"
        with pytest.raises(Exception):  # noqa: B017 - the SDK client fails to connect; how it says so is its business
            async with session(app, headers):
                pass
    assert calls == []


def offer_actions(runtime: Runtime) -> list[Action]:
    """Every action that addresses one offer by its id, from the registry (new ones included)."""
    return [a for a in runtime.registry.with_prefix("/preorders/offers") if "id" in a.param]


def arguments_for(action: Action, offer_id: str) -> dict[str, Any]:
    """Minimal valid arguments from the tool's own schema, aimed at ``offer_id``."""
    params = {p.name: example_value(p.schema) for p in action.params if p.name != "id"}
    return {**minimal_body(action), **params, "id": offer_id}


async def test_another_shops_offer_is_not_found_and_untouched(runtime: Runtime, make_shop: MakeShop) -> None:
    owner, intruder = await make_shop(), await make_shop()
    async with serving(runtime) as app, http_client(app, owner) as http:
        oid = (await http.post("/preorders/offers", json={"name": "Mine"})).json()["id"]
        await http.post(f"/preorders/offers/{oid}/enable")
        paths = [f"/preorders/offers/{oid}", f"/preorders/offers/{oid}/history", f"/preorders/offers/{oid}/widget"]
        before = [(await http.get(p)).content for p in paths]
        actions = offer_actions(runtime)
        assert len(actions) >= 15
        async with session(app, intruder.headers) as client:
            for action in actions:
                result = await client.call_tool(action.tool_name, arguments_for(action, oid))
                assert error_body(result) == {"errors": [f"Offer {oid} not found"]}, action.tool_name
            assert payload(await client.call_tool("preorders_offers_list", {}))["offers"] == []
        assert [(await http.get(p)).content for p in paths] == before


async def test_every_offer_tool_answers_like_its_http_action(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, session(app, shop.headers) as client, http_client(app, shop) as http:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for action in offer_actions(runtime):
            # A fresh offer for each face, so one's change cannot decide the other's answer.
            over_mcp, over_http = [(await http.post("/preorders/offers", json={})).json()["id"] for _ in "ab"]
            result = await client.call_tool(action.tool_name, arguments_for(action, over_mcp))
            request = {k: v for k, v in arguments_for(action, over_http).items() if k not in action.param}
            response = await call(http, action, concrete_path(action, id=over_http), request)
            assert result.is_error == (response.status_code >= 400), (action.tool_name, response.text)
            if result.is_error:
                said = error_body(result, response.status_code)
                assert said == json.loads(response.text.replace(over_http, over_mcp))
                continue
            answer = payload(result)
            assert set(answer) == set(response.json()), action.tool_name
            if (schema := tools[action.tool_name].output_schema) is not None:
                jsonschema.validate(answer, schema)


class Greeting(RequestModel):
    name: str


class Greeted(BaseModel):
    greeting: str


async def test_an_action_a_feature_declares_becomes_a_tool(settings: Settings, make_shop: MakeShop) -> None:
    shop = await make_shop()
    group = ActionGroup()

    @group.action("greet", "POST", "/test/greet", "Say hello.", request=Greeting, response=Greeted)
    async def greet(ctx: ActionContext, body: Greeting) -> Payload:
        return {"greeting": f"Hello {body.name} from {ctx.domain} via {ctx.source}"}

    plain = {a.tool_name for a in build_runtime(settings).registry}
    # Declared by a feature of its own: listed and callable with no MCP code knowing it.
    app = create_app(settings, runtime=build_runtime(settings, Feature("test", actions=(group,))))
    async with app.router.lifespan_context(app), session(app, shop.headers) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == plain | {"test_greet"}
        assert tools["test_greet"].input_schema["required"] == ["name"]
        assert tools["test_greet"].annotations.read_only_hint is False
        result = payload(await client.call_tool("test_greet", {"name": "Ada"}))
        assert result == {"greeting": f"Hello Ada from {shop.domain} via mcp"}
        assert error_body(await client.call_tool("test_greet", {})) == {"errors": ["name is required"]}


async def test_tool_calls_spend_the_http_points(runtime: Runtime, shop: ShopKeys) -> None:
    async with serving(runtime) as app, http_client(app, shop) as http, session(app, shop.headers) as client:
        oid = (await http.post("/preorders/offers", json={})).json()["id"]
        first = await http.get(f"/preorders/offers/{oid}")
        remaining = int(first.headers["x-ratelimit-remaining"])
        payload(await client.call_tool("preorders_offers_read", {"id": oid}))  # a read: 1 point
        payload(await client.call_tool("preorders_offers_enable", {"id": oid}))  # a write: 2 points
        error_body(await client.call_tool("preorders_offers_enable", {"id": "nope"}))  # a 404 still costs 2
        await client.list_tools()  # listing costs nothing
        after = await http.get(f"/preorders/offers/{oid}")
        assert int(after.headers["x-ratelimit-remaining"]) == remaining - 1 - 2 - 2 - 1


async def test_tool_call_response_carries_the_budget(runtime: Runtime, shop: ShopKeys) -> None:
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "preorders_offers_list"}}
    async with serving(runtime) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, headers={**ACCEPT, **shop.headers}) as http:
            response = await http.post(MCP_URL, json=call, headers={"X-Request-Id": "trace-me"})
            assert response.status_code == 200, response.text
            assert response.json()["result"]["structuredContent"]["offers"] == []
            assert response.headers["x-ratelimit-limit"] == str(runtime.settings.rate_limit_points)
            assert int(response.headers["x-ratelimit-remaining"]) < runtime.settings.rate_limit_points
            assert response.headers["x-request-id"] == "trace-me"


async def test_rate_limited_call_is_a_tool_error(settings: Settings, make_shop: MakeShop) -> None:
    shop = await make_shop()
    tight = settings.model_copy(update={"rate_limit_points": 3})
    app = create_app(tight)
    async with app.router.lifespan_context(app), session(app, shop.headers) as client:
        payload(await client.call_tool("preorders_offers_list", {}))
        payload(await client.call_tool("preorders_offers_create", {}))
        limited = error_body(await client.call_tool("preorders_offers_list", {}))
    assert limited["error"] == "Rate limit exceeded"
    assert limited["retry_after"] >= 1
    assert "3 points" in limited["message"]


async def test_a_stdio_caller_is_refused_once_its_key_is_revoked(runtime: Runtime, shop: ShopKeys) -> None:
    """stdio serves one key for its whole life; revoking it must still stop the very next call."""
    caller = mcp_server.Caller(await runtime.authenticate(shop.api_key), token=shop.api_key)
    action = runtime.registry.by_tool_name("preorders_offers_list")
    assert action is not None
    assert not (await mcp_server.call(runtime, caller, action, {})).is_error
    async with runtime.db.transaction(write=True) as session:
        found = await get_shop(session, shop.domain)
        await revoke_key(session, found, shop.api_key, runtime.clock.now())
    refused = await mcp_server.call(runtime, caller, action, {})
    assert refused.is_error
    assert "revoked" in refused.content[0].text
