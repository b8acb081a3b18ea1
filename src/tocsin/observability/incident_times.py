"""Prometheus histograms of how long incidents took to acknowledge and to resolve, by severity
and service, computed from the database when /metrics is scraped.

Tocsin runs several processes (web processes and workers), so counting in the process that
acknowledged an incident would split the counts between them and lose them on restart.
Instead every scrape reads the same exact figures from the incidents table: every incident
that is not a drill, of all time, with the time it took:

- `tocsin_incident_time_to_acknowledge_seconds`: acknowledged_at − (detected_at, else
  created_at);
- `tocsin_incident_time_to_resolve_seconds`: resolved_at − (started_at, else detected_at, else
  created_at).

An incident with several services counts under each; one with no service under `service=""`
(and no severity under `severity=""`). Buckets are counted in SQL, one query per histogram,
and the result is kept for `ttl` seconds per process so that frequent scrapes stay cheap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any

from prometheus_client.core import HistogramMetricFamily
from sqlalchemy import ColumnElement, Float, case, cast, extract, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from tocsin.catalog.models import Service
from tocsin.definitions.models import Severity
from tocsin.incidents.models import Incident, incident_services

# Upper bounds in seconds: 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 1 day, 3 days.
BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
TTL_SECONDS = 30.0

ACKNOWLEDGE = (
    "tocsin_incident_time_to_acknowledge_seconds",
    "Time from detection (or declaration) to acknowledgement of incidents, drills left out",
)
RESOLVE = (
    "tocsin_incident_time_to_resolve_seconds",
    "Time from start (or detection, or declaration) to resolution of incidents, drills left out",
)


@dataclass(frozen=True)
class Series:
    severity: str
    service: str
    cumulative: tuple[int, ...]  # incidents at or under each of BUCKETS
    count: int
    total: float  # seconds


def seconds_between(
    session: Session,
    end: ColumnElement[datetime | None] | InstrumentedAttribute[datetime | None],
    start: ColumnElement[datetime],
) -> ColumnElement[float]:
    """`end − start` in seconds, in SQL. SQLite has no interval type: Julian days, rounded to
    the millisecond so that an exact minute is not a hair over or under it."""
    if session.get_bind().dialect.name == "sqlite":
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return cast(extract("epoch", end - start), Float)


def read(
    session: Session,
    end: InstrumentedAttribute[datetime | None],
    start: ColumnElement[datetime],
) -> list[Series]:
    """One histogram's series: the incidents with `end`, by severity and service."""
    # Each incident's figure once (MATERIALIZED: not recomputed for every bucket and
    # service), then counted per severity and service.
    timed = (
        select(
            Incident.id.label("incident_id"),
            Incident.severity_id.label("severity_id"),
            seconds_between(session, end, start).label("seconds"),
        )
        .where(Incident.drill.is_(False), end.is_not(None))
        .cte("timed")
        .prefix_with("MATERIALIZED")
    )
    seconds = timed.c.seconds
    # The first bucket each incident falls in (len(BUCKETS): only +Inf), one CASE per row.
    bucket = case(*((seconds <= bound, i) for i, bound in enumerate(BUCKETS)), else_=len(BUCKETS))
    query = (
        select(
            timed.c.severity_id,
            incident_services.c.service_id,
            bucket,
            func.count(),
            func.sum(seconds),
        )
        .select_from(timed)
        .outerjoin(incident_services, incident_services.c.incident_id == timed.c.incident_id)
        .group_by(timed.c.severity_id, incident_services.c.service_id, bucket)
    )
    severities = {i: n for i, n in session.execute(select(Severity.id, Severity.name))}
    services = {i: n for i, n in session.execute(select(Service.id, Service.name))}
    counts: dict[tuple[str, str], list[int]] = {}
    totals: dict[tuple[str, str], float] = {}
    for row in session.execute(query):
        values: tuple[Any, ...] = tuple(row)
        severity_id, service_id, first, count, total = values
        key = (severities.get(severity_id, ""), services.get(service_id, ""))
        per_bucket = counts.setdefault(key, [0] * (len(BUCKETS) + 1))
        per_bucket[first] += count
        totals[key] = totals.get(key, 0.0) + float(total)
    found = []
    for key in sorted(counts):
        cumulative = list(accumulate(counts[key]))
        found.append(Series(*key, tuple(cumulative[:-1]), cumulative[-1], totals[key]))
    return found


def acknowledge_times(session: Session) -> list[Series]:
    return read(
        session,
        Incident.acknowledged_at,
        func.coalesce(Incident.detected_at, Incident.created_at),
    )


def resolve_times(session: Session) -> list[Series]:
    return read(
        session,
        Incident.resolved_at,
        func.coalesce(Incident.started_at, Incident.detected_at, Incident.created_at),
    )


def _family(name: str, documentation: str, series: list[Series]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["severity", "service"])
    for s in series:
        buckets = [(str(float(b)), n) for b, n in zip(BUCKETS, s.cumulative, strict=True)]
        family.add_metric([s.severity, s.service], [*buckets, ("+Inf", s.count)], s.total)
    return family


class IncidentTimes:
    """A custom collector (prometheus_client's `collect()` protocol) for one registry. The
    scrape feeds it its session with `refresh`, which reads again when the last reading is
    older than `ttl` seconds; `collect` yields the last reading."""

    def __init__(
        self, *, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._series: tuple[list[Series], list[Series]] = ([], [])

    def refresh(self, session: Session) -> None:
        with self._lock:
            now = self.clock()
            if self._read_at is not None and now - self._read_at < self.ttl:
                return
            self._series = (acknowledge_times(session), resolve_times(session))
            self._read_at = now

    def describe(self) -> Iterator[HistogramMetricFamily]:
        """The names, without reading (registering the collector checks them)."""
        yield HistogramMetricFamily(*ACKNOWLEDGE, labels=["severity", "service"])
        yield HistogramMetricFamily(*RESOLVE, labels=["severity", "service"])

    def collect(self) -> Iterator[HistogramMetricFamily]:
        acknowledge, resolve = self._series
        yield _family(*ACKNOWLEDGE, acknowledge)
        yield _family(*RESOLVE, resolve)
