"""The Learning tab of Insights: postmortems reviewed on time, postmortems by status and
follow-ups, computed by hand for a seeded history and compared with the page, the CSV and the
JSON; drills left out, restricted incidents counted but listed only to those who may see them.

The organisation's time zone is New York here, so that the quarter's edges are not UTC's.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.postmortems import publishing
from tocsin.postmortems import service as postmortems
from tocsin.postmortems.models import Postmortem

ZONE = ZoneInfo("America/New_York")
Q3 = {"period": "quarter", "date": "2026-08-15"}  # 1 July to 30 September 2026, New York


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"org_timezone": "America/New_York"})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    payments: Team
    search: Team
    refs: dict[str, str]


def _severity(db: Session, name: str) -> int:
    return db.scalars(select(Severity.id).where(Severity.name == name)).one()


def _reviewed_at(db: Session, postmortem: Postmortem, when: datetime) -> None:
    """Move to Reviewed (an admin overriding the review), backdated to `when`."""
    admin = postmortem.incident.created_by
    postmortems.change_status(db, postmortem, "in_review", by=admin)
    postmortems.change_status(db, postmortem, "reviewed", by=admin, override="seeded")
    db.flush()
    entry = db.scalars(
        select(TimelineEntry).where(
            TimelineEntry.incident_id == postmortem.incident_id,
            TimelineEntry.field == "postmortem_status",
        )
    ).all()
    [reviewed] = [e for e in entry if e.new_value == "reviewed"]
    reviewed.occurred_at = when


@pytest.fixture
def world(db: Session, admin: User, responder: User) -> World:
    """Q3 2026 (New York): SEV1 A reviewed on time and B late; SEV2 C (both teams) not
    reviewed past its deadline, D (restricted) with no postmortem, E not resolved; plus a drill,
    a SEV3, and an incident of 30 June 23:00 in New York (1 July in UTC) that are left out."""
    kenji = catalog.create_user(
        db, name="Kenji Tanaka", email="kenji@example.com", timezone="Asia/Tokyo"
    )
    lena = catalog.create_user(
        db, name="Lena Ortiz", email="lena@example.com", timezone="America/Los_Angeles"
    )
    payments = catalog.create_team(db, name="Payments", member_ids=[kenji.id])
    search = catalog.create_team(db, name="Search", member_ids=[lena.id])
    gateway = catalog.create_service(db, name="Gateway", team_id=payments.id)
    index = catalog.create_service(db, name="Index", team_id=search.id)

    def incident(name: str, sev: str, detected: str, services: list[int], **kw: object) -> Incident:
        return incidents.declare(
            db,
            by=admin,
            title=f"Incident {name} <script>",
            severity_id=_severity(db, sev),
            service_ids=services,
            started_at=at(detected),
            detected_at=at(detected),
            **kw,  # type: ignore[arg-type]
        )

    def resolve(inc: Incident, when: str) -> Postmortem | None:
        assert inc.started_at is not None
        incidents.change_status(
            db, inc, "acknowledged", by=admin, occurred_at=inc.started_at + timedelta(minutes=5)
        )
        incidents.change_status(db, inc, "resolved", by=admin, occurred_at=at(when))
        return postmortems.for_incident(db, inc)

    a = incident("A", "SEV1", "2026-07-10T10:00:00", [gateway.id], commander_id=lena.id)
    b = incident("B", "SEV1", "2026-07-20T16:00:00", [index.id])
    c = incident("C", "SEV2", "2026-08-03T09:00:00", [gateway.id, index.id])
    d = incident("D", "SEV2", "2026-08-15T12:00:00", [gateway.id], restricted=True)
    e = incident("E", "SEV2", "2026-10-01T02:00:00", [index.id])  # 30 Sep 22:00 New York
    drill = incident("F", "SEV1", "2026-07-15T10:00:00", [gateway.id], drill=True)
    minor = incident("G", "SEV3", "2026-07-16T10:00:00", [gateway.id])
    june = incident("H", "SEV1", "2026-07-01T03:00:00", [gateway.id])  # 30 Jun in New York

    pm_a = resolve(a, "2026-07-10T12:00:00")
    pm_b = resolve(b, "2026-07-20T18:00:00")
    pm_c = resolve(c, "2026-08-03T10:00:00")
    pm_d = resolve(d, "2026-08-15T14:00:00")
    assert resolve(drill, "2026-07-15T11:00:00") is None  # drills get no postmortem
    assert resolve(minor, "2026-07-16T11:00:00") is None  # SEV3 needs none
    pm_h = resolve(june, "2026-07-01T04:00:00")
    assert pm_a and pm_b and pm_c and pm_d and pm_h
    # The deadlines the default policies set: SEV1 3 calendar days, SEV2 5 working days.
    assert pm_a.meeting_due_at == at("2026-07-13T12:00:00")
    assert pm_b.meeting_due_at == at("2026-07-23T18:00:00")
    assert pm_c.meeting_due_at == at("2026-08-10T10:00:00")
    _reviewed_at(db, pm_a, at("2026-07-12T09:00:00"))  # before its deadline: on time
    _reviewed_at(db, pm_b, at("2026-07-25T09:00:00"))  # after: late
    postmortems.change_status(db, pm_b, "closed", by=admin)
    publishing.publish(db, pm_a, by=admin)
    publishing.publish(db, pm_b, by=admin)
    pm_a.published_at = at("2026-07-13T12:00:00")  # 3 days after A was resolved
    pm_b.published_at = at("2026-07-26T18:00:00")  # 6 days after B was resolved
    db.delete(pm_d)  # D's postmortem is missing
    db.delete(pm_h)  # H's too, but H is not in the quarter

    today = utcnow().astimezone(ZONE).date()

    def follow_up(
        inc: Incident,
        title: str,
        age: int,
        due: int | None,
        status: str = "open",
        kind: str = "follow_up",
        assignee: User | None = None,
    ) -> None:
        """A follow-up `age` days old (noon in New York), due `due` days from today."""
        item = actions.add_action_item(
            db,
            inc,
            title=title,
            kind=kind,
            due_date=today + timedelta(days=due) if due is not None else None,
            assignee_id=assignee.id if assignee else None,
            by=admin,
        )
        item.created_at = datetime.combine(today - timedelta(days=age), time(12), tzinfo=ZONE)
        if status != "open":
            actions.update_action_item(db, item, {"status": status}, by=admin)

    follow_up(a, "Add failover", 30, -10, assignee=kenji)  # open, 10 days overdue
    follow_up(a, "Write the runbook", 20, 5, status="in_progress")  # not due yet
    follow_up(a, "Restart the gateway", 1, -3, kind="incident")  # not a follow-up
    follow_up(b, "Reindex nightly", 40, -30, status="done")
    follow_up(b, "Drop the old index", 5, None, status="wont_do")
    follow_up(c, "Alert on queue depth", 12, -2, assignee=lena)  # open, 2 days overdue
    follow_up(d, "Rotate the leaked keys", 50, -20)  # restricted; 20 days overdue
    follow_up(drill, "Practise the failover", 9, -9)  # a drill's: left out
    follow_up(june, "Fix the June outage", 60, -40)  # June's: left out
    db.commit()
    refs = {
        n: i.reference for n, i in zip("ABCDEFGH", [a, b, c, d, e, drill, minor, june], strict=True)
    }
    return World(payments, search, refs)


# --- expected figures, by hand --------------------------------------------------------
# Needing a postmortem (SEV1 and SEV2 of the quarter, drills out): A, B, C, D, E.
# A on time (reviewed 12 Jul 09:00, due 13 Jul 12:00); B late (25 Jul, due 23 Jul 18:00);
# C late (not reviewed, due 10 Aug passed); D missing; E not due (not resolved).
# SEV1: A, B → 2 needing, 1 on time, 1 late, due 2 → 50%.
# SEV2: C, D, E → 3 needing, 1 late, 1 missing, 1 not due, due 2 → 0%.
# All: 5 needing, 1 on time, 2 late, 1 missing, 1 not due, due 4 → 25%.
# Payments (Gateway): A, C, D → 1 on time, 1 late, 1 missing → 33%.
# Search (Index): B, C, E → 2 late, 1 not due → 0%.
SEVERITY_CSV = [
    ["SEV1", "2", "1", "1", "0", "0", "2", "50.0"],
    ["SEV2", "3", "0", "1", "1", "1", "2", "0.0"],
    ["All", "5", "1", "2", "1", "1", "4", "25.0"],
]
TEAM_CSV = [
    ["Payments", "3", "1", "1", "1", "0", "3", "33.3"],
    ["Search", "3", "0", "2", "0", "1", "2", "0.0"],
]
# Follow-ups of A, B, C, D (the incident item, the drill's and June's left out): 6.
# Done: Reindex. Won't do: Drop the old index. Open: failover (30 days old), runbook (20),
# queue depth (12), keys (50) → 4; overdue: failover, queue depth, keys → 3.
# Ages sorted 12, 20, 30, 50: median (20 + 30) / 2 = 25, p90 the 4th of 4 (ceil 3.6) = 50.
# Payments (A, C, D): failover, runbook, queue depth, keys → all 4 open, 3 overdue.
# Search (B, C): reindex (done), drop (won't do), queue depth (open, overdue, 12 days).
FOLLOW_UPS_CSV = [
    ["Payments", "4", "0", "0", "4", "3", "25.0", "50.0", "50"],
    ["Search", "3", "1", "1", "1", "1", "12.0", "12.0", "12"],
    ["All", "6", "1", "1", "4", "3", "25.0", "50.0", "50"],
]


def _csv(client: TestClient, table: str, **params: str) -> list[list[str]]:
    response = client.get("/insights/learning.csv", params={"table": table, **Q3, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))[1:]


def _table(page: str, caption: str) -> list[list[str]]:
    """The cells of the table whose caption starts with `caption`, as text."""
    start = page.index(f"<caption>{caption}")
    body = page[start : page.index("</table>", start)]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]  # fmt: skip
        for row in rows
    ]


def test_figures_agree_on_page_csv_and_json(
    client: TestClient, db: Session, world: World, admin: User
) -> None:
    browser_login(client, "admin@example.com")
    page = client.get("/insights/learning", params=Q3)
    assert page.status_code == 200, page.text
    html = page.text
    assert "Q3 2026" in html
    assert _table(html, "Postmortems reviewed on time, by severity")[1:] == [
        ["SEV1", "2", "1", "1", "0", "0", "50% (1 of 2)"],
        ["SEV2", "3", "0", "1", "1", "1", "0% (0 of 2)"],
        ["All", "5", "1", "2", "1", "1", "25% (1 of 4)"],
    ]
    assert _table(html, "Postmortems reviewed on time, by team")[1:] == [
        ["Payments", "3", "1", "1", "1", "0", "33% (1 of 3)"],
        ["Search", "3", "0", "2", "0", "1", "0% (0 of 2)"],
    ]
    r = world.refs
    gaps = _table(html, "Postmortems late or missing")[1:]
    assert [(row[0], row[2]) for row in gaps] == [  # most recently detected first
        (f"{r['D']} Incident D <script>", "no postmortem"),
        (f"{r['C']} Incident C <script>", "not reviewed (Draft)"),
        (f"{r['B']} Incident B <script>", "reviewed late"),
    ]
    assert "<script>" not in html  # titles are escaped
    assert f'href="/incidents/{r["D"]}"' in html
    assert "counted but not listed" not in html
    # Postmortems of the quarter's incidents: A reviewed, B closed, C draft (D's was deleted).
    assert _table(html, "Postmortems of this period")[1:] == [
        ["Draft", "1"], ["In review", "0"], ["Reviewed", "1"], ["Closed", "1"]
    ]  # fmt: skip
    # Resolution to publication: 3 days (A) and 6 days (B) → median 4.5 days, p90 6 days.
    assert "median <strong>4 d 12 h</strong>" in html and "p90 6 d 0 h" in html
    assert _table(html, "Follow-ups of this period")[1:] == [
        ["Payments", "4", "0", "0", "4", "3", "25.0", "50", "50"],
        ["Search", "3", "1", "1", "1", "1", "12.0", "12", "12"],
        ["All", "6", "1", "1", "4", "3", "25.0", "50", "50"],
    ]
    assert _table(html, "Overdue follow-ups")[1:] == [
        ["Rotate the leaked keys", r["D"], "—", _day(-20), "20"],
        ["Add failover", r["A"], "Kenji Tanaka", _day(-10), "10"],
        ["Alert on queue depth", r["C"], "Lena Ortiz", _day(-2), "2"],
    ]
    assert "<svg" in html and "Download CSV" in html
    assert "/insights/learning.csv?table=severity&amp;period=quarter&amp;date=2026-07-01" in html

    assert _csv(client, "severity") == SEVERITY_CSV
    assert _csv(client, "team") == TEAM_CSV
    assert _csv(client, "follow-ups") == FOLLOW_UPS_CSV
    assert [row[:4] for row in _csv(client, "gaps")] == [
        [r["D"], "Incident D <script>", "SEV2", "missing"],
        [r["C"], "Incident C <script>", "SEV2", "late"],
        [r["B"], "Incident B <script>", "SEV1", "late"],
    ]
    assert _csv(client, "statuses") == [
        ["draft", "1"], ["in_review", "0"], ["reviewed", "1"], ["closed", "1"]
    ]  # fmt: skip
    assert [row[1] for row in _csv(client, "overdue")] == [r["D"], r["A"], r["C"]]

    body = client.get(
        "/api/v1/insights/learning", params=Q3, headers=api_as(client, db, admin)
    ).json()
    assert body["filters"]["timezone"] == "America/New_York"
    assert body["filters"]["start"] == "2026-07-01T04:00:00Z"
    assert body["required_severities"] == ["SEV1", "SEV2"]
    assert {k: body["attainment"][k] for k in ("required", "on_time", "late", "missing")} == {
        "required": 5, "on_time": 1, "late": 2, "missing": 1
    }  # fmt: skip
    assert body["attainment"]["share"] == 0.25
    assert [(s["name"], s["due"], s["share"]) for s in body["by_severity"]] == [
        ("SEV1", 2, 0.5),
        ("SEV2", 2, 0.0),
    ]
    assert [(t["name"], t["id"], t["on_time"], t["late"]) for t in body["by_team"]] == [
        ("Payments", world.payments.id, 1, 1),
        ("Search", world.search.id, 0, 2),
    ]
    assert [(g["reference"], g["problem"]) for g in body["gaps"]] == [
        (r["D"], "missing"), (r["C"], "late"), (r["B"], "late")
    ]  # fmt: skip
    assert body["gaps"][2]["reviewed_at"] == "2026-07-25T09:00:00Z"
    assert body["gaps"][2]["due_at"] == "2026-07-23T18:00:00Z"
    assert body["gaps_hidden"] == 0
    assert body["postmortem_statuses"] == {"draft": 1, "in_review": 0, "reviewed": 1, "closed": 1}
    # 259,200 s (3 days) and 518,400 s (6 days).
    assert body["resolved_to_published"] == {
        "count": 2, "median": 388800.0, "p90": 518400.0, "mean": 388800.0
    }  # fmt: skip
    assert body["follow_ups"] == {
        "id": None, "name": "All", "created": 6, "done": 1, "wont_do": 1, "open": 4,
        "overdue": 3, "age_median_days": 25.0, "age_p90_days": 50.0, "oldest_days": 50,
    }  # fmt: skip
    assert [(o["title"], o["days_overdue"], o["age_days"]) for o in body["oldest_overdue"]] == [
        ("Rotate the leaked keys", 20, 50), ("Add failover", 10, 30),
        ("Alert on queue depth", 2, 12),
    ]  # fmt: skip


def _day(offset: int) -> str:
    return (utcnow().astimezone(ZONE).date() + timedelta(days=offset)).isoformat()


def test_a_responder_not_involved_sees_the_restricted_incident_counted_not_listed(
    client: TestClient, db: Session, world: World, responder: User
) -> None:
    browser_login(client, "rita@example.com")
    html = client.get("/insights/learning", params=Q3).text
    assert "Incident D" not in html and "Rotate the leaked keys" not in html
    assert world.refs["D"] not in html
    assert "1 private incident is counted but not listed." in html
    assert "1 overdue follow-up of private incidents is counted but not listed." in html
    # Counted all the same.
    assert _table(html, "Postmortems reviewed on time, by severity")[2] == [
        "SEV2", "3", "0", "1", "1", "1", "0% (0 of 2)"
    ]  # fmt: skip
    assert _csv(client, "severity") == SEVERITY_CSV
    assert [row[0] for row in _csv(client, "gaps")] == [world.refs["C"], world.refs["B"]]
    assert [row[0] for row in _csv(client, "overdue")] == ["Add failover", "Alert on queue depth"]
    body = client.get(
        "/api/v1/insights/learning", params=Q3, headers=api_as(client, db, responder)
    ).json()
    assert body["gaps_hidden"] == 1 and body["overdue_hidden"] == 1
    assert [g["reference"] for g in body["gaps"]] == [world.refs["C"], world.refs["B"]]
    assert body["follow_ups"]["overdue"] == 3


def test_a_team_filter_narrows_every_figure(client: TestClient, world: World) -> None:
    browser_login(client, "admin@example.com")
    # Search's incidents: B (late), C (late), E (not due).
    assert _csv(client, "severity", team="search") == [
        ["SEV1", "1", "0", "1", "0", "0", "1", "0.0"],
        ["SEV2", "2", "0", "1", "0", "1", "1", "0.0"],
        ["All", "3", "0", "2", "0", "1", "2", "0.0"],
    ]
    # Search's follow-ups: reindex (done), drop (won't do), queue depth (C, also Payments').
    assert _csv(client, "follow-ups", team=str(world.search.id)) == [
        ["Payments", "1", "0", "0", "1", "1", "12.0", "12.0", "12"],
        ["Search", "3", "1", "1", "1", "1", "12.0", "12.0", "12"],
        ["All", "3", "1", "1", "1", "1", "12.0", "12.0", "12"],
    ]


def test_an_empty_period_says_so(client: TestClient, world: World) -> None:
    browser_login(client, "admin@example.com")
    html = client.get("/insights/learning", params={"period": "month", "date": "2026-01-10"}).text
    assert "No incident of SEV1, SEV2 in this period needs a postmortem." in html
    assert "No postmortems in this period." in html
    assert "No follow-ups on this period's incidents." in html
    assert "<svg" not in html


def test_bad_filters_and_tables_get_a_clear_message(
    client: TestClient, db: Session, admin: User
) -> None:
    headers = api_as(client, db, admin)
    unknown = client.get("/api/v1/insights/learning", params={"team": "Nope"}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == "there is no team 'Nope'"
    assert unknown.json()["error"]["field"] == "team"
    reversed_ = {"from": "2026-09-01", "to": "2026-08-01"}
    backwards = client.get("/api/v1/insights/learning", params=reversed_, headers=headers)
    assert backwards.status_code == 422
    assert "wrong order" in backwards.json()["error"]["message"]

    browser_login(client, "admin@example.com")
    page = client.get("/insights/learning", params={"team": "Nope"})
    assert page.status_code == 422 and "there is no team &#39;Nope&#39;" in page.text
    page = client.get("/insights/learning", params=reversed_)
    assert page.status_code == 422 and "the period is in the wrong order" in page.text
    csv_bad = client.get("/insights/learning.csv", params={"table": "team", **reversed_})
    assert csv_bad.status_code == 422 and "wrong order" in csv_bad.text
    csv_table = client.get("/insights/learning.csv", params={"table": "secrets"})
    assert csv_table.status_code == 422
    assert csv_table.text.startswith("table must be one of severity, team, gaps")


def test_every_route_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/v1/insights/learning").status_code == 401
    for path in ("/insights/learning", "/insights/learning.csv?table=team"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
