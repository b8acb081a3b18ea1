"""Hours on call and fairness across rotations: who was on call how long, the shifts and the
incidents that reached people during them, and whether a rota shares its pages evenly.

Who was on call when is the schedules domain's final schedule (`oncall.final_many`: layers,
restrictions and overrides). A shift is one person's continuous time on call in one schedule
(pieces that follow one another are joined). A person's hours count each moment once, however
many schedules they were on call in at that moment; each schedule's own figures count its own
shifts. A page is the deliveries of one page to one person (one `page_key`), at the time of
the earliest; it counts for every shift of that person it falls in. Drills page nobody here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User
from tocsin.escalation.models import EscalationLevel, EscalationTarget, ServicePaging
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import Incident, incident_services
from tocsin.insights import charts
from tocsin.insights.filters import Filters
from tocsin.insights.stats import median
from tocsin.notify.models import Notification
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import final_many

DAY_HOURS = 24.0
# A rota is uneven when the busiest member's pages per 24 h on call are this many times the
# quietest one's, or one member was on call more than this many times as long as another.
UNEVEN_RATIO = 2.0
# Only members on call at least this long are compared: a two-hour cover says nothing of a rota.
COMPARED_HOURS = 24.0
# Working hours in each person's own time zone (their current one, so that a move recomputes
# their history); a page at any other time, or on a Saturday or Sunday, is out of hours.
WORK_START, WORK_END = time(9), time(17)
# Every delivery of one page is planned within a day of the first (fallbacks after failed
# attempts included), so looking back a day before the period finds each page's first one.
PAGE_SPAN = timedelta(days=1)
# How many people and shifts the page lists; the CSV and the JSON have them all.
LISTED = 20


@dataclass(frozen=True)
class IncidentRef:
    id: int
    number: int
    title: str

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"


@dataclass(frozen=True)
class ShiftFigures:
    """One person's continuous time on call in one schedule, and what reached them."""

    schedule_id: int
    schedule: str
    user_id: int
    name: str
    start: datetime
    end: datetime
    pages: int
    incident_count: int  # distinct incidents, restricted ones included
    incidents: tuple[IncidentRef, ...]  # the ones the viewer may see
    hidden: int  # restricted incidents counted but not listed

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class Member:
    """One person's share of one schedule's rota."""

    user_id: int
    name: str
    hours: float
    shifts: int
    pages: int  # pages received while on call for this schedule
    out_of_hours: int  # of those, outside working hours in their own time zone
    hours_share: float  # of the schedule's hours (0..1)
    pages_share: float | None  # of the schedule's pages; None when it had none

    @property
    def pages_per_day(self) -> float | None:
        """Pages per 24 h on call."""
        return self.pages * DAY_HOURS / self.hours if self.hours else None

    @property
    def out_of_hours_share(self) -> float | None:
        return self.out_of_hours / self.pages if self.pages else None


@dataclass(frozen=True)
class Rota:
    """A schedule's members over the period, and whether they share the load evenly."""

    schedule_id: int
    name: str
    team: str | None
    members: tuple[Member, ...]  # most pages per 24 h first
    shifts: int
    pages: int
    incidents_per_shift_median: float | None
    incidents_per_shift_max: int
    # Highest ÷ lowest pages per 24 h among members on call at least COMPARED_HOURS; None when
    # fewer than two compare, nobody was paged, or the lowest got no page at all.
    spread: float | None
    uneven: bool
    findings: tuple[str, ...]  # why it is uneven, in words a manager acts on

    @property
    def hours(self) -> float:
        return sum(m.hours for m in self.members)

    def pages_chart(self) -> Markup:
        return charts.bars(
            [
                charts.Bar(m.name, m.pages_per_day or 0, _rate_text(m.pages_per_day))
                for m in self.members
            ],
            title=f"Pages per 24 h on call, {self.name}",
        )


@dataclass(frozen=True)
class Person:
    """One person's time on call across the schedules in scope."""

    user_id: int
    name: str
    timezone: str
    hours: float  # each moment once, however many schedules
    shifts: int
    pages: int  # pages received while on call (each once)
    incidents: int


@dataclass(frozen=True)
class Rotations:
    people: tuple[Person, ...]  # most hours first
    rotas: tuple[Rota, ...]  # uneven first, then by name
    shifts: tuple[ShiftFigures, ...]  # by schedule, then time
    busiest: tuple[ShiftFigures, ...]  # the shifts with the most incidents, titles and all
    hidden: int  # restricted incidents behind the shifts, counted but not listed to the viewer

    @property
    def uneven(self) -> tuple[Rota, ...]:
        return tuple(r for r in self.rotas if r.uneven)

    @property
    def busiest_hidden(self) -> int:
        return sum(s.hidden for s in self.busiest)

    def hours_chart(self) -> Markup:
        return charts.bars(
            [charts.Bar(p.name, p.hours, _hours_text(p.hours)) for p in self.people[:LISTED]],
            title="Hours on call per person",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "people": [
                {
                    "user_id": p.user_id,
                    "name": p.name,
                    "timezone": p.timezone,
                    "hours": round(p.hours, 2),
                    "shifts": p.shifts,
                    "pages": p.pages,
                    "incidents": p.incidents,
                }
                for p in self.people
            ],
            "schedules": [
                {
                    "schedule_id": r.schedule_id,
                    "name": r.name,
                    "team": r.team,
                    "hours": round(r.hours, 2),
                    "shifts": r.shifts,
                    "pages": r.pages,
                    "incidents_per_shift_median": r.incidents_per_shift_median,
                    "incidents_per_shift_max": r.incidents_per_shift_max,
                    "spread": _round(r.spread),
                    "uneven": r.uneven,
                    "findings": list(r.findings),
                    "members": [
                        {
                            "user_id": m.user_id,
                            "name": m.name,
                            "hours": round(m.hours, 2),
                            "shifts": m.shifts,
                            "pages": m.pages,
                            "pages_out_of_hours": m.out_of_hours,
                            "pages_per_24h": _round(m.pages_per_day),
                            "hours_share": round(m.hours_share, 4),
                            "pages_share": _round(m.pages_share, 4),
                        }
                        for m in r.members
                    ],
                }
                for r in self.rotas
            ],
            "shifts": [
                {
                    "schedule_id": s.schedule_id,
                    "user_id": s.user_id,
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "hours": round(s.hours, 2),
                    "pages": s.pages,
                    "incidents": s.incident_count,
                    "listed": [i.reference for i in s.incidents],
                    "restricted_not_listed": s.hidden,
                }
                for s in self.shifts
            ],
            "restricted_not_listed": self.hidden,
        }

    def csv_tables(self) -> dict[str, tuple[list[str], Sequence[Sequence[object]]]]:
        """Each table as (header, rows), by the name the CSV export is asked for."""
        people = (
            ["person", "time zone", "hours on call", "shifts", "pages while on call", "incidents"],
            [[p.name, p.timezone, round(p.hours, 2), p.shifts, p.pages, p.incidents]
             for p in self.people],
        )  # fmt: skip
        members = (
            [
                "schedule", "person", "hours on call", "share of hours", "shifts", "pages",
                "share of pages", "pages out of hours", "pages per 24 h", "schedule spread",
                "uneven",
            ],
            [
                [
                    r.name, m.name, round(m.hours, 2), round(m.hours_share, 4), m.shifts,
                    m.pages, _round(m.pages_share, 4), m.out_of_hours, _round(m.pages_per_day),
                    _round(r.spread), "yes" if r.uneven else "no",
                ]
                for r in self.rotas
                for m in r.members
            ],
        )  # fmt: skip
        shifts = (
            [
                "schedule", "person", "start (UTC)", "end (UTC)", "hours", "pages", "incidents",
                "incidents listed", "restricted incidents not listed",
            ],
            [
                [
                    s.schedule, s.name, s.start.isoformat(), s.end.isoformat(), round(s.hours, 2),
                    s.pages, s.incident_count, " ".join(i.reference for i in s.incidents),
                    s.hidden,
                ]
                for s in self.shifts
            ],
        )  # fmt: skip
        return {"rotation-people": people, "rotation-members": members, "rotation-shifts": shifts}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _hours_text(hours: float) -> str:
    return f"{hours:.0f} h" if abs(hours - round(hours)) < 0.05 else f"{hours:.1f} h"


def _rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.2f}"


def _percent(share: float | None) -> str:
    return f"{round((share or 0) * 100)}%"


# Which schedules, which pages ----------------------------------------------------------------


def _schedules(session: Session, f: Filters) -> list[tuple[int, str, str | None]]:
    """(id, name, team name) of the schedules in scope: the team's own with a team filter; with
    a service filter, the schedules its escalation policy pages."""
    query = select(Schedule.id, Schedule.name, Team.name).outerjoin(
        Team, Team.id == Schedule.team_id
    )
    if f.team is not None:
        query = query.where(Schedule.team_id == f.team.id)
    if f.service is not None:
        paged = (
            select(EscalationTarget.schedule_id)
            .join(EscalationLevel, EscalationLevel.id == EscalationTarget.level_id)
            .join(ServicePaging, ServicePaging.policy_id == EscalationLevel.policy_id)
            .where(
                ServicePaging.service_id == f.service.id,
                EscalationTarget.schedule_id.is_not(None),
            )
        )
        query = query.where(Schedule.id.in_(paged))
    return [(sid, name, team) for sid, name, team in session.execute(query.order_by(Schedule.name))]


@dataclass(frozen=True)
class _Page:
    user_id: int
    key: str
    at: datetime
    incident_id: int
    number: int
    restricted: bool


def _pages(session: Session, f: Filters, user_ids: set[int]) -> list[_Page]:
    """The pages people in `user_ids` received in the period, for incidents in the filters'
    service, severity and type (never drills); one GROUP BY query."""
    first = func.min(Notification.created_at)
    conditions = [
        Incident.drill.is_(False),
        Notification.created_at >= f.start - PAGE_SPAN,
        Notification.created_at < f.end,
    ]
    if len(user_ids) <= 200:  # few people (a team): their rows through the index on user_id
        conditions.append(Notification.user_id.in_(sorted(user_ids)))
    if f.severity is not None:
        conditions.append(Incident.severity_id == f.severity.id)
    if f.incident_type is not None:
        conditions.append(Incident.type_id == f.incident_type.id)
    if f.service is not None:
        conditions.append(
            Incident.id.in_(
                select(incident_services.c.incident_id).where(
                    incident_services.c.service_id == f.service.id
                )
            )
        )
    query = (
        select(
            Notification.user_id,
            Notification.page_key,
            first,
            Incident.id,
            Incident.number,
            Incident.restricted,
        )
        .join(Incident, Incident.id == Notification.incident_id)
        .where(and_(*conditions))
        .group_by(
            Notification.user_id,
            Notification.page_key,
            Incident.id,
            Incident.number,
            Incident.restricted,
        )
        .having(first >= f.start)
    )
    return [
        _Page(user_id, key, at, incident_id, number, bool(restricted))
        for user_id, key, at, incident_id, number, restricted in session.execute(query)
        if user_id in user_ids
    ]


# Shifts ----------------------------------------------------------------------------------------


def _joined(
    pieces: Iterable[tuple[int, datetime, datetime]],
) -> list[tuple[int, datetime, datetime]]:
    """Pieces of a final schedule (time order, disjoint) with each person's pieces that follow
    one another joined into one shift."""
    out: list[tuple[int, datetime, datetime]] = []
    for user_id, start, end in pieces:
        if out and out[-1][0] == user_id and out[-1][2] == start:
            out[-1] = (user_id, out[-1][1], end)
        else:
            out.append((user_id, start, end))
    return out


def _union_hours(intervals: list[tuple[datetime, datetime]]) -> float:
    """The hours covered by these intervals, overlaps counted once."""
    total, cursor = 0.0, None
    for start, end in sorted(intervals):
        if cursor is not None and start < cursor:
            start = cursor
        if end > start:
            total += (end - start).total_seconds()
            cursor = end
        else:
            cursor = max(cursor or end, end)
    return total / 3600


def _out_of_hours(at: datetime, zone: ZoneInfo) -> bool:
    local = at.astimezone(zone)
    return local.weekday() >= 5 or not (WORK_START <= local.time() < WORK_END)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


# Fairness --------------------------------------------------------------------------------------


def _findings(members: Sequence[Member]) -> tuple[float | None, tuple[str, ...]]:
    """The spread of pages per 24 h among the members compared, and the sentences saying why
    the rota is uneven (none: it is even)."""
    compared = [m for m in members if m.hours >= COMPARED_HOURS]
    if len(compared) < 2:
        return None, ()
    found: list[str] = []
    spread = None
    by_rate = sorted(compared, key=lambda m: (-(m.pages_per_day or 0), m.name))
    busiest, quietest = by_rate[0], by_rate[-1]
    high, low = busiest.pages_per_day or 0, quietest.pages_per_day or 0
    if low > 0:
        spread = high / low
    if high > 0 and (low == 0 or high / low >= UNEVEN_RATIO):
        found.append(
            f"{busiest.name} carried {_percent(busiest.pages_share)} of the pages with "
            f"{_percent(busiest.hours_share)} of the hours; {quietest.name} "
            f"{_percent(quietest.pages_share)} of the pages with "
            f"{_percent(quietest.hours_share)} of the hours."
        )
    by_hours = sorted(compared, key=lambda m: (-m.hours, m.name))
    longest, shortest = by_hours[0], by_hours[-1]
    if longest.hours > UNEVEN_RATIO * shortest.hours:
        found.append(
            f"{longest.name} was on call {_hours_text(longest.hours)} "
            f"({_percent(longest.hours_share)} of the hours), more than twice "
            f"{shortest.name}'s {_hours_text(shortest.hours)}."
        )
    return spread, tuple(found)


def rotations(session: Session, filters: Filters, viewer: User) -> Rotations:
    """Hours on call per person, each schedule's shifts and the incidents that reached people
    during them, and the fairness of each rota, over the filters' period."""
    scope = _schedules(session, filters)
    finals = final_many(session, [sid for sid, _, _ in scope], filters.start, filters.end)
    shifts_of: dict[int, list[tuple[int, datetime, datetime]]] = {
        sid: _joined((s.user_id, s.start, s.end) for s in finals.get(sid, []))
        for sid, _, _ in scope
    }
    user_ids = {user_id for shifts in shifts_of.values() for user_id, _, _ in shifts}
    users = {
        uid: (name, tz)
        for uid, name, tz in session.execute(
            select(User.id, User.name, User.timezone).where(User.id.in_(sorted(user_ids)))
        )
    } if user_ids else {}  # fmt: skip
    pages = _pages(session, filters, user_ids) if user_ids else []
    pages_of: dict[int, list[_Page]] = defaultdict(list)
    for page in sorted(pages, key=lambda p: p.at):
        pages_of[page.user_id].append(page)
    times_of = {uid: [p.at for p in found] for uid, found in pages_of.items()}

    hidden = hidden_ids(session, viewer, {p.incident_id for p in pages if p.restricted})

    all_shifts: list[ShiftFigures] = []
    rotas: list[Rota] = []
    paged_on_call: dict[int, dict[str, int]] = defaultdict(dict)  # page key -> incident
    intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    shift_count: dict[int, int] = defaultdict(int)
    for sid, name, team in scope:
        hours: dict[int, float] = defaultdict(float)
        counts: dict[int, int] = defaultdict(int)
        paged: dict[int, int] = defaultdict(int)
        late: dict[int, int] = defaultdict(int)
        per_shift: list[int] = []
        for user_id, start, end in shifts_of[sid]:
            times = times_of.get(user_id, [])
            lo, hi = bisect_left(times, start), bisect_left(times, end)
            during = pages_of[user_id][lo:hi]
            incidents = {p.incident_id: p for p in during}
            zone = _zone(users[user_id][1])
            hours[user_id] += (end - start).total_seconds() / 3600
            counts[user_id] += 1
            paged[user_id] += len(during)
            late[user_id] += sum(1 for p in during if _out_of_hours(p.at, zone))
            per_shift.append(len(incidents))
            intervals[user_id].append((start, end))
            shift_count[user_id] += 1
            paged_on_call[user_id].update((p.key, p.incident_id) for p in during)
            shown = sorted(
                (p for p in incidents.values() if p.incident_id not in hidden),
                key=lambda p: p.number,
            )
            all_shifts.append(
                ShiftFigures(
                    schedule_id=sid,
                    schedule=name,
                    user_id=user_id,
                    name=users[user_id][0],
                    start=start,
                    end=end,
                    pages=len(during),
                    incident_count=len(incidents),
                    incidents=tuple(IncidentRef(p.incident_id, p.number, "") for p in shown),
                    hidden=len(incidents) - len(shown),
                )
            )
        if not hours:
            continue  # nobody on call in it during the period
        total_hours, total_pages = sum(hours.values()), sum(paged.values())
        members = [
            Member(
                user_id=uid,
                name=users[uid][0],
                hours=hours[uid],
                shifts=counts[uid],
                pages=paged[uid],
                out_of_hours=late[uid],
                hours_share=hours[uid] / total_hours if total_hours else 0.0,
                pages_share=paged[uid] / total_pages if total_pages else None,
            )
            for uid in hours
        ]
        members.sort(key=lambda m: (-(m.pages_per_day or 0), -m.hours, m.name))
        spread, findings = _findings(members)
        rotas.append(
            Rota(
                schedule_id=sid,
                name=name,
                team=team,
                members=tuple(members),
                shifts=len(per_shift),
                pages=total_pages,
                incidents_per_shift_median=median(sorted(float(n) for n in per_shift)),
                incidents_per_shift_max=max(per_shift, default=0),
                spread=spread,
                uneven=bool(findings),
                findings=findings,
            )
        )
    people = [
        Person(
            user_id=uid,
            name=users[uid][0],
            timezone=users[uid][1],
            hours=_union_hours(intervals[uid]),
            shifts=shift_count[uid],
            pages=len(paged_on_call[uid]),
            incidents=len(set(paged_on_call[uid].values())),
        )
        for uid in intervals
    ]
    people.sort(key=lambda p: (-p.hours, p.name))
    rotas.sort(key=lambda r: (not r.uneven, r.name))
    behind_hidden = {
        incident for by_key in paged_on_call.values() for incident in by_key.values()
    } & hidden
    return Rotations(
        people=tuple(people),
        rotas=tuple(rotas),
        shifts=tuple(all_shifts),
        busiest=_titled(session, _busiest(all_shifts)),
        hidden=len(behind_hidden),
    )


def _busiest(shifts: Iterable[ShiftFigures]) -> list[ShiftFigures]:
    """The LISTED shifts with the most incidents."""
    ranked = sorted(
        (s for s in shifts if s.incident_count),
        key=lambda s: (-s.incident_count, -s.pages, s.start, s.schedule),
    )
    return ranked[:LISTED]


def _titled(session: Session, shifts: list[ShiftFigures]) -> tuple[ShiftFigures, ...]:
    """These shifts with the titles of the incidents they list (one query)."""
    ids = {i.id for s in shifts for i in s.incidents}
    titles: dict[int, str] = {}
    if ids:
        query = select(Incident.id, Incident.title).where(Incident.id.in_(ids))
        titles = {incident_id: title for incident_id, title in session.execute(query)}
    return tuple(
        replace(s, incidents=tuple(replace(i, title=titles.get(i.id, "")) for i in s.incidents))
        for s in shifts
    )
