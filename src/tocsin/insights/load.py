"""On-call load: how often each person and team was paged, how many of those pages came out
of hours or during sleep, how fast they were acknowledged, and how many came from an
escalation past the first level.

A page is one person paged for one incident at one escalation step: the notifications that
share a `page_key` (`notify.service.page_user`: "{caller's key}:{user id}"; escalation's
steps use "esc:{run}:{cycle}:{level}", paging by hand, the roster's "page the IC" and
workflows' page actions "manual:{run}"), however many deliveries (email, SMS, …) it planned.
Its time is when it was planned: the creation of its first deliveries, all written at once;
a fallback delivery after a failure (no rule position) never starts a page.

- Out of hours: outside `Settings.working_hours` on `Settings.working_days`, in the zone the
  person had when paged (catalog.timezones); during sleep: 22:00 to 07:00 there.
- Time to acknowledge: from the page to the moment its own escalation run was stopped by
  that same person acknowledging (`EscalationRun.acknowledged_by_id`, at `ended_at`). A
  page whose run ended otherwise (the incident acknowledged by someone else, resolved,
  exhausted) has none.
- Level 2+: the page of an escalation step at level 2 or later (`EscalationStep.level` >= 1,
  the person in its `paged_user_ids`; read from the page's key, which is the step's): the
  level before did not acknowledge.

Pages in the period are those planned in it; drills are left out, and a service, severity
or type filter keeps the pages of matching incidents. A team filter keeps the team's
members' pages. The people listed are those paged in the period and, without a service,
severity or type filter, those on call in any schedule during it (with no pages, a row of
noughts). Restricted incidents' pages are counted; only the list of incidents hides the
ones the viewer may not see.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User, team_members
from tocsin.catalog.timezones import ZoneHistory, histories
from tocsin.escalation.models import EscalationPolicy, EscalationRun, EscalationStep, RunState
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import Incident
from tocsin.insights.filters import Filters
from tocsin.insights.pages import Paged, incident_conditions, read
from tocsin.insights.stats import median
from tocsin.notify.models import Notification
from tocsin.postmortems.workdays import parse_days
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import final_many

SLEEP_START = time(22, 0)
SLEEP_END = time(7, 0)
TOP_INCIDENTS = 20


@dataclass(frozen=True)
class Hours:
    """When people are expected to work: weekdays (Monday 0) and a daily span, local."""

    days: frozenset[int]
    start: time
    end: time  # excluded

    @classmethod
    def parse(cls, working_days: str, working_hours: str) -> Hours:
        """From the settings (validated there: "mon-fri", "09:00-17:00")."""
        start, end = working_hours.split("-")
        return cls(parse_days(working_days), time.fromisoformat(start), time.fromisoformat(end))

    def out_of_hours(self, local: datetime) -> bool:
        return local.weekday() not in self.days or not self.start <= local.time() < self.end

    @property
    def text(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def asleep(local: datetime) -> bool:
    """22:00 (included) to 07:00 (excluded), local."""
    return local.time() >= SLEEP_START or local.time() < SLEEP_END


class Judged(NamedTuple):  # tuples: a quarter holds tens of thousands
    page: Paged  # one planned in the period (`pages`)
    at: datetime  # when: its `planned`
    out_of_hours: bool
    asleep: bool
    level2: bool
    tta: float | None  # seconds, when the person acknowledged this page


@dataclass(frozen=True)
class PersonLoad:
    user_id: int
    name: str
    teams: tuple[str, ...]
    timezone: str  # their zone now
    pages: int
    out_of_hours: int
    sleep: int
    incidents: int
    acknowledged: int  # pages with a time to acknowledge
    median_tta: float | None  # seconds
    level2: int


@dataclass(frozen=True)
class TeamLoad:
    team_id: int
    name: str
    people: int  # members with pages
    pages: int
    out_of_hours: int
    sleep: int
    incidents: int  # distinct, across the members
    acknowledged: int
    median_tta: float | None
    level2: int
    escalations: int  # steps past the first level of the team's policies' runs


@dataclass(frozen=True)
class WeekLoad:
    start: date  # the Monday, in the organisation's zone
    pages: int
    out_of_hours: int
    sleep: int


@dataclass(frozen=True)
class IncidentLoad:
    incident_id: int
    number: int
    title: str
    pages: int
    people: int
    out_of_hours: int


@dataclass(frozen=True)
class Load:
    working_hours: str  # "09:00–17:00"
    working_days: str  # "mon-fri"
    pages: int
    out_of_hours: int
    sleep: int
    incidents: int
    level2: int
    median_tta: float | None
    people: tuple[PersonLoad, ...]  # most paged first
    teams: tuple[TeamLoad, ...]  # by name
    weeks: tuple[WeekLoad, ...]
    top_incidents: tuple[IncidentLoad, ...]  # the most paged the viewer may see
    hidden_incidents: int  # restricted incidents among the most paged, not listed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _planned_in(f: Filters) -> list[ColumnElement[bool]]:
    """Conditions on `Notification`: the first deliveries of pages planned in the period (of
    the team's members, with a team filter)."""
    found: list[ColumnElement[bool]] = [
        Notification.rule_position.is_not(None),
        Notification.created_at >= f.start,
        Notification.created_at < f.end,
    ]
    if f.team is not None:
        found.append(
            Notification.user_id.in_(
                select(team_members.c.user_id).where(team_members.c.team_id == f.team.id)
            )
        )
    return found


def members_of(session: Session, f: Filters) -> set[int] | None:
    """The ids of the filter's team's members; None without a team filter (everyone)."""
    if f.team is None:
        return None
    query = select(team_members.c.user_id).where(team_members.c.team_id == f.team.id)
    return set(session.scalars(query))


def pages(paged: Sequence[Paged], members: Collection[int] | None) -> list[Paged]:
    """The pages planned in the period (`planned` set), of `members` (None: everyone), from
    the period's pages read for them (`insights.pages.read`)."""
    return [p for p in paged if p.planned is not None and (members is None or p.user_id in members)]


def key_parts(page_key: str) -> tuple[int | None, int | None]:
    """(escalation run, level) of a page from its key: escalation's steps page with
    "esc:{run}:{cycle}:{level}:{user}", the key of the step (`EscalationStep` run, cycle and
    level) whose `paged_user_ids` hold the person; paging by hand (and the roster's and
    workflows' pages) with "manual:{run}:{user}", level None. (None, None) for any other."""
    parts = page_key.split(":")
    if parts[0] == "esc" and len(parts) == 5 and parts[1].isdigit() and parts[3].isdigit():
        return int(parts[1]), int(parts[3])
    if parts[0] == "manual" and len(parts) == 3 and parts[1].isdigit():
        return int(parts[1]), None
    return None, None


def _acknowledgements(session: Session, f: Filters) -> dict[int, tuple[int, datetime]]:
    """{run id: (who acknowledged, when)} of the runs stopped by a person's acknowledgement,
    of the incidents paged in the period."""
    paged = select(Notification.incident_id).where(*_planned_in(f))
    rows = session.execute(
        select(EscalationRun.id, EscalationRun.acknowledged_by_id, EscalationRun.ended_at).where(
            EscalationRun.incident_id.in_(paged),
            EscalationRun.state == RunState.acknowledged.value,
            EscalationRun.acknowledged_by_id.is_not(None),
            EscalationRun.ended_at.is_not(None),
        )
    )
    return {
        run_id: (by_id, ended_at)
        for run_id, by_id, ended_at in rows
        if by_id is not None and ended_at is not None  # as the query asked
    }


def on_call(session: Session, f: Filters) -> set[int]:
    """The people on call in any schedule at some moment of the period (the team's members,
    with a team filter); nobody when the figures are about some incidents only (a service,
    severity or type filter), where being on call says nothing of them."""
    if f.service is not None or f.severity is not None or f.incident_type is not None:
        return set()
    schedule_ids = list(session.scalars(select(Schedule.id)))
    shifts = final_many(session, schedule_ids, f.start, f.end)
    found = {s.user_id for listed in shifts.values() for s in listed}
    if f.team is not None:
        found &= {u.id for u in f.team.members}
    return found


def judge(
    found: Sequence[Paged],
    zones: dict[int, ZoneHistory],
    hours: Hours,
    acknowledged: dict[int, tuple[int, datetime]],
) -> list[Judged]:
    """Each page's hours in its person's zone at the time, level, and time to acknowledge."""
    judged = []
    for page in found:
        at = page.planned
        assert at is not None  # `pages` keeps the pages planned in the period
        local = at.astimezone(zones[page.user_id].zone_at(at))
        run_id, level = key_parts(page.key)
        ack = acknowledged.get(run_id) if run_id is not None else None
        tta = None
        if ack is not None and ack[0] == page.user_id and ack[1] >= at:
            tta = (ack[1] - at).total_seconds()
        level2 = level is not None and level >= 1
        judged.append(Judged(page, at, hours.out_of_hours(local), asleep(local), level2, tta))
    return judged


def _team_escalations(session: Session, f: Filters) -> dict[int, int]:
    """{team id: steps past the first level, in the period, of runs of the team's policies}."""
    query = (
        select(EscalationPolicy.team_id, func.count(EscalationStep.id))
        .join(EscalationRun, EscalationRun.id == EscalationStep.run_id)
        .join(EscalationPolicy, EscalationPolicy.id == EscalationRun.policy_id)
        .join(Incident, Incident.id == EscalationStep.incident_id)
        .where(
            EscalationStep.level >= 1,
            EscalationStep.at >= f.start,
            EscalationStep.at < f.end,
            EscalationPolicy.team_id.is_not(None),
            *incident_conditions(f),
        )
        .group_by(EscalationPolicy.team_id)
    )
    if f.team is not None:
        query = query.where(EscalationPolicy.team_id == f.team.id)
    return {team_id: count for team_id, count in session.execute(query) if team_id is not None}


def _weeks(f: Filters, judged: Sequence[Judged]) -> tuple[WeekLoad, ...]:
    zone = ZoneInfo(f.timezone)
    first = f.first_day - timedelta(days=f.first_day.weekday())
    counts: dict[date, list[int]] = {}
    day = first
    while day <= f.last_day:
        counts[day] = [0, 0, 0]
        day += timedelta(days=7)
    for j in judged:
        local = j.at.astimezone(zone).date()
        bucket = counts.setdefault(local - timedelta(days=local.weekday()), [0, 0, 0])
        bucket[0] += 1
        bucket[1] += j.out_of_hours
        bucket[2] += j.asleep
    return tuple(WeekLoad(d, *counts[d]) for d in sorted(counts))


@dataclass(frozen=True)
class _Tally:
    """What a set of pages adds up to."""

    pages: int = 0
    out_of_hours: int = 0
    sleep: int = 0
    level2: int = 0
    incidents: int = 0
    ttas: tuple[float, ...] = ()  # seconds, sorted

    @classmethod
    def of(cls, judged: Sequence[Judged]) -> _Tally:
        return cls(
            pages=len(judged),
            out_of_hours=sum(j.out_of_hours for j in judged),
            sleep=sum(j.asleep for j in judged),
            level2=sum(j.level2 for j in judged),
            incidents=len({j.page.incident_id for j in judged}),
            ttas=tuple(sorted(j.tta for j in judged if j.tta is not None)),
        )


def compute(
    session: Session,
    f: Filters,
    viewer: User,
    *,
    working_days: str,
    working_hours: str,
    paged: Sequence[Paged] | None = None,
) -> Load:
    """The on-call load of `f` as `viewer` may read it; `paged`: the period's pages, when
    already read for (at least) the filter's team's members, else read here."""
    hours = Hours.parse(working_days, working_hours)
    members = members_of(session, f)
    found = pages(read(session, f, members) if paged is None else paged, members)
    paged_ids = {p.user_id for p in found}
    # The people paged and those on call: at most everyone (hundreds), so one IN list.
    user_ids = sorted(paged_ids | on_call(session, f))
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    zones = histories(session, {i: people[i].timezone for i in paged_ids}, since=f.start)
    judged = judge(found, zones, hours, _acknowledgements(session, f))

    # Every team of each person (a few rows per person: read whole).
    memberships: dict[int, list[tuple[int, str]]] = defaultdict(list)
    team_query = select(team_members.c.user_id, Team.id, Team.name).join(
        Team, Team.id == team_members.c.team_id
    )
    for row in session.execute(team_query.order_by(Team.name)):
        memberships[row[0]].append((row[1], row[2]))

    total = _Tally.of(judged)
    top, hidden = _top_incidents(session, viewer, judged)
    return Load(
        working_hours=hours.text,
        working_days=working_days,
        pages=total.pages,
        out_of_hours=total.out_of_hours,
        sleep=total.sleep,
        incidents=total.incidents,
        level2=total.level2,
        median_tta=median(list(total.ttas)),
        people=_people(judged, [people[i] for i in user_ids], memberships),
        teams=_teams(session, f, judged, memberships),
        weeks=_weeks(f, judged),
        top_incidents=top,
        hidden_incidents=hidden,
    )


def _people(
    judged: Sequence[Judged], people: Sequence[User], memberships: dict[int, list[tuple[int, str]]]
) -> tuple[PersonLoad, ...]:
    """A row per person, most paged first."""
    by_person: dict[int, list[Judged]] = defaultdict(list)
    for j in judged:
        by_person[j.page.user_id].append(j)
    rows = []
    for user in people:
        tally = _Tally.of(by_person.get(user.id, []))
        rows.append(
            PersonLoad(
                user_id=user.id,
                name=user.name,
                teams=tuple(name for _, name in memberships.get(user.id, [])),
                timezone=user.timezone,
                pages=tally.pages,
                out_of_hours=tally.out_of_hours,
                sleep=tally.sleep,
                incidents=tally.incidents,
                acknowledged=len(tally.ttas),
                median_tta=median(list(tally.ttas)),
                level2=tally.level2,
            )
        )
    rows.sort(key=lambda r: (-r.pages, r.name.lower(), r.user_id))
    return tuple(rows)


def _teams(
    session: Session,
    f: Filters,
    judged: Sequence[Judged],
    memberships: dict[int, list[tuple[int, str]]],
) -> tuple[TeamLoad, ...]:
    """A row per team with pages or escalations (only the filter's team, with one), by name."""
    escalations = _team_escalations(session, f)
    shown = [f.team] if f.team is not None else session.scalars(select(Team).order_by(Team.name))
    by_team: dict[int, list[Judged]] = defaultdict(list)
    for j in judged:
        for team_id, _ in memberships.get(j.page.user_id, []):
            by_team[team_id].append(j)
    rows = []
    for team in shown:
        mine = by_team.get(team.id, [])
        if not mine and not escalations.get(team.id):
            continue
        tally = _Tally.of(mine)
        rows.append(
            TeamLoad(
                team_id=team.id,
                name=team.name,
                people=len({j.page.user_id for j in mine}),
                pages=tally.pages,
                out_of_hours=tally.out_of_hours,
                sleep=tally.sleep,
                incidents=tally.incidents,
                acknowledged=len(tally.ttas),
                median_tta=median(list(tally.ttas)),
                level2=tally.level2,
                escalations=escalations.get(team.id, 0),
            )
        )
    return tuple(rows)


def _top_incidents(
    session: Session, viewer: User, judged: Sequence[Judged]
) -> tuple[tuple[IncidentLoad, ...], int]:
    """The most paged incidents (the earlier first on a tie), those the viewer may not see
    left out and counted."""
    counts = Counter(j.page.incident_id for j in judged)
    ranked = sorted(counts, key=lambda i: (-counts[i], i))[:TOP_INCIDENTS]
    hidden = hidden_ids(session, viewer, ranked)
    shown = [i for i in ranked if i not in hidden]
    incidents = (
        {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(shown)))}
        if shown
        else {}
    )
    people: dict[int, set[int]] = defaultdict(set)
    late: Counter[int] = Counter()
    for j in judged:
        people[j.page.incident_id].add(j.page.user_id)
        late[j.page.incident_id] += j.out_of_hours
    top = tuple(
        IncidentLoad(
            incident_id=i,
            number=incidents[i].number,
            title=incidents[i].title,
            pages=counts[i],
            people=len(people[i]),
            out_of_hours=late[i],
        )
        for i in shown
    )
    return top, len(hidden)
