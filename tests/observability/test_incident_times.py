"""/metrics histograms of time to acknowledge and to resolve by severity and service, read
from the database at scrape time: exact bucket counts and sums, drills left out, an incident
under each of its services, and the reading kept for 30 seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.observability.incident_times import IncidentTimes

T = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
LES = ["60.0", "300.0", "900.0", "1800.0", "3600.0", "7200.0", "14400.0", "28800.0",
       "86400.0", "259200.0", "+Inf"]  # fmt: skip


def _incident(
    db: Session,
    by: User,
    sev: str | None,
    services: list[int],
    *,
    started: datetime,
    detected: datetime,
    acknowledged: datetime | None = None,
    resolved: datetime | None = None,
    drill: bool = False,
) -> Incident:
    severity_id = db.scalars(select(Severity.id).where(Severity.name == sev)).one() if sev else None
    incident = incidents.declare(
        db,
        by=by,
        title="x",
        severity_id=severity_id,
        service_ids=services,
        started_at=started,
        detected_at=detected,
        drill=drill,
    )
    if acknowledged:
        incidents.change_status(db, incident, "acknowledged", by=by, occurred_at=acknowledged)
    if resolved:
        incidents.change_status(db, incident, "resolved", by=by, occurred_at=resolved)
    return incident


def _seed(db: Session, admin: User) -> None:
    gateway = catalog.create_service(db, name="Gateway")
    index = catalog.create_service(db, name="Index")
    # SEV1 on Gateway and Index: acknowledged 45 s after detection, resolved 2 h 10 min after
    # it started (7,800 s).
    _incident(db, admin, "SEV1", [gateway.id, index.id], started=T - timedelta(minutes=10),
              detected=T, acknowledged=T + timedelta(seconds=45),
              resolved=T + timedelta(hours=2))  # fmt: skip
    # SEV1 on Gateway: acknowledged after 10 min (600 s), not resolved.
    _incident(db, admin, "SEV1", [gateway.id], started=T, detected=T,
              acknowledged=T + timedelta(minutes=10))  # fmt: skip
    # SEV2, no service: acknowledged after exactly 60 s (in the 60 s bucket), resolved 3 days
    # and 1 s after it started (259,201 s: over the last bucket).
    _incident(db, admin, "SEV2", [], started=T, detected=T, acknowledged=T + timedelta(seconds=60),
              resolved=T + timedelta(days=3, seconds=1))  # fmt: skip
    # A drill: left out.
    _incident(db, admin, "SEV1", [gateway.id], started=T, detected=T,
              acknowledged=T + timedelta(seconds=5), resolved=T + timedelta(seconds=9),
              drill=True)  # fmt: skip
    # Not acknowledged: in neither.
    _incident(db, admin, None, [gateway.id], started=T, detected=T)
    db.commit()


def _histograms(text: str, name: str) -> dict[tuple[str, str], dict[str, float]]:
    """{(severity, service): {"60.0": n, …, "+Inf": n, "count": n, "sum": s}}."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        assert family.type == "histogram"
        for sample in family.samples:
            key = (sample.labels["severity"], sample.labels["service"])
            series = found.setdefault(key, {})
            if sample.name.endswith("_bucket"):
                series[sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                series["count"] = sample.value
            elif sample.name.endswith("_sum"):
                series["sum"] = sample.value
    return found


def _series(counts: list[int], total: float) -> dict[str, float]:
    return {**dict(zip(LES, map(float, counts), strict=True)), "count": counts[-1], "sum": total}


def test_scrape_counts_each_incident_in_its_buckets_exactly(
    api: TestClient, db: Session, admin: User
) -> None:
    _seed(db, admin)
    text = api.get("/metrics").text
    assert _histograms(text, "tocsin_incident_time_to_acknowledge_seconds") == {
        # 45 s and 600 s: 1 at 60 and 300, both from 900 on.
        ("SEV1", "Gateway"): _series([1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2], 645.0),
        ("SEV1", "Index"): _series([1] * 11, 45.0),
        ("SEV2", ""): _series([1] * 11, 60.0),
    }
    assert _histograms(text, "tocsin_incident_time_to_resolve_seconds") == {
        # 7,800 s: over 7,200, under 14,400.
        ("SEV1", "Gateway"): _series([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], 7800.0),
        ("SEV1", "Index"): _series([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], 7800.0),
        ("SEV2", ""): _series([0] * 10 + [1], 259201.0),
    }


def test_a_reading_is_kept_for_thirty_seconds(db: Session, admin: User) -> None:
    now = [1000.0]
    times = IncidentTimes(clock=lambda: now[0])
    _seed(db, admin)

    def acknowledged() -> float:
        [family] = [f for f in times.collect() if f.name.endswith("acknowledge_seconds")]
        return sum(s.value for s in family.samples if s.name.endswith("_count"))

    times.refresh(db)
    assert acknowledged() == 4  # 2 on Gateway, 1 on Index, 1 with no service
    _incident(db, admin, "SEV2", [], started=T, detected=T, acknowledged=T + timedelta(hours=1))
    db.commit()
    now[0] += 29.9
    times.refresh(db)
    assert acknowledged() == 4
    now[0] += 0.1
    times.refresh(db)
    assert acknowledged() == 5
