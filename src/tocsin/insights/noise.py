"""Alert noise: what to fix or silence. The noisiest sources and dedup keys, flapping keys,
alerts resolved before anyone acknowledged them, alerts per incident, and what suppression
rules and maintenance windows held back.

The alerts of a period are those created in it, of the filtered team's services or the
filtered service; with a severity or type filter, only those attached to an incident of that
severity or type. Alerts attached to drills are left out, and so are the events of such
alerts. Everything is counted in SQL (GROUP BY); the counts per dedup key come back to Python,
which adds them up per source.

A trigger after a resolve never reopens the resolved alert: ingestion creates a new `Alert`
row (only open alerts are looked up by dedup key) and stores on it how long the key was quiet,
from the previous alert's resolve (`Alert.quiet_seconds`). A flap is an alert created at most
`window` minutes after the previous alert of its integration and dedup key (whatever its
incident) resolved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    values,
)
from sqlalchemy.orm import Session, aliased

from tocsin.alerts.models import Alert, Event, Integration, MaintenanceWindow, SuppressionRule
from tocsin.alerts.outcomes import Outcome
from tocsin.catalog.models import Service, User
from tocsin.db import UTCDateTime
from tocsin.errors import ValidationFailed
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import Incident
from tocsin.insights import scope
from tocsin.insights.filters import Filters, midnight
from tocsin.insights.stats import Summary, summarize

DEFAULT_WINDOW = 30
MAX_WINDOW = 1440
TOP = 20
TOP_INCIDENTS = 10
# A period longer than this is drawn in weeks (Monday first) rather than days.
MAX_DAYS_DRAWN = 62

# Exactly as the partial index `ix_events_held` (migration 0039) is written: SQLite uses a
# partial index only for a condition it can see implies the index's own.
HELD = text("(events.outcome IN ('suppressed', 'maintenance') OR events.rule_id IS NOT NULL)")


def window_of(value: str | None) -> int:
    """The flapping window in minutes from the query string (default 30); `ValidationFailed`
    for anything but a whole number from 1 to 1440."""
    raw = (value or "").strip()
    if not raw:
        return DEFAULT_WINDOW
    if not (raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= MAX_WINDOW):
        raise ValidationFailed(
            f"window must be a whole number of minutes from 1 to {MAX_WINDOW} (got {raw[:20]!r})",
            field="window",
        )
    return int(raw)


@dataclass(frozen=True)
class Source:
    """One integration's alerts in the period."""

    integration_id: int
    integration: str
    service_id: int
    service: str
    alerts: int
    events: int
    incidents_opened: int  # incidents of the period whose first alert is its
    auto_resolved: int  # resolved before anyone acknowledged them

    @property
    def auto_resolved_share(self) -> float:
        return self.auto_resolved / self.alerts if self.alerts else 0.0


@dataclass(frozen=True)
class DedupKey:
    integration_id: int
    integration: str
    service: str
    dedup_key: str
    alerts: int
    events: int


@dataclass(frozen=True)
class Flapping:
    integration_id: int
    integration: str
    service: str
    dedup_key: str
    flaps: int


@dataclass(frozen=True)
class Bucket:
    """The alerts created in one local day (or week, from its Monday)."""

    first_day: date
    alerts: int


@dataclass(frozen=True)
class IncidentAlerts:
    incident_id: int
    reference: str
    title: str
    alerts: int


@dataclass(frozen=True)
class RuleHits:
    """Trigger events a suppression rule dropped or downgraded. `rule_id` None: the rule has
    been deleted since."""

    rule_id: int | None
    rule: str
    service_id: int | None
    service: str
    dropped: int
    downgraded: int

    @property
    def hits(self) -> int:
        return self.dropped + self.downgraded


@dataclass(frozen=True)
class WindowHits:
    """Trigger events held by a maintenance window. `window_id` None: deleted since."""

    window_id: int | None
    reason: str
    service_id: int | None
    service: str
    starts_at: datetime | None
    ends_at: datetime | None
    hits: int


@dataclass(frozen=True)
class Noise:
    alerts: int
    events: int
    auto_resolved: int
    sources: list[Source]  # the noisiest TOP, most alerts first
    source_count: int  # integrations with alerts in the period
    keys: list[DedupKey]
    window: int  # minutes
    flaps: int
    flapping_keys: int
    flapping: list[Flapping]
    bucket: str  # day | week
    volume: list[Bucket]
    incidents_in_scope: int
    incidents_with_alerts: int
    per_incident: Summary  # alerts per incident, of the incidents with alerts
    per_incident_max: int | None
    top_incidents: list[IncidentAlerts]  # those the viewer may see
    hidden_incidents: int  # of the top ones, restricted and not shown to the viewer
    rules: list[RuleHits]
    windows: list[WindowHits]

    @property
    def auto_resolved_share(self) -> float:
        return self.auto_resolved / self.alerts if self.alerts else 0.0

    @property
    def auto_resolved_sources(self) -> list[Source]:
        """Every source with alerts resolved before an acknowledgement, most first."""
        return [s for s in self.sources if s.auto_resolved]

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["auto_resolved_share"] = self.auto_resolved_share
        for source in found["sources"]:
            source["auto_resolved_share"] = (
                source["auto_resolved"] / source["alerts"] if source["alerts"] else 0.0
            )
        for rule in found["rules"]:
            rule["hits"] = rule["dropped"] + rule["downgraded"]
        found["per_incident"] = self.per_incident.as_dict()
        return found


# --- which alerts and events --------------------------------------------------------------


def _service_conditions(f: Filters, column: Any) -> list[ColumnElement[bool]]:
    """The filtered service, or the team's services as a list of ids (read once per
    request through `Team.services`): a list lets each planner search the index by service
    and time, where a subquery left PostgreSQL scanning the whole period."""
    found: list[ColumnElement[bool]] = []
    if f.service is not None:
        found.append(column == f.service.id)
    if f.team is not None:
        found.append(column.in_([service.id for service in f.team.services]))
    return found


def drill_ids(session: Session) -> tuple[int, ...]:
    """The drills' ids, read once per request: a handful, where a subquery would scan the
    incidents again for every figure."""
    return tuple(session.scalars(select(Incident.id).where(Incident.drill.is_(True))))


def _incident_conditions(
    f: Filters, column: Any, drills: Sequence[int]
) -> list[ColumnElement[bool]]:
    """Conditions on an alert's incident id: not a drill's; with a severity or type filter,
    an incident of that severity or type."""
    if f.severity is None and f.incident_type is None:
        return [or_(column.is_(None), column.notin_(drills))] if drills else []
    wanted = select(Incident.id).where(Incident.drill.is_(False))
    if f.severity is not None:
        wanted = wanted.where(Incident.severity_id == f.severity.id)
    if f.incident_type is not None:
        wanted = wanted.where(Incident.type_id == f.incident_type.id)
    return [column.in_(wanted)]


def alert_conditions(f: Filters, drills: Sequence[int]) -> list[ColumnElement[bool]]:
    """SQL conditions on `Alert` for the alerts of the period and filters (`drills`: the
    drills' ids, `drill_ids`)."""
    return [
        Alert.created_at >= f.start,
        Alert.created_at < f.end,
        *_service_conditions(f, Alert.service_id),
        *_incident_conditions(f, Alert.incident_id, drills),
    ]


def _event_conditions(f: Filters, drills: Sequence[int]) -> list[ColumnElement[bool]]:
    """SQL conditions on `Event` for the events received in the period of the filtered
    services, leaving out those of drills' alerts (and with a severity or type filter, those
    of no alert of such an incident)."""
    found: list[ColumnElement[bool]] = [
        Event.received_at >= f.start,
        Event.received_at < f.end,
        *_service_conditions(f, Event.service_id),
    ]
    if f.severity is not None or f.incident_type is not None:
        alert_ids = select(Alert.id).where(*_incident_conditions(f, Alert.incident_id, drills))
        found.append(Event.alert_id.in_(alert_ids))
    elif drills:
        drill_alerts = select(Alert.id).where(Alert.incident_id.in_(drills))
        found.append(or_(Event.alert_id.is_(None), Event.alert_id.notin_(drill_alerts)))
    return found


# --- the figures --------------------------------------------------------------------------


def compute(session: Session, f: Filters, viewer: User, *, window: int = DEFAULT_WINDOW) -> Noise:
    """The alert noise of `f`, flaps counted within `window` minutes; incidents `viewer` may
    not see are counted but not named."""
    names = _integration_names(session)
    drills = drill_ids(session)
    keys = _by_key(session, f, window, drills)
    incidents = _incidents_alerts(session, f)
    sources = _sources(names, keys, incidents)
    flapping = sorted((k for k in keys if k.flaps), key=lambda k: (-k.flaps, k.ident))
    noisiest = sorted(keys, key=lambda k: (-k.alerts, -k.events, k.ident))[:TOP]
    bucket, volume = _volume(session, f, drills)
    (in_scope, with_alerts, summary, top_count, top, hidden) = _per_incident(
        session, viewer, incidents
    )
    rules, windows = _held(session, f, drills)

    def where(k: _Key) -> tuple[int, str, str]:
        named = _name(names, k.integration_id)
        return k.integration_id, named.integration, named.service

    return Noise(
        alerts=sum(s.alerts for s in sources),
        events=sum(s.events for s in sources),
        auto_resolved=sum(s.auto_resolved for s in sources),
        sources=sources[:TOP],
        source_count=len(sources),
        keys=[DedupKey(*where(k), k.dedup_key, k.alerts, k.events) for k in noisiest],
        window=window,
        flaps=sum(k.flaps for k in flapping),
        flapping_keys=len(flapping),
        flapping=[Flapping(*where(k), k.dedup_key, k.flaps) for k in flapping[:TOP]],
        bucket=bucket,
        volume=volume,
        incidents_in_scope=in_scope,
        incidents_with_alerts=with_alerts,
        per_incident=summary,
        per_incident_max=top_count,
        top_incidents=top,
        hidden_incidents=hidden,
        rules=rules,
        windows=windows,
    )


class _Named(NamedTuple):
    integration: str
    service_id: int
    service: str


_UNKNOWN = _Named("(a deleted integration)", 0, "")


def _integration_names(session: Session) -> dict[int, _Named]:
    """Every integration's name and service, by id."""
    rows = session.execute(
        select(Integration.id, Integration.name, Service.id, Service.name).join(
            Service, Service.id == Integration.service_id
        )
    )
    return {iid: _Named(name, sid, service) for iid, name, sid, service in rows}


def _name(names: dict[int, _Named], integration_id: int) -> _Named:
    return names.get(integration_id, _UNKNOWN)


class _Key(NamedTuple):
    """One dedup key's alerts in the period."""

    integration_id: int
    dedup_key: str
    alerts: int
    events: int
    auto_resolved: int
    flaps: int

    @property
    def ident(self) -> tuple[int, str]:
        return (self.integration_id, self.dedup_key)


def _by_key(session: Session, f: Filters, window: int, drills: Sequence[int]) -> list[_Key]:
    """Every (integration, dedup key) with alerts in the period, in one pass over them: its
    alerts, events, alerts resolved before an acknowledgement, and flaps (alerts created at
    most `window` minutes after the key's previous alert resolved: `Alert.quiet_seconds`)."""
    # Resolved with no acknowledgement of the alert, nor of its incident before it resolved.
    # The incident is read only for alerts resolved unacknowledged (nested CASE: SQLite
    # evaluates a branch only when its condition holds).
    acknowledged_before = exists().where(
        Incident.id == Alert.incident_id, Incident.acknowledged_at < Alert.resolved_at
    )
    auto = case(
        (
            and_(Alert.resolved_at.is_not(None), Alert.acknowledged_at.is_(None)),
            case((Alert.incident_id.is_(None), 1), (acknowledged_before, 0), else_=1),
        ),
        else_=0,
    )
    flap = case((Alert.quiet_seconds.between(0, window * 60), 1), else_=0)
    # Grouped by an expression, not the column: SQLite would otherwise walk the key index
    # (`ix_alerts_key_created`) to save a sort, reading the period's rows in key order from
    # all over the table; through the creation index they lie together (a quarter: a third
    # faster). The same text in the select list, as PostgreSQL requires.
    integration = Alert.integration_id + literal_column("0")
    rows: Sequence[Any] = session.execute(
        select(
            integration,
            Alert.dedup_key,
            func.count(),
            func.sum(Alert.event_count),
            func.sum(auto),
            func.sum(flap),
        )
        .where(*alert_conditions(f, drills))
        .group_by(integration, Alert.dedup_key)
    ).all()
    return [
        _Key(int(iid), str(key), int(n), int(events), int(auto_n), int(flaps))
        for iid, key, n, events, auto_n, flaps in rows
    ]


def _sources(
    names: dict[int, _Named], keys: list[_Key], incidents: list[_IncidentAlerts]
) -> list[Source]:
    """Every integration with alerts (its keys added up), noisiest first."""
    totals: dict[int, list[int]] = {}
    for k in keys:
        total = totals.setdefault(k.integration_id, [0, 0, 0])
        total[0] += k.alerts
        total[1] += k.events
        total[2] += k.auto_resolved
    # The incidents of the period, each counted for the integration of its first alert.
    opened = Counter(i.first_integration for i in incidents if i.first_integration is not None)
    sources = [
        Source(
            integration_id=iid,
            integration=_name(names, iid).integration,
            service_id=_name(names, iid).service_id,
            service=_name(names, iid).service,
            alerts=alerts,
            events=events,
            incidents_opened=opened.get(iid, 0),
            auto_resolved=auto_count,
        )
        for iid, (alerts, events, auto_count) in totals.items()
    ]
    sources.sort(key=lambda s: (-s.alerts, -s.events, s.integration.lower(), s.integration_id))
    return sources


def _volume(session: Session, f: Filters, drills: Sequence[int]) -> tuple[str, list[Bucket]]:
    """Alerts per local day of the period, or per week (from Monday) for a long one: each
    bucket's alerts counted by a range search of the creation index, with the bucket's
    bounds (local midnights, in UTC) given to the database."""
    zone = ZoneInfo(f.timezone)
    days = (f.last_day - f.first_day).days + 1
    bucket = "day" if days <= MAX_DAYS_DRAWN else "week"
    first = f.first_day
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    last_day = min(f.last_day, (f.end - timedelta(microseconds=1)).astimezone(zone).date())
    step = timedelta(days=7 if bucket == "week" else 1)
    starts = []
    while first <= last_day:
        starts.append(first)
        first += step
    if not starts:
        return bucket, []
    bounds = values(
        column("n", Integer), column("low", UTCDateTime()), column("high", UTCDateTime()),
        name="buckets",
    ).data([
        (n, max(midnight(day, zone), f.start), min(midnight(day + step, zone), f.end))
        for n, day in enumerate(starts)
    ]).cte()  # fmt: skip
    # A count per bucket, each a range search of the index (a join on the bounds would have
    # PostgreSQL compare every alert of the period with every bucket).
    in_bucket = (
        select(func.count())
        .where(
            Alert.created_at >= bounds.c.low,
            Alert.created_at < bounds.c.high,
            *_service_conditions(f, Alert.service_id),
            *_incident_conditions(f, Alert.incident_id, drills),
        )
        .scalar_subquery()
    )
    counts: dict[int, int] = dict(session.execute(select(bounds.c.n, in_bucket)).all())
    return bucket, [Bucket(day, counts.get(n, 0)) for n, day in enumerate(starts)]


class _IncidentAlerts(NamedTuple):
    incident_id: int
    alerts: int
    first_integration: int | None  # the integration of its first alert


def _incidents_alerts(session: Session, f: Filters) -> list[_IncidentAlerts]:
    """Each incident in scope with its alerts (whenever they came) and the integration of its
    first one: two searches of `ix_alerts_incident_first` per incident, from the index alone."""
    alerts = aliased(Alert)
    count = select(func.count()).where(alerts.incident_id == Incident.id).scalar_subquery()
    first = (
        select(alerts.integration_id)
        .where(alerts.incident_id == Incident.id)
        .order_by(alerts.id)
        .limit(1)
        .scalar_subquery()
    )
    rows: Sequence[Any] = session.execute(
        select(Incident.id, count, first).where(Incident.id.in_(scope.incident_ids(f)))
    ).all()
    return [_IncidentAlerts(int(i), int(n), None if g is None else int(g)) for i, n, g in rows]


def _per_incident(
    session: Session, viewer: User, incidents: list[_IncidentAlerts]
) -> tuple[int, int, Summary, int | None, list[IncidentAlerts], int]:
    """Alerts attached to each incident in scope: (incidents in scope, those with alerts, the
    summary of their counts, the largest, the top ones `viewer` may see, how many of the top
    ones are hidden)."""
    counted = [i for i in incidents if i.alerts]
    summary = summarize(float(i.alerts) for i in counted)
    ranked = sorted(counted, key=lambda i: (-i.alerts, i.incident_id))[:TOP_INCIDENTS]
    top_ids = [i.incident_id for i in ranked]
    hidden = hidden_ids(session, viewer, top_ids)
    shown = [i for i in top_ids if i not in hidden]
    details = {
        iid: (number, title)
        for iid, number, title in session.execute(
            select(Incident.id, Incident.number, Incident.title).where(Incident.id.in_(shown))
        )
    }
    count_of = {i.incident_id: i.alerts for i in counted}
    top = [IncidentAlerts(i, f"INC-{details[i][0]}", details[i][1], count_of[i]) for i in shown]
    largest = max(count_of.values()) if count_of else None
    return len(incidents), len(counted), summary, largest, top, len(hidden)


def _held(
    session: Session, f: Filters, drills: Sequence[int]
) -> tuple[list[RuleHits], list[WindowHits]]:
    """The trigger events a suppression rule dropped or downgraded, per rule, and those a
    maintenance window held, per window: one pass over the held events of the period
    (`ix_events_held` holds them alone), then the rules' and windows' names."""
    rows: Sequence[Any] = session.execute(
        select(Event.rule_id, Event.maintenance_window_id, Event.outcome, func.count())
        .where(HELD, *_event_conditions(f, drills))
        .group_by(Event.rule_id, Event.maintenance_window_id, Event.outcome)
    ).all()
    by_rule: dict[int | None, list[int]] = {}  # rule: [dropped, downgraded]
    by_window: Counter[int | None] = Counter()
    for rule_id, window_id, outcome, n in rows:
        suppressed = outcome == Outcome.suppressed.value
        if rule_id is not None or suppressed:
            by_rule.setdefault(rule_id, [0, 0])[0 if suppressed else 1] += n
        if outcome == Outcome.maintenance.value:
            by_window[window_id] += n
    rule_names = {
        rid: (name, sid, service)
        for rid, name, sid, service in session.execute(
            select(SuppressionRule.id, SuppressionRule.name, Service.id, Service.name)
            .outerjoin(Service, Service.id == SuppressionRule.service_id)
            .where(SuppressionRule.id.in_([r for r in by_rule if r is not None]))
        )
    }
    windows = {
        wid: (reason, sid, service, starts, ends)
        for wid, reason, sid, service, starts, ends in session.execute(
            select(
                MaintenanceWindow.id,
                MaintenanceWindow.reason,
                Service.id,
                Service.name,
                MaintenanceWindow.starts_at,
                MaintenanceWindow.ends_at,
            )
            .outerjoin(Service, Service.id == MaintenanceWindow.service_id)
            .where(MaintenanceWindow.id.in_([w for w in by_window if w is not None]))
        )
    }
    rules = []
    for rule_id, (dropped, lowered) in by_rule.items():
        name, sid, service = rule_names.get(rule_id, ("(a deleted rule)", None, ""))  # type: ignore[arg-type]
        rules.append(RuleHits(rule_id, name, sid, service or "", dropped, lowered))
    rules.sort(key=lambda r: (-r.hits, r.rule.lower(), r.rule_id or 0))
    held = []
    for window_id, n in by_window.items():
        reason, sid, service, starts, ends = windows.get(window_id, ("", None, "", None, None))  # type: ignore[arg-type]
        held.append(WindowHits(window_id, reason or "", sid, service or "", starts, ends, n))
    held.sort(key=lambda w: (-w.hits, w.window_id or 0))
    return rules, held
