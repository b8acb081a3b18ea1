"""Hours on call and fairness across rotations (insights.shifts), against a seeded March 2026
whose figures are worked out by hand below, through the page fragment, the CSV and the JSON
the on-call tab serves them as (a small route here stands in for that tab)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.insights.export import csv_response
from tocsin.insights.load import Hours
from tocsin.insights.shifts import rotations
from tocsin.insights.web import filters_of
from tocsin.notify.models import Notification
from tocsin.schedules import service as schedules
from tocsin.web.templating import render

MARCH = "from=2026-03-02&to=2026-03-29"  # four whole weeks, Monday to Sunday, UTC

HOURS = Hours.parse("mon-fri", "09:00-17:00")  # the settings' defaults


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def add_routes(app: FastAPI) -> None:
    """What the on-call tab does with `rotations`: the fragment, a CSV table, the JSON."""

    @app.get("/test/rotations", include_in_schema=False)
    def page(request: Request, db: DbSession, user: CurrentUser) -> Response:
        f = filters_of(request, db)
        figures = rotations(db, f, user, hours=HOURS)
        return render(request, "insights/_rotations.html", {"rotations": figures, "f": f})  # type: ignore[no-any-return]

    @app.get("/test/rotations.csv", include_in_schema=False)
    def table(request: Request, db: DbSession, user: CurrentUser, table: str) -> Response:
        f = filters_of(request, db)
        tables = rotations(db, f, user, hours=HOURS).csv_tables()
        if table not in tables:
            raise ValidationFailed(f"there is no table {table!r}", field="table")
        header, rows = tables[table]
        return csv_response(db, request, f"{table}.csv", header, rows)

    @app.get("/api/v1/test/rotations", include_in_schema=False)
    def data(request: Request, db: DbSession, user: CurrentUser) -> dict[str, Any]:
        return rotations(db, filters_of(request, db), user, hours=HOURS).as_dict()


@pytest.fixture
def march(db: Session, admin: User) -> dict[str, Any]:
    """Two weekly rotations in UTC with midnight handoffs from Monday 2 March 2026.

    Primary (team Payments): Ann 2-9 Mar, Bob 9-16, Cat 16-23, Ann 23-30; an override puts
    Cat on for Ann on 25 Mar (00:00 to 00:00). Secondary (no team): Cat 2-9 and 16-23, Dan
    9-16 and 23-30. So Cat is on call in both schedules 16-23 Mar.

    People in four zones: Ann London (GMT all March), Bob New York (EDT from 8 Mar), Cat
    Kolkata (+5:30), Dan Sydney (AEDT, +11). Working hours are 09:00-17:00 local, Mon-Fri."""
    db.commit()
    people = {
        name: catalog.create_user(db, name=name, email=f"{name.lower()}@example.com", timezone=tz)
        for name, tz in (
            ("Ann", "Europe/London"),
            ("Bob", "America/New_York"),
            ("Cat", "Asia/Kolkata"),
            ("Dan", "Australia/Sydney"),
        )
    }
    team = catalog.create_team(
        db, name="Payments", member_ids=[people[n].id for n in ("Ann", "Bob", "Cat")]
    )
    weekly = {"shift_unit": "weeks", "timezone": "UTC", "start_date": "2026-03-02"}
    primary = schedules.create_schedule(db, name="Primary", team_id=team.id)
    schedules.add_layer(
        db,
        primary,
        {"name": "Weekly", "handoff_time": "00:00", **weekly,
         "member_ids": [people[n].id for n in ("Ann", "Bob", "Cat")]},
    )  # fmt: skip
    schedules.add_override(
        db, primary, user_id=people["Cat"].id, start=utc(2026, 3, 25), end=utc(2026, 3, 26),
        now=utc(2026, 3, 1),
    )  # fmt: skip
    secondary = schedules.create_schedule(db, name="Secondary")
    schedules.add_layer(
        db,
        secondary,
        {"name": "Weekly", "handoff_time": "00:00", **weekly,
         "member_ids": [people[n].id for n in ("Cat", "Dan")]},
    )  # fmt: skip

    def declare(title: str, **extra: Any) -> Incident:
        return incidents.declare(
            db, by=admin, title=title, urgency="none", started_at=utc(2026, 3, 1),
            detected_at=utc(2026, 3, 1), **extra,
        )  # fmt: skip

    inc = {
        "A": declare("Checkout down"),
        "B": declare("Queue backlog"),
        "C": declare("Database failover"),
        "D": declare("Latency on search"),
        "E": declare("Payments API errors"),
        "F": declare("Disk full"),
        "R": declare("Suspected breach", restricted=True),
        "X": declare("Game day", drill=True),
    }
    serial = iter(range(1000))

    def page(who: str, incident: str, *created: datetime) -> None:
        """One page (one page key): a delivery created at each time given."""
        key = f"esc:{next(serial)}:{people[who].id if who in people else who}"
        for at in created:
            db.add(
                Notification(
                    incident_id=inc[incident].id,
                    user_id=people[who].id if who in people else admin.id,
                    channel="email",
                    page_key=key,
                    idempotency_key=f"{key}:{next(serial)}",
                    state="sent",
                    planned_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )

    # Ann, Primary 2-9 Mar. Tue 3 Mar 10:00 London, in hours: two deliveries and a fallback
    # twenty minutes later are one page.
    page("Ann", "A", utc(2026, 3, 3, 10), utc(2026, 3, 3, 10), utc(2026, 3, 3, 10, 20))
    page("Ann", "A", utc(2026, 3, 3, 10, 30))  # paged again (another key): in hours
    page("Ann", "B", utc(2026, 3, 7, 12))  # a Saturday: out of hours
    # First delivered on 1 Mar 23:50, before the period: not counted, though a fallback
    # delivery of the same page falls inside Ann's shift.
    page("Ann", "B", utc(2026, 3, 1, 23, 50), utc(2026, 3, 2, 0, 10))
    page("Ann", "D", utc(2026, 3, 12, 10))  # Ann is not on call on 12 Mar: not counted
    # Bob, Primary 9-16 Mar: Tue 10 Mar 11:00 New York (in hours); Wed 11 Mar 22:00 (out).
    page("Bob", "C", utc(2026, 3, 10, 15))
    page("Bob", "D", utc(2026, 3, 12, 2))
    # Dan, Secondary 9-16 Mar: Tue 10 Mar 12:00 Sydney (in hours); the drill's page is not
    # counted.
    page("Dan", "F", utc(2026, 3, 10, 1))
    page("Dan", "X", utc(2026, 3, 11, 3))
    # Cat, on call in both schedules 16-23 Mar: the restricted incident Tue 17 Mar 11:30
    # Kolkata (in hours), E Wed 18 Mar 19:30 (out); E again on the override, Wed 25 Mar
    # 15:30 (in hours; Secondary has Dan then).
    page("Cat", "R", utc(2026, 3, 17, 6))
    page("Cat", "E", utc(2026, 3, 18, 14))
    page("Cat", "E", utc(2026, 3, 25, 10))
    page("admin", "A", utc(2026, 3, 3, 10))  # the admin is on call nowhere: not counted
    db.commit()
    return {"people": people, "incidents": inc, "primary": primary, "secondary": secondary}


@pytest.fixture
def test_client(app: FastAPI, client: TestClient) -> TestClient:
    add_routes(app)
    return client


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_hours_shifts_pages_and_fairness_by_hand(
    test_client: TestClient, db: Session, admin: User, march: dict[str, Any]
) -> None:
    headers = api_as(test_client, db, admin)
    got = test_client.get(f"/api/v1/test/rotations?{MARCH}", headers=headers)
    assert got.status_code == 200, got.text
    data = got.json()

    # Hours: Ann 2-9 Mar (168) + 23-25 (48) + 26-30 (96) = 312 in 3 shifts; Bob 9-16 = 168;
    # Cat: Primary 16-23 (168) and 25-26 (24), Secondary 2-9 and 16-23 (168 each): 528 in its
    # schedules' rows, but 16-23 once in her own total: 168 + 24 + 168 = 360, in 4 shifts.
    # Dan: 9-16 and 23-30 = 336. Pages while on call (each once): Ann 3 (two of A, one of B;
    # the page first sent on 1 Mar is before the period, the one on 12 Mar is off call), Bob
    # 2, Cat 3 (R, E, E), Dan 1 (the drill's page left out).
    assert [
        (p["name"], p["hours"], p["shifts"], p["pages"], p["incidents"]) for p in data["people"]
    ] == [
        ("Cat", 360.0, 4, 3, 2),
        ("Dan", 336.0, 2, 1, 1),
        ("Ann", 312.0, 3, 3, 2),
        ("Bob", 168.0, 1, 2, 2),
    ]
    by_name = {s["name"]: s for s in data["schedules"]}
    # Secondary first: it is uneven. Cat 2 pages in 336 h = 0.14 per 24 h, Dan 1 in 336 h =
    # 0.07: a spread of exactly 2. Cat had 2 of the 3 pages (67%) with half the hours.
    assert [s["name"] for s in data["schedules"]] == ["Secondary", "Primary"]
    secondary = by_name["Secondary"]
    assert (secondary["uneven"], secondary["spread"], secondary["pages"]) == (True, 2.0, 3)
    assert secondary["findings"] == [
        "Cat carried 67% of the pages with 50% of the hours; Dan 33% of the pages with 50% "
        "of the hours."
    ]
    assert [
        (m["name"], m["hours"], m["shifts"], m["pages"], m["pages_out_of_hours"],
         m["pages_per_24h"], m["pages_share"], m["hours_share"])
        for m in secondary["members"]
    ] == [
        ("Cat", 336.0, 2, 2, 1, 0.14, 0.6667, 0.5),
        ("Dan", 336.0, 2, 1, 0, 0.07, 0.3333, 0.5),
    ]  # fmt: skip
    # Incidents per shift in Secondary: Cat 0 and 2, Dan 1 and 0 -> median 0.5, most 2.
    assert (secondary["incidents_per_shift_median"], secondary["incidents_per_shift_max"]) == (
        0.5,
        2,
    )
    # Primary: per 24 h Ann 3 x 24 / 312 = 0.23, Bob 2 x 24 / 168 = 0.29, Cat 3 x 24 / 192 =
    # 0.375: 0.375 / 0.2308 = 1.625 < 2; hours 312 is not more than twice 168: even. Out of
    # hours: Ann's Saturday page, Bob's 22:00 New York, Cat's 19:30 Kolkata (one each); in
    # Secondary Cat's 19:30 and none of Dan's (noon in Sydney).
    primary = by_name["Primary"]
    assert (primary["uneven"], primary["spread"], primary["findings"]) == (False, 1.62, [])
    assert [
        (m["name"], m["hours"], m["shifts"], m["pages"], m["pages_out_of_hours"],
         m["pages_per_24h"])
        for m in primary["members"]
    ] == [
        ("Cat", 192.0, 2, 3, 1, 0.38),
        ("Bob", 168.0, 1, 2, 1, 0.29),
        ("Ann", 312.0, 3, 3, 1, 0.23),
    ]  # fmt: skip
    # Shifts 2 (Ann), 0, 0, 2 (Bob), 2 (Cat 16-23), 1 (Cat's override): median 1.5, most 2.
    assert (primary["incidents_per_shift_median"], primary["incidents_per_shift_max"]) == (
        1.5,
        2,
    )
    # Each shift with its pages and incidents.
    shifts = {(s["schedule_id"], s["user_id"], s["start"]): s for s in data["shifts"]}
    cat = march["people"]["Cat"].id
    for schedule in ("primary", "secondary"):
        both = shifts[(march[schedule].id, cat, "2026-03-16T00:00:00+00:00")]
        assert (both["end"], both["pages"], both["incidents"]) == (
            "2026-03-23T00:00:00+00:00",
            2,
            2,
        )
    override = shifts[(march["primary"].id, cat, "2026-03-25T00:00:00+00:00")]
    assert (override["end"], override["hours"], override["pages"], override["incidents"]) == (
        "2026-03-26T00:00:00+00:00",
        24.0,
        1,
        1,
    )
    # The busiest shifts: 2 incidents each for Ann 2-9 Mar (3 pages), then by pages and time:
    # Bob 9-16, Cat 16-23 in Primary and in Secondary; then 1 incident: Dan 9-16 (Secondary),
    # Cat on 25 Mar. The restricted incident is listed to the admin.
    people = {u.id: n for n, u in march["people"].items()}
    assert [(people[b["user_id"]], b["start"][:10]) for b in data["busiest_shifts"]] == [
        ("Ann", "2026-03-02"),
        ("Bob", "2026-03-09"),
        ("Cat", "2026-03-16"),
        ("Cat", "2026-03-16"),
        ("Dan", "2026-03-09"),
        ("Cat", "2026-03-25"),
    ]
    numbers = {k: f"INC-{i.number}" for k, i in march["incidents"].items()}
    assert [b["incidents"] for b in data["busiest_shifts"]][:3] == [
        [numbers["A"], numbers["B"]],
        [numbers["C"], numbers["D"]],
        sorted([numbers["E"], numbers["R"]], key=lambda r: int(r[4:])),
    ]
    assert len(data["shifts"]) == 10  # Primary 6, Secondary 4
    assert data["restricted_not_listed"] == 0


def test_the_page_and_the_csv_hide_a_restricted_incident_from_a_responder(
    test_client: TestClient, db: Session, admin: User, responder: User, march: dict[str, Any]
) -> None:
    as_admin = api_as(test_client, db, admin)
    as_rita = api_as(test_client, db, responder)
    page = test_client.get(f"/test/rotations?{MARCH}", headers=as_admin)
    assert page.status_code == 200, page.text
    html = page.text
    assert "Cat carried 67% of the pages with 50% of the hours; Dan 33% of the pages" in html
    assert "Suspected breach" in html and "Game day" not in html
    assert "private incident" not in html
    assert f'href="/schedules/{march["secondary"].id}"' in html
    assert "/insights/on-call.csv?table=rotation-members&from=2026-03-02&amp;to=2026-03-29" in html

    rita = test_client.get(f"/test/rotations?{MARCH}", headers=as_rita).text
    number = march["incidents"]["R"].number
    assert "Suspected breach" not in rita and f"INC-{number}" not in rita
    assert "1 private incident is counted but not listed." in rita
    # Counted all the same: Cat's three pages and two incidents.
    assert "Payments API errors" in rita
    table = rows(test_client.get(f"/test/rotations.csv?table=rotation-people&{MARCH}",
                                 headers=as_rita).text)  # fmt: skip
    assert table[0][:6] == [
        "person", "time zone", "hours on call", "shifts", "pages while on call", "incidents"
    ]  # fmt: skip
    assert table[1] == ["Cat", "Asia/Kolkata", "360.0", "4", "3", "2"]
    shifts = rows(test_client.get(f"/test/rotations.csv?table=rotation-shifts&{MARCH}",
                                  headers=as_rita).text)  # fmt: skip
    cat_primary = [r for r in shifts if r[:3] == ["Primary", "Cat", "2026-03-16T00:00:00+00:00"]]
    assert cat_primary == [
        ["Primary", "Cat", "2026-03-16T00:00:00+00:00", "2026-03-23T00:00:00+00:00", "168.0",
         "2", "2"]
    ]  # fmt: skip
    data = test_client.get(f"/api/v1/test/rotations?{MARCH}", headers=as_rita).json()
    assert data["restricted_not_listed"] == 1
    assert [b["restricted_not_listed"] for b in data["busiest_shifts"]] == [0, 0, 1, 1, 0, 0]
    assert f"INC-{number}" not in str(data)
    members = rows(test_client.get(f"/test/rotations.csv?table=rotation-members&{MARCH}",
                                   headers=as_rita).text)  # fmt: skip
    assert ["Secondary", "Dan", "336.0", "0.5", "2", "1", "0.3333", "0", "0.07", "2.0", "yes"] in (
        members
    )


def test_the_team_filter_keeps_the_teams_schedules(
    test_client: TestClient, db: Session, admin: User, march: dict[str, Any]
) -> None:
    headers = api_as(test_client, db, admin)
    data = test_client.get(f"/api/v1/test/rotations?{MARCH}&team=Payments", headers=headers)
    assert data.status_code == 200, data.text
    # Primary alone: Cat's hours are hers in Primary only, 168 + 24 = 192.
    assert [s["name"] for s in data.json()["schedules"]] == ["Primary"]
    assert [(p["name"], p["hours"], p["pages"]) for p in data.json()["people"]] == [
        ("Ann", 312.0, 3),
        ("Cat", 192.0, 3),
        ("Bob", 168.0, 2),
    ]


def test_an_override_that_doubles_someones_hours_makes_the_rota_uneven(
    test_client: TestClient, db: Session, admin: User, march: dict[str, Any]
) -> None:
    # Bob covers Dan in Secondary 9-14 Mar (120 h): Dan keeps 14-16 Mar (48 h) and 23-30
    # (168 h) = 216 h; Cat 336 h, more than twice Bob's 120.
    schedules.add_override(
        db, march["secondary"], user_id=march["people"]["Bob"].id, start=utc(2026, 3, 9),
        end=utc(2026, 3, 14), now=utc(2026, 3, 1),
    )  # fmt: skip
    db.commit()
    headers = api_as(test_client, db, admin)
    data = test_client.get(f"/api/v1/test/rotations?{MARCH}", headers=headers).json()
    secondary = next(s for s in data["schedules"] if s["name"] == "Secondary")
    # Bob now had Bob's own pages of 10 and 12 Mar (C and D) while on call for Secondary too:
    # 2 pages in 120 h = 0.4 per 24 h; Cat 2 in 336 h = 0.14; Dan's page of 10 Mar came during
    # Bob's cover, so Dan has none: no spread to compute (nothing is divided by zero), and the
    # rota is uneven both ways. Shares: Bob 2 of 4 pages with 120 / 672 h = 18% of the hours;
    # Dan 216 / 672 = 32%.
    assert [(m["name"], m["hours"], m["pages"]) for m in secondary["members"]] == [
        ("Bob", 120.0, 2),
        ("Cat", 336.0, 2),
        ("Dan", 216.0, 0),
    ]
    assert secondary["uneven"] is True and secondary["spread"] is None
    assert secondary["findings"] == [
        "Bob carried 50% of the pages with 18% of the hours; Dan 0% of the pages with 32% of "
        "the hours.",
        "Cat was on call 336 h (50% of the hours), more than twice Bob's 120 h.",
    ]
    # Bob's own total counts each of those pages, and the cover (inside his Primary week of
    # 9-16 Mar), once: 168 h in 2 shifts, 2 pages.
    bob = next(p for p in data["people"] if p["name"] == "Bob")
    assert (bob["hours"], bob["shifts"], bob["pages"], bob["incidents"]) == (168.0, 2, 2, 2)


def test_bad_filters_are_a_clear_422(
    test_client: TestClient, db: Session, admin: User, march: dict[str, Any]
) -> None:
    headers = api_as(test_client, db, admin)
    unknown = test_client.get(f"/api/v1/test/rotations?{MARCH}&team=Nope", headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == "there is no team 'Nope'"
    reversed_range = test_client.get(
        "/api/v1/test/rotations?from=2026-03-29&to=2026-03-02", headers=headers
    )
    assert reversed_range.status_code == 422
    assert "the period is in the wrong order" in reversed_range.json()["error"]["message"]
    page = test_client.get(f"/test/rotations?{MARCH}&team=Nope", headers=headers)
    assert page.status_code == 422 and "there is no team" in page.text
    table = test_client.get(f"/test/rotations.csv?table=nope&{MARCH}", headers=headers)
    assert table.status_code == 422 and "there is no table" in table.text


def test_a_period_with_nobody_on_call_says_so(
    test_client: TestClient, db: Session, admin: User, march: dict[str, Any]
) -> None:
    headers = api_as(test_client, db, admin)
    page = test_client.get("/test/rotations?from=2026-02-02&to=2026-02-08", headers=headers)
    assert page.status_code == 200
    assert "Nobody was on call in any schedule in this period." in page.text
