"""The KPIs tab against figures worked out by hand for a small history.

March 2026 (UTC), the month asked about:
  A  SEV1 Payments         started 03-02 10:00, detected 10:10, acknowledged 10:15, resolved 11:10
  B  SEV1 Payments + Web   detected 03-05 22:00 (no start given: it started then),
                           acknowledged 23:30, resolved 03-06 02:00
  C  SEV3 Web, restricted  started 03-10 08:00, detected 08:30, acknowledged 09:00, resolved 10:00,
                           reopened, resolved again 03-11 08:00
  D  SEV3 Web, a drill     (left out everywhere)
  E  SEV3, no service      detected 03-20 12:00, never acknowledged nor resolved
February 2026, the period before:
  F  SEV1 Payments         started 02-10 09:00, detected 10:00, acknowledged 10:20, resolved 12:00
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tocsin.catalog.models import User
from tocsin.incidents.models import Incident
from tocsin.insights.filters import parse

MARCH = "period=month&date=2026-03-10"


def test_the_figures_match_the_hand_computed_ones(
    client: TestClient, db: Session, admin: User, history: dict[str, Incident]
) -> None:
    body = client.get(f"/api/v1/insights/kpis?{MARCH}", headers=api_as(client, db, admin)).json()
    total = body["total"]
    assert total["volume"] == 4  # A, B, C, E: the drill D is left out, F is February's
    # Time to detect: A 600 s, C 1,800 s; B and E 0 (declared without a start time, they
    # started when detected). Sorted 0, 0, 600, 1,800: median 300, p90 the 4th.
    assert total["mttd"] == {"count": 4, "median": 300.0, "p90": 1800.0, "mean": 600.0}
    # Time to acknowledge: A 300, C 1,800, B 5,400; E never acknowledged.
    assert total["mtta"] == {"count": 3, "median": 1800.0, "p90": 5400.0, "mean": 2500.0}
    # Time to resolve: A 4,200 (from its start), B 14,400 (from detection, its start),
    # C 86,400 (to its second resolution, after the reopen).
    assert total["mttr"] == {"count": 3, "median": 14400.0, "p90": 86400.0, "mean": 35000.0}
    # Targets: A met (ack 5 min after detection, SEV1 1 hour), B missed (90 min), C met
    # (SEV3 24 hours), E missed (never acknowledged, due 03-21 12:00, long past).
    assert total["attainment"] == {"met": 2, "missed": 2, "pending": 0, "share": 0.5}
    # February: F alone. Volume 4 against 1: +300%; MTTA median 1,800 against 1,200: +50%.
    assert body["previous"]["volume"] == 1
    assert body["changes"]["volume"] == 3.0
    assert body["changes"]["mtta"] == 0.5
    severity = {g["label"]: g for g in body["by_severity"]}
    assert severity["SEV1"]["volume"] == 2
    assert severity["SEV1"]["mtta"]["median"] == 2850.0  # (300 + 5,400) / 2
    assert severity["SEV1"]["attainment"]["share"] == 0.5
    assert severity["SEV3"]["volume"] == 2  # C and E
    assert severity["SEV3"]["attainment"] == {"met": 1, "missed": 1, "pending": 0, "share": 0.5}
    teams = {g["label"]: g["volume"] for g in body["by_team"]}
    assert teams == {"Payments": 2, "Web": 2, "no team": 1}  # B counts for both teams
    services = {g["label"]: g["volume"] for g in body["by_service"]}
    assert services == {"payments-api": 2, "storefront": 2, "no service": 1}
    weeks = {g["key"]: g["volume"] for g in body["over_time"]}
    assert body["bucket"] == "day"  # a month is shown day by day
    assert weeks["2026-03-02"] == 1 and weeks["2026-03-05"] == 1 and weeks["2026-03-20"] == 1
    assert sum(weeks.values()) == 4


def test_a_team_filter_narrows_every_figure(
    client: TestClient, db: Session, admin: User, history: dict[str, Incident]
) -> None:
    team = history["payments"].id
    body = client.get(
        f"/api/v1/insights/kpis?{MARCH}&team=Payments", headers=api_as(client, db, admin)
    ).json()
    assert body["filters"]["team"] == team
    assert body["total"]["volume"] == 2  # A and B
    assert body["total"]["mtta"]["median"] == 2850.0


def test_the_page_shows_the_figures_with_tables_and_links(
    client: TestClient, db: Session, admin: User, history: dict[str, Incident]
) -> None:
    browser_login(client, admin.email)
    page = client.get(f"/insights?{MARCH}")
    assert page.status_code == 200
    html = page.text
    assert "March 2026" in html
    assert "30 min" in html  # the MTTA median
    assert "4 h 00 min" in html  # the MTTR median
    assert "<svg" in html and 'role="img"' in html  # the charts
    assert "<table" in html and "Download CSV" in html  # and the same numbers as tables
    assert "/insights/incidents?" in html  # each figure links to its incidents
    assert "D drill" not in html


def test_the_incidents_behind_a_figure_hide_restricted_ones_from_others(
    client: TestClient, db: Session, admin: User, responder: User, history: dict[str, Incident]
) -> None:
    as_admin = client.get(
        f"/api/v1/insights/incidents?{MARCH}&metric=mttr", headers=api_as(client, db, admin)
    ).json()
    assert [i["title"] for i in as_admin["items"]] == ["C secret", "B", "A"]  # longest first
    assert as_admin["hidden"] == 0
    as_responder = client.get(
        f"/api/v1/insights/incidents?{MARCH}&metric=mttr", headers=api_as(client, db, responder)
    ).json()
    assert [i["title"] for i in as_responder["items"]] == ["B", "A"]
    assert as_responder["total"] == 3 and as_responder["hidden"] == 1
    browser_login(client, responder.email)
    page = client.get(f"/insights/incidents?{MARCH}&metric=mttr")
    assert page.status_code == 200
    assert "C secret" not in page.text
    assert "1 private incident is counted but not listed" in page.text
    # The restricted incident still counts in the responder's KPIs.
    kpis = client.get(f"/insights?{MARCH}")
    assert "C secret" not in kpis.text
    missed = client.get(
        f"/api/v1/insights/incidents?{MARCH}&metric=missed", headers=api_as(client, db, responder)
    ).json()
    assert sorted(i["title"] for i in missed["items"]) == ["B", "E"]


def test_csv_exports_the_tables(
    client: TestClient, db: Session, admin: User, history: dict[str, Incident]
) -> None:
    browser_login(client, admin.email)
    response = client.get(f"/insights/overview.csv?table=by_severity&{MARCH}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    sev1 = next(r for r in rows if r["group"] == "SEV1")
    assert sev1["incidents"] == "2" and sev1["mtta_median_s"] == "2850"
    assert sev1["targets_met"] == "1" and sev1["targets_missed"] == "1"
    behind = client.get(f"/insights/incidents.csv?{MARCH}&metric=mtta")
    refs = [r["reference"] for r in csv.DictReader(io.StringIO(behind.text))]
    b, c, a = history["B"], history["C"], history["A"]
    assert refs == [b.reference, c.reference, a.reference]  # 5,400 s, 1,800 s, 300 s
    bad = client.get(f"/insights/overview.csv?table=nope&{MARCH}")
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("team=999", "there is no team '999'"),
        ("team=Nobody", "there is no team 'Nobody'"),
        ("from=2026-03-10&to=2026-03-01", "the period is in the wrong order"),
        ("period=fortnight", "period must be one of week, month, quarter"),
        ("date=2026-13-01", "date must be a date as YYYY-MM-DD"),
        ("from=9999-12-30&to=9999-12-31", "from must be between 1971-01-01 and 9000-12-31"),
        ("date=0001-01-01", "date must be between 1971-01-01 and 9000-12-31"),
    ],
)
def test_bad_filters_get_a_clear_message(
    client: TestClient, db: Session, admin: User, query: str, message: str
) -> None:
    response = client.get(f"/api/v1/insights/kpis?{query}", headers=api_as(client, db, admin))
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    browser_login(client, admin.email)
    page = client.get(f"/insights?{query}")
    assert page.status_code == 422
    assert message.replace("'", "&#39;") in page.text or message in page.text
    assert "<svg" not in page.text  # no figures for a question that makes no sense


def test_periods_follow_the_organisations_time_zone(db: Session) -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    march = parse(db, {"period": "month"}, now=now, timezone="America/New_York")
    assert march.start == datetime(2026, 3, 1, 5, tzinfo=UTC)  # midnight EST
    assert march.end == now  # the current month runs to now
    # The trend compares with February cut at the same point: 9 days 7 hours in.
    assert march.previous_start == datetime(2026, 2, 1, 5, tzinfo=UTC)
    assert march.previous_end == datetime(2026, 2, 10, 12, tzinfo=UTC)
    done = parse(
        db, {"period": "month", "date": "2026-02-14"}, now=now, timezone="America/New_York"
    )
    assert done.end == datetime(2026, 3, 1, 5, tzinfo=UTC) and not done.current
    quarter = parse(db, {"period": "quarter", "date": "2025-11-30"}, now=now, timezone="UTC")
    assert (quarter.first_day.isoformat(), quarter.last_day.isoformat()) == (
        "2025-10-01",
        "2025-12-31",
    )
    week = parse(db, {"period": "week", "date": "2026-03-08"}, now=now, timezone="UTC")
    assert week.first_day.isoformat() == "2026-03-02"  # weeks start on Monday
