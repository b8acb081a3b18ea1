"""The KPIs the seeds name, and response-target attainment, for the incidents in scope.

Per incident (seconds):
- time to detect (MTTD) = detected − started; none without a start time;
- time to acknowledge (MTTA) = first acknowledgement − detected (a reopened incident keeps its
  first acknowledgement);
- time to resolve (MTTR) = resolved − started (detected when no start time was given); only
  incidents resolved now count, and a reopened incident counts to its last resolution.
A backfilled time earlier than the one it is measured from counts as zero, never negative.

Response targets (docs/response-targets.md): an incident with a due time met its target when
it was first acknowledged or resolved by then; missed when that came later, or has not come
and the due time has passed; pending otherwise. Attainment is met ÷ (met + missed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.definitions.models import IncidentType, Severity
from tocsin.incidents.models import Incident, incident_services
from tocsin.incidents.response import met_clause, missed_clause
from tocsin.insights import scope
from tocsin.insights.filters import Filters
from tocsin.insights.stats import EMPTY, Summary, change, summarize

METRICS = ("mttd", "mtta", "mttr")


@dataclass(frozen=True)
class Times:
    """One incident's figures."""

    id: int
    number: int
    title: str
    restricted: bool
    severity_id: int | None
    type_id: int | None
    detected: datetime
    ttd: float | None
    tta: float | None
    ttr: float | None
    due: datetime | None
    target: str  # met | missed | pending | none

    def metric(self, name: str) -> float | None:
        return {"mttd": self.ttd, "mtta": self.tta, "mttr": self.ttr}.get(name)


@dataclass(frozen=True)
class Attainment:
    met: int = 0
    missed: int = 0
    pending: int = 0

    @property
    def share(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None

    def as_dict(self) -> dict[str, object]:
        return {
            "met": self.met,
            "missed": self.missed,
            "pending": self.pending,
            "share": self.share,
        }


@dataclass(frozen=True)
class Group:
    """The figures of the incidents sharing one severity, service, team, type or bucket."""

    key: str  # the filter value that selects it ("" for none)
    label: str
    volume: int
    mttd: Summary
    mtta: Summary
    mttr: Summary
    attainment: Attainment
    start: datetime | None = None  # a bucket's start


@dataclass(frozen=True)
class Kpis:
    total: Group
    previous: Group
    by_severity: list[Group]
    by_service: list[Group]
    by_team: list[Group]
    by_type: list[Group]
    over_time: list[Group]
    bucket: str  # day | week | month
    changes: dict[str, float | None] = field(default_factory=dict)


def _clamped(seconds: float | None) -> float | None:
    """A duration from SQL, never negative (a backfilled time earlier than the one it is
    measured from counts as zero), to the millisecond (SQLite's arithmetic is in floats)."""
    return None if seconds is None else max(0.0, round(float(seconds), 3))


def incident_times(session: Session, f: Filters, now: datetime) -> list[Times]:
    """Every incident in scope with its figures, oldest first. The durations and the target's
    state are computed by the database (the target with the incidents domain's own clauses):
    a quarter is tens of thousands of rows, and turning five timestamps each into Python
    datetimes was most of the page's time."""
    target = case(
        (Incident.response_due_at.is_(None), "none"),
        (met_clause(), "met"),
        (missed_clause(now), "missed"),
        else_="pending",
    )
    rows: Any = session.execute(
        select(
            Incident.id,
            Incident.number,
            Incident.title,
            Incident.restricted,
            Incident.severity_id,
            Incident.type_id,
            Incident.detected_at,
            scope.seconds_between(session, Incident.detected_at, Incident.started_at),
            scope.seconds_between(session, Incident.acknowledged_at, Incident.detected_at),
            scope.seconds_between(
                session,
                Incident.resolved_at,
                func.coalesce(Incident.started_at, Incident.detected_at),
            ),
            Incident.response_due_at,
            target,
        )
        .where(and_(*scope.conditions(f)))
        .order_by(Incident.detected_at, Incident.id)
    )
    return [
        Times(
            id=id_,
            number=number,
            title=title,
            restricted=restricted,
            severity_id=sev,
            type_id=type_id,
            detected=detected,
            ttd=_clamped(ttd),
            tta=_clamped(tta),
            ttr=_clamped(ttr),
            due=due,
            target=state,
        )
        for (
            id_,
            number,
            title,
            restricted,
            sev,
            type_id,
            detected,
            ttd,
            tta,
            ttr,
            due,
            state,
        ) in rows
    ]


def group(key: str, label: str, items: Sequence[Times], start: datetime | None = None) -> Group:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item.target] += 1
    return Group(
        key=key,
        label=label,
        volume=len(items),
        mttd=summarize(t.ttd for t in items if t.ttd is not None),
        mtta=summarize(t.tta for t in items if t.tta is not None),
        mttr=summarize(t.ttr for t in items if t.ttr is not None),
        attainment=Attainment(counts["met"], counts["missed"], counts["pending"]),
        start=start,
    )


def _by(
    items: Iterable[Times],
    keys: Callable[[Times], Iterable[int | None]],
    names: dict[int, str],
    order: Callable[[Group], Any],
    none_label: str,
) -> list[Group]:
    buckets: dict[int | None, list[Times]] = defaultdict(list)
    for item in items:
        for key in keys(item):
            buckets[key].append(item)
    groups = [
        group(
            "" if key is None else str(key),
            names.get(key, none_label) if key else none_label,
            members,
        )
        for key, members in buckets.items()
    ]
    return sorted(groups, key=order)


def _bucket_size(f: Filters) -> str:
    days = (f.last_day - f.first_day).days + 1
    if f.period == "week" or days <= 31:
        return "day"
    if days <= 200:
        return "week"
    return "month"


def _bucket_starts(f: Filters, size: str) -> list[date]:
    day = f.first_day
    if size == "week":
        day -= timedelta(days=day.weekday())
    elif size == "month":
        day = day.replace(day=1)
    starts = []
    while day <= f.last_day:
        starts.append(day)
        if size == "day":
            day += timedelta(days=1)
        elif size == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return starts


def _over_time(f: Filters, items: Sequence[Times]) -> tuple[str, list[Group]]:
    size = _bucket_size(f)
    zone = ZoneInfo(f.timezone)
    starts = _bucket_starts(f, size)
    members: dict[date, list[Times]] = {s: [] for s in starts}
    for item in items:
        day = item.detected.astimezone(zone).date()
        if size == "week":
            day -= timedelta(days=day.weekday())
        elif size == "month":
            day = day.replace(day=1)
        members.setdefault(day, []).append(item)
    label = {"day": "%d %b", "week": "%d %b", "month": "%b %Y"}[size]
    return size, [group(s.isoformat(), s.strftime(label), members[s]) for s in starts]


def compute(session: Session, f: Filters, now: datetime) -> tuple[Kpis, list[Times]]:
    """The KPIs of `f` and the incidents behind them."""
    items = incident_times(session, f, now)
    previous = incident_times(session, f.previous(), now) if f.previous_start else []
    services = _services_of(session, f)
    severities = {s.id: s for s in session.scalars(select(Severity))}
    teams = {k: v for k, v in session.execute(select(Team.id, Team.name))}
    types = {k: v for k, v in session.execute(select(IncidentType.id, IncidentType.name))}
    service_names = {sid: name for pairs in services.values() for sid, name, _ in pairs}
    total, before = group("", "all", items), group("", "previous", previous)
    size, over_time = _over_time(f, items)
    return (
        Kpis(
            total=total,
            previous=before,
            by_severity=_by(
                items,
                lambda t: [t.severity_id],
                {k: s.name for k, s in severities.items()},
                lambda g: severities[int(g.key)].rank if g.key else 99,
                "no severity",
            ),
            by_service=_by(
                items,
                lambda t: [sid for sid, _, _ in services.get(t.id, [])] or [None],
                service_names,
                lambda g: (-g.volume, g.label),
                "no service",
            ),
            by_team=_by(
                items,
                lambda t: (
                    sorted({team for _, _, team in services.get(t.id, [])}, key=str) or [None]
                ),
                teams,
                lambda g: (-g.volume, g.label),
                "no team",
            ),
            by_type=_by(
                items, lambda t: [t.type_id], types, lambda g: (-g.volume, g.label), "no type"
            ),
            over_time=over_time,
            bucket=size,
            changes={
                "volume": change(total.volume, before.volume),
                **{m: change(_median(total, m), _median(before, m)) for m in METRICS},
                "attainment": (
                    total.attainment.share - before.attainment.share
                    if total.attainment.share is not None and before.attainment.share is not None
                    else None
                ),
            },
        ),
        items,
    )


def _median(g: Group, metric: str) -> float | None:
    summary: Summary = getattr(g, metric, EMPTY)
    return summary.median


def _services_of(session: Session, f: Filters) -> dict[int, list[tuple[int, str, int | None]]]:
    """The services of each incident in `f`, as (id, name, team id)."""
    found: dict[int, list[tuple[int, str, int | None]]] = defaultdict(list)
    rows: Any = session.execute(
        select(incident_services.c.incident_id, Service.id, Service.name, Service.team_id)
        .join(Service, Service.id == incident_services.c.service_id)
        .where(incident_services.c.incident_id.in_(scope.incident_ids(f)))
    )
    for incident_id, sid, name, team in rows:
        found[incident_id].append((sid, name, team))
    return found
