"""Hours on call and fairness across rotations: who was on call how long, the shifts and the
incidents that reached people during them, and whether a rota shares its pages evenly.

Who was on call when is the schedules domain's final schedule (`oncall.final_many`: layers,
restrictions and overrides). A shift is one person's continuous time on call in one schedule
(pieces that follow one another are joined). A person's hours count each moment once, however
many schedules they were on call in at that moment; each schedule's own figures count its own
shifts. A page is the deliveries of one page to one person (one `page_key`), at the time of
the earliest; it counts for every shift of that person it falls in. Drills page nobody here.

The period's pages are read once, one row per page (grouped in the database; on the on-call
tab the same reading serves the on-call load, `insights.pages`), and placed in the shifts by
time; only the busiest shifts' incidents are then read by id.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User
from tocsin.catalog.timezones import histories
from tocsin.escalation.models import EscalationLevel, EscalationTarget, ServicePaging
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import Incident
from tocsin.insights import charts
from tocsin.insights.filters import Filters
from tocsin.insights.load import Hours
from tocsin.insights.pages import Paged, read
from tocsin.insights.stats import median
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import final_many

DAY_HOURS = 24.0
# A rota is uneven when the busiest member's pages per 24 h on call are this many times the
# quietest one's, or one member was on call more than this many times as long as another.
UNEVEN_RATIO = 2.0
# Only members on call at least this long are compared: a two-hour cover says nothing of a rota.
COMPARED_HOURS = 24.0
CHUNK = 5000  # ids per IN (...) list
# How many people and busiest shifts the page lists; the CSV and the JSON have all people.
LISTED = 20
# The CSV tables, by the name the on-call tab's export is asked for.
ROTATION_TABLES = ("rotation-people", "rotation-members", "rotation-shifts")


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

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class BusyShift:
    """One of the shifts with the most incidents, and those incidents."""

    shift: ShiftFigures
    incidents: tuple[IncidentRef, ...]  # the ones the viewer may see, by number
    hidden: int  # restricted incidents counted but not listed to the viewer


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
    busiest: tuple[BusyShift, ...]  # the LISTED shifts with the most incidents
    hidden: int  # restricted incidents of the busiest shifts not listed to the viewer

    @property
    def uneven(self) -> tuple[Rota, ...]:
        return tuple(r for r in self.rotas if r.uneven)

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
                }
                for s in self.shifts
            ],
            "busiest_shifts": [
                {
                    "schedule_id": b.shift.schedule_id,
                    "user_id": b.shift.user_id,
                    "start": b.shift.start.isoformat(),
                    "incidents": [i.reference for i in b.incidents],
                    "restricted_not_listed": b.hidden,
                }
                for b in self.busiest
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
            ],
            [
                [
                    s.schedule, s.name, s.start.isoformat(), s.end.isoformat(), round(s.hours, 2),
                    s.pages, s.incident_count,
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


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """These intervals merged where they overlap or touch: disjoint, in time order."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


@dataclass
class _Received:
    """One person's pages in the period, in time order: when, and for which incident."""

    times: list[datetime]
    incidents: list[int]

    def between(self, start: datetime, end: datetime) -> tuple[list[datetime], list[int]]:
        lo, hi = bisect_left(self.times, start), bisect_left(self.times, end)
        return self.times[lo:hi], self.incidents[lo:hi]


def _received(
    paged: Iterable[Paged], f: Filters, user_ids: Collection[int]
) -> dict[int, _Received]:
    """The pages each of `user_ids` received in the period, at their earliest delivery."""
    wanted = set(user_ids)
    out: dict[int, _Received] = {}
    for user_id, at, incident_id in sorted(
        (p.user_id, p.first, p.incident_id)
        for p in paged
        if p.first >= f.start and p.user_id in wanted
    ):
        found = out.get(user_id)
        if found is None:
            found = out[user_id] = _Received([], [])
        found.times.append(at)
        found.incidents.append(incident_id)
    return out


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


def _rota(
    sid: int, name: str, team: str | None, shifts: Sequence[ShiftFigures], late: Sequence[int]
) -> Rota:
    """A schedule's rota from its shifts and each shift's pages out of hours."""
    hours: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    paged: dict[int, int] = defaultdict(int)
    out_of_hours: dict[int, int] = defaultdict(int)
    names: dict[int, str] = {}
    for shift, count in zip(shifts, late, strict=True):
        out_of_hours[shift.user_id] += count
        hours[shift.user_id] += shift.hours
        counts[shift.user_id] += 1
        paged[shift.user_id] += shift.pages
        names[shift.user_id] = shift.name
    total_hours, total_pages = sum(hours.values()), sum(paged.values())
    members = sorted(
        (
            Member(
                user_id=uid,
                name=names[uid],
                hours=hours[uid],
                shifts=counts[uid],
                pages=paged[uid],
                out_of_hours=out_of_hours[uid],
                hours_share=hours[uid] / total_hours if total_hours else 0.0,
                pages_share=paged[uid] / total_pages if total_pages else None,
            )
            for uid in hours
        ),
        key=lambda m: (-(m.pages_per_day or 0), -m.hours, m.name),
    )
    spread, findings = _findings(members)
    per_shift = sorted(float(s.incident_count) for s in shifts)
    return Rota(
        schedule_id=sid,
        name=name,
        team=team,
        members=tuple(members),
        shifts=len(shifts),
        pages=total_pages,
        incidents_per_shift_median=median(per_shift),
        incidents_per_shift_max=int(max(per_shift, default=0)),
        spread=spread,
        uneven=bool(findings),
        findings=findings,
    )


@dataclass(frozen=True)
class Placement:
    """The schedules in scope and who was on call in them over the period."""

    scope: list[tuple[int, str, str | None]]  # (schedule id, name, team name)
    shifts: list[tuple[int, str, int, datetime, datetime]]  # (schedule id, name, user, start, end)
    people: list[int]  # everyone with a shift, by id


def placement(session: Session, filters: Filters) -> Placement:
    """The schedules in scope of `filters` and their shifts over its period."""
    scope = _schedules(session, filters)
    finals = final_many(session, [sid for sid, _, _ in scope], filters.start, filters.end)
    placed = [
        (sid, name, user_id, start, end)
        for sid, name, _ in scope
        for user_id, start, end in _joined((s.user_id, s.start, s.end) for s in finals[sid])
    ]
    return Placement(scope, placed, sorted({user_id for _, _, user_id, _, _ in placed}))


def rotations(
    session: Session,
    filters: Filters,
    viewer: User,
    *,
    hours: Hours,
    placed: Placement | None = None,
    paged: Sequence[Paged] | None = None,
) -> Rotations:
    """Hours on call per person, each schedule's shifts and the incidents that reached people
    during them, and the fairness of each rota, over the filters' period. `placed` and
    `paged` when already read: `placement(session, filters)`, and the period's pages
    (`insights.pages.read`) of at least `placed.people`."""
    if placed is None:
        placed = placement(session, filters)
    scope, user_ids = placed.scope, placed.people
    if paged is None:
        paged = read(session, filters, user_ids) if user_ids else []
    # A rotation may still name someone whose account was deleted since: "user 42", in UTC.
    users = {uid: (f"user {uid}", "UTC") for uid in user_ids}
    for chunk in (user_ids[i : i + CHUNK] for i in range(0, len(user_ids), CHUNK)):
        query = select(User.id, User.name, User.timezone).where(User.id.in_(chunk))
        users.update((uid, (name, tz)) for uid, name, tz in session.execute(query))
    received = _received(paged, filters, user_ids)
    # Out of hours as the on-call load judges it: in the zone the person had when paged.
    zones = histories(session, {uid: tz for uid, (_, tz) in users.items()}, since=filters.start)
    nothing = _Received([], [])

    shifts: list[ShiftFigures] = []
    behind: list[set[int]] = []  # each shift's incidents
    late: list[int] = []  # each shift's pages out of hours
    for sid, name, user_id, start, end in placed.shifts:
        times, incidents = received.get(user_id, nothing).between(start, end)
        behind.append(set(incidents))
        zone = zones[user_id]
        late.append(sum(1 for at in times if hours.out_of_hours(at.astimezone(zone.zone_at(at)))))
        shifts.append(
            ShiftFigures(
                sid, name, user_id, users[user_id][0], start, end, len(times), len(behind[-1])
            )
        )
    by_schedule: dict[int, list[int]] = defaultdict(list)
    for i, shift in enumerate(shifts):
        by_schedule[shift.schedule_id].append(i)
    rotas = sorted(
        (
            _rota(
                sid, name, team, [shifts[i] for i in by_schedule[sid]],
                [late[i] for i in by_schedule[sid]],
            )
            for sid, name, team in scope
            if by_schedule[sid]
        ),
        key=lambda r: (not r.uneven, r.name),
    )  # fmt: skip

    # Each person's time on call across the schedules, each moment (and so each page) once.
    mine: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for shift in shifts:
        mine[shift.user_id].append((shift.start, shift.end))
    people = []
    for uid in user_ids:
        union = _union(mine[uid])
        pages, seen = 0, set()
        for start, end in union:
            times, found = received.get(uid, nothing).between(start, end)
            pages += len(times)
            seen.update(found)
        people.append(
            Person(
                user_id=uid,
                name=users[uid][0],
                timezone=users[uid][1],
                hours=sum(_hours(start, end) for start, end in union),
                shifts=len(mine[uid]),
                pages=pages,
                incidents=len(seen),
            )
        )
    people.sort(key=lambda p: (-p.hours, p.name))
    busiest, hidden = _busiest(session, viewer, shifts, behind)
    return Rotations(
        people=tuple(people),
        rotas=tuple(rotas),
        shifts=tuple(shifts),
        busiest=busiest,
        hidden=hidden,
    )


def _busiest(
    session: Session, viewer: User, shifts: Sequence[ShiftFigures], behind: Sequence[set[int]]
) -> tuple[tuple[BusyShift, ...], int]:
    """The LISTED shifts with the most incidents, each with the incidents the viewer may see;
    and how many restricted incidents among them were left out."""
    ranked = sorted(
        (i for i, s in enumerate(shifts) if s.incident_count),
        key=lambda i: (-shifts[i].incident_count, -shifts[i].pages, shifts[i].start,
                       shifts[i].schedule),
    )[:LISTED]  # fmt: skip
    ids = {incident_id for i in ranked for incident_id in behind[i]}
    hidden = hidden_ids(session, viewer, ids)
    shown: dict[int, IncidentRef] = {}
    if ids - hidden:
        query = select(Incident.id, Incident.number, Incident.title).where(
            Incident.id.in_(sorted(ids - hidden))
        )
        shown = {
            iid: IncidentRef(iid, number, title) for iid, number, title in session.execute(query)
        }
    busy = [
        BusyShift(
            shifts[i],
            tuple(
                sorted((shown[iid] for iid in behind[i] if iid in shown), key=lambda r: r.number)
            ),
            sum(1 for iid in behind[i] if iid in hidden),
        )
        for i in ranked
    ]
    return tuple(busy), len(hidden)
