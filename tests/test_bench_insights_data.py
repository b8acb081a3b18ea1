"""bench/insights_history.py: the history it generates is one the app works with; and
bench/insights.py, the harness: it times pages and reports the ones that fail."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login, token_for
from tocsin.alerts.models import Alert
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents.models import Incident, TimelineEntry

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def history() -> ModuleType:
    return load("insights_history")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("insights")


def test_generated_history_is_one_the_app_shows(
    history: ModuleType, settings: Settings, client: TestClient, db: Session, admin: User
) -> None:
    made = history.generate(settings.database_url, history.SCALES["tiny"])
    tiny = history.SCALES["tiny"]
    assert made.counts["incidents"] == tiny.incidents
    assert made.counts["alerts"] == tiny.alerts
    assert made.counts["events"] == tiny.events
    assert made.counts["users"] == tiny.people

    assert db.scalar(select(func.count(Incident.id))) == tiny.incidents
    # Detection never precedes the start; acknowledgement and resolution follow declaration.
    assert not db.scalar(
        select(func.count(Incident.id)).where(
            or_(
                Incident.detected_at < Incident.started_at,
                Incident.acknowledged_at < Incident.created_at,
                Incident.resolved_at < Incident.created_at,
            )
        )
    )
    assert db.scalar(select(func.count(Alert.id)).where(Alert.incident_id.is_not(None)))

    browser_login(client, admin.email, ADMIN_PASSWORD)
    listing = client.get("/incidents")
    assert listing.status_code == 200
    incidents = db.scalars(select(Incident).order_by(Incident.number)).all()
    reopened = db.scalar(
        select(TimelineEntry.incident_id).where(TimelineEntry.kind == "reopened").limit(1)
    )
    chosen = [incidents[0], incidents[-1]] + [
        i for i in incidents if i.restricted or i.drill or i.id == reopened
    ]
    for incident in chosen:
        page = client.get(f"/incidents/{incident.reference}")
        assert page.status_code == 200, incident.reference
        assert incident.reference in page.text


def test_new_incidents_continue_the_generated_numbers(
    history: ModuleType, settings: Settings, client: TestClient, db: Session, admin: User
) -> None:
    history.generate(settings.database_url, history.SCALES["tiny"])
    headers = {"Authorization": f"Bearer {token_for(db, admin)}"}

    answer = client.post("/api/v1/incidents", json={"title": "After the history"}, headers=headers)

    assert answer.status_code == 201, answer.text
    assert answer.json()["reference"] == f"INC-{history.SCALES['tiny'].incidents + 1}"
    assert client.get(f"/incidents/{answer.json()['reference']}").status_code == 200


def test_harness_times_pages_and_reports_a_missing_one(
    bench: ModuleType, live_server: str, admin: User
) -> None:
    browser = bench.Browser(live_server)
    browser.log_in(admin.email, ADMIN_PASSWORD)

    timings = bench.measure_urls(
        browser, ["/incidents", "/no-such-page"], runs=4, warmup=1, time_limit=60
    )

    listed, missing = timings
    assert listed.error == ""
    assert listed.n == 4
    assert 0 < listed.p50_ms <= listed.p95_ms <= listed.max_ms
    assert missing.error == "HTTP 404"
    assert missing.n == 0
    assert missing.p95_ms is None
    assert not missing.target_met
