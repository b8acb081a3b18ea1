"""Prometheus metrics, one registry per app so that tests and processes stay separate."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from tocsin.alerts.models import PENDING, Event
from tocsin.incidents.queries import counts_by_status_and_severity
from tocsin.jobs.models import Job


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
        self.incidents = Gauge(
            "tocsin_incidents",
            "Incidents by status and severity",
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
        self._lock = threading.Lock()

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            # Label by the route template (/api/v1/incidents/{ref}), never the raw path.
            name = getattr(route, "path", None) or "unmatched"
            self.latency.labels(request.method, name).observe(time.perf_counter() - start)
            self.requests.labels(request.method, name, str(status)).inc()

    def count(self, method: str, route: str, status: int) -> None:
        """Count a request served outside the middleware (the raw ingestion endpoint)."""
        self.requests.labels(method, route, str(status)).inc()

    def render(self, session: Session) -> Response:
        """Read the domain gauges with the caller's session, then expose everything."""
        incidents = counts_by_status_and_severity(session)
        jobs = session.execute(select(Job.state, func.count(Job.id)).group_by(Job.state)).all()
        pending = session.scalar(select(func.count()).select_from(Event).where(PENDING))
        with self._lock:
            self.incidents.clear()
            for status, severity, count in incidents:
                self.incidents.labels(status, severity or "none").set(count)
            self.jobs.clear()
            for state, count in jobs:
                self.jobs.labels(state).set(count)
            self.events_pending.set(pending or 0)
            body = generate_latest(self.registry)
        return Response(body, media_type="text/plain; version=0.0.4")
