"""Alert noise: what to fix or silence. The noisiest sources and dedup keys, flapping keys,
alerts resolved before anyone acknowledged them, alerts per incident, and what suppression
rules and maintenance windows held back.

The alerts of a period are those created in it, of the filtered team's services or the
filtered service; with a severity or type filter, only those attached to an incident of that
severity or type. Alerts attached to drills are left out, and so are the events of such
alerts. Everything is counted in SQL (GROUP BY); only the flaps found and one count per
incident come back to Python.

A trigger after a resolve never reopens the resolved alert: ingestion creates a new `Alert`
row (only open alerts are looked up by dedup key). So a flap is an alert whose previous alert
of the same integration and dedup key (whatever its incident) resolved at most `window`
minutes before it was created.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, case, cast, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from tocsin.alerts.models import Alert, Event, Integration, MaintenanceWindow, SuppressionRule
from tocsin.alerts.outcomes import Outcome
from tocsin.catalog.models import Service, User
from tocsin.errors import ValidationFailed
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import Incident
from tocsin.insights import scope
from tocsin.insights.filters import Filters
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
    found: list[ColumnElement[bool]] = []
    if f.service is not None:
        found.append(column == f.service.id)
    if f.team is not None:
        found.append(column.in_(select(Service.id).where(Service.team_id == f.team.id)))
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
    sources, totals = _sources(session, f, names, drills)
    flaps = _flaps(session, f, window, drills)
    flapping = [
        Flapping(iid, _name(names, iid).integration, _name(names, iid).service, key, n)
        for (iid, key), n in sorted(flaps.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    ]
    bucket, volume = _volume(session, f, drills)
    (in_scope, with_alerts, summary, top_count, top, hidden) = _per_incident(session, f, viewer)
    return Noise(
        alerts=totals[0],
        events=totals[1],
        auto_resolved=totals[2],
        sources=sources[:TOP],
        source_count=len(sources),
        keys=_keys(session, f, names, drills),
        window=window,
        flaps=sum(flaps.values()),
        flapping_keys=len(flaps),
        flapping=flapping,
        bucket=bucket,
        volume=volume,
        incidents_in_scope=in_scope,
        incidents_with_alerts=with_alerts,
        per_incident=summary,
        per_incident_max=top_count,
        top_incidents=top,
        hidden_incidents=hidden,
        rules=_rule_hits(session, f, drills),
        windows=_window_hits(session, f, drills),
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


def _sources(
    session: Session, f: Filters, names: dict[int, _Named], drills: Sequence[int]
) -> tuple[list[Source], tuple[int, int, int]]:
    """Every integration with alerts, noisiest first; the totals (alerts, events,
    auto-resolved)."""
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
    rows: Sequence[Any] = session.execute(
        select(
            Alert.integration_id,
            func.count(),
            func.coalesce(func.sum(Alert.event_count), 0),
            func.coalesce(func.sum(auto), 0),
        )
        .where(*alert_conditions(f, drills))
        .group_by(Alert.integration_id)
    ).all()
    # The incidents of the period, each counted for the integration of its first alert.
    first = (
        select(func.min(Alert.id))
        .where(Alert.incident_id.in_(scope.incident_ids(f)))
        .group_by(Alert.incident_id)
    )
    opened: dict[int, int] = dict(
        session.execute(
            select(Alert.integration_id, func.count())
            .where(Alert.id.in_(first))
            .group_by(Alert.integration_id)
        ).all()
    )
    sources = [
        Source(
            integration_id=iid,
            integration=_name(names, iid).integration,
            service_id=_name(names, iid).service_id,
            service=_name(names, iid).service,
            alerts=alerts,
            events=int(events),
            incidents_opened=opened.get(iid, 0),
            auto_resolved=int(auto_count),
        )
        for iid, alerts, events, auto_count in rows
    ]
    sources.sort(key=lambda s: (-s.alerts, -s.events, s.integration.lower(), s.integration_id))
    totals = (
        sum(s.alerts for s in sources),
        sum(s.events for s in sources),
        sum(s.auto_resolved for s in sources),
    )
    return sources, totals


def _keys(
    session: Session, f: Filters, names: dict[int, _Named], drills: Sequence[int]
) -> list[DedupKey]:
    alerts = func.count().label("alerts")
    events = func.coalesce(func.sum(Alert.event_count), 0).label("events")
    rows = session.execute(
        select(Alert.integration_id, Alert.dedup_key, alerts, events)
        .where(*alert_conditions(f, drills))
        .group_by(Alert.integration_id, Alert.dedup_key)
        .order_by(alerts.desc(), events.desc(), Alert.integration_id, Alert.dedup_key)
        .limit(TOP)
    )
    return [
        DedupKey(iid, _name(names, iid).integration, _name(names, iid).service, key, n, int(e))
        for iid, key, n, e in rows
    ]


def _flaps(
    session: Session, f: Filters, window: int, drills: Sequence[int]
) -> Counter[tuple[int, str]]:
    """Flaps per (integration, dedup key): alerts of the period created at most `window`
    minutes after the previous alert of their key resolved."""
    key = (Alert.integration_id, Alert.dedup_key)
    order = (Alert.created_at, Alert.id)
    # The previous alert of each key within the period (the period's range keeps this to its
    # alerts; the filters on incidents apply after, so that the previous alert is the real one).
    ranked = (
        select(
            Alert.integration_id,
            Alert.dedup_key,
            Alert.created_at,
            Alert.incident_id,
            func.lag(Alert.id).over(partition_by=key, order_by=order).label("previous_id"),
            func.lag(Alert.resolved_at)
            .over(partition_by=key, order_by=order)
            .label("previous_resolved"),
        )
        .where(
            Alert.created_at >= f.start,
            Alert.created_at < f.end,
            *_service_conditions(f, Alert.service_id),
        )
        .subquery()
    )
    # The first alert of a key in the period: its previous one was created before the period
    # (index ix_alerts_key_created).
    before = aliased(Alert)
    previous_before = (
        select(before.resolved_at)
        .where(
            before.integration_id == ranked.c.integration_id,
            before.dedup_key == ranked.c.dedup_key,
            before.created_at < ranked.c.created_at,
        )
        .order_by(before.created_at.desc(), before.resolved_at.desc())  # the index order
        .limit(1)
        .scalar_subquery()
    )
    # Only the first alert of each key and the alerts close to their previous one come back
    # (a minute of slack each side for the float of `scope.seconds_between`); the predecessor of
    # a first alert is looked up in the select list, once per row returned.
    gap = scope.seconds_between(session, ranked.c.created_at, ranked.c.previous_resolved)
    rows: Sequence[Any] = session.execute(
        select(
            ranked.c.integration_id,
            ranked.c.dedup_key,
            ranked.c.created_at,
            case(
                (ranked.c.previous_id.is_(None), previous_before),
                else_=ranked.c.previous_resolved,
            ),
        ).where(
            *_incident_conditions(f, ranked.c.incident_id, drills),
            or_(
                ranked.c.previous_id.is_(None),
                and_(gap >= -60, gap <= window * 60 + 60),
            ),
        )
    ).all()
    limit = timedelta(minutes=window)
    found: Counter[tuple[int, str]] = Counter()
    for iid, dedup_key, created, resolved_at in rows:
        if resolved_at is not None and timedelta(0) <= _utc(created) - _utc(resolved_at) <= limit:
            found[(int(iid), str(dedup_key))] += 1
    return found


def _utc(value: object) -> datetime:
    """A time read back from SQL: SQLite gives a CASE's value as its stored text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _quarter_hour(session: Session) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The UTC hour ("YYYY-MM-DD HH") and quarter of it (0–3) of `Alert.created_at`: every
    time zone's offset is a whole number of quarter hours, so these add up exactly into local
    days whatever the zone."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", Alert.created_at)
        return func.to_char(utc, "YYYY-MM-DD HH24"), func.floor(func.extract("minute", utc) / 15)
    # Stored as "YYYY-MM-DD HH:MM:SS.ffffff", in UTC.
    minute = cast(func.substr(Alert.created_at, 15, 2), Integer)
    return func.substr(Alert.created_at, 1, 13), minute // 15


def _volume(session: Session, f: Filters, drills: Sequence[int]) -> tuple[str, list[Bucket]]:
    """Alerts per local day of the period, or per week (from Monday) for a long one."""
    hour, quarter = _quarter_hour(session)
    rows: Sequence[Any] = session.execute(
        select(hour, quarter, func.count())
        .where(*alert_conditions(f, drills))
        .group_by(hour, quarter)
    ).all()
    zone = ZoneInfo(f.timezone)
    days = (f.last_day - f.first_day).days + 1
    bucket = "day" if days <= MAX_DAYS_DRAWN else "week"
    counts: Counter[date] = Counter()
    for hour_text, quarter_index, n in rows:
        moment = datetime.fromisoformat(f"{hour_text}:00").replace(tzinfo=UTC) + timedelta(
            minutes=15 * int(quarter_index)
        )
        day = moment.astimezone(zone).date()
        counts[day - timedelta(days=day.weekday()) if bucket == "week" else day] += n
    first = f.first_day
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    last_day = min(f.last_day, (f.end - timedelta(microseconds=1)).astimezone(zone).date())
    step = timedelta(days=7 if bucket == "week" else 1)
    volume = []
    while first <= last_day:
        volume.append(Bucket(first, counts.get(first, 0)))
        first += step
    return bucket, volume


def _per_incident(
    session: Session, f: Filters, viewer: User
) -> tuple[int, int, Summary, int | None, list[IncidentAlerts], int]:
    """Alerts attached to each incident in scope: (incidents in scope, those with alerts, the
    summary of their counts, the largest, the top ones `viewer` may see, how many of the top
    ones are hidden)."""
    in_scope = session.scalar(select(func.count()).select_from(scope.incident_ids(f).subquery()))
    counted = session.execute(
        select(Alert.incident_id, func.count())
        .where(Alert.incident_id.in_(scope.incident_ids(f)))
        .group_by(Alert.incident_id)
    ).all()
    summary = summarize(float(n) for _, n in counted)
    ranked = sorted(counted, key=lambda r: (-r[1], r[0] or 0))[:TOP_INCIDENTS]
    top_ids = [int(iid) for iid, _ in ranked if iid is not None]
    hidden = hidden_ids(session, viewer, top_ids)
    shown = [i for i in top_ids if i not in hidden]
    details = {
        iid: (number, title)
        for iid, number, title in session.execute(
            select(Incident.id, Incident.number, Incident.title).where(Incident.id.in_(shown))
        )
    }
    count_of: dict[int, int] = {int(i): n for i, n in counted if i is not None}
    top = [IncidentAlerts(i, f"INC-{details[i][0]}", details[i][1], count_of[i]) for i in shown]
    largest = max(count_of.values()) if count_of else None
    return in_scope or 0, len(counted), summary, largest, top, len(hidden)


def _rule_hits(session: Session, f: Filters, drills: Sequence[int]) -> list[RuleHits]:
    suppressed = Event.outcome == Outcome.suppressed.value
    rows = session.execute(
        select(
            Event.rule_id,
            SuppressionRule.name,
            Service.id,
            Service.name,
            func.count(case((suppressed, 1))),
            func.count(case((~suppressed, 1))),
        )
        .select_from(Event)
        .outerjoin(SuppressionRule, SuppressionRule.id == Event.rule_id)
        .outerjoin(Service, Service.id == SuppressionRule.service_id)
        .where(HELD, or_(Event.rule_id.is_not(None), suppressed), *_event_conditions(f, drills))
        .group_by(Event.rule_id, SuppressionRule.name, Service.id, Service.name)
    )
    found = [
        RuleHits(rule_id, name or "(a deleted rule)", sid, service or "", dropped, lowered)
        for rule_id, name, sid, service, dropped, lowered in rows
    ]
    found.sort(key=lambda r: (-r.hits, r.rule.lower(), r.rule_id or 0))
    return found


def _window_hits(session: Session, f: Filters, drills: Sequence[int]) -> list[WindowHits]:
    rows = session.execute(
        select(
            Event.maintenance_window_id,
            MaintenanceWindow.reason,
            Service.id,
            Service.name,
            MaintenanceWindow.starts_at,
            MaintenanceWindow.ends_at,
            func.count(),
        )
        .select_from(Event)
        .outerjoin(MaintenanceWindow, MaintenanceWindow.id == Event.maintenance_window_id)
        .outerjoin(Service, Service.id == MaintenanceWindow.service_id)
        .where(HELD, Event.outcome == Outcome.maintenance.value, *_event_conditions(f, drills))
        .group_by(
            Event.maintenance_window_id,
            MaintenanceWindow.reason,
            Service.id,
            Service.name,
            MaintenanceWindow.starts_at,
            MaintenanceWindow.ends_at,
        )
    )
    found = [
        WindowHits(wid, reason or "", sid, service or "", starts, ends, n)
        for wid, reason, sid, service, starts, ends, n in rows
    ]
    found.sort(key=lambda w: (-w.hits, w.window_id or 0))
    return found
