"""Validation: a 422 lists every problem at once, in sentences that name the field path and the rule.

Bodies are strict JSON ("1" is not an integer, 1 is not a boolean); query strings are text and
convert; a body that is not JSON is a 400; nothing a client sends is ever a 500.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openstoq.errors import BadRequest, ValidationFailed
from openstoq.preorders.capabilities.widget import SetDisclaimerStyle
from openstoq.validation import validate_body

STATUSES = "status must be one of: disabled, enabled, scheduled, discarded"


def widget(offer: dict) -> str:
    return f"/preorders/offers/{offer['id']}/widget"


async def errors_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"errors"} and all(isinstance(e, str) for e in body["errors"])
    return body["errors"]


async def test_every_problem_is_listed_at_once(client: httpx.AsyncClient, offer: dict) -> None:
    patch = {
        "badge": {"text_color": "red", "enabled": 1, "colour": "#ffffff"},
        "button": {"text": "", "custom_colors": "true"},
        "disclaimer": {"border_radius": 51, "text": None},
        "billing_widget": {"title": "x" * 201},
        "sparkles": True,
    }
    errors = await errors_of(await client.patch(widget(offer), json=patch))
    assert sorted(errors) == sorted(
        [
            "badge.text_color must be a #rrggbb colour",
            "badge.enabled must be a boolean (true or false)",
            "badge.colour is not a known field",
            "button.text must not be empty",
            "button.custom_colors must be a boolean (true or false)",
            "disclaimer.border_radius must be <= 50",
            "disclaimer.text must be a string",
            "billing_widget.title must be at most 200 characters",
            "sparkles is not a known field",
        ]
    )


async def test_nothing_changes_when_a_request_is_refused(client: httpx.AsyncClient, offer: dict) -> None:
    before = (await client.get(widget(offer))).content
    refused = await client.patch(widget(offer), json={"badge": {"text": "Soon", "text_color": "blue"}})
    assert refused.status_code == 422
    assert (await client.get(widget(offer))).content == before
    history = (await client.get(f"/preorders/offers/{offer['id']}/history")).json()
    assert [e["action"] for e in history["events"]] == ["create"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"border_radius": "1"}, "border_radius must be an integer"),
        ({"border_radius": 1.5}, "border_radius must be an integer"),
        ({"border_radius": True}, "border_radius must be an integer"),
        ({"text_color": 123456}, "text_color must be a string"),
        ({"text_color": "#12345"}, "text_color must be a #rrggbb colour"),
        ({"text_color": "#12345g"}, "text_color must be a #rrggbb colour"),
        ({"text_color": "ffffff"}, "text_color must be a #rrggbb colour"),
        ({"border_radius": -1}, "border_radius must be >= 0"),
        ({"border_radius": 51}, "border_radius must be <= 50"),
        ({}, "send at least one of: text_color, background_color, border_radius"),
        (
            {"text_color": None, "border_radius": None},
            "send at least one of: text_color, background_color, border_radius",
        ),
    ],
)
async def test_strict_types_patterns_and_bounds(
    client: httpx.AsyncClient, offer: dict, body: dict, message: str
) -> None:
    response = await client.post(f"{widget(offer)}/set_disclaimer_style", json=body)
    assert await errors_of(response) == [message]


@pytest.mark.parametrize("value", [1, 0, "true", "false", "yes", None, [True]])
async def test_only_true_and_false_are_booleans(client: httpx.AsyncClient, offer: dict, value: object) -> None:
    response = await client.patch(widget(offer), json={"badge": {"enabled": value}})
    assert await errors_of(response) == ["badge.enabled must be a boolean (true or false)"]


async def test_missing_required_and_null_required(client: httpx.AsyncClient, offer: dict) -> None:
    missing = await client.post(f"{widget(offer)}/set_button_text", json={})
    assert await errors_of(missing) == ["text is required"]
    null = await client.post(f"{widget(offer)}/set_button_text", json={"text": None})
    assert await errors_of(null) == ["text must be a string"]
    both = await client.post(f"{widget(offer)}/set_button_text", json={"label": "Reserve"})
    assert sorted(await errors_of(both)) == ["label is not a known field", "text is required"]


async def test_query_problems_are_listed_together(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/preorders/offers", params={"status": "live", "per_page": "201", "page": "0", "sort": "name"}
    )
    assert sorted(await errors_of(response)) == sorted(
        [STATUSES, "per_page must be <= 200", "page must be >= 1", "sort is not a known field"]
    )
    not_a_number = await client.get("/preorders/offers", params={"per_page": "ten"})
    assert await errors_of(not_a_number) == ["per_page must be an integer"]
    # Query strings are text, so digits convert there (unlike in a JSON body).
    assert (await client.get("/preorders/offers", params={"per_page": "10"})).json()["meta"]["per_page"] == 10


async def test_reads_without_a_request_model_refuse_any_query_key(client: httpx.AsyncClient, offer: dict) -> None:
    response = await client.get(f"/preorders/offers/{offer['id']}", params={"expand": "all"})
    assert await errors_of(response) == ["expand is not a known field"]
    assert (await client.get(f"/preorders/offers/{offer['id']}")).status_code == 200


async def test_dates_are_iso_8601_with_offset(client: httpx.AsyncClient, offer: dict) -> None:
    path = f"/preorders/offers/{offer['id']}/schedule"
    response = await client.post(path, json={"starts_at": "tomorrow", "ends_at": 1893456000})
    assert await errors_of(response) == [
        "starts_at must be an ISO 8601 date-time with offset",
        "ends_at must be an ISO 8601 date-time with offset",
    ]
    naive = await client.post(path, json={"starts_at": "2040-01-02T00:00:00"})
    assert await errors_of(naive) == ["starts_at must be an ISO 8601 date-time with offset"]


async def test_nul_characters_are_refused_naming_the_field(client: httpx.AsyncClient, offer: dict) -> None:
    nested = await client.patch(widget(offer), json={"badge": {"text": "Soon\u0000"}})
    assert await errors_of(nested) == ["badge.text must not contain NUL characters"]
    top = await client.post("/preorders/offers", json={"name": "A\u0000", "internal_name": "B\u0000"})
    assert await errors_of(top) == ["name, internal_name must not contain NUL characters"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"text": "a",}', b"{'text': 'a'}", b"\xff\xfe", b'{"text": "a"} trailing'],
)
async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient, offer: dict, raw: bytes) -> None:
    response = await client.post(
        f"{widget(offer)}/set_button_text", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    (message,) = response.json()["errors"]
    assert message.startswith("request body is not valid JSON")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"null", b"42", b"true"])
async def test_a_body_that_is_not_an_object_is_a_422(client: httpx.AsyncClient, offer: dict, raw: bytes) -> None:
    response = await client.post(
        f"{widget(offer)}/set_button_text", content=raw, headers={"content-type": "application/json"}
    )
    assert await errors_of(response) == ["request body must be a JSON object"]


async def test_a_body_sent_as_another_content_type_is_a_400(client: httpx.AsyncClient, offer: dict) -> None:
    response = await client.post(
        f"{widget(offer)}/set_button_text", content=b'{"text": "a"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json() == {"errors": ["Content-Type must be application/json, not text/plain"]}


async def test_an_empty_body_means_no_keys(client: httpx.AsyncClient, offer: dict) -> None:
    enabled = await client.post(f"/preorders/offers/{offer['id']}/enable", content=b"")
    assert enabled.status_code == 202
    missing = await client.post(f"{widget(offer)}/set_button_text", content=b"")
    assert await errors_of(missing) == ["text is required"]


# --- properties -------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
BODY_KEYS = st.sampled_from(["text_color", "background_color", "border_radius", "extra"])


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | st.dictionaries(BODY_KEYS, JSON_VALUES).map(lambda d: json.dumps(d).encode()))
def test_validate_body_only_ever_answers_400_or_422_or_a_model(raw: bytes) -> None:
    try:
        model = validate_body(SetDisclaimerStyle, raw)
    except BadRequest as exc:
        assert exc.messages and exc.messages[0].startswith("request body is not valid JSON")
    except ValidationFailed as exc:
        assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)
    else:
        assert isinstance(model, SetDisclaimerStyle)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=st.dictionaries(st.sampled_from(["button", "badge", "disclaimer", "nope"]), JSON_VALUES, max_size=3))
async def test_random_patches_are_never_a_server_error(client: httpx.AsyncClient, offer: dict, patch: dict) -> None:
    response = await client.patch(widget(offer), json=patch)
    assert response.status_code in (202, 422), response.text
    if response.status_code == 422:
        assert response.json()["errors"]
