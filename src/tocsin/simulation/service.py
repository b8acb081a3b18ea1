"""A dry run of paging: what declaring an incident on a service at a moment would set in motion.

It asks the very functions real paging asks (`escalation.walk`: which policies start, what low
urgency does, whom each level reaches through schedules, overrides, windows and round robin,
when the next level follows; `notify.service.plan_rules`: each person's contact methods and
delays; `comms.due`: which channels apply and when they are due an update; the alerts'
maintenance check), and walks on in imagined time as if nobody acknowledged. It writes
nothing: the incident it imagines is never added to the session, and no step, notification,
timeline entry or job is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import MaintenanceWindow
from tocsin.alerts.rules import holding_window
from tocsin.catalog.models import Service, User
from tocsin.comms.due import applicable, compute
from tocsin.definitions.models import IncidentType, Severity
from tocsin.errors import NotFound, ValidationFailed
from tocsin.escalation.models import EscalationPolicy, ServicePaging
from tocsin.escalation.walk import (
    Decision,
    Ended,
    LevelPaged,
    LevelReachedNobody,
    LevelSkipped,
    Repeated,
    advance,
    plan_start,
    policies_to_start,
    q,
)
from tocsin.incidents.declaring import URGENCIES, severity_id_for, unsaved
from tocsin.incidents.models import Incident
from tocsin.notify.service import plan_rules
from tocsin.simulation.workflows import WorkflowPreview, workflows_that_would_run


@dataclass(frozen=True)
class Delivery:
    """One contact method a person's rules would use, `delay_minutes` after their page."""

    method: str
    kind: str
    delay_minutes: int
    at: datetime


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    why: str
    deliveries: list[Delivery]
    note: str  # the fallback used, or why nobody can be reached


@dataclass(frozen=True)
class Level:
    """One level evaluated at `at` (1-based `level`, 1-based `time` through the policy)."""

    time: int
    level: int
    at: datetime
    outcome: Literal["paged", "skipped", "nobody"]  # skipped: outside its time window
    text: str
    people: list[Person]
    targets: list[dict[str, object]]


@dataclass
class PolicyRun:
    service: str
    policy: str
    starts_at: datetime
    start: str  # how it starts, in words ("" for high urgency)
    levels: list[Level] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # repeats
    end: str = ""

    @property
    def paged_anybody(self) -> bool:
        return any(level.people for level in self.levels)


@dataclass(frozen=True)
class ChannelDue:
    name: str
    audience: str
    kind: str
    automatic: bool
    due_at: datetime | None
    because: str


@dataclass
class Simulation:
    at: datetime
    timezone: str
    service: str
    severity: str | None
    incident_type: str | None
    urgency: str
    maintenance: str  # "" unless a maintenance window holds the service's alerts then
    runs: list[PolicyRun]
    without_policy: list[str]  # services that page nobody: no escalation policy
    channels: list[ChannelDue]
    workflows: list[WorkflowPreview]

    @property
    def nobody(self) -> bool:
        return not any(run.paged_anybody for run in self.runs)

    @property
    def summary(self) -> str:
        if not self.nobody:
            first = next(level for run in self.runs for level in run.levels if level.people)
            names = ", ".join(p.name for p in first.people)
            policy = next(run.policy for run in self.runs if first in run.levels)
            return f"{names} would be paged first: level {first.level} of {q(policy)}"
        if not self.runs:
            return f"Nobody would be paged: {q(self.service)} has no escalation policy"
        return "Nobody would be paged: " + "; ".join(run.end for run in self.runs if run.end)


Named = TypeVar("Named", Service, Severity, IncidentType)


def _named(session: Session, model: type[Named], name: str, field: str) -> Named:
    """By name (any case), else by id; 404 naming the field otherwise."""
    text = name.strip()
    found = session.scalar(select(model).where(func.lower(model.name) == text.lower()))
    if found is None and text.isdigit() and len(text) < 10:
        found = session.get(model, int(text))
    if found is None:
        noun = {"service": "service", "severity": "severity", "type": "incident type"}[field]
        raise NotFound(f"{field}: no {noun} named {text!r}", field=field)
    return found


def _person(session: Session, user: User, why: str, urgency: str, at: datetime) -> Person:
    """The person's page as `notify.service.page_user` would plan it at `at`."""
    steps, fallback = plan_rules(session, user, urgency)
    deliveries = [
        Delivery(s.method.label, s.method.kind, s.delay_minutes,
                 at + timedelta(minutes=s.delay_minutes))
        for s in steps
    ]  # fmt: skip
    note = fallback if steps else f"{user.name} could not be paged: no enabled contact method"
    return Person(user.id, user.name, why, deliveries, note)


def _walk(session: Session, service: Service, paging: ServicePaging, incident: Incident,
          at: datetime) -> PolicyRun:  # fmt: skip
    """The run real paging would start for `paging`, walked on as if nobody acknowledged."""
    policy = paging.policy
    assert policy is not None
    start = plan_start(paging, incident.urgency, at)
    when = start.waits_until or at
    run = PolicyRun(service.name, policy.name, when, start.reason.removeprefix("; "))
    if not policy.levels:
        run.end = f"{q(policy.name)} has no levels"
        return run
    paged: set[int] = set()
    turns = {level.id: level.round_robin_next for level in policy.levels}
    cycle, level = 0, 0
    for _ in range((policy.repeat + 1) * (len(policy.levels) + 1) + 1):
        plan = advance(
            session, policy, cycle=cycle, level=level, at=when,
            first_level_only=start.first_level_only,
            paged_in=lambda c: c in paged,
            round_robin_next=lambda lvl: turns[lvl.id],
        )  # fmt: skip
        for decision in plan.decisions:
            _note(session, run, decision, incident.urgency, when, paged, turns, policy)
        if plan.next is None:
            return run
        cycle, level, when = plan.next
    return run


def _note(
    session: Session,
    run: PolicyRun,
    decision: Decision,
    urgency: str,
    when: datetime,
    paged: set[int],
    turns: dict[int, int],
    policy: EscalationPolicy,
) -> None:
    if isinstance(decision, Ended):
        run.end = decision.summary(f"Escalation policy {q(policy.name)}") or decision.why
    elif isinstance(decision, Repeated):
        run.notes.append(
            f"Nobody acknowledged: the policy repeats (time {decision.cycle + 1} of "
            f"{decision.times})"
        )
    elif isinstance(decision, LevelSkipped):
        run.levels.append(
            Level(decision.cycle + 1, decision.level + 1, when, "skipped", decision.outcome, [], [])
        )
    elif isinstance(decision, LevelReachedNobody):
        run.levels.append(
            Level(decision.cycle + 1, decision.level + 1, when, "nobody", decision.outcome, [],
                  decision.decisions)
        )  # fmt: skip
    elif isinstance(decision, LevelPaged):
        paged.add(decision.cycle)
        if decision.round_robin_turn is not None:
            turns[policy.levels[decision.level].id] = decision.round_robin_turn + 1
        people = [_person(session, u, why, urgency, when) for u, why in decision.people]
        text = f"Level {decision.level + 1}: pages " + ", ".join(p.name for p in people)
        run.levels.append(
            Level(decision.cycle + 1, decision.level + 1, when, "paged", text, people,
                  decision.decisions)
        )  # fmt: skip


def _maintenance(session: Session, service: Service, at: datetime) -> str:
    windows = session.scalars(
        select(MaintenanceWindow).where(
            MaintenanceWindow.service_id == service.id, MaintenanceWindow.ends_at > at
        )
    )
    window = holding_window(windows, at)
    if window is None:
        return ""
    reason = f" ({window.reason})" if window.reason else ""
    return (
        f"{service.name} is in maintenance window {window.id}{reason} until "
        f"{window.ends_at:%Y-%m-%d %H:%M} UTC: an alert's trigger would be held and page "
        "nobody; an incident declared by hand pages as shown"
    )


def simulate(
    session: Session,
    *,
    service: str | Service,
    at: datetime,
    timezone: str = "UTC",
    severity: str | None = None,
    incident_type: str | None = None,
    urgency: str | None = None,
) -> Simulation:
    """Who would be paged, how and when, if an incident were declared on `service` (one, or
    its name or id) at `at`, and which channels would be due an update. Writes nothing.

    `at` is aware and worked on in UTC: an aware local datetime plus a timedelta is wall-clock
    arithmetic in Python, and a level's delay must be real minutes across a daylight-saving
    change."""
    if urgency is not None and urgency not in URGENCIES:
        raise ValidationFailed("urgency must be high or low", field="urgency")
    at = at.astimezone(UTC)
    found = (
        service if isinstance(service, Service) else _named(session, Service, service, "service")
    )
    kind = _named(session, IncidentType, incident_type, "type") if incident_type else None
    sev = _named(session, Severity, severity, "severity") if severity else None
    if sev is None and kind is not None:
        default = severity_id_for(kind, None)
        sev = session.get(Severity, default) if default is not None else None
    with session.no_autoflush:
        incident = unsaved(
            severity=sev, incident_type=kind, services=[found], urgency=urgency, at=at
        )
        runs: list[PolicyRun] = []
        without: list[str] = []
        for svc, paging in policies_to_start(session, incident.services):
            if paging is None:
                without.append(svc.name)
            else:
                runs.append(_walk(session, svc, paging, incident, at))
        channels = [
            ChannelDue(c.name, c.audience, c.kind, c.automatic, d.due_at, d.because)
            for c in applicable(session, incident)
            for d in [compute(c, incident, last_at=None, latest=None)]
        ]
        workflows = workflows_that_would_run(session, incident)
    assert incident not in session, "a dry run must never add its incident"
    return Simulation(
        at=at,
        timezone=timezone,
        service=found.name,
        severity=sev.name if sev else None,
        incident_type=kind.name if kind else None,
        urgency=incident.urgency,
        maintenance=_maintenance(session, found, at),
        runs=runs,
        without_policy=without,
        channels=channels,
        workflows=workflows,
    )
