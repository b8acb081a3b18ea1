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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    func,
    or_,
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
    teams = dict(session.execute(select(Team.id, Team.name)).all())
    required = sorted(
        session.scalars(
            select(PostmortemPolicy.severity_id).where(PostmortemPolicy.required.is_(True))
        ).all(),
        key=lambda i: (severities[i].rank, i),
    )
    reviews = _reviews(f, viewer, required, now)
    by_severity, by_team, total = _attainment(session, reviews, severities, teams, required)
    gaps, gaps_hidden = _gaps(session, reviews, severities)
    statuses, published = _postmortems(session, f)
    follow_ups, follow_ups_by_team = _follow_ups(session, f, teams, today)
    overdue, overdue_hidden = _oldest_overdue(session, f, viewer, today)
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


def _rows(session: Session, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query over subqueries, whose columns the type checker cannot see."""
    return [tuple(row) for row in session.execute(query)]


def _incident_teams() -> Subquery:
    """(incident_id, team_id) once for each team owning one of the incident's services."""
    return (
        select(incident_services.c.incident_id, Service.team_id)
        .join(Service, Service.id == incident_services.c.service_id)
        .where(Service.team_id.is_not(None))
        .distinct()
        .subquery("incident_teams")
    )


def _shown(viewer: User) -> ColumnElement[int]:
    """1 where `viewer` may see the incident, else 0 (CASE: an unknown answer hides)."""
    return case((visible_filter(viewer), 1), else_=0)


def _reviews(f: Filters, viewer: User, required: Sequence[int], now: datetime) -> Subquery:
    """One row per incident in scope that needs a postmortem, with its category."""
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
    facts = (
        select(
            Incident.id.label("incident_id"),
            Incident.number,
            Incident.title,
            Incident.severity_id,
            Incident.resolved_at,
            scope.detected().label("detected"),
            _shown(viewer).label("shown"),
            Postmortem.id.label("postmortem_id"),
            Postmortem.status.label("postmortem_status"),
            Postmortem.meeting_due_at.label("due_at"),
            reviewed.label("reviewed_at"),
        )
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(*scope.conditions(f), Incident.severity_id.in_(required))
        .subquery("facts")
    )
    category = case(
        (facts.c.resolved_at.is_(None), NOT_DUE),
        (facts.c.postmortem_id.is_(None), MISSING),
        (
            and_(
                facts.c.reviewed_at.is_not(None),
                or_(facts.c.due_at.is_(None), facts.c.reviewed_at <= facts.c.due_at),
            ),
            ON_TIME,
        ),
        (facts.c.reviewed_at.is_not(None), LATE),
        (facts.c.due_at < now, LATE),
        else_=NOT_DUE,
    )
    return select(facts, category.label("category")).subquery("reviews")


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
    session: Session,
    reviews: Subquery,
    severities: dict[int, Severity],
    teams: dict[int, str],
    required: Sequence[int],
) -> tuple[list[Attainment], list[Attainment], Attainment]:
    per_severity: dict[int, dict[str, int]] = defaultdict(dict)
    rows = _rows(
        session,
        select(reviews.c.severity_id, reviews.c.category, func.count()).group_by(
            reviews.c.severity_id, reviews.c.category
        ),
    )
    for severity_id, category, count in rows:
        per_severity[severity_id][category] = count
    by_severity = [_attainment_of(i, severities[i].name, per_severity.get(i, {})) for i in required]
    everything: dict[str, int] = defaultdict(int)
    for counts in per_severity.values():
        for category, count in counts.items():
            everything[category] += count
    owners = _incident_teams()
    per_team: dict[int | None, dict[str, int]] = defaultdict(dict)
    rows = _rows(
        session,
        select(owners.c.team_id, reviews.c.category, func.count())
        .select_from(reviews)
        .outerjoin(owners, owners.c.incident_id == reviews.c.incident_id)
        .group_by(owners.c.team_id, reviews.c.category),
    )
    for team_id, category, count in rows:
        per_team[team_id][category] = count
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
    session: Session, reviews: Subquery, severities: dict[int, Severity]
) -> tuple[list[Gap], int]:
    late_or_missing = reviews.c.category.in_((LATE, MISSING))
    hidden = session.scalar(
        select(func.count()).select_from(reviews).where(late_or_missing, reviews.c.shown == 0)
    )
    rows = session.execute(
        select(reviews)
        .where(late_or_missing, reviews.c.shown == 1)
        .order_by(reviews.c.detected.desc(), reviews.c.incident_id.desc())
        .limit(GAPS_LISTED)
    ).mappings()
    gaps = [
        Gap(
            incident_id=r["incident_id"],
            reference=f"INC-{r['number']}",
            title=r["title"],
            severity=severities[r["severity_id"]].name,
            problem=r["category"],
            postmortem_id=r["postmortem_id"],
            postmortem_status=r["postmortem_status"],
            due_at=r["due_at"],
            reviewed_at=r["reviewed_at"],
        )
        for r in rows
    ]
    return gaps, hidden or 0


def _postmortems(session: Session, f: Filters) -> tuple[dict[str, int], Summary]:
    found = dict(
        session.execute(
            select(Postmortem.status, func.count())
            .join(Incident, Incident.id == Postmortem.incident_id)
            .where(*scope.conditions(f))
            .group_by(Postmortem.status)
        ).all()
    )
    statuses = {s.value: found.get(s.value, 0) for s in PostmortemStatus}
    pairs = session.execute(
        select(Postmortem.published_at, Incident.resolved_at)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(
            *scope.conditions(f),
            Postmortem.published_at.is_not(None),
            Incident.resolved_at.is_not(None),
        )
    )
    # An incident resolved again after its postmortem was published counts as published at
    # its resolution (0 s), not before it.
    waits = [
        max(0.0, (published - resolved).total_seconds())
        for published, resolved in pairs
        if published is not None and resolved is not None  # the query's conditions
    ]
    return statuses, summarize(waits)


def _follow_up_ids(f: Filters) -> list[ColumnElement[bool]]:
    return [
        ActionItem.kind == ActionKind.follow_up.value,
        ActionItem.incident_id.in_(scope.incident_ids(f)),
    ]


def _overdue(today: date) -> ColumnElement[bool]:
    return and_(
        ActionItem.status.in_(UNFINISHED),
        ActionItem.due_date.is_not(None),
        ActionItem.due_date < today,
    )


def _age_days(created: datetime, today: date, zone: ZoneInfo) -> int:
    return (today - created.astimezone(zone).date()).days


def _follow_ups_of(
    key: int | None, name: str, counts: dict[str, int], ages: Iterable[int]
) -> FollowUps:
    ordered = sorted(float(a) for a in ages)
    return FollowUps(
        id=key,
        name=name,
        created=sum(v for k, v in counts.items() if k != "overdue"),
        done=counts.get(ActionStatus.done.value, 0),
        wont_do=counts.get(ActionStatus.wont_do.value, 0),
        open=sum(counts.get(s, 0) for s in UNFINISHED),
        overdue=counts.get("overdue", 0),
        age_median_days=median(ordered),
        age_p90_days=percentile(ordered, 0.9),
        oldest_days=int(ordered[-1]) if ordered else None,
    )


def _follow_ups(
    session: Session, f: Filters, teams: dict[int, str], today: date
) -> tuple[FollowUps, list[FollowUps]]:
    zone = ZoneInfo(f.timezone)
    owners = _incident_teams()
    late = func.sum(cast(case((_overdue(today), 1), else_=0), Integer))
    rows = _rows(
        session,
        select(owners.c.team_id, ActionItem.status, func.count(), late)
        .select_from(ActionItem)
        .outerjoin(owners, owners.c.incident_id == ActionItem.incident_id)
        .where(*_follow_up_ids(f))
        .group_by(owners.c.team_id, ActionItem.status),
    )
    per_team: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for team_id, status, count, overdue in rows:
        per_team[team_id][status] += count
        per_team[team_id]["overdue"] += overdue or 0
    # Open items with their teams: an item under two teams is one item overall.
    open_rows = _rows(
        session,
        select(ActionItem.id, ActionItem.created_at, owners.c.team_id)
        .outerjoin(owners, owners.c.incident_id == ActionItem.incident_id)
        .where(*_follow_up_ids(f), ActionItem.status.in_(UNFINISHED)),
    )
    ages: dict[int, int] = {}
    team_ages: dict[int | None, list[int]] = defaultdict(list)
    for item_id, created, team_id in open_rows:
        age = _age_days(created, today, zone)
        ages[item_id] = age
        team_ages[team_id].append(age)
    totals = session.execute(
        select(ActionItem.status, func.count(), late)
        .where(*_follow_up_ids(f))
        .group_by(ActionItem.status)
    )
    overall: dict[str, int] = defaultdict(int)
    for status, count, overdue in totals:
        overall[status] += count
        overall["overdue"] += overdue or 0

    def row(key: int | None, name: str, counts: dict[str, int]) -> FollowUps:
        return _follow_ups_of(key, name, counts, team_ages.get(key, []))

    by_team: list[FollowUps] = _by_team(per_team, teams, row)
    return _follow_ups_of(None, "All", overall, ages.values()), by_team


def _oldest_overdue(
    session: Session, f: Filters, viewer: User, today: date
) -> tuple[list[OverdueFollowUp], int]:
    zone = ZoneInfo(f.timezone)
    hidden = session.scalar(
        select(func.count())
        .select_from(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(*_follow_up_ids(f), _overdue(today), _shown(viewer) == 0)
    )
    rows = session.execute(
        select(ActionItem, Incident.number)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(*_follow_up_ids(f), _overdue(today), visible_filter(viewer))
        .order_by(ActionItem.due_date, ActionItem.created_at, ActionItem.id)
        .limit(OVERDUE_LISTED)
    )
    listed = []
    for item, number in rows:
        assert item.due_date is not None  # _overdue
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
    return listed, hidden or 0
