"""Offers end to end through the HTTP API: create, read, list, lifecycle, history, 409 rules."""

from __future__ import annotations

from datetime import timedelta

import httpx

from openstoq.clock import Clock


async def test_create_defaults_and_read(client: httpx.AsyncClient) -> None:
    created = await client.post("/preorders/offers", json={})
    assert created.status_code == 202
    body = created.json()
    assert body["name"] == "Preorder" and body["internal_name"] == "Preorder"
    assert body["status"] == "disabled" and body["live"] is False
    assert body["capabilities"]["widget"]["button"]["text"] == "Preorder now"
    read = await client.get(f"/preorders/offers/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


async def test_lifecycle_and_history(client: httpx.AsyncClient, offer: dict) -> None:
    oid = offer["id"]
    enabled = (await client.post(f"/preorders/offers/{oid}/enable")).json()
    assert enabled["status"] == "enabled" and enabled["live"] is True
    assert enabled["warnings"], "an enabled offer with no variants warns"
    assert (await client.post(f"/preorders/offers/{oid}/disable")).json()["live"] is False
    discarded = await client.post(f"/preorders/offers/{oid}/discard")
    assert discarded.json()["status"] == "discarded" and discarded.json()["discarded_at"]
    blocked = await client.post(f"/preorders/offers/{oid}/enable")
    assert blocked.status_code == 409
    assert "restore it first" in blocked.json()["errors"][0]
    restored = (await client.post(f"/preorders/offers/{oid}/restore")).json()
    assert restored["status"] == "disabled" and restored["discarded_at"] is None
    history = (await client.get(f"/preorders/offers/{oid}/history")).json()
    actions = [e["action"] for e in history["events"]]
    assert actions == ["create", "enable", "disable", "discard", "restore"]
    assert history["events"][1]["from_status"] == "disabled" and history["events"][1]["to_status"] == "enabled"


async def test_schedule_live_follows_the_clock(client: httpx.AsyncClient, offer: dict, clock: Clock) -> None:
    oid = offer["id"]
    start = clock.now() + timedelta(hours=1)
    end = start + timedelta(days=1)
    body = {"starts_at": start.isoformat(), "ends_at": end.isoformat()}
    scheduled = (await client.post(f"/preorders/offers/{oid}/schedule", json=body)).json()
    assert scheduled["status"] == "scheduled" and scheduled["live"] is False
    assert scheduled["schedule"]["starts_at"] is not None
    clock.advance(timedelta(hours=2))
    assert (await client.get(f"/preorders/offers/{oid}")).json()["live"] is True
    clock.advance(timedelta(days=2))
    assert (await client.get(f"/preorders/offers/{oid}")).json()["live"] is False


async def test_schedule_validation(client: httpx.AsyncClient, offer: dict) -> None:
    oid = offer["id"]
    neither = await client.post(f"/preorders/offers/{oid}/schedule", json={})
    assert neither.status_code == 422
    backwards = await client.post(
        f"/preorders/offers/{oid}/schedule",
        json={"starts_at": "2040-01-02T00:00:00Z", "ends_at": "2040-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 422
    assert "ends_at must be after starts_at" in backwards.json()["errors"][0]
    naive = await client.post(f"/preorders/offers/{oid}/schedule", json={"starts_at": "2040-01-02T00:00:00"})
    assert naive.status_code == 422
    not_scheduled = await client.post(f"/preorders/offers/{oid}/unschedule")
    assert not_scheduled.status_code == 409


async def test_list_filters_and_pagination(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/preorders/offers", json={"name": f"o{i}"})).json()["id"] for i in range(3)]
    await client.post(f"/preorders/offers/{ids[0]}/discard")
    listed = (await client.get("/preorders/offers", params={"per_page": 1})).json()
    assert listed["meta"] == {"total_count": 2, "page": 1, "per_page": 1, "total_pages": 2}
    assert listed["offers"][0]["id"] == ids[2], "newest first"
    discarded = (await client.get("/preorders/offers", params={"status": "discarded"})).json()
    assert [o["id"] for o in discarded["offers"]] == [ids[0]]
    bad = await client.get("/preorders/offers", params={"per_page": 500, "status": "gone"})
    assert bad.status_code == 422
    assert len(bad.json()["errors"]) == 2


async def test_update_names_only(client: httpx.AsyncClient, offer: dict) -> None:
    oid = offer["id"]
    renamed = await client.patch(f"/preorders/offers/{oid}", json={"internal_name": "Spring (internal)"})
    assert renamed.status_code == 202
    assert renamed.json()["internal_name"] == "Spring (internal)" and renamed.json()["name"] == "Spring drop"
    refused = await client.patch(f"/preorders/offers/{oid}", json={"status": "enabled", "name": None})
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert "status is not a known field" in errors
    assert any(e.startswith("name") for e in errors)
