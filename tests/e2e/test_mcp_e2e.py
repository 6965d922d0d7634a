"""MCP against real processes, driven by the SDK's own client.

Streamable HTTP against ``openstoq serve`` and stdio against ``openstoq mcp --api-key KEY``, both on
the test database, so what one face writes the other (and plain HTTP) reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from openstoq.composition import build_features
from tests.conftest import MakeShop, ShopKeys
from tests.e2e.servers import OPENSTOQ, Server, Servers, openstoq_env, run_cli

BAD_KEY = "stoq_api_key_" + "0" * 32


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the server processes run with: the test database, a scratch data directory."""
    data = tmp_path_factory.mktemp("mcp-e2e-data")
    return openstoq_env(OPENSTOQ_DATABASE_URL=database_url, OPENSTOQ_DATA_DIR=str(data))


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Servers(tmp_path_factory.mktemp("mcp-e2e-logs")) as servers:
        yield servers.start(env)


@asynccontextmanager
async def http_session(server: Server, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(server.api + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=str(OPENSTOQ), args=["mcp", *args], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


def body(result: types.CallToolResult) -> Any:
    [content] = result.content
    assert isinstance(content, types.TextContent)
    return json.loads(content.text)


async def offer_flow(client: ClientSession, server: Server, shop: ShopKeys) -> None:
    """List, create, set the button text, enable, read back, and fail validation like HTTP does."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {a.tool_name for a in build_features().registry}
    assert tools["preorders_offers_read"].annotations.read_only_hint is True
    assert tools["preorders_offers_discard"].annotations.destructive_hint is True

    created = await client.call_tool("preorders_offers_create", {"name": "Autumn drop"})
    assert not created.is_error, created.content
    oid = created.structured_content["id"]
    text = await client.call_tool("preorders_offers_widget_set_button_text", {"id": oid, "text": "Reserve now"})
    assert not text.is_error and text.structured_content["button"]["text"] == "Reserve now"
    enabled = await client.call_tool("preorders_offers_enable", {"id": oid})
    assert not enabled.is_error and enabled.structured_content["status"] == "enabled"
    read = await client.call_tool("preorders_offers_read", {"id": oid})
    assert not read.is_error and body(read) == read.structured_content
    assert read.structured_content["live"] is True
    assert read.structured_content["capabilities"]["widget"]["button"]["text"] == "Reserve now"

    bad = await client.call_tool("preorders_offers_widget_set_button_colors", {"id": oid, "text_color": "red"})
    assert bad.is_error and bad.structured_content is None

    async with httpx.AsyncClient(base_url=server.api, headers=shop.headers) as http:
        over_http = await http.post(f"/preorders/offers/{oid}/widget/set_button_colors", json={"text_color": "red"})
        assert over_http.status_code == 422
        assert body(bad) == {"status": over_http.status_code, **over_http.json()}
        assert over_http.json() == {"errors": ["text_color must be a #rrggbb colour"]}
        assert (await http.get(f"/preorders/offers/{oid}")).json() == read.structured_content


async def test_streamable_http_against_openstoq_serve(server: Server, make_shop: MakeShop) -> None:
    shop = await make_shop()
    async with http_session(server, shop.headers) as client:
        await offer_flow(client, server, shop)


async def test_bearer_auth_against_openstoq_serve(server: Server, make_shop: MakeShop) -> None:
    shop = await make_shop()
    async with http_session(server, {"Authorization": f"Bearer {shop.api_key}"}) as client:
        created = await client.call_tool("preorders_offers_create", {"name": "Bearer"})
        listed = await client.call_tool("preorders_offers_list", {})
    assert [o["id"] for o in listed.structured_content["offers"]] == [created.structured_content["id"]]


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": BAD_KEY}, {"Authorization": f"Bearer {BAD_KEY}"}])
async def test_missing_or_bad_key_is_401_from_openstoq_serve(server: Server, headers: dict[str, str]) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "preorders_offers_list"}}
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(headers={**accept, **headers}) as http:
        response = await http.post(server.api + "/mcp", json=call)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    [message] = response.json()["errors"]
    assert "API key" in message
    with pytest.raises(Exception):  # noqa: B017 - the SDK client cannot connect; how it says so is its business
        async with http_session(server, headers):
            pass


async def test_stdio_against_openstoq_mcp(server: Server, env: dict[str, str], make_shop: MakeShop) -> None:
    shop = await make_shop()
    async with stdio_session(env, "--api-key", shop.api_key) as client:
        await offer_flow(client, server, shop)


async def test_stdio_key_from_the_environment(env: dict[str, str], make_shop: MakeShop) -> None:
    shop = await make_shop()
    async with stdio_session({**env, "OPENSTOQ_API_KEY": shop.api_key}) as client:
        listed = await client.call_tool("preorders_offers_list", {})
    assert listed.structured_content["offers"] == []


def test_stdio_bad_key_exits_with_a_clear_error(env: dict[str, str]) -> None:
    result = run_cli(["mcp", "--api-key", BAD_KEY], env)
    assert result.returncode == 1
    assert "Invalid API key" in result.stderr
    assert result.stdout == ""


async def test_stdio_stdout_carries_only_protocol_and_eof_ends_it(
    env: dict[str, str], make_shop: MakeShop, tmp_path: Path
) -> None:
    shop = await make_shop()
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    requests = [initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    requests.append({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    with (tmp_path / "stderr.log").open("wb") as errlog:
        process = await asyncio.create_subprocess_exec(
            str(OPENSTOQ),
            "mcp",
            "--api-key",
            shop.api_key,
            env=env,
            stdin=PIPE,
            stdout=PIPE,
            stderr=errlog,
            limit=2**24,  # one line per message, and tools/list is long
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in requests))
        await process.stdin.drain()
        # Every line on stdout is a JSON-RPC message; read until both replies are in, then close stdin.
        replies = [json.loads(await asyncio.wait_for(process.stdout.readline(), 60)) for _ in range(2)]
        process.stdin.close()
        rest = await asyncio.wait_for(process.stdout.read(), 60)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, (tmp_path / "stderr.log").read_text()
    assert rest == b""
    assert [r["id"] for r in replies] == [1, 2]
    assert len(replies[1]["result"]["tools"]) == len(build_features().registry)
