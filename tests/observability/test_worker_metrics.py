"""A real `tocsin worker --metrics-port` process, scraped over HTTP: it serves the job runs it
made, and not the series read from the database (the incident-time histograms, the incident
and job gauges), which only the web process's /metrics serves. Every process would report the
same database figures, so serving them from workers too would count them once per process in
a sum over instances (docs/operations.md).

A worker that keeps running needs PostgreSQL (on SQLite `tocsin serve` owns every write)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import BACKEND, free_port
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.jobs.builtin import PROBE
from tocsin.jobs.models import JobProbeRun
from tocsin.jobs.queue import enqueue

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="a running worker needs PostgreSQL")

SRC = Path(__file__).resolve().parents[2] / "src"
DEADLINE = 120.0  # generous: CI runs both suites at once on two cores
TIMES = ("tocsin_incident_time_to_acknowledge_seconds", "tocsin_incident_time_to_resolve_seconds")
FROM_THE_DATABASE = (*TIMES, "tocsin_incidents", "tocsin_jobs", "tocsin_jobs_queued")


@pytest.fixture
def worker_port(settings: Settings, tmp_path: Path) -> Iterator[int]:
    """A `tocsin worker --metrics-port` process on the test database; its metrics port."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_ENV": "test",
        "TOCSIN_WORKER_POLL_SECONDS": "0.2",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "worker", "--concurrency", "1"]
            + ["--metrics-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{family: {(sorted sample labels, including the sample's name): value}}."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = found.setdefault(family.name, {})
        for s in family.samples:
            samples[tuple(sorted({**s.labels, "__name__": s.name}.items()))] = s.value
    return found


def _wait_for(condition: Callable[[], bool]) -> bool:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_workers_metrics_port_serves_its_job_runs_and_not_the_database_figures(
    worker_port: int, container: Container, db: Session, admin: User, api: TestClient
) -> None:
    # One SEV1 incident, acknowledged after 2 min and resolved after 1 h: the web /metrics
    # has it in both histograms.
    gateway = catalog.create_service(db, name="Gateway")
    sev1 = db.scalars(select(Severity.id).where(Severity.name == "SEV1")).one()
    t = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    incident = incidents.declare(
        db,
        by=admin,
        title="x",
        severity_id=sev1,
        service_ids=[gateway.id],
        started_at=t,
        detected_at=t,
        urgency="none",
    )
    incidents.change_status(
        db, incident, "acknowledged", by=admin, occurred_at=t + timedelta(minutes=2)
    )
    incidents.change_status(db, incident, "resolved", by=admin, occurred_at=t + timedelta(hours=1))
    enqueue(db, PROBE, {"token": "scraped"})
    db.commit()

    def probed() -> bool:
        with container.sessionmaker() as session:
            return session.scalar(select(func.count(JobProbeRun.id))) == 1

    assert _wait_for(probed), "the worker never ran the probe"
    done = (("__name__", "tocsin_job_runs_total"), ("kind", PROBE), ("outcome", "done"))
    scraped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

    def counted() -> bool:
        # The run is counted once it is recorded, just after its transaction commits.
        nonlocal scraped
        try:
            scraped = _families(
                httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=30).text
            )
        except httpx.TransportError:  # not listening yet
            return False
        return scraped.get("tocsin_job_runs", {}).get(done) == 1.0

    assert _wait_for(counted), f"the worker's port never counted the probe: {scraped}"
    # The worker's own job metrics, and none of what is read from the database.
    assert "tocsin_job_run_seconds" in scraped and "tocsin_job_lateness_seconds" in scraped
    assert not set(FROM_THE_DATABASE) & set(scraped)

    web = _families(api.get("/metrics").text)
    labels = (("service", "Gateway"), ("severity", "SEV1"))
    for name, seconds in zip(TIMES, (120.0, 3600.0), strict=True):
        assert web[name][tuple(sorted([*labels, ("__name__", f"{name}_count")]))] == 1.0
        assert web[name][tuple(sorted([*labels, ("__name__", f"{name}_sum")]))] == seconds
