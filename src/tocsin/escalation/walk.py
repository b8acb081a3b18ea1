"""The decisions of paging, without writing them: how a service's paging starts for an
incident, and what walking a policy from one (cycle, level) at one moment does.

Real paging (`engine`) applies these decisions: it writes the steps, the timeline and the
pages. A dry run (`simulation`) applies the same decisions to nothing and walks on in
imagined time. Both read the database (targets, schedules, team members) and neither
changes anything here, so the two cannot disagree about whom a level reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User, UserRole
from tocsin.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    LowUrgency,
    RunState,
    ServicePaging,
    TargetKind,
)
from tocsin.escalation.windows import Window
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import on_call_until_many


def q(name: str) -> str:
    return f"\u201c{name}\u201d"


def names(users: Iterable[User]) -> str:
    found = [u.name for u in users]
    if len(found) <= 2:
        return " and ".join(found)
    return ", ".join(found[:-1]) + f" and {found[-1]}"


# -- whom a level reaches ------------------------------------------------------------------------


@dataclass
class Reached:
    """The people one level reaches, each with the reason, and notes on the targets."""

    people: dict[int, tuple[User, str]] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def add(self, user: User, why: str, decision: dict[str, Any]) -> None:
        decision["users"].append({"id": user.id, "name": user.name, "why": why})
        if user.id not in self.people:
            self.people[user.id] = (user, why)


def pageable_members(team: Team) -> list[User]:
    """The members a team target pages: active responders and admins (viewers only read)."""
    return [m for m in team.members if m.active and m.role != UserRole.viewer]


def reach(session: Session, level: EscalationLevel, at: datetime) -> Reached:
    """Whom a level's targets reach at `at`, each with the reason (for a schedule, what puts
    the person on call and when their time on call ends)."""
    reached = Reached()
    schedule_ids = [t.schedule_id for t in level.targets if t.schedule_id is not None]
    shifts = on_call_until_many(session, schedule_ids, at) if schedule_ids else {}
    for target in level.targets:
        if target.kind == TargetKind.user and target.user is not None:
            decision: dict[str, Any] = {"target": f"user {target.user.name}", "users": []}
            if target.user.active:
                reached.add(target.user, "named in the level", decision)
            else:
                decision["note"] = f"{target.user.name} is deactivated"
        elif target.kind == TargetKind.team and target.team is not None:
            decision = {"target": f"team {q(target.team.name)}", "users": []}
            members = pageable_members(target.team)
            for member in members:
                reached.add(member, f"member of team {q(target.team.name)}", decision)
            if not members:
                decision["note"] = f"team {q(target.team.name)} has no active responders"
        elif target.schedule_id is not None:
            schedule = session.get(Schedule, target.schedule_id)
            name = schedule.name if schedule else f"#{target.schedule_id}"
            decision = {"target": f"schedule {q(name)}", "users": []}
            found = False
            for now in shifts.get(target.schedule_id, []):
                shift = now.shift
                user = session.get(User, shift.user_id)
                if user is None:
                    continue
                if not user.active:
                    decision.setdefault("note", f"{user.name} is on call but deactivated")
                    continue
                found = True
                why = f"on call in schedule {q(name)} ({shift.source}) {now.until_text}"
                reached.add(user, why, decision)
            if not found and "note" not in decision:
                decision["note"] = f"nobody is on call in schedule {q(name)}"
        else:
            continue
        reached.decisions.append(decision)
    return reached


def nobody_text(reached: Reached) -> str:
    notes = [d["note"] for d in reached.decisions if d.get("note")]
    return "; ".join(notes) if notes else "its targets reached nobody"


# -- starting ------------------------------------------------------------------------------------


def policies_to_start(
    session: Session, services: Iterable[Service]
) -> list[tuple[Service, ServicePaging | None]]:
    """The incident's services in order, each with the paging that starts for it: None for a
    service without a policy; a service sharing an earlier one's policy is left out (one run
    per distinct policy)."""
    out: list[tuple[Service, ServicePaging | None]] = []
    started: set[int] = set()
    for service in services:
        paging = session.get(ServicePaging, service.id)
        if paging is None or paging.policy is None:
            out.append((service, None))
            continue
        if paging.policy.id in started:
            continue
        started.add(paging.policy.id)
        out.append((service, paging))
    return out


@dataclass(frozen=True)
class Start:
    """How a run begins: at once or when support hours begin, escalating or not."""

    first_level_only: bool
    waits_until: datetime | None  # support hours begin then; None: at once
    reason: str  # added to "incident opened on …"


def plan_start(paging: ServicePaging, urgency: str, at: datetime) -> Start:
    """What the service's low-urgency setting makes of an incident opened at `at`."""
    if urgency != "low":
        return Start(False, None, "")
    mode = LowUrgency(paging.low_urgency)
    hours = Window.parse(paging.support_hours, "support_hours") if paging.support_hours else None
    if mode == LowUrgency.notify:
        return Start(True, None, "; low urgency: the first level is notified, without escalation")
    if mode == LowUrgency.support_hours and hours is not None and not hours.contains(at):
        return Start(
            False,
            hours.next_start(at),
            f"; low urgency outside support hours ({hours.describe()}): paging waits "
            "until they begin",
        )
    if mode == LowUrgency.support_hours:
        return Start(False, None, "; low urgency within support hours: escalating as usual")
    return Start(False, None, "; low urgency pages like high on this service")


# -- walking -------------------------------------------------------------------------------------


@dataclass
class LevelSkipped:
    """A level outside its time window."""

    cycle: int
    level: int
    outcome: str


@dataclass
class LevelReachedNobody:
    cycle: int
    level: int
    decisions: list[dict[str, Any]]
    outcome: str


@dataclass
class LevelPaged:
    cycle: int
    level: int
    people: list[tuple[User, str]]
    decisions: list[dict[str, Any]]
    round_robin_turn: int | None  # the index whose turn it was, when round robin chose


@dataclass
class Repeated:
    """Nobody acknowledged: the policy starts again (its cycle `cycle`, 0-based)."""

    cycle: int
    times: int  # how many times the policy runs in all


@dataclass
class Ended:
    state: RunState
    why: str
    paged: bool  # whether this cycle paged anybody

    def summary(self, label: str) -> str | None:
        """The timeline's words for it (None: nothing to add)."""
        if self.state == RunState.finished and self.paged:
            return None
        if self.state == RunState.finished:
            return f"Nobody could be notified: {label} reached nobody at any level"
        return f"Paging ended: {label}: {self.why}"


Decision = LevelSkipped | LevelReachedNobody | LevelPaged | Repeated | Ended


@dataclass
class Advance:
    """What evaluating from one (cycle, level) at one moment decides, in order, and then: the
    next timer, or nothing (the run ended, or `halted` on a level evaluated before)."""

    decisions: list[Decision] = field(default_factory=list)
    next: tuple[int, int, datetime] | None = None  # (cycle, level, at)
    halted: bool = False


def end_of_cycle(
    *, cycle: int, repeat: int, paged_this_cycle: bool, first_level_only: bool
) -> Ended | None:
    """After the policy's last level: why the run ends, or None when it repeats."""
    if first_level_only:
        return Ended(RunState.finished, "low urgency: no level reached anybody", False)
    if cycle >= repeat or not paged_this_cycle:
        why = (
            f"nobody acknowledged after {cycle + 1} time(s) through the policy"
            if paged_this_cycle
            else "no level reached anybody"
        )
        return Ended(RunState.exhausted, why, paged_this_cycle)
    return None


def advance(
    session: Session,
    policy: EscalationPolicy,
    *,
    cycle: int,
    level: int,
    at: datetime,
    first_level_only: bool,
    paged_in: Callable[[int], bool],
    round_robin_next: Callable[[EscalationLevel], int],
    evaluated: Callable[[int, int], bool] = lambda cycle, level: False,
) -> Advance:
    """Evaluate levels from (cycle, level) at `at` until one pages someone (then its delay is
    the next timer) or the policy is done. `paged_in(cycle)` says whether an earlier step of
    that cycle paged anybody; `round_robin_next(level)` whose turn it is on a round-robin
    level; `evaluated(cycle, level)` whether that step exists already (a retried job)."""
    levels = policy.levels
    out = Advance()
    paged_now: set[int] = set()
    for _ in range(len(levels) * (policy.repeat + 2)):  # bounded: at most every level, twice
        if level >= len(levels):
            paged = cycle in paged_now or paged_in(cycle)
            ended = end_of_cycle(
                cycle=cycle,
                repeat=policy.repeat,
                paged_this_cycle=paged,
                first_level_only=first_level_only,
            )
            if ended is not None:
                out.decisions.append(ended)
                return out
            cycle, level = cycle + 1, 0
            out.decisions.append(Repeated(cycle, policy.repeat + 1))
            continue
        if evaluated(cycle, level):
            out.halted = True
            return out
        current = levels[level]
        window = Window.parse(current.window, "window") if current.window else None
        if window is not None and not window.contains(at):
            out.decisions.append(
                LevelSkipped(
                    cycle,
                    level,
                    f"Level {level + 1} skipped: it pages only {window.describe()}; "
                    "going on to the next level at once",
                )
            )
            level += 1
            continue
        reached = reach(session, current, at)
        people = list(reached.people.values())
        turn: int | None = None
        if current.round_robin and people:
            turn = round_robin_next(current) % len(people)
            chosen = people[turn]
            reached.decisions.append(
                {
                    "target": "round robin",
                    "users": [{"id": chosen[0].id, "name": chosen[0].name, "why": chosen[1]}],
                    "note": f"{chosen[0].name}'s turn ({turn + 1} of {len(people)})",
                }
            )
            people = [chosen]
        if not people:
            out.decisions.append(
                LevelReachedNobody(
                    cycle,
                    level,
                    reached.decisions,
                    f"Level {level + 1} reached nobody ({nobody_text(reached)}); "
                    "going on to the next level at once",
                )
            )
            level += 1
            continue
        paged_now.add(cycle)
        out.decisions.append(LevelPaged(cycle, level, people, reached.decisions, turn))
        if first_level_only:
            out.decisions.append(
                Ended(RunState.finished, "low urgency: notified without escalation", True)
            )
            return out
        out.next = (cycle, level + 1, at + timedelta(minutes=current.delay_minutes))
        return out
    out.halted = True  # unreachable: the loop is bounded by the levels and repeats
    return out
