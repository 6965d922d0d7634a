"""Errors: malformed requests, unknown actions and ids, request ids, unexpected exceptions (500
envelope, rolled back, no stack trace) and NUL characters. Never a 500 for a client's mistake."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openstoq.app import create_app
from openstoq.composition import build_runtime
from openstoq.context import ActionContext
from openstoq.db.models import Offer
from openstoq.feature import Feature
from openstoq.registry import ActionGroup
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH
from tests.conftest import ShopKeys

JSON = {"Content-Type": "application/json"}


def assert_errors(response: httpx.Response, status: int) -> list[str]:
    """The error envelope: ``{"errors": [<non-empty strings>]}`` and nothing else."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}
    assert body["errors"] and all(isinstance(m, str) and m for m in body["errors"])
    return body["errors"]


# --- malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{", b'{"name": "x",}', b"{'name': 'x'}", b"name=x", b"\xff\xfe"])
async def test_bad_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    errors = assert_errors(await client.post("/preorders/offers", content=raw, headers=JSON), 400)
    assert errors[0].startswith("request body is not valid JSON")


@pytest.mark.parametrize("raw", [b"[]", b'[{"name": "x"}]', b'"x"', b"42", b"true", b"null"])
async def test_a_body_that_is_not_an_object_is_422(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/preorders/offers", content=raw, headers=JSON)
    assert assert_errors(response, 422) == ["request body must be a JSON object"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_wrong_content_type_is_400(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post("/preorders/offers", content=b'{"name": "x"}', headers={"Content-Type": content_type})
    errors = assert_errors(response, 400)
    assert errors == [f"Content-Type must be application/json, not {content_type.split(';')[0]}"]
    assert (await client.get("/preorders/offers")).json()["meta"]["total_count"] == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"])
async def test_json_content_types_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post("/preorders/offers", content=b'{"name": "x"}', headers={"Content-Type": content_type})
    assert response.status_code == 202, response.text


async def test_a_write_without_a_body_needs_no_content_type(client: httpx.AsyncClient) -> None:
    offer = (await client.post("/preorders/offers", json={})).json()
    assert (await client.post(f"/preorders/offers/{offer['id']}/enable")).status_code == 202


# --- unknown actions and ids -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "shown"),
    [
        ("POST", "/preorders/offers/nope", "/preorders/offers/nope"),
        ("POST", "/preorders/offers/nope/", "/preorders/offers/nope"),
        ("DELETE", "/preorders/offers", "/preorders/offers"),
        ("GET", "/preorders/nothing/here", "/preorders/nothing/here"),
        ("PUT", "/preorders/offers/00000000-0000-4000-8000-000000000000/widget", None),
        # Beside the paths handed to the MCP endpoint and the signed downloads, not inside them.
        ("GET", "/downloads/x", None),
        ("GET", "/mcp/extra", None),
        ("GET", "/mcpx", None),
    ],
)
async def test_unknown_action_is_404_in_the_published_wording(
    client: httpx.AsyncClient, method: str, path: str, shown: str | None
) -> None:
    response = await client.request(method, path)
    assert assert_errors(response, 404) == [f"No v2 action registered for {method} {shown or path}"]


async def test_unknown_action_wording_exactly(client: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    expected = {"errors": ["No v2 action registered for POST /preorders/offers/nope"]}
    assert (await client.post("/preorders/offers/nope")).json() == expected
    assert (await anon.post("/preorders/offers/nope")).json() == expected


async def test_unknown_offer_id_is_404(client: httpx.AsyncClient) -> None:
    oid = str(uuid.uuid4())
    assert assert_errors(await client.get(f"/preorders/offers/{oid}"), 404) == [f"Offer {oid} not found"]
    assert_errors(await client.post(f"/preorders/offers/{oid}/enable"), 404)
    assert_errors(await client.patch(f"/preorders/offers/{oid}/widget", json={"badge": {"text": "x"}}), 404)


MALFORMED_IDS = [
    "not-an-id",
    "123",
    "00000000-0000-0000-0000-00000000000g",  # not hex
    "00000000-0000-4000-8000-0000000000000",  # one digit too many
    "%00",
    "..%2F..",
]


@pytest.mark.parametrize("oid", MALFORMED_IDS)
async def test_malformed_offer_id_is_404(client: httpx.AsyncClient, oid: str) -> None:
    assert_errors(await client.get(f"/preorders/offers/{oid}"), 404)
    assert_errors(await client.post(f"/preorders/offers/{oid}/widget/set_button_text", json={"text": "x"}), 404)


# --- request ids -----------------------------------------------------------------------------


REQUESTS = {
    "200": ("GET", "/preorders/offers"),
    "202": ("POST", "/preorders/offers"),
    "404 unknown action": ("POST", "/preorders/offers/nope"),
    "404 unknown id": ("GET", f"/preorders/offers/{uuid.uuid4()}"),
    "422": ("GET", "/preorders/offers?per_page=0"),
    "public document": ("GET", "/llms.txt"),
    "root llms.txt": ("GET", "http://test/llms.txt"),
    "outside the base path": ("GET", "http://test/nothing"),
}


@pytest.mark.parametrize("case", REQUESTS)
async def test_every_response_has_a_request_id(client: httpx.AsyncClient, anon: httpx.AsyncClient, case: str) -> None:
    method, path = REQUESTS[case]
    for c in (client, anon):
        response = await c.request(method, path, json={} if method != "GET" else None)
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers.get("X-Request-Id", "")), response.headers


async def test_request_ids_are_unique(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/preorders/offers")).headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


async def test_a_sane_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/preorders/offers", headers={"X-Request-Id": "trace-42.a_b"})
    assert response.headers["X-Request-Id"] == "trace-42.a_b"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 65, "<script>", "a\tb"])
async def test_an_odd_incoming_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/preorders/offers", headers={"X-Request-Id": incoming})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] != incoming
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers["X-Request-Id"])


# --- unexpected exceptions -------------------------------------------------------------------


SECRET = "db password is hunter2"


async def test_an_unexpected_exception_is_a_500_envelope_and_rolls_back(runtime: Runtime, shop: ShopKeys) -> None:
    created: list[str] = []

    group = ActionGroup()

    @group.action("explode", "POST", "/testing/explode", "Fails on purpose.")
    async def explode(ctx: ActionContext, _: None) -> dict[str, Any]:
        now = ctx.clock.now()
        offer = Offer(
            id=str(uuid.uuid4()),
            shop_id=ctx.shop_id,
            name="half-made",
            internal_name="half-made",
            status="disabled",
            capabilities={},
            created_at=now,
            updated_at=now,
        )
        ctx.session.add(offer)
        await ctx.session.flush()
        # The row is really in the transaction before the failure.
        assert await ctx.session.scalar(select(func.count()).select_from(Offer).where(Offer.id == offer.id)) == 1
        created.append(offer.id)
        raise RuntimeError(SECRET)

    app = create_app(runtime.settings, runtime=build_runtime(runtime.settings, Feature("test", actions=(group,))))
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers
        ) as client:
            traced = await client.post("/testing/explode", headers={"X-Request-Id": "incident-7"})
            untraced = await client.post("/testing/explode")
    finally:
        await app.state.runtime.close()

    assert len(created) == 2, "the handler ran each time"
    assert traced.headers["X-Request-Id"] == "incident-7"
    for response in (traced, untraced):
        errors = assert_errors(response, 500)
        assert response.headers["X-Request-Id"] in errors[0], "the message quotes the response's request id"
        for leak in (SECRET, "Traceback", "RuntimeError", "explode"):
            assert leak not in response.text
    async with runtime.db.transaction(write=False) as session:
        for oid in created:
            assert await session.get(Offer, oid) is None, "the handler's write was rolled back"


# --- NUL characters --------------------------------------------------------------------------


NUL_WRITES: dict[str, tuple[str, str, Any]] = {
    "create name": ("POST", "/preorders/offers", {"name": "Spring\x00drop"}),
    "create internal name": ("POST", "/preorders/offers", {"internal_name": "\x00"}),
    "unknown key": ("POST", "/preorders/offers", {"na\x00me": "x"}),
    "rename": ("PATCH", "/preorders/offers/{id}", {"name": "x\x00"}),
    "button text": ("POST", "/preorders/offers/{id}/widget/set_button_text", {"text": "Reserve\x00"}),
    "disclaimer text": ("POST", "/preorders/offers/{id}/widget/set_disclaimer_text", {"text": "\x00fine print"}),
    "nested patch": ("PATCH", "/preorders/offers/{id}/widget", {"badge": {"text": "So\x00on"}}),
    "nested key": ("PATCH", "/preorders/offers/{id}/widget", {"badge": {"te\x00xt": "Soon"}}),
}


@pytest.mark.parametrize("case", NUL_WRITES)
async def test_nul_characters_in_text_are_422(client: httpx.AsyncClient, case: str) -> None:
    offer = (await client.post("/preorders/offers", json={"name": "Spring"})).json()
    method, path, body = NUL_WRITES[case]
    response = await client.request(method, path.format(id=offer["id"]), json=body)
    assert_errors(response, 422)
    assert (await client.get(f"/preorders/offers/{offer['id']}")).json() == offer, "nothing changed"
    assert (await client.get("/preorders/offers")).json()["meta"]["total_count"] == 1, "nothing was created"


@pytest.mark.parametrize("query", [{"status": "\x00"}, {"page": "1\x00"}, {"per_page": "\x00"}])
async def test_nul_characters_in_a_query_are_422(client: httpx.AsyncClient, query: dict[str, str]) -> None:
    assert_errors(await client.get("/preorders/offers", params=query), 422)
