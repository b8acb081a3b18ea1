"""Prometheus metrics, one registry per app so that tests and processes stay separate."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from tocsin.alerts.models import PENDING, Event
from tocsin.incidents.queries import counts_by_status_and_severity
from tocsin.jobs.models import Job
from tocsin.observability.incident_times import IncidentTimes

# Lateness of jobs (run start minus run_at): timers should start well under a second late.
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class JobMetrics:
    """What a worker does, recorded where it runs (the web process's registry for the
    embedded worker; `tocsin worker --metrics-port` serves a standalone worker's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "tocsin_job_runs_total",
            "Job runs by kind and outcome (done, retry, failed, lease_lost)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "tocsin_job_failures_total",
            "Job runs that raised (retried or failed for good), by kind",
            ["kind"],
            registry=registry,
        )
        self.duration = Histogram(
            "tocsin_job_run_seconds", "How long job runs take, by kind", ["kind"], registry=registry
        )
        self.lateness = Histogram(
            "tocsin_job_lateness_seconds",
            "Run start minus the job's run_at, by kind",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.timeouts = Counter(
            "tocsin_job_timeouts_total",
            "Job runs still going past their kind's timeout",
            ["kind"],
            registry=registry,
        )

    def job_started(self, kind: str, lateness_seconds: float) -> None:
        self.lateness.labels(kind).observe(lateness_seconds)

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.runs.labels(kind, outcome).inc()
        if outcome in ("retry", "failed"):
            self.failures.labels(kind).inc()
        self.duration.labels(kind).observe(seconds)

    def job_timed_out(self, kind: str) -> None:
        self.timeouts.labels(kind).inc()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tocsin_http_requests_total",
            "HTTP requests by route, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tocsin_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )
        # Drills are counted apart, so that dashboards and alert rules on real incidents
        # need no filter (a game day must not look like an outage).
        self.incidents = Gauge(
            "tocsin_incidents",
            "Incidents (drills left out) by status and severity",
            ["status", "severity"],
            registry=self.registry,
        )
        self.drills = Gauge(
            "tocsin_drill_incidents",
            "Drills (practice incidents) by status and severity",
            ["status", "severity"],
            registry=self.registry,
        )
        self.events_pending = Gauge(
            "tocsin_events_pending",
            "Received events stored but not yet applied",
            registry=self.registry,
        )
        self.jobs = Gauge(
            "tocsin_jobs", "Background jobs by state", ["state"], registry=self.registry
        )
        self.jobs_queued = Gauge(
            "tocsin_jobs_queued", "Queued jobs by kind", ["kind"], registry=self.registry
        )
        self.job = JobMetrics(self.registry)
        # Time to acknowledge and to resolve, read from the database by the scrape (exact
        # across processes; see incident_times).
        self.incident_times = IncidentTimes()
        self.registry.register(self.incident_times)
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._latencies: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency. Routes are templates and statuses few, so
        each labelled child is looked up once: at thousands of requests a second, `labels()`
        costs more than the increment."""
        self.count(method, route, status)
        latency = self._latencies.get((method, route))
        if latency is None:
            latency = self.latency.labels(method, route)
            self._latencies[(method, route)] = latency
        latency.observe(seconds)

    def count(self, method: str, route: str, status: int) -> None:
        """Count a request served outside the middleware (status pages, from memory)."""
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self.requests.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()

    def render(self, session: Session) -> Response:
        """Read the domain gauges with the caller's session, then expose everything."""
        incidents = counts_by_status_and_severity(session)
        jobs = session.execute(select(Job.state, func.count(Job.id)).group_by(Job.state)).all()
        queued = session.execute(
            select(Job.kind, func.count(Job.id)).where(Job.state == "queued").group_by(Job.kind)
        ).all()
        pending = session.scalar(select(func.count()).select_from(Event).where(PENDING))
        self.incident_times.refresh(session)
        with self._lock:
            self.incidents.clear()
            self.drills.clear()
            for status, severity, drill, count in incidents:
                gauge = self.drills if drill else self.incidents
                gauge.labels(status, severity or "none").set(count)
            self.jobs.clear()
            for state, count in jobs:
                self.jobs.labels(state).set(count)
            self.jobs_queued.clear()
            for kind, count in queued:
                self.jobs_queued.labels(kind).set(count)
            self.events_pending.set(pending or 0)
            body = generate_latest(self.registry)
        return Response(body, media_type="text/plain; version=0.0.4")
