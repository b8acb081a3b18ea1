"""Insights → On-call load, against a seeded fortnight whose figures are worked out by hand.

The period is 5 to 18 October 2026 (a range, the organisation's zone UTC), working hours
09:00–17:00 Monday to Friday, sleep 22:00–07:00, each in the person's zone when paged.
Lena is in Europe/London (UTC+1 in October) until she moves to Asia/Tokyo (UTC+9) on 11
October; Kenji is in America/New_York (UTC−4); Rita (the `responder` fixture) in UTC.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, api_as, browser_login
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User, UserTimezoneChange
from tocsin.config import Settings
from tocsin.configfile import apply_file
from tocsin.escalation.models import EscalationPolicy, EscalationRun, EscalationStep
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.notify.models import Notification
from tocsin.schedules import service as schedules

PERIOD = "from=2026-10-05&to=2026-10-18"
SECRET_TITLE = "Card data exposed"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


@dataclass
class History:
    lena: User
    kenji: User
    rita: User
    team: Team
    incidents: dict[str, Incident]


def _page(
    db: Session, incident: Incident, user: User, key: str, when: datetime, channels: int = 1
) -> None:
    """A page as notify plans it: `channels` deliveries sharing one page key, created at once."""
    page_key = f"{key}:{user.id}"
    for n in range(channels):
        db.add(
            Notification(
                incident_id=incident.id,
                user_id=user.id,
                channel="email" if n == 0 else "apprise",
                method_label=f"method {n}",
                rule_position=n,
                page_key=page_key,
                idempotency_key=f"{page_key}:{n}",
                state="sent",
                planned_at=when,
                sent_at=when,
                created_at=when,
                updated_at=when,
            )
        )


def _run(
    db: Session,
    incident: Incident,
    policy: EscalationPolicy | None,
    *,
    started: datetime,
    acknowledged_by: User | None = None,
    acknowledged_at: datetime | None = None,
) -> EscalationRun:
    run = EscalationRun(
        incident_id=incident.id,
        policy_id=policy.id if policy else None,
        label=policy.name if policy else "Paged by hand",
        state="acknowledged" if acknowledged_by else "active",
        started_at=started,
        ended_at=acknowledged_at,
        acknowledged_by_id=acknowledged_by.id if acknowledged_by else None,
    )
    db.add(run)
    db.flush()
    return run


def _step(db: Session, run: EscalationRun, level: int, when: datetime, people: list[User]) -> str:
    """A step of `run` at `level` paging `people`; returns its page key (as escalation's)."""
    db.add(
        EscalationStep(
            run_id=run.id,
            incident_id=run.incident_id,
            cycle=0,
            level=level,
            at=when,
            paged_user_ids=[p.id for p in people],
        )
    )
    return f"esc:{run.id}:0:{level}"


@pytest.fixture
def history(db: Session, admin: User, responder: User) -> History:
    team = catalog.create_team(db, name="Payments")
    lena = catalog.create_user(
        db, name="Lena Lund", email="lena@example.com", timezone="Europe/London", team_ids=[team.id]
    )
    kenji = catalog.create_user(
        db,
        name="Kenji Kato",
        email="kenji@example.com",
        timezone="America/New_York",
        team_ids=[team.id],
    )
    olga = catalog.create_user(
        db, name="Olga Ortiz", email="olga@example.com", timezone="UTC", team_ids=[team.id]
    )
    # Olga is on call from 1 October and never paged: listed with no pages.
    schedule = schedules.create_schedule(db, name="Payments primary", team_id=team.id)
    schedules.add_layer(
        db,
        schedule,
        {"name": "Weekly", "timezone": "UTC", "start_date": "2026-10-01", "member_ids": [olga.id]},
    )
    policy = EscalationPolicy(name="Payments on call", team_id=team.id)
    db.add(policy)
    made = {}
    for name, title, options in [
        ("A", "Checkout errors", {}),
        ("B", SECRET_TITLE, {"restricted": True}),
        ("C", "Slow refunds", {}),
        ("D", "Game day", {"drill": True}),
        ("E", "Ledger lag", {}),
        ("F", "Card declines", {}),
    ]:
        made[name] = incidents.declare(db, by=admin, title=title, **options)
    db.flush()
    a, b, c, d, e, f = (made[k] for k in "ABCDEF")

    # A, Tue 6 Oct: Lena paged at 22:30 UTC (23:30 in London: out of hours, asleep) by email
    # and SMS, then a fallback delivery; she acknowledges at 22:40 (10 min).
    run = _run(
        db, a, policy, started=at(6, 22, 30), acknowledged_by=lena, acknowledged_at=at(6, 22, 40)
    )
    key = _step(db, run, 0, at(6, 22, 30), [lena])
    _page(db, a, lena, key, at(6, 22, 30), channels=2)
    db.add(
        Notification(
            incident_id=a.id,
            user_id=lena.id,
            channel="email",
            rule_position=None,
            page_key=f"{key}:{lena.id}",
            idempotency_key=f"{key}:{lena.id}:fallback",
            state="sent",
            planned_at=at(6, 22, 35),
            created_at=at(6, 22, 35),
            updated_at=at(6, 22, 35),
        )
    )
    # C, Wed 7 Oct: Kenji at 14:00 UTC (10:00 in New York, working hours), acknowledges at
    # 14:05 (5 min); Rita paged by hand Thu 8 Oct 12:00 UTC (working hours), never acknowledges.
    run = _run(
        db, c, policy, started=at(7, 14), acknowledged_by=kenji, acknowledged_at=at(7, 14, 5)
    )
    _page(db, c, kenji, _step(db, run, 0, at(7, 14), [kenji]), at(7, 14))
    manual = _run(db, c, None, started=at(8, 12))
    _page(db, c, responder, f"manual:{manual.id}", at(8, 12))
    # B (restricted), Sat 10 Oct: Kenji at 11:00 UTC (Saturday 07:00 in New York: out of
    # hours, and awake: sleep ends at 07:00); nobody acknowledges; level 2 pages Lena at 11:15
    # (Saturday 12:15 in London: out of hours, level 2+; 20:15 in Tokyo, where she was not
    # yet), who acknowledges at 11:25 (10 min). Kenji's page: no acknowledgement.
    run = _run(
        db, b, policy, started=at(10, 11), acknowledged_by=lena, acknowledged_at=at(10, 11, 25)
    )
    _page(db, b, kenji, _step(db, run, 0, at(10, 11), [kenji]), at(10, 11))
    _page(db, b, lena, _step(db, run, 1, at(10, 11, 15), [lena]), at(10, 11, 15))
    # D, a drill: Lena at 02:00 UTC on Wed 7 Oct, and a level 2 step. Counted nowhere.
    run = _run(db, d, policy, started=at(7, 2))
    _page(db, d, lena, _step(db, run, 0, at(7, 2), [lena]), at(7, 2))
    _page(db, d, kenji, _step(db, run, 1, at(7, 2, 15), [kenji]), at(7, 2, 15))
    # E, Tue 13 Oct: Lena, now in Tokyo, at 00:30 UTC (09:30 in Tokyo: working hours; it
    # would be 01:30, asleep, in London), acknowledges at 00:50 (20 min).
    run = _run(
        db, e, policy, started=at(13, 0, 30), acknowledged_by=lena, acknowledged_at=at(13, 0, 50)
    )
    _page(db, e, lena, _step(db, run, 0, at(13, 0, 30), [lena]), at(13, 0, 30))
    # F, Wed 14 Oct: Lena at 03:00 UTC (12:00 in Tokyo); level 2 pages Kenji at 03:10 (23:10
    # on Tuesday in New York: out of hours, asleep), who acknowledges at 03:30 (20 min).
    run = _run(
        db, f, policy, started=at(14, 3), acknowledged_by=kenji, acknowledged_at=at(14, 3, 30)
    )
    _page(db, f, lena, _step(db, run, 0, at(14, 3), [lena]), at(14, 3))
    _page(db, f, kenji, _step(db, run, 1, at(14, 3, 10), [kenji]), at(14, 3, 10))
    # After the period (Mon 19 Oct 01:00 UTC): not counted.
    later = _run(db, c, None, started=at(19, 1))
    _page(db, c, kenji, f"manual:{later.id}", at(19, 1))

    # Lena moves to Tokyo on 11 October: through the service, dated then.
    catalog.update_user(db, lena, {"timezone": "Asia/Tokyo"})
    change = db.scalars(
        select(UserTimezoneChange).where(UserTimezoneChange.user_id == lena.id)
    ).one()
    assert (change.old_timezone, change.new_timezone) == ("Europe/London", "Asia/Tokyo")
    change.changed_at = at(11, 0)
    db.commit()
    return History(lena, kenji, responder, team, made)


class _Tables(HTMLParser):
    """Each table row's cells as text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows_of(html: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    return parser.rows


def row(html: str, first: str) -> list[str]:
    """The row of the on-call load's own tables (above the rotations' part, which names the
    same people) whose first cell starts with `first`."""
    own = html.split('id="rotations-heading"')[0]
    found = [r for r in rows_of(own) if r and r[0].startswith(first)]
    assert len(found) == 1, (first, found)
    return found[0]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_figures_worked_out_by_hand(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    browser_login(client, admin.email)
    page = client.get(f"/insights/on-call?{PERIOD}")
    assert page.status_code == 200, page.text
    html = page.text
    # 8 pages (the drill's 2 and the one after the period left out): P1 A-Lena, C-Kenji,
    # C-Rita, B-Kenji, B-Lena, E-Lena, F-Lena, F-Kenji; 5 incidents (A, B, C, E, F).
    # Out of hours: A-Lena, B-Kenji, B-Lena, F-Kenji = 4; asleep: A-Lena, F-Kenji = 2;
    # level 2+: B-Lena, F-Kenji = 2; times to acknowledge 300, 600, 600, 1200, 1200 → 600.
    summary = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert (
        "8 pages for 5 incidents: 4 out of hours (50%), 2 during sleep (25%), 2 at escalation "
        "level 2 or later; median time to acknowledge 10 min." in summary
    )
    # Lena: A, B, E, F = 4 pages, 4 incidents; out of hours A (23:30 London), B (Saturday)
    # = 2; asleep A only (read in Tokyo, A would be 07:30, awake; E is 09:30, F 12:00);
    # acknowledged A 600, B 600, E 1200 → median 600 s; level 2+: B.
    assert row(html, "Lena Lund") == [
        "Lena Lund Asia/Tokyo",
        "Payments",
        "4",
        "2 (50%)",
        "1",
        "4",
        "10 min of 3",
        "1",
    ]
    # Kenji: C, B, F = 3; out of hours B (Saturday), F (23:10) = 2; asleep F = 1;
    # acknowledged C 300, F 1200 → median 750 s = 12 min; level 2+: F.
    assert row(html, "Kenji Kato") == [
        "Kenji Kato America/New_York",
        "Payments",
        "3",
        "2 (67%)",
        "1",
        "3",
        "12 min of 2",
        "1",
    ]
    # Rita: the page by hand on C, in working hours, not acknowledged; no team.
    assert row(html, "Rita Responder") == [
        "Rita Responder UTC",
        "",
        "1",
        "0 (0%)",
        "0",
        "1",
        "—",
        "0",
    ]
    # Olga: on call (Payments primary) but never paged.
    assert row(html, "Olga Ortiz") == [
        "Olga Ortiz UTC",
        "Payments",
        "0",
        "0 (—)",
        "0",
        "0",
        "—",
        "0",
    ]
    # Payments: Lena and Kenji, 7 pages, incidents A B C E F; escalations past level 1 of its
    # policy: B and F (the drill's left out).
    assert row(html, "Payments") == ["Payments", "2", "7", "4 (57%)", "2", "5", "10 min", "2", "2"]
    # Weeks from Monday (UTC): 5 Oct: A, C, C, B, B (out of hours A, B, B; asleep A);
    # 12 Oct: E, F, F (out of hours and asleep F-Kenji).
    assert row(html, "2026-10-05") == ["2026-10-05", "5", "3", "1"]
    assert row(html, "2026-10-12") == ["2026-10-12", "3", "1", "1"]
    week = client.get("/insights/on-call?from=2026-10-12&to=2026-10-18")
    assert 'href="/insights/on-call?from=2026-10-12&amp;to=2026-10-18"' in html
    assert "3 pages for 2 incidents" in " ".join(re.sub(r"<[^>]+>", " ", week.text).split())
    # The most paged incidents: B, C and F twice, then A and E; the admin sees B's title.
    incident_rows = [r for r in rows_of(html) if r and r[0].startswith("INC-")]
    numbers = {k: i.number for k, i in history.incidents.items()}
    assert [r[0] for r in incident_rows] == [
        f"INC-{numbers['B']} {SECRET_TITLE}",
        f"INC-{numbers['C']} Slow refunds",
        f"INC-{numbers['F']} Card declines",
        f"INC-{numbers['A']} Checkout errors",
        f"INC-{numbers['E']} Ledger lag",
    ]
    assert incident_rows[0][1:] == ["2", "2", "2"]
    assert "Game day" not in html
    assert "counted but not listed" not in html
    assert f'href="/users/{history.lena.id}/notifications"' in html
    assert '<svg class="chart"' in html

    people = read_csv(client.get(f"/insights/on-call.csv?table=people&{PERIOD}").text)
    assert [
        (
            p["name"],
            p["pages"],
            p["out_of_hours"],
            p["sleep"],
            p["incidents"],
            p["median_tta_seconds"],
            p["level2_pages"],
        )
        for p in people
    ] == [
        ("Lena Lund", "4", "2", "1", "4", "600.0", "1"),
        ("Kenji Kato", "3", "2", "1", "3", "750.0", "1"),
        ("Rita Responder", "1", "0", "0", "1", "", "0"),
        ("Olga Ortiz", "0", "0", "0", "0", "", "0"),
    ]
    teams = read_csv(client.get(f"/insights/on-call.csv?table=teams&{PERIOD}").text)
    assert [(t["team"], t["pages"], t["escalations_past_first_level"]) for t in teams] == [
        ("Payments", "7", "2")
    ]
    weeks = read_csv(client.get(f"/insights/on-call.csv?table=weeks&{PERIOD}").text)
    assert [(w["week_start"], w["pages"], w["out_of_hours"], w["sleep"]) for w in weeks] == [
        ("2026-10-05", "5", "3", "1"),
        ("2026-10-12", "3", "1", "1"),
    ]

    body = client.get(
        f"/api/v1/insights/on-call?{PERIOD}", headers=api_as(client, db, admin)
    ).json()
    assert (
        body["pages"],
        body["out_of_hours"],
        body["sleep"],
        body["incidents"],
        body["level2"],
        body["median_tta"],
    ) == (8, 4, 2, 5, 2, 600.0)
    lena = body["people"][0]
    assert (
        lena["name"],
        lena["pages"],
        lena["out_of_hours"],
        lena["sleep"],
        lena["median_tta"],
    ) == ("Lena Lund", 4, 2, 1, 600.0)
    assert [t["escalations"] for t in body["teams"]] == [2]
    assert body["top_incidents"][0]["title"] == SECRET_TITLE
    assert body["hidden_incidents"] == 0


def test_a_move_to_another_zone_does_not_rewrite_old_pages(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    """Lena's page at 23:30 London time stays a night page after she moves to Tokyo (where
    that instant is 07:30); her page at 00:30 UTC after the move is 09:30 in Tokyo."""
    headers = api_as(client, db, admin)
    first = client.get(
        "/api/v1/insights/on-call?from=2026-10-06&to=2026-10-06", headers=headers
    ).json()
    assert [
        (p["name"], p["pages"], p["out_of_hours"], p["sleep"])
        for p in first["people"]
        if p["pages"]
    ] == [("Lena Lund", 1, 1, 1)]
    after = client.get(
        "/api/v1/insights/on-call?from=2026-10-13&to=2026-10-13", headers=headers
    ).json()
    assert [
        (p["name"], p["pages"], p["out_of_hours"], p["sleep"])
        for p in after["people"]
        if p["pages"]
    ] == [("Lena Lund", 1, 0, 0)]


def test_a_restricted_incident_is_counted_but_not_named_to_a_responder(
    client: TestClient, db: Session, history: History
) -> None:
    browser_login(client, history.rita.email, ADMIN_PASSWORD)
    html = client.get(f"/insights/on-call?{PERIOD}").text
    assert SECRET_TITLE not in html
    assert f"INC-{history.incidents['B'].number}" not in html
    assert "1 private incident is counted but not listed." in html
    assert row(html, "Lena Lund")[2] == "4"  # B's page still counted
    # Only admins and the person themselves get the link to a person's page.
    assert f'href="/users/{history.lena.id}/notifications"' not in html
    assert f'href="/users/{history.rita.id}/notifications"' in html
    csv_text = client.get(f"/insights/on-call.csv?table=incidents&{PERIOD}").text
    assert SECRET_TITLE not in csv_text
    body = client.get(
        f"/api/v1/insights/on-call?{PERIOD}", headers=api_as(client, db, history.rita)
    ).json()
    assert body["pages"] == 8
    assert body["hidden_incidents"] == 1
    assert SECRET_TITLE not in str(body)


def test_a_team_filter_selects_its_members(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    browser_login(client, admin.email)
    html = client.get(f"/insights/on-call?{PERIOD}&team=payments").text
    assert "7 pages for 5 incidents" in " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Rita Responder" not in html
    body = client.get(
        f"/api/v1/insights/on-call?{PERIOD}&team={history.team.id}",
        headers=api_as(client, db, admin),
    ).json()
    assert [p["name"] for p in body["people"]] == ["Lena Lund", "Kenji Kato", "Olga Ortiz"]
    assert body["pages"] == 7


def test_a_team_filter_counts_a_covering_outsiders_pages_in_the_rotations_only(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    """Rita, not in Payments, covers its schedule on Thursday 8 October, when she is paged by
    hand for C: the team's load leaves her out (members only), while its rotations count her
    page in her shift (whoever was on call in the team's schedules)."""
    primary = schedules.schedule_named(db, "Payments primary")
    schedules.add_override(
        db, primary, user_id=history.rita.id, start=at(8, 0), end=at(9, 0), now=at(1, 0)
    )
    db.commit()
    body = client.get(
        f"/api/v1/insights/on-call?{PERIOD}&team={history.team.id}",
        headers=api_as(client, db, admin),
    ).json()
    assert history.rita.id not in [p["user_id"] for p in body["people"]]
    assert body["pages"] == 7
    rota = body["rotations"]
    rita = next(p for p in rota["people"] if p["user_id"] == history.rita.id)
    assert (rita["hours"], rita["shifts"], rita["pages"], rita["incidents"]) == (24.0, 1, 1, 1)
    (shift,) = [s for s in rota["shifts"] if s["user_id"] == history.rita.id]
    assert (shift["start"], shift["pages"]) == ("2026-10-08T00:00:00+00:00", 1)


def test_an_empty_period_says_so(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    browser_login(client, admin.email)
    html = client.get("/insights/on-call?from=2026-09-01&to=2026-09-30").text
    assert "No one was paged in this period." in html
    assert '<svg class="chart"' not in html


def test_bad_input_is_refused_clearly(client: TestClient, db: Session, admin: User) -> None:
    browser_login(client, admin.email)
    page = client.get("/insights/on-call?team=Nope")
    assert page.status_code == 422
    assert "there is no team &#39;Nope&#39;" in page.text
    reversed_range = client.get("/insights/on-call.csv?table=people&from=2026-10-18&to=2026-10-05")
    assert reversed_range.status_code == 422
    assert "the period is in the wrong order" in reversed_range.text
    table = client.get(f"/insights/on-call.csv?table=secrets&{PERIOD}")
    assert table.status_code == 422
    assert "unknown table 'secrets'" in table.text
    headers = api_as(client, db, admin)
    answer = client.get("/api/v1/insights/on-call?team=Nope", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "there is no team 'Nope'"
    answer = client.get("/api/v1/insights/on-call?from=2026-10-18&to=2026-10-05", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "to"
    assert "wrong order" in answer.json()["error"]["message"]


def test_every_way_of_changing_a_zone_keeps_the_old_one(
    client: TestClient, db: Session, admin: User, responder: User, tmp_path: Path
) -> None:
    """The API, Settings → Users and the configuration file all keep the zone left behind;
    saving the same zone again records nothing."""
    for _ in range(2):
        answer = client.patch(
            f"/api/v1/users/{responder.id}",
            json={"timezone": "Asia/Tokyo"},
            headers=api_as(client, db, admin),
        )
        assert answer.status_code == 200, answer.text
    token = browser_login(client, admin.email)
    form = client.post(
        f"/settings/users/{responder.id}",
        data={
            "csrf_token": token,
            "name": responder.name,
            "email": responder.email,
            "role": "responder",
            "timezone": "Europe/Paris",
            "active": "1",
        },
        follow_redirects=False,
    )
    assert form.status_code == 303, form.text
    db.commit()
    db.expire_all()  # what the server wrote, not what this session read before
    config = tmp_path / "people.yaml"
    config.write_text(
        "users:\n  - name: Rita Responder\n    email: rita@example.com\n"
        "    role: responder\n    timezone: America/Chicago\n"
    )
    apply_file(db, config)
    db.commit()
    db.expire_all()
    changes = db.scalars(
        select(UserTimezoneChange)
        .where(UserTimezoneChange.user_id == responder.id)
        .order_by(UserTimezoneChange.id)
    ).all()
    assert [(c.old_timezone, c.new_timezone) for c in changes] == [
        ("UTC", "Asia/Tokyo"),
        ("Asia/Tokyo", "Europe/Paris"),
        ("Europe/Paris", "America/Chicago"),
    ]


def test_working_hours_must_be_a_day_in_order() -> None:
    assert Settings(working_hours="08:30-18:00").working_hours == "08:30-18:00"
    for bad in ("17:00-09:00", "9-5", "09:00-24:00"):
        with pytest.raises(ValidationError):
            Settings(working_hours=bad)


def test_the_tab_shows_each_rotations_hours_and_exports_them(
    client: TestClient, db: Session, admin: User, history: History
) -> None:
    """The rotations' part (insights/shifts.py) is on the tab, in its CSV and in its JSON."""
    browser_login(client, admin.email)
    page = client.get(f"/insights/on-call?{PERIOD}")
    assert "Hours on call and fairness" in page.text
    people = read_csv(client.get(f"/insights/on-call.csv?table=rotation-people&{PERIOD}").text)
    olga = next(p for p in people if p["person"] == "Olga Ortiz")
    assert olga["hours on call"] == "336.0"  # on call the whole fortnight: 14 × 24 h
    body = client.get(f"/api/v1/insights/on-call?{PERIOD}", headers=api_as(client, db, admin))
    assert any(p["name"] == "Olga Ortiz" for p in body.json()["rotations"]["people"])
