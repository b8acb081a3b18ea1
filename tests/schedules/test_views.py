"""The schedule pages, driven through their forms as a browser would (CSRF included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.schedules.models import Layer, Override, Schedule


def test_admin_builds_a_schedule_through_the_pages(client, db, admin, people) -> None:  # type: ignore[no-untyped-def]
    csrf = browser_login(client, admin.email, ADMIN_PASSWORD)
    created = client.post(
        "/schedules",
        data={"csrf_token": csrf, "name": "Platform", "timezone": "Europe/London"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = created.headers["location"]
    today = datetime.now(UTC).date()
    form = {
        "csrf_token": csrf,
        "name": "Business hours",
        "kind": "rotation",
        "shift_length": "1",
        "shift_unit": "days",
        "handoff_time": "09:00",
        "timezone": "Europe/London",
        "start_date": str(today - timedelta(days=3)),
        "members": "ann@example.com, bob@example.com, ann@example.com",
        "restrictions": "mon-fri 09:00-17:00",
    }
    assert client.post(f"{page}/layers", data=form, follow_redirects=False).status_code == 303
    layer = db.scalar(select(Layer).where(Layer.name == "Business hours"))
    assert layer.member_ids == [people["Ann"].id, people["Bob"].id, people["Ann"].id]
    assert layer.restrictions == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    ]
    html = client.get(page).text
    assert 'id="timeline"' in html and "Business hours" in html
    assert 'id="gaps-warning"' in html  # nights and weekends are not covered
    assert "Nobody on call" in html  # gap bars on the timeline
    # Bad input comes back as a message naming the field; nothing is written.
    bad = client.post(f"{page}/layers", data={**form, "name": "Other", "members": "zed@x.example"})
    assert "no user with email" in bad.text
    bad = client.post(f"{page}/layers", data={**form, "name": "Other", "restrictions": "someday"})
    assert "restrictions" in bad.text
    # "²".isdigit() is true and int("²") fails: a handoff time or span written so is refused.
    bad = client.post(f"{page}/layers", data={**form, "name": "Other", "handoff_time": "²:00"})
    assert "handoff_time must be a time of day" in bad.text
    assert db.scalar(select(Layer).where(Layer.name == "Other")) is None
    assert 'id="timeline"' in client.get(f"{page}?days=²").text  # the default span
    listing = client.get("/schedules").text
    assert "Platform" in listing and 'id="gaps-warning"' in listing


def test_responder_adds_and_removes_an_override_viewer_cannot(  # type: ignore[no-untyped-def]
    client, db, people, responder, viewer, make_schedule
) -> None:
    schedule = make_schedule(
        layers=[{"members": ["Ann"], "start_date": "2026-01-05", "timezone": "UTC"}]
    )
    db.commit()
    csrf = browser_login(client, viewer.email)
    html = client.get(f"/schedules/{schedule.id}").text
    assert 'id="override-form"' not in html and 'id="timeline"' in html
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:00")
    denied = client.post(
        f"/schedules/{schedule.id}/overrides",
        data={"csrf_token": csrf, "user_id": people["Bob"].id, "start": tomorrow, "end": tomorrow},
    )
    assert denied.status_code == 403
    client.cookies.clear()
    csrf = browser_login(client, responder.email)
    assert 'id="override-form"' in client.get(f"/schedules/{schedule.id}").text
    later = (datetime.now(UTC) + timedelta(days=1, hours=3)).strftime("%Y-%m-%dT%H:00")
    inverted = client.post(
        f"/schedules/{schedule.id}/overrides",
        data={"csrf_token": csrf, "user_id": people["Bob"].id, "start": later, "end": tomorrow},
    )
    assert "end must be after start" in inverted.text
    added = client.post(
        f"/schedules/{schedule.id}/overrides",
        data={"csrf_token": csrf, "user_id": people["Bob"].id, "start": tomorrow, "end": later,
              "swap_with_id": people["Ann"].id, "note": "dentist"},
        follow_redirects=False,
    )  # fmt: skip
    assert added.status_code == 303
    override = db.scalar(select(Override))
    assert (override.end - override.start) == timedelta(hours=3)
    html = client.get(f"/schedules/{schedule.id}").text
    assert "swap with Ann" in html and "dentist" in html
    # The timeline's final schedule and overrides rows name the person Bob covers.
    assert "(swap covering Ann)" in html and "override for" not in html
    removed = client.post(
        f"/schedules/{schedule.id}/overrides/{override.id}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    db.rollback()  # end the test's read snapshot
    assert db.scalar(select(Override)) is None
    assert db.get(Schedule, schedule.id) is not None


def test_admin_imports_a_calendar_file_on_the_page(client, db, admin, people) -> None:  # type: ignore[no-untyped-def]
    day = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y%m%d")
    rota = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\n"
        f"BEGIN:VEVENT\nUID:a\nDTSTART:{day}T080000Z\nDTEND:{day}T120000Z\n"
        "SUMMARY:Ann Example on call\nATTENDEE:mailto:ann@example.com\nEND:VEVENT\n"
        f"BEGIN:VEVENT\nUID:z\nDTSTART:{day}T120000Z\nDTEND:{day}T160000Z\n"
        "SUMMARY:Zed covering\nEND:VEVENT\nEND:VCALENDAR\n"
    ).encode()
    csrf = browser_login(client, admin.email, ADMIN_PASSWORD)
    client.post("/schedules", data={"csrf_token": csrf, "name": "Rota", "timezone": "UTC"})
    schedule = db.scalar(select(Schedule))
    page = f"/schedules/{schedule.id}"
    added = client.post(
        f"{page}/layers",
        data={"csrf_token": csrf, "name": "Shared calendar", "kind": "ical"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    db.rollback()
    layer = db.scalar(select(Layer))
    imported = client.post(
        f"{page}/layers/{layer.id}/import",
        data={"csrf_token": csrf},
        files={"file": ("rota.ics", rota, "text/calendar")},
    )
    assert "Imported 1 shift(s). 1 event(s) matched nobody" in imported.text
    assert "Zed covering" in imported.text  # listed on the layer, with why
    broken = client.post(
        f"{page}/layers/{layer.id}/import",
        data={"csrf_token": csrf},
        files={"file": ("x.ics", b"nonsense", "text/calendar")},
    )
    assert "not an iCalendar file" in broken.text
