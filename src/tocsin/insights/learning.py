"""Learning health: are postmortems reviewed on time, and are follow-ups done?

About the incidents in scope (insights.scope: detected in the period, drills left out):

- Postmortems reviewed on time, for the incidents whose severity's postmortem policy requires
  one (SEV1 and SEV2 by default). An incident's postmortem is reviewed when it first moved to
  Reviewed (its incident's timeline, `postmortem_status` → `reviewed`), and on time when that
  is no later than the review meeting's deadline the policy set when the incident was resolved
  (`Postmortem.meeting_due_at`). Each such incident is one of: on time; late (reviewed after
  the deadline, or not reviewed and the deadline passed); missing (resolved, no postmortem);
  not due (not resolved yet, or its deadline is still ahead). The share is on time ÷ (on time
  + late + missing).
- Postmortems by status, and the time from the incident's resolution to publication.
- The follow-ups of those incidents (action items of kind follow_up, whenever they were
  created): how many, done, won't do, still open, overdue (due before today in the
  organisation's time zone and not finished), and the age of the open ones in days.

An incident counts under each team owning one of its services; one without any is under
"No team". Restricted incidents are counted; the lists leave out those the viewer may not see
and say how many they left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import (
    ActionItem,
    ActionKind,
    ActionStatus,
    Incident,
    TimelineEntry,
    incident_services,
)
from tocsin.insights import scope
from tocsin.insights.filters import Filters
from tocsin.insights.stats import Summary, median, percentile, summarize
from tocsin.postmortems.models import Postmortem, PostmortemPolicy, PostmortemStatus

ON_TIME, LATE, MISSING, NOT_DUE = "on_time", "late", "missing", "not_due"
UNFINISHED = (ActionStatus.open.value, ActionStatus.in_progress.value)
NO_TEAM = "No team"
# How many late or missing postmortems, and overdue follow-ups, are listed.
GAPS_LISTED = 100
OVERDUE_LISTED = 20

R = TypeVar("R")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class Attainment:
    """Postmortems reviewed on time for one severity, one team, or all."""

    id: int | None  # the severity's or team's id; None for all, or for "No team"
    name: str
    required: int  # incidents whose severity's policy requires a postmortem
    on_time: int
    late: int
    missing: int
    not_due: int

    @property
    def due(self) -> int:
        return self.on_time + self.late + self.missing

    @property
    def share(self) -> float | None:
        """On time ÷ due; None when none is due."""
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True)
class Gap:
    """An incident whose postmortem is late or missing."""

    incident_id: int
    reference: str
    title: str
    severity: str
    problem: str  # "late" or "missing"
    postmortem_id: int | None
    postmortem_status: str | None
    due_at: datetime | None  # the review deadline
    reviewed_at: datetime | None


@dataclass(frozen=True)
class FollowUps:
    """The follow-ups of the incidents in scope, for one team or all."""

    id: int | None
    name: str
    created: int
    done: int
    wont_do: int
    open: int  # open or in progress
    overdue: int
    age_median_days: float | None  # of the open ones, in whole days since created
    age_p90_days: float | None
    oldest_days: int | None


@dataclass(frozen=True)
class OverdueFollowUp:
    id: int
    title: str
    incident_id: int
    reference: str
    assignee: str | None
    due_date: date
    days_overdue: int
    age_days: int


@dataclass(frozen=True)
class Learning:
    required_severities: list[str]
    attainment: Attainment
    by_severity: list[Attainment]
    by_team: list[Attainment]
    gaps: list[Gap]  # the most recently detected first, at most GAPS_LISTED
    gaps_hidden: int  # late or missing ones the viewer may not see
    postmortem_statuses: dict[str, int]  # every status, in the workflow's order
    resolved_to_published: Summary  # seconds
    follow_ups: FollowUps
    follow_ups_by_team: list[FollowUps]
    oldest_overdue: list[OverdueFollowUp]  # most overdue first, at most OVERDUE_LISTED
    overdue_hidden: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def compute(session: Session, f: Filters, viewer: User, *, now: datetime | None = None) -> Learning:
    """The learning-health figures for `f`, as `viewer` may read them; `now` decides what is
    overdue and how old open follow-ups are (default: now)."""
    now = now or utcnow()
    today = now.astimezone(ZoneInfo(f.timezone)).date()
    severities = {s.id: s for s in session.scalars(select(Severity))}
    teams = {t.id: t.name for t in session.execute(select(Team.id, Team.name))}
    required = sorted(
        session.scalars(
            select(PostmortemPolicy.severity_id).where(PostmortemPolicy.required.is_(True))
        ).all(),
        key=lambda i: (severities[i].rank, i),
    )
    reviews = _reviews(session, f, viewer, required, now)
    by_severity, by_team, total = _attainment(reviews, severities, teams, required)
    gaps, gaps_hidden = _gaps(reviews, severities)
    statuses, published = _postmortems(session, f)
    follow_ups, follow_ups_by_team, overdue, overdue_hidden = _follow_ups(
        session, f, viewer, teams, today
    )
    return Learning(
        required_severities=[severities[i].name for i in required],
        attainment=total,
        by_severity=by_severity,
        by_team=by_team,
        gaps=gaps,
        gaps_hidden=gaps_hidden,
        postmortem_statuses=statuses,
        resolved_to_published=published,
        follow_ups=follow_ups,
        follow_ups_by_team=follow_ups_by_team,
        oldest_overdue=overdue,
        overdue_hidden=overdue_hidden,
    )


def _rows(session: Session, query: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of a query whose columns the type checker cannot see (through the session's
    connection: plain rows, without the ORM's per-row work)."""
    return [tuple(row) for row in session.connection().execute(query)]


def _with_teams(query: S) -> S:
    """`query` (from `Incident`) once for each of the incident's services, with the team
    owning it (NULL for a service of no team, or an incident with no service): see
    `_teams_of`. Plain outer joins, which SQLite runs through the primary keys."""
    return query.outerjoin(
        incident_services, incident_services.c.incident_id == Incident.id
    ).outerjoin(Service, Service.id == incident_services.c.service_id)


def _teams_of(found: set[int | None]) -> set[int | None]:
    """The teams an incident counts under: those owning its services, else None (no team)."""
    owners = found - {None}
    return owners or {None}


def _shown(viewer: User) -> ColumnElement[int]:
    """1 where `viewer` may see the incident, else 0 (CASE: an unknown answer hides)."""
    return case((visible_filter(viewer), 1), else_=0)


@dataclass(frozen=True)
class _Review:
    """An incident in scope that needs a postmortem, and what became of it."""

    incident_id: int
    number: int
    title: str
    severity_id: int
    detected: datetime
    shown: bool
    postmortem_id: int | None
    postmortem_status: str | None
    due_at: datetime | None
    reviewed_at: datetime | None
    category: str


def _category(
    resolved: datetime | None,
    postmortem_id: int | None,
    due: datetime | None,
    reviewed: datetime | None,
    now: datetime,
) -> str:
    if resolved is None:
        return NOT_DUE
    if postmortem_id is None:
        return MISSING
    if reviewed is not None:
        return ON_TIME if due is None or reviewed <= due else LATE
    return LATE if due is not None and due < now else NOT_DUE


def _reviews(
    session: Session, f: Filters, viewer: User, required: Sequence[int], now: datetime
) -> dict[int, tuple[_Review, set[int | None]]]:
    """{incident id: (its review, its teams)} for the incidents in scope that need one."""
    reviewed = (
        select(func.min(TimelineEntry.occurred_at))
        .where(
            TimelineEntry.incident_id == Incident.id,
            TimelineEntry.field == "postmortem_status",
            # The JSON value's text: the same on SQLite and PostgreSQL.
            cast(TimelineEntry.new_value, String) == f'"{PostmortemStatus.reviewed.value}"',
        )
        .correlate(Incident)
        .scalar_subquery()
    )
    query = _with_teams(
        select(
            Incident.id,
            Incident.number,
            Incident.title,
            Incident.severity_id,
            scope.detected(),
            _shown(viewer),
            Postmortem.id,
            Postmortem.status,
            Postmortem.meeting_due_at,
            reviewed,
            Incident.resolved_at,
            Service.team_id,
        )
        .select_from(Incident)
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
    ).where(*scope.conditions(f), Incident.severity_id.in_(required))
    found: dict[int, tuple[_Review, set[int | None]]] = {}
    for *facts, resolved, team_id in _rows(session, query):
        if facts[0] not in found:
            category = _category(resolved, facts[6], facts[8], facts[9], now)
            found[facts[0]] = (_Review(*[*facts, category]), set())
        found[facts[0]][1].add(team_id)
    return found


def _attainment_of(key: int | None, name: str, counts: dict[str, int]) -> Attainment:
    return Attainment(
        id=key,
        name=name,
        required=sum(counts.values()),
        on_time=counts.get(ON_TIME, 0),
        late=counts.get(LATE, 0),
        missing=counts.get(MISSING, 0),
        not_due=counts.get(NOT_DUE, 0),
    )


def _attainment(
    reviews: dict[int, tuple[_Review, set[int | None]]],
    severities: dict[int, Severity],
    teams: dict[int, str],
    required: Sequence[int],
) -> tuple[list[Attainment], list[Attainment], Attainment]:
    per_severity: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_team: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    everything: dict[str, int] = defaultdict(int)
    for review, owners in reviews.values():
        per_severity[review.severity_id][review.category] += 1
        everything[review.category] += 1
        for team_id in _teams_of(owners):
            per_team[team_id][review.category] += 1
    by_severity = [_attainment_of(i, severities[i].name, per_severity[i]) for i in required]
    by_team = _by_team(per_team, teams, _attainment_of)
    return by_severity, by_team, _attainment_of(None, "All", everything)


def _by_team(
    per_team: dict[int | None, dict[str, int]],
    teams: dict[int, str],
    make: Callable[[int | None, str, dict[str, int]], R],
) -> list[R]:
    """One row per team, by name, then "No team"."""
    named = sorted((k for k in per_team if k is not None), key=lambda k: teams[k].lower())
    rows = [make(k, teams[k], per_team[k]) for k in named]
    if None in per_team:
        rows.append(make(None, NO_TEAM, per_team[None]))
    return rows


def _gaps(
    reviews: dict[int, tuple[_Review, set[int | None]]], severities: dict[int, Severity]
) -> tuple[list[Gap], int]:
    late = [r for r, _ in reviews.values() if r.category in (LATE, MISSING)]
    shown = sorted(
        (r for r in late if r.shown), key=lambda r: (r.detected, r.incident_id), reverse=True
    )
    gaps = [
        Gap(
            incident_id=r.incident_id,
            reference=f"INC-{r.number}",
            title=r.title,
            severity=severities[r.severity_id].name,
            problem=r.category,
            postmortem_id=r.postmortem_id,
            postmortem_status=r.postmortem_status,
            due_at=r.due_at,
            reviewed_at=r.reviewed_at,
        )
        for r in shown[:GAPS_LISTED]
    ]
    return gaps, len(late) - len(shown)


def _postmortems(session: Session, f: Filters) -> tuple[dict[str, int], Summary]:
    rows = session.execute(
        select(Postmortem.status, Postmortem.published_at, Incident.resolved_at)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(*scope.conditions(f))
    )
    statuses = {s.value: 0 for s in PostmortemStatus}
    waits = []
    for status, published, resolved in rows:
        statuses[status] = statuses.get(status, 0) + 1
        if published is not None and resolved is not None:
            # An incident resolved again after its postmortem was published counts as
            # published at its resolution (0 s), not before it.
            waits.append(max(0.0, (published - resolved).total_seconds()))
    return statuses, summarize(waits)


def _age_days(created: datetime, today: date, zone: ZoneInfo) -> int:
    return (today - created.astimezone(zone).date()).days


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ages: list[int] = field(default_factory=list)

    def add(self, status: str, overdue: bool, age: int | None) -> None:
        self.counts[status] += 1
        self.counts["overdue"] += overdue
        if age is not None:
            self.ages.append(age)

    def row(self, key: int | None, name: str) -> FollowUps:
        ordered = sorted(float(a) for a in self.ages)
        c = self.counts
        return FollowUps(
            id=key,
            name=name,
            created=sum(v for k, v in c.items() if k != "overdue"),
            done=c[ActionStatus.done.value],
            wont_do=c[ActionStatus.wont_do.value],
            open=sum(c[s] for s in UNFINISHED),
            overdue=c["overdue"],
            age_median_days=median(ordered),
            age_p90_days=percentile(ordered, 0.9),
            oldest_days=int(ordered[-1]) if ordered else None,
        )


def _follow_ups(
    session: Session, f: Filters, viewer: User, teams: dict[int, str], today: date
) -> tuple[FollowUps, list[FollowUps], list[OverdueFollowUp], int]:
    """The follow-ups of the incidents in scope, in one pass over them (an item of an
    incident under two teams is one item overall)."""
    zone = ZoneInfo(f.timezone)
    unfinished = ActionItem.status.in_(UNFINISHED)
    late = and_(unfinished, ActionItem.due_date.is_not(None), ActionItem.due_date < today)
    # Dates only where they are used (open items' ages, overdue ones' order): converting
    # tens of thousands of values costs more than the query.
    query = _with_teams(
        select(
            ActionItem.id,
            ActionItem.status,
            case((late, ActionItem.due_date)),
            case((unfinished, ActionItem.created_at)),
            _shown(viewer),
            Service.team_id,
        )
        .select_from(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
    ).where(*scope.conditions(f), ActionItem.kind == ActionKind.follow_up.value)
    items: dict[int, tuple[str, date | None, datetime | None, int]] = {}
    owners: dict[int, set[int | None]] = defaultdict(set)
    for item_id, status, due, created, shown, team_id in _rows(session, query):
        items[item_id] = (status, due, created, shown)
        owners[item_id].add(team_id)
    overall = _Tally()
    per_team: dict[int | None, _Tally] = defaultdict(_Tally)
    overdue: list[tuple[date, datetime, int]] = []
    hidden = 0
    for item_id, (status, due, created, shown) in items.items():
        age = _age_days(created, today, zone) if created is not None else None
        overall.add(status, due is not None, age)
        for team_id in _teams_of(owners[item_id]):
            per_team[team_id].add(status, due is not None, age)
        if due is not None and shown:
            overdue.append((due, created, item_id))  # type: ignore[arg-type]  # open: created
        hidden += due is not None and not shown
    listed = [item_id for *_, item_id in sorted(overdue)[:OVERDUE_LISTED]]
    by_team = _by_team(
        {k: t.counts for k, t in per_team.items()}, teams, lambda k, n, _: per_team[k].row(k, n)
    )
    return overall.row(None, "All"), by_team, _overdue_items(session, listed, today, zone), hidden


def _overdue_items(
    session: Session, ids: list[int], today: date, zone: ZoneInfo
) -> list[OverdueFollowUp]:
    if not ids:
        return []
    rows = session.execute(
        select(ActionItem, Incident.number)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(ActionItem.id.in_(ids))
    )
    found = {item.id: (item, number) for item, number in rows}
    listed = []
    for item_id in ids:
        item, number = found[item_id]
        assert item.due_date is not None  # it is overdue
        listed.append(
            OverdueFollowUp(
                id=item.id,
                title=item.title,
                incident_id=item.incident_id,
                reference=f"INC-{number}",
                assignee=item.assignee.name if item.assignee else None,
                due_date=item.due_date,
                days_overdue=(today - item.due_date).days,
                age_days=_age_days(item.created_at, today, zone),
            )
        )
    return listed
