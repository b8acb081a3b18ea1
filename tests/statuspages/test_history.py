"""The 90-day uptime bars: component impact of incidents, weighted by status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.statuspages.conftest import Acme, declare
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents
from tocsin.statuspages import history, publish
from tocsin.statuspages.present import load_page_view

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _backfill(
    db: Session, acme: Acme, admin: User, title: str, steps: list[tuple[datetime, str, dict]], **kw
):  # type: ignore[no-untyped-def]  # noqa: E501
    """Publish an incident's updates at the given (past) times."""
    incident = declare(db, admin, title, started_at=steps[0][0], **kw)
    for when, phase, components in steps:
        draft = publish.check(db, acme.page, incident, phase=phase, body=phase,
                              components=components, display_at=when)  # fmt: skip
        publish.publish(db, draft, by=admin)
    db.commit()
    return incident


def _days(db: Session, acme: Acme) -> dict[str, dict[date, history.Day]]:
    for component in acme.page.components:
        component.start_date = date(2026, 1, 1)
    view = load_page_view(db, acme.page, "http://x", now=NOW)
    history.fill(view, NOW)
    return {c.name: {d.day: d for d in c.days} | {"uptime": c.uptime} for c in view.components}  # type: ignore[misc]


def test_major_counts_fully_partial_partly_degraded_not_at_all(
    db: Session, admin: User, acme: Acme
) -> None:
    day = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    hit = {
        acme.checkout.id: "major_outage",
        acme.payments.id: "partial_outage",
        acme.api.id: "degraded_performance",
    }
    _backfill(
        db, acme, admin, "Outage",
        [(day, "investigating", hit), (day + timedelta(hours=1), "resolved", {})],
    )  # fmt: skip
    found = _days(db, acme)
    assert found["Checkout"][day.date()].down_seconds == 3600
    assert found["Checkout"][day.date()].css == "major"
    assert found["Payments"][day.date()].down_seconds == pytest.approx(0.3 * 3600)
    assert found["Payments"][day.date()].css == "partial"
    assert found["API"][day.date()].down_seconds == 0
    assert found["API"][day.date()].css == "degraded"
    assert "Outage" in found["Checkout"][day.date()].summary
    assert found["Checkout"][day.date() - timedelta(days=1)].css == "ok"
    assert len([d for d in found["Checkout"] if isinstance(d, date)]) == 90
    observed = 89 * 86400 + 12 * 3600  # 89 whole days and today until noon
    assert found["Checkout"]["uptime"] == pytest.approx(100 * (1 - 3600 / observed))
    assert history.fmt_uptime(found["Checkout"]["uptime"]) == "99.95%"


def test_statuses_change_within_an_incident_and_overlaps_take_the_worst(
    db: Session, admin: User, acme: Acme
) -> None:
    day = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)
    _backfill(db, acme, admin, "First", [
        (day + timedelta(hours=1), "investigating", {acme.checkout.id: "partial_outage"}),
        (day + timedelta(hours=2), "identified", {acme.checkout.id: "major_outage"}),
        (day + timedelta(hours=3), "monitoring", {acme.checkout.id: "operational"}),
        (day + timedelta(hours=4), "resolved", {}),
    ])  # fmt: skip
    partial = {acme.checkout.id: "partial_outage"}
    _backfill(db, acme, admin, "Second", [
        (day + timedelta(hours=2, minutes=30), "investigating", partial),
        (day + timedelta(hours=5), "resolved", {}),
    ])  # fmt: skip
    found = _days(db, acme)["Checkout"][day.date()]
    # 1-2 partial; 2-3 major (second incident's partial is hidden under it); 3-5 partial.
    assert found.down_seconds == pytest.approx(0.3 * 3600 + 3600 + 0.3 * 7200)
    assert found.css == "major"


def test_drills_never_count(db: Session, admin: User, acme: Acme) -> None:
    day = datetime(2026, 11, 12, 8, 0, tzinfo=UTC)
    incident = _backfill(db, acme, admin, "Will be a drill", [
        (day, "investigating", {acme.api.id: "major_outage"}),
        (day + timedelta(hours=2), "resolved", {}),
    ])  # fmt: skip
    assert _days(db, acme)["API"][day.date()].css == "major"
    incidents.edit(db, incident, {"drill": True}, by=admin)
    found = _days(db, acme)["API"]
    assert found[day.date()].css == "ok" and found["uptime"] == 100.0


def test_days_before_the_start_date_have_no_data(db: Session, admin: User, acme: Acme) -> None:
    acme.api.start_date = date(2026, 11, 15)
    view = load_page_view(db, acme.page, "http://x", now=NOW)
    history.fill(view, NOW)
    api = next(c for c in view.components if c.name == "API")
    assert [d.css for d in api.days][-7:] == ["nodata", "ok", "ok", "ok", "ok", "ok", "ok"]
    assert api.uptime == 100.0
