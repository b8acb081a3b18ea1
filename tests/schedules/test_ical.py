"""iCal: feeds a calendar app can read (stable UIDs), and importing a rota from a calendar
file or URL (a real HTTP server on loopback), with unmatched events reported."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import icalendar
import pytest

from tests.schedules.conftest import utc
from tocsin.errors import ValidationFailed
from tocsin.schedules import feeds, ical_import, service
from tocsin.schedules.checks import schedule_gaps
from tocsin.schedules.oncall import on_call

ROTA = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Rota//EN
BEGIN:VEVENT
UID:weekly-ann@example.org
DTSTART:20260601T080000Z
DTEND:20260602T080000Z
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:On call
ATTENDEE;CN=Ann:mailto:ANN@example.com
END:VEVENT
BEGIN:VEVENT
UID:bob-by-name@example.org
DTSTART;TZID=Europe/London:20260603T090000
DTEND;TZID=Europe/London:20260603T170000
SUMMARY:Bob on call
END:VEVENT
BEGIN:VEVENT
UID:stranger@example.org
DTSTART:20260604T080000Z
DTEND:20260604T120000Z
SUMMARY:Zed covering
ATTENDEE:mailto:zed@elsewhere.example
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def ical_layer(db, people):  # type: ignore[no-untyped-def]
    schedule = service.create_schedule(db, name="Rota", timezone="Europe/London")
    layer = service.add_layer(db, schedule, {"name": "Shared calendar", "kind": "ical"})
    db.commit()
    return schedule, layer


def test_import_matches_people_and_reports_the_rest(db, people, ical_layer) -> None:  # type: ignore[no-untyped-def]
    schedule, layer = ical_layer
    report = ical_import.import_calendar(db, layer, ROTA, source="rota.ics", now=utc(2026, 6, 1))
    assert report["imported"] == 5  # 4 weekly occurrences for Ann + Bob's day
    assert report["unmatched_count"] == 1
    assert report["unmatched"][0]["summary"] == "Zed covering"
    assert "zed@elsewhere.example" in report["unmatched"][0]["reason"]
    (ann,) = on_call(db, schedule.id, utc(2026, 6, 15, 12))  # the third weekly occurrence
    assert ann.user_id == people["Ann"].id
    assert 'calendar event "On call"' in ann.source
    (bob,) = on_call(db, schedule.id, utc(2026, 6, 3, 8, 30))  # 09:30 BST, matched by name
    assert bob.user_id == people["Bob"].id
    assert on_call(db, schedule.id, utc(2026, 6, 4, 9)) == []  # Zed's event is not a shift
    # Importing again replaces the events.
    only_bob = ROTA.split(b"BEGIN:VEVENT")[0] + b"BEGIN:VEVENT" + ROTA.split(b"BEGIN:VEVENT")[2]
    only_bob = only_bob.split(b"END:VEVENT")[0] + b"END:VEVENT\nEND:VCALENDAR\n"
    again = ical_import.import_calendar(db, layer, only_bob, source="rota.ics", now=utc(2026, 6, 1))
    assert again["imported"] == 1
    assert on_call(db, schedule.id, utc(2026, 6, 15, 12)) == []


def test_a_broken_file_is_refused_and_changes_nothing(db, people, ical_layer) -> None:  # type: ignore[no-untyped-def]
    schedule, layer = ical_layer
    ical_import.import_calendar(db, layer, ROTA, source="rota.ics", now=utc(2026, 6, 1))
    with pytest.raises(ValidationFailed) as info:
        ical_import.import_calendar(db, layer, b"this is not a calendar", source="x.ics")
    assert info.value.field == "file"
    assert len(layer.events) == 5


class _Calendar(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/rota.ics")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        self.wfile.write(ROTA)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def calendar_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Calendar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_from_a_url_is_guarded(db, people, ical_layer, calendar_server, settings) -> None:  # type: ignore[no-untyped-def]
    schedule, layer = ical_layer
    strict = ical_import.calendar_guard(settings)
    service.update_layer(db, layer, {"ical_url": f"{calendar_server}/moved"})
    with pytest.raises(ValidationFailed) as info:
        ical_import.import_url(db, layer, guard=strict)
    assert info.value.field == "ical_url" and "not a public internet address" in info.value.message
    intranet = settings.model_copy(update={"ical_import_allow_private_urls": True})
    report = ical_import.import_url(
        db, layer, guard=ical_import.calendar_guard(intranet), now=utc(2026, 6, 1)
    )
    assert report["imported"] == 5 and report["source"].endswith("/moved")
    service.update_layer(
        db, layer, {"ical_url": f"{calendar_server.replace('127.0.0.1', 'localhost')}/x"}
    )
    with pytest.raises(ValidationFailed, match="not a public internet address"):
        ical_import.import_url(db, layer, guard=strict)


@pytest.mark.parametrize(
    "host",
    ["100.100.100.200", "[2002:7f00:1::1]", "[::ffff:127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "0"],
)
def test_calendar_urls_use_the_outbound_guard(db, ical_layer, settings, host: str) -> None:  # type: ignore[no-untyped-def]
    """Shared, 6to4, IPv4-mapped and NAT64 forms of internal addresses are refused, as for
    webhooks, before anything is fetched."""
    _, layer = ical_layer
    service.update_layer(db, layer, {"ical_url": f"http://{host}/rota.ics"})
    with pytest.raises(ValidationFailed, match="not a public internet address"):
        ical_import.import_url(db, layer, guard=ical_import.calendar_guard(settings))


def test_calendar_urls_follow_the_outbound_cidr_allowance(
    db, people, ical_layer, calendar_server, settings
) -> None:  # type: ignore[no-untyped-def]
    """TOCSIN_OUTBOUND_ALLOW_CIDRS lets calendars come from an allowed network, too."""
    _, layer = ical_layer
    service.update_layer(db, layer, {"ical_url": f"{calendar_server}/moved"})
    allowed = settings.model_copy(update={"outbound_allow_cidrs": "127.0.0.0/8"})
    report = ical_import.import_url(
        db, layer, guard=ical_import.calendar_guard(allowed), now=utc(2026, 6, 1)
    )
    assert report["imported"] == 5


def test_feeds_list_shifts_with_stable_uids(client, db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    today = datetime.now(UTC).date()
    schedule = make_schedule(
        layers=[{"members": ["Ann", "Bob"], "shift_unit": "days", "timezone": "UTC",
                 "start_date": str(today - timedelta(days=40))}]
    )  # fmt: skip
    feed = feeds.schedule_feed(db, schedule)
    mine = feeds.user_feed(db, people["Ann"])
    db.commit()
    url = feeds.feed_url(feed, "test-secret", "http://testserver")
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(first.content)
    events = list(calendar.walk("VEVENT"))
    assert 100 <= len(events) <= 130  # four weeks back to about three months ahead, daily
    assert any(str(e["summary"]) == "On call: Ann (Primary)" for e in events)
    again = icalendar.Calendar.from_ical(client.get(url).content)
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == [str(e["uid"]) for e in events]
    # A calendar app polls all day long: fetches seconds and hours apart name the same shifts
    # the same way (the shift cut by the feed's start included).
    noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    uids = [
        {str(e["uid"]) for e in icalendar.Calendar.from_ical(
            feeds.schedule_calendar(db, schedule, noon + delta, "http://testserver")
        ).walk("VEVENT")}
        for delta in (timedelta(0), timedelta(seconds=7), timedelta(hours=5))
    ]  # fmt: skip
    assert uids[0] == uids[1] == uids[2]
    personal = icalendar.Calendar.from_ical(
        client.get(feeds.feed_url(mine, "test-secret", "http://testserver")).content
    )
    summaries = {str(e["summary"]) for e in personal.walk("VEVENT")}
    assert summaries == {"On call: Primary"}
    assert len(list(personal.walk("VEVENT"))) in range(50, 66)  # every other day
    # A guessed or tampered token is not found.
    assert client.get(url.replace(url[-8:-4], "0000")).status_code == 404
    assert client.get("/ical/schedules/1-abc.ics").status_code == 404
    # Digits that are not ASCII ("²" passes str.isdigit() and fails int()), or too many.
    for kind in ("schedules", "users"):
        for junk in ("²", "٣", "9" * 5000):
            assert client.get(f"/ical/{kind}/{junk}-abc.ics").status_code == 404, (kind, junk)


def test_feed_descriptions_name_the_person_an_override_covers(  # type: ignore[no-untyped-def]
    client, db, people, make_schedule
) -> None:
    today = datetime.now(UTC).date()
    schedule = make_schedule(
        layers=[{"members": ["Ann"], "shift_unit": "days", "timezone": "UTC",
                 "start_date": str(today - timedelta(days=3))}]
    )  # fmt: skip
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
    service.add_override(
        db, schedule, user_id=people["Cat"].id, start=start, end=start + timedelta(hours=2)
    )
    feed = feeds.schedule_feed(db, schedule)
    cats = feeds.user_feed(db, people["Cat"])
    db.commit()
    for token in (feed, cats):
        calendar = icalendar.Calendar.from_ical(
            client.get(feeds.feed_url(token, "test-secret", "http://testserver")).content
        )
        (event,) = [e for e in calendar.walk("VEVENT") if e.decoded("dtstart") == start]
        assert str(event["description"]) == "override covering Ann"


def test_schedule_gaps_for_tocsin_check(db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    now = utc(2026, 6, 1)
    make_schedule("Covered", layers=[{"members": ["Ann"], "start_date": "2026-05-01"}])
    make_schedule(
        "Office hours",
        layers=[{"members": ["Bob"], "start_date": "2026-05-01", "timezone": "UTC",
                 "restrictions": [{"days": ["mon"], "start": "09:00", "end": "17:00"}]}],
    )  # fmt: skip
    make_schedule("Empty")
    found = schedule_gaps(db, now, weeks=2)
    assert [g.schedule_name for g in found] == ["Empty", "Office hours"]
    assert found[0].ranges == [(now, now + timedelta(weeks=2))]
    assert "has nobody on call" in found[1].describe()
