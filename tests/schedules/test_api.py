"""The schedules API: roles, CRUD, the final schedule, on call now, gaps, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import api_as


def _schedule(api, people, **layer):  # type: ignore[no-untyped-def]
    created = api.post("/api/v1/schedules", json={"name": "Primary", "timezone": "Europe/London"})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    body = {
        "name": "Weekly",
        "start_date": "2026-01-05",
        "member_ids": [people["Ann"].id, people["Bob"].id],
        **layer,
    }
    response = api.post(f"/api/v1/schedules/{sid}/layers", json=body)
    assert response.status_code == 201, response.text
    return sid, response.json()


def test_schedule_crud_and_who_is_on_call(api, db, people) -> None:  # type: ignore[no-untyped-def]
    sid, layer = _schedule(api, people, shift_unit="days")
    assert layer["timezone"] == "Europe/London"  # the schedule's zone by default
    assert [m["name"] for m in layer["members"]] == ["Ann", "Bob"]
    got = api.get(f"/api/v1/schedules/{sid}").json()
    assert got["layers"][0]["name"] == "Weekly"
    assert len(got["on_call_now"]) == 1 and got["gaps"] == []
    at = "2026-03-29T08:30:00+00:00"  # 09:30 BST on the day the clocks change
    shifts = api.get(f"/api/v1/schedules/{sid}/oncall", params={"at": at}).json()
    assert shifts[0]["start"] == "2026-03-29T08:00:00+00:00"
    final = api.get(
        f"/api/v1/schedules/{sid}/final",
        params={"start": "2026-03-28T00:00:00+00:00", "end": "2026-03-30T00:00:00+00:00"},
    ).json()
    assert [s["user"]["name"] for s in final] == ["Bob", "Ann", "Bob"]
    everyone = api.get("/api/v1/oncall", params={"at": at}).json()
    assert everyone[str(sid)][0]["user"]["id"] == shifts[0]["user"]["id"]
    listing = api.get("/api/v1/schedules").json()
    assert listing[0]["name"] == "Primary" and listing[0]["gaps"] == []
    renamed = api.patch(f"/api/v1/schedules/{sid}", json={"name": "Platform"})
    assert renamed.json()["name"] == "Platform"
    assert api.delete(f"/api/v1/schedules/{sid}").status_code == 204
    assert api.get(f"/api/v1/schedules/{sid}").status_code == 404


def test_gaps_are_reported(api, people) -> None:  # type: ignore[no-untyped-def]
    today = datetime.now(UTC).date()
    hours = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]
    sid, _ = _schedule(
        api, people, start_date=str(today - timedelta(days=7)), timezone="UTC", restrictions=hours
    )
    gaps = api.get(f"/api/v1/schedules/{sid}/gaps", params={"weeks": 1}).json()
    assert gaps, "business hours only: nights and weekends are gaps"
    assert api.get(f"/api/v1/schedules/{sid}").json()["gaps"]


def test_roles(client, api, db, people, viewer, responder) -> None:  # type: ignore[no-untyped-def]
    sid, _ = _schedule(api, people)
    as_viewer = api_as(client, db, viewer)
    as_responder = api_as(client, db, responder)
    assert client.get(f"/api/v1/schedules/{sid}", headers=as_viewer).status_code == 200
    start = datetime.now(UTC) + timedelta(days=1)
    body = {"user_id": people["Cat"].id, "start": start.isoformat(),
            "end": (start + timedelta(hours=4)).isoformat()}  # fmt: skip
    denied = client.post(f"/api/v1/schedules/{sid}/overrides", json=body, headers=as_viewer)
    assert denied.status_code == 403
    added = client.post(f"/api/v1/schedules/{sid}/overrides", json=body, headers=as_responder)
    assert added.status_code == 201, added.text
    assert added.json()["created_by"]["email"] == "rita@example.com"
    again = client.post(f"/api/v1/schedules/{sid}/overrides", json=body, headers=as_responder)
    assert again.status_code == 409 and again.json()["error"]["field"] == "start"
    layer = {"name": "X", "start_date": "2026-01-01", "member_ids": [people["Ann"].id]}
    assert (
        client.post(f"/api/v1/schedules/{sid}/layers", json=layer, headers=as_responder).status_code
        == 403
    )
    oid = added.json()["id"]
    removed = client.delete(f"/api/v1/schedules/{sid}/overrides/{oid}", headers=as_responder)
    assert removed.status_code == 204


def test_bad_input_names_the_field(api, people) -> None:  # type: ignore[no-untyped-def]
    sid, layer = _schedule(api, people)
    cases = [
        ("post", "/api/v1/schedules", {"name": "Other", "timezone": "Atlantis/Sunken"}, "timezone"),
        ("post", f"/api/v1/schedules/{sid}/layers",
         {"name": "Empty", "start_date": "2026-01-01", "member_ids": []}, "member_ids"),
        ("post", f"/api/v1/schedules/{sid}/layers",
         {"name": "Nobody", "start_date": "2026-01-01", "member_ids": [987654]}, "member_ids"),
        ("patch", f"/api/v1/schedules/{sid}/layers/{layer['id']}", {"handoff_time": "9am"},
         "handoff_time"),
        ("patch", f"/api/v1/schedules/{sid}/layers/{layer['id']}", {"handoff_time": "²:00"},
         "handoff_time"),  # "²".isdigit() is true, int("²") fails
        ("post", f"/api/v1/schedules/{sid}/overrides",
         {"user_id": people["Ann"].id, "start": "2030-01-02T00:00:00+00:00",
          "end": "2030-01-01T00:00:00+00:00"}, "end"),
    ]  # fmt: skip
    for method, path, body, field in cases:
        response = getattr(api, method)(path, json=body)
        assert response.status_code in (404, 409, 422), (path, response.text)
        error = response.json()["error"]
        assert error["field"] == field, (path, error)
    naive = api.get(f"/api/v1/schedules/{sid}/oncall", params={"at": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    inverted = api.get(
        f"/api/v1/schedules/{sid}/final",
        params={"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert inverted.status_code == 422 and inverted.json()["error"]["field"] == "end"
    assert len(api.get(f"/api/v1/schedules/{sid}").json()["layers"]) == 1  # nothing changed


def test_reorder_and_feed_rotation(api, client, people) -> None:  # type: ignore[no-untyped-def]
    sid, first = _schedule(api, people)
    second = api.post(
        f"/api/v1/schedules/{sid}/layers",
        json={"name": "Top", "start_date": "2026-01-05", "member_ids": [people["Cat"].id]},
    ).json()
    order = api.put(
        f"/api/v1/schedules/{sid}/layers/order", json={"layer_ids": [second["id"], first["id"]]}
    )
    assert [layer["name"] for layer in order.json()] == ["Top", "Weekly"]
    url = api.get(f"/api/v1/schedules/{sid}/ical-feed").json()["url"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200
    new = api.post(f"/api/v1/schedules/{sid}/ical-feed/regenerate").json()["url"]
    assert new != url
    assert client.get("/" + path).status_code == 404  # the old URL stops working
