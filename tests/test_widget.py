"""The widget capability: read, deep-partial PATCH, the seven named actions, 409 when discarded, history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openstoq.merge import deep_merge
from openstoq.preorders.capabilities.widget import Widget
from openstoq.runtime import Runtime
from tests.request_bodies import call, concrete_path, minimal_body

DEFAULTS: dict[str, Any] = {
    "button": {"text": "Preorder now", "custom_colors": False, "text_color": "#ffffff", "background_color": "#000000"},
    "badge": {"enabled": True, "text": "Preorder", "text_color": "#ffffff", "background_color": "#000000"},
    "disclaimer": {
        "enabled": False,
        "text": "This item is on preorder and ships when it is back in stock.",
        "text_color": "#000000",
        "background_color": "#f4f4f4",
        "border_radius": 4,
    },
    "billing_widget": {
        "title": "Preorder payment",
        "description": "Pay now and the item ships when it is available.",
    },
}


def path(offer: dict, action: str = "") -> str:
    return f"/preorders/offers/{offer['id']}/widget" + (f"/{action}" if action else "")


async def history(client: httpx.AsyncClient, offer: dict) -> list[dict[str, Any]]:
    response = await client.get(f"/preorders/offers/{offer['id']}/history")
    assert response.status_code == 200
    return response.json()["events"]


async def test_read_gives_the_defaults(client: httpx.AsyncClient, offer: dict) -> None:
    response = await client.get(path(offer))
    assert response.status_code == 200
    assert response.json() == DEFAULTS == Widget().model_dump(mode="json")
    assert offer["capabilities"]["widget"] == DEFAULTS


async def test_patch_merges_nested_keys_and_answers_the_whole_block(client: httpx.AsyncClient, offer: dict) -> None:
    response = await client.patch(path(offer), json={"badge": {"text": "Soon"}, "disclaimer": {"enabled": True}})
    assert response.status_code == 202
    expected = deep_merge(DEFAULTS, {"badge": {"text": "Soon"}, "disclaimer": {"enabled": True}})
    assert response.json() == expected
    assert expected["badge"]["enabled"] is True and expected["badge"]["text_color"] == "#ffffff"
    second = await client.patch(path(offer), json={"badge": {"enabled": False}})
    assert second.json()["badge"] == {**DEFAULTS["badge"], "text": "Soon", "enabled": False}, "earlier edits stay"
    assert second.json()["disclaimer"]["enabled"] is True
    assert (await client.get(path(offer))).json() == second.json()


async def test_empty_patch_changes_nothing_and_records_nothing(client: httpx.AsyncClient, offer: dict) -> None:
    for body in ({}, {"button": {}}, {"badge": {"enabled": True}}):  # the last one is already the value
        response = await client.patch(path(offer), json=body)
        assert response.status_code == 202 and response.json() == DEFAULTS
    assert [e["action"] for e in await history(client, offer)] == ["create"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": "#ffffff"}, "colour is not a known field"),
        ({"badge": {"colour": "#ffffff"}}, "badge.colour is not a known field"),
        ({"button": {"text": "Go", "label": "Go"}}, "button.label is not a known field"),
        ({"badge": {"enabled": None}}, "badge.enabled must be a boolean (true or false)"),
        ({"button": {"text": None}}, "button.text must be a string"),
        ({"disclaimer": {"border_radius": None}}, "disclaimer.border_radius must be an integer"),
        ({"badge": None}, "badge must be an object"),
        ({"badge": "hidden"}, "badge must be an object"),
        ({"badge": {"text_color": "#fff"}}, "badge.text_color must be a #rrggbb colour"),
    ],
)
async def test_patch_refusals(client: httpx.AsyncClient, offer: dict, patch: dict, message: str) -> None:
    response = await client.patch(path(offer), json=patch)
    assert response.status_code == 422
    assert response.json() == {"errors": [message]}
    assert (await client.get(path(offer))).json() == DEFAULTS


NAMED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("set_button_text", {"text": "Reserve yours"}, {"button": {"text": "Reserve yours"}}),
    (
        "set_button_colors",
        {"text_color": "#112233", "background_color": "#AABBCC"},
        {"button": {"text_color": "#112233", "background_color": "#AABBCC", "custom_colors": True}},
    ),
    (
        "set_button_colors",
        {"background_color": "#ff0000"},
        {"button": {"background_color": "#ff0000", "custom_colors": True}},
    ),
    ("set_badge_text", {"text": "Coming soon"}, {"badge": {"text": "Coming soon"}}),
    ("set_badge_colors", {"text_color": "#010203"}, {"badge": {"text_color": "#010203"}}),
    ("set_disclaimer_text", {"text": "Ships in May."}, {"disclaimer": {"text": "Ships in May."}}),
    ("set_disclaimer_text", {"text": ""}, {"disclaimer": {"text": ""}}),
    (
        "set_disclaimer_style",
        {"text_color": "#222222", "background_color": "#eeeeee", "border_radius": 50},
        {"disclaimer": {"text_color": "#222222", "background_color": "#eeeeee", "border_radius": 50}},
    ),
    ("set_disclaimer_style", {"border_radius": 0}, {"disclaimer": {"border_radius": 0}}),
    (
        "set_billing_widget_text",
        {"title": "Pay later", "description": "A deposit now."},
        {"billing_widget": {"title": "Pay later", "description": "A deposit now."}},
    ),
    ("set_billing_widget_text", {"description": ""}, {"billing_widget": {"description": ""}}),
]


@pytest.mark.parametrize(("action", "body", "change"), NAMED)
async def test_named_actions_change_only_their_fields(
    client: httpx.AsyncClient, offer: dict, action: str, body: dict, change: dict
) -> None:
    response = await client.post(path(offer, action), json=body)
    assert response.status_code == 202, response.text
    expected = deep_merge(DEFAULTS, change)
    assert response.json() == expected
    assert (await client.get(path(offer))).json() == expected
    read = (await client.get(f"/preorders/offers/{offer['id']}")).json()
    assert read["capabilities"]["widget"] == expected
    event = (await history(client, offer))[-1]
    assert event["action"] == f"widget.{action}"
    changed = {
        f"{section}.{key}": [DEFAULTS[section][key], value]
        for section, fields in change.items()
        for key, value in fields.items()
        if DEFAULTS[section][key] != value
    }
    assert event["changes"] == changed and event["source"] == "api"


async def test_the_seven_named_actions_are_registered(runtime: Runtime) -> None:
    names = {a.name for a in runtime.registry.with_prefix("/preorders/offers/:id/widget") if a.method == "POST"}
    assert names == {
        "set_button_text",
        "set_button_colors",
        "set_badge_text",
        "set_badge_colors",
        "set_disclaimer_text",
        "set_disclaimer_style",
        "set_billing_widget_text",
    }
    assert {a for a, _, _ in NAMED} == names, "every named action is exercised above"


async def test_set_button_colors_keeps_custom_colors_on(client: httpx.AsyncClient, offer: dict) -> None:
    await client.patch(path(offer), json={"button": {"custom_colors": False}})
    await client.post(path(offer, "set_button_colors"), json={"text_color": "#123456"})
    assert (await client.get(path(offer))).json()["button"]["custom_colors"] is True
    off = await client.patch(path(offer), json={"button": {"custom_colors": False}})
    assert off.json()["button"] == {**DEFAULTS["button"], "text_color": "#123456"}, "colours stay, just unused"


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("set_button_text", {}, "text is required"),
        ("set_button_text", {"text": None}, "text must be a string"),
        ("set_button_text", {"text": ""}, "text must not be empty"),
        ("set_button_text", {"text": "x" * 101}, "text must be at most 100 characters"),
        ("set_badge_text", {"text": None}, "text must be a string"),
        ("set_disclaimer_text", {}, "text is required"),
        ("set_disclaimer_text", {"text": None}, "text must be a string"),
        ("set_button_colors", {}, "send at least one of: text_color, background_color"),
        ("set_button_colors", {"text_color": "red"}, "text_color must be a #rrggbb colour"),
        ("set_button_colors", {"custom_colors": False, "text_color": "#000000"}, "custom_colors is not a known field"),
        ("set_badge_colors", {"background_color": "#00000"}, "background_color must be a #rrggbb colour"),
        ("set_badge_colors", {"text_color": None}, "send at least one of: text_color, background_color"),
        ("set_disclaimer_style", {}, "send at least one of: text_color, background_color, border_radius"),
        ("set_disclaimer_style", {"border_radius": 51}, "border_radius must be <= 50"),
        ("set_disclaimer_style", {"border_radius": -1}, "border_radius must be >= 0"),
        ("set_disclaimer_style", {"border_radius": "4"}, "border_radius must be an integer"),
        ("set_billing_widget_text", {}, "send at least one of: title, description"),
        ("set_billing_widget_text", {"title": ""}, "title must not be empty"),
    ],
)
async def test_named_action_validation(
    client: httpx.AsyncClient, offer: dict, action: str, body: dict, message: str
) -> None:
    response = await client.post(path(offer, action), json=body)
    assert response.status_code == 422
    assert response.json() == {"errors": [message]}
    assert (await client.get(path(offer))).json() == DEFAULTS


async def test_every_widget_write_on_a_discarded_offer_is_a_409(
    client: httpx.AsyncClient, offer: dict, runtime: Runtime
) -> None:
    await client.patch(path(offer), json={"badge": {"text": "Before"}})
    assert (await client.post(f"/preorders/offers/{offer['id']}/discard")).status_code == 202
    before = (await client.get(path(offer))).json()
    events = await history(client, offer)
    writes = [a for a in runtime.registry.with_prefix("/preorders/offers/:id/widget") if not a.is_read]
    assert len(writes) == 8
    for action in writes:
        response = await call(client, action, concrete_path(action, id=offer["id"]), minimal_body(action))
        assert response.status_code == 409, f"{action.method} {action.path}: {response.text}"
        (message,) = response.json()["errors"]
        assert "offer is discarded; restore it first" in message
        assert f"POST /preorders/offers/{offer['id']}/restore" in message
    read = await client.get(path(offer))
    assert read.status_code == 200 and read.json() == before, "reads still work, nothing changed"
    assert await history(client, offer) == events
    assert (await client.post(f"/preorders/offers/{offer['id']}/restore")).status_code == 202
    again = await client.post(path(offer, "set_badge_text"), json={"text": "After"})
    assert again.status_code == 202 and again.json()["badge"]["text"] == "After"


async def test_widget_history_records_changed_paths(client: httpx.AsyncClient, offer: dict) -> None:
    await client.patch(
        path(offer), json={"badge": {"enabled": False, "text": "Soon"}, "button": {"text": "Preorder now"}}
    )
    await client.post(path(offer, "set_button_text"), json={"text": "Reserve"})
    await client.post(path(offer, "set_button_text"), json={"text": "Reserve"})  # unchanged: not recorded
    await client.post(path(offer, "set_button_colors"), json={"background_color": "#ff0000"})
    events = await history(client, offer)
    assert [(e["action"], e["changes"]) for e in events[1:]] == [
        ("widget.update", {"badge.enabled": [True, False], "badge.text": ["Preorder", "Soon"]}),
        ("widget.set_button_text", {"button.text": ["Preorder now", "Reserve"]}),
        (
            "widget.set_button_colors",
            {"button.background_color": ["#000000", "#ff0000"], "button.custom_colors": [False, True]},
        ),
    ]
    assert all(e["from_status"] is None and e["to_status"] is None for e in events[1:])
    read = (await client.get(f"/preorders/offers/{offer['id']}")).json()
    assert read["capabilities"]["widget"]["badge"]["text"] == "Soon"
