"""Authentication: the published X-Auth-Token header, keys stored only as hashes, read-only keys,
revocation that takes effect on the very next request, and the public documents that need no key."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from openstoq.clock import Clock
from openstoq.runtime import BAD_KEY, MISSING_KEY, Runtime
from openstoq.shops import create_key, get_shop, revoke_key
from tests.conftest import MakeShop, ShopKeys
from tests.e2e.servers import OPENSTOQ, openstoq_env

PUBLIC_DOCUMENTS = ["/preorders/skill.md", "/back_in_stock/skill.md", "/llms.txt", "/openapi.json"]


def assert_401(response: httpx.Response, message: str = BAD_KEY) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"errors": [message]}


async def add_key(runtime: Runtime, shop: ShopKeys, *, read_only: bool = False) -> tuple[str, str]:
    """Another key for ``shop``: (key id, key)."""
    async with runtime.db.transaction(write=True) as session:
        issued = await create_key(session, await get_shop(session, shop.domain), Clock().now(), read_only=read_only)
    return issued.id, issued.api_key


# --- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/preorders/offers"), ("POST", "/preorders/offers"), ("GET", "/help")]
)
async def test_missing_key_is_401_with_errors_envelope(anon: httpx.AsyncClient, method: str, path: str) -> None:
    assert_401(await anon.request(method, path, json={} if method == "POST" else None), MISSING_KEY)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("stoq_api_key_" + uuid.uuid4().hex, id="well-formed but unknown"),
        pytest.param("stoq_api_key_" + uuid.uuid4().hex.upper(), id="upper-case hex"),
        pytest.param("stoq_api_key_" + uuid.uuid4().hex[:31], id="one character short"),
        pytest.param(uuid.uuid4().hex, id="no prefix"),
        pytest.param("Bearer stoq_api_key_" + uuid.uuid4().hex, id="bearer in the header"),
        pytest.param("' OR 1=1 --", id="sql"),
    ],
)
async def test_unknown_or_malformed_key_is_401(anon: httpx.AsyncClient, token: str) -> None:
    assert_401(await anon.get("/preorders/offers", headers={"X-Auth-Token": token}))


async def test_a_key_with_extra_characters_is_401(anon: httpx.AsyncClient, shop: ShopKeys) -> None:
    assert_401(await anon.get("/preorders/offers", headers={"X-Auth-Token": shop.api_key + "0"}))
    assert_401(await anon.get("/preorders/offers", headers={"X-Auth-Token": shop.api_key[:-1]}))


async def test_the_key_goes_in_x_auth_token(anon: httpx.AsyncClient, shop: ShopKeys) -> None:
    assert (await anon.get("/preorders/offers", headers={"X-Auth-Token": shop.api_key})).status_code == 200
    # The REST API reads X-Auth-Token only; a bearer token there is a missing key.
    bearer = await anon.get("/preorders/offers", headers={"Authorization": f"Bearer {shop.api_key}"})
    assert_401(bearer, MISSING_KEY)


async def test_a_key_only_sees_its_own_shop(client: httpx.AsyncClient, anon: httpx.AsyncClient, make_shop: MakeShop):
    other = await make_shop()
    offer = (await client.post("/preorders/offers", json={"name": "Mine"})).json()
    assert (await anon.get(f"/preorders/offers/{offer['id']}", headers=other.headers)).status_code == 404
    enable = await anon.post(f"/preorders/offers/{offer['id']}/enable", headers=other.headers)
    assert enable.status_code == 404
    assert (await anon.get("/preorders/offers", headers=other.headers)).json()["meta"]["total_count"] == 0
    assert (await client.get(f"/preorders/offers/{offer['id']}")).json()["status"] == "disabled"


# --- storage ---------------------------------------------------------------------------------


async def test_keys_are_stored_only_as_hashes(runtime: Runtime, shop: ShopKeys) -> None:
    secret = shop.api_key.removeprefix("stoq_api_key_")
    async with runtime.db.transaction(write=False) as session:
        rows = (await session.execute(text("SELECT * FROM api_keys WHERE shop_id = :id"), {"id": shop.shop_id})).all()
    assert len(rows) == 1
    row = rows[0]._asdict()
    assert row["key_hash"] and row["key_hash"] != shop.api_key
    for column, value in row.items():
        assert secret[:8] not in str(value), f"api_keys.{column} holds (part of) the clear key"
        assert secret[-8:] not in str(value), f"api_keys.{column} holds (part of) the clear key"


# --- read-only keys --------------------------------------------------------------------------


async def test_read_only_key_reads_but_cannot_write(anon: httpx.AsyncClient, make_shop: MakeShop) -> None:
    reader = await make_shop(read_only=True)
    assert (await anon.get("/preorders/offers", headers=reader.headers)).status_code == 200
    assert (await anon.get("/help", headers=reader.headers)).status_code == 200
    refused = await anon.post("/preorders/offers", json={"name": "x"}, headers=reader.headers)
    assert refused.status_code == 403
    assert refused.json() == {"errors": ["This API key is read-only; POST /preorders/offers needs a read-write key"]}
    listed = await anon.get("/preorders/offers", headers=reader.headers)
    assert listed.json()["meta"]["total_count"] == 0, "the refused write created nothing"


async def test_read_only_key_on_a_shop_with_offers(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys
) -> None:
    offer = (await client.post("/preorders/offers", json={"name": "Spring"})).json()
    _, read_only_key = await add_key(runtime, shop, read_only=True)
    headers = {"X-Auth-Token": read_only_key}
    read = await anon.get(f"/preorders/offers/{offer['id']}", headers=headers)
    assert read.status_code == 200 and read.json()["id"] == offer["id"]
    for method, path, body in [
        ("POST", f"/preorders/offers/{offer['id']}/enable", None),
        ("PATCH", f"/preorders/offers/{offer['id']}", {"name": "Renamed"}),
        ("PATCH", f"/preorders/offers/{offer['id']}/widget", {"badge": {"text": "Soon"}}),
        ("POST", f"/preorders/offers/{offer['id']}/widget/set_button_text", {"text": "Reserve"}),
    ]:
        response = await anon.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
    after = (await client.get(f"/preorders/offers/{offer['id']}")).json()
    assert after == offer, "nothing changed"


# --- revocation ------------------------------------------------------------------------------


async def test_revoked_key_is_401_on_the_next_request(client: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys):
    assert (await client.get("/preorders/offers")).status_code == 200
    async with runtime.db.transaction(write=True) as session:
        await revoke_key(session, await get_shop(session, shop.domain), shop.api_key, Clock().now())
    assert_401(await client.get("/preorders/offers"))
    assert_401(await client.post("/preorders/offers", json={}))


async def cli(database_url: str, *args: str) -> tuple[int, str]:
    """Run ``openstoq <args>`` in a subprocess against the test database: (exit code, stderr)."""
    env = openstoq_env(OPENSTOQ_DATABASE_URL=database_url)
    process = await asyncio.create_subprocess_exec(
        str(OPENSTOQ), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_cli_revoke_by_key_takes_effect_at_once(client: httpx.AsyncClient, shop: ShopKeys, database_url: str):
    assert (await client.get("/preorders/offers")).status_code == 200
    code, stderr = await cli(database_url, "keys", "revoke", "--shop", shop.domain, shop.api_key)
    assert code == 0, stderr
    assert_401(await client.get("/preorders/offers"))


async def test_cli_revoke_by_id_leaves_the_shops_other_keys_working(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, runtime: Runtime, shop: ShopKeys, database_url: str
) -> None:
    key_id, second_key = await add_key(runtime, shop)
    assert (await anon.get("/preorders/offers", headers={"X-Auth-Token": second_key})).status_code == 200
    code, stderr = await cli(database_url, "keys", "revoke", "--shop", shop.domain, key_id)
    assert code == 0, stderr
    assert key_id in stderr
    assert_401(await anon.get("/preorders/offers", headers={"X-Auth-Token": second_key}))
    assert (await client.get("/preorders/offers")).status_code == 200


# --- public documents ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_DOCUMENTS)
async def test_public_documents_need_no_key(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)
    assert response.status_code == 200, response.text
    assert response.content.strip()
    assert "x-ratelimit-limit" not in response.headers


async def test_public_documents_ignore_a_bad_key(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/llms.txt", headers={"X-Auth-Token": "stoq_api_key_" + "0" * 32})
    assert response.status_code == 200


async def test_root_llms_txt_needs_no_key(anon: httpx.AsyncClient) -> None:
    response = await anon.get("http://test/llms.txt")
    assert response.status_code == 200
    assert response.text == (await anon.get("/llms.txt")).text
