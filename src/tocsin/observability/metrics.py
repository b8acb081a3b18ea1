"""Prometheus metrics, one registry per app so that tests and processes stay separate."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from tocsin.incidents.queries import counts_by_status_and_severity
from tocsin.jobs.models import Job


class DomainCollector(Collector):
    """Reads incident and job counts from the database at scrape time."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self):  # type: ignore[no-untyped-def]
        incidents = GaugeMetricFamily(
            "tocsin_incidents", "Incidents by status and severity", labels=["status", "severity"]
        )
        jobs = GaugeMetricFamily("tocsin_jobs", "Background jobs by state", labels=["state"])
        with self.factory() as session:
            for status, severity, count in counts_by_status_and_severity(session):
                incidents.add_metric([status, severity or "none"], count)
            for state, count in session.execute(
                select(Job.state, func.count(Job.id)).group_by(Job.state)
            ):
                jobs.add_metric([state], count)
        yield incidents
        yield jobs


class Metrics:
    def __init__(self, factory: sessionmaker[Session]) -> None:
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
        self.registry.register(DomainCollector(factory))

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

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")
