"""Walking an escalation policy for an incident: the jobs `escalation.start` and
`escalation.step`, and the hand-driven actions (escalate, page someone, reassign, acknowledge).

A run is one walk through a policy. Each level it reaches becomes a step that records the
targets, whom each reached and why (the on-call shift that made someone the one to page), and
what happened. Steps are idempotent: a (run, cycle, level) is evaluated once, whatever the
job engine retries, and the person's notifications carry an idempotency key of the same.

A run stops by itself when the incident is resolved or acknowledged (whatever time the
acknowledgement is dated: a backfilled `acknowledged_at` still stops paging), and an incident
acknowledged before its paging starts is never paged by itself. A run started by hand on an
already acknowledged incident needs its own acknowledgement (`acknowledge_pages`), as a
freshly paged person has not seen the incident yet.
Acknowledging the incident stops its paging at once (`on_incident_status_changed`, a reaction
to incidents' event).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from tocsin import validation as v
from tocsin.bus import emit
from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.errors import InvalidTransition, NotFound, UnknownReference, ValidationFailed
from tocsin.escalation.events import PageAcknowledged
from tocsin.escalation.models import (
    OPEN_RUN_STATES,
    EscalationPolicy,
    EscalationRun,
    EscalationStep,
    RunState,
    ServicePaging,
)
from tocsin.escalation.walk import (
    Ended,
    LevelReachedNobody,
    LevelSkipped,
    Reached,
    Repeated,
    advance,
    names,
    pageable_members,
    plan_start,
    policies_to_start,
    q,
)
from tocsin.incidents import service as incidents
from tocsin.incidents.events import IncidentDeclared, IncidentStatusChanged
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue
from tocsin.notify.service import cancel_pending, page_user

log = structlog.get_logger("tocsin.escalation")

START_JOB = "escalation.start"
STEP_JOB = "escalation.step"
CLOSED = (Status.resolved.value, Status.closed.value)


# -- starting ------------------------------------------------------------------------------------


def on_incident_declared(session: Session, event: IncidentDeclared) -> None:
    """A new incident: paging starts after commit (the job `escalation.start`), unless it was
    declared without paging."""
    if event.paging:
        enqueue(session, START_JOB, {"incident_id": event.incident_id})


def start_for_incident(session: Session, incident_id: int) -> list[EscalationRun]:
    """Start paging for a new incident: one run per distinct policy among its services.

    Runs as the job `escalation.start`, which `on_incident_declared` enqueues. Services
    without a policy are named on the timeline, so "why was nobody paged?" has an answer.
    """
    incident = session.get(Incident, incident_id)
    if incident is None or incident.status in CLOSED:
        return []
    if incident.declared_without_paging:
        return []  # the declarer chose "don't page" (declare recorded it): only by hand
    if incident.status != Status.triggered.value:
        record(
            session,
            incident,
            "paging",
            f"Nobody was paged: {incident.reference} was already {incident.status} when "
            "paging was to start",
            by=None,
        )
        return []
    if session.scalar(select(EscalationRun.id).where(EscalationRun.incident_id == incident.id)):
        return []  # already started (this job ran before) or paged by hand meanwhile
    if not incident.services:
        record(
            session,
            incident,
            "paging",
            "Nobody was paged: the incident has no service, so no escalation policy applies",
            by=None,
        )
        return []
    runs: list[EscalationRun] = []
    for service, paging in policies_to_start(session, incident.services):
        if paging is None:
            record(
                session,
                incident,
                "paging",
                f"Nobody was paged for {q(service.name)}: it has no escalation policy",
                by=None,
            )
            continue
        runs.append(_start_run(session, incident, paging))
    return runs


def _start_run(session: Session, incident: Incident, paging: ServicePaging) -> EscalationRun:
    policy = paging.policy
    assert policy is not None
    now = utcnow()
    run = EscalationRun(
        incident_id=incident.id,
        policy_id=policy.id,
        service_id=paging.service_id,
        label=f"Escalation policy {q(policy.name)}",
        reason=f"incident opened on {q(paging.service.name)}",
        state=RunState.active.value,
        started_at=now,
    )
    start = plan_start(paging, incident.urgency, now)
    run.first_level_only = start.first_level_only
    run.reason += start.reason
    run_at = start.waits_until or now
    if start.waits_until is not None:
        run.state = RunState.waiting.value
    session.add(run)
    session.flush()
    summary = f"Paging started: {run.label} ({run.reason})"
    if run.state == RunState.waiting:
        summary = f"Paging waits for support hours until {run_at:%Y-%m-%d %H:%M} UTC: {run.label}"
    record(session, incident, "paging", summary, by=None)
    if run.state == RunState.waiting:
        _schedule(session, run, cycle=0, level=0, at=run_at)
    else:
        # The first level is evaluated at once, in this transaction: a page is one job
        # sooner (the step's own job would be due now anyway).
        run.cycle, run.level, run.next_at = 0, 0, run_at
        run_step(session, run.id, 0, 0)
    return run


def _schedule(
    session: Session, run: EscalationRun, *, cycle: int, level: int, at: datetime
) -> None:
    run.cycle, run.level, run.next_at = cycle, level, at
    enqueue(session, STEP_JOB, {"run_id": run.id, "cycle": cycle, "level": level}, run_at=at)


# -- stepping ------------------------------------------------------------------------------------


def stop_reason(run: EscalationRun, incident: Incident) -> tuple[RunState, str] | None:
    """Why this run should page no further, if it should not.

    Judged by the incident's status, never by comparing times: `acknowledged_at` may be
    backdated (a backfill, a move with `occurred_at`) to before the run began."""
    if incident.status in CLOSED:
        return RunState.resolved, f"{incident.reference} is {incident.status}"
    if incident.status != Status.triggered.value and not run.needs_own_acknowledgement:
        return RunState.acknowledged, f"{incident.reference} was acknowledged"
    return None


def _end(session: Session, run: EscalationRun, state: RunState, reason: str) -> None:
    run.state = state.value
    run.ended_at = utcnow()
    run.ended_reason = reason
    run.next_at = None
    session.flush()


def run_step(session: Session, run_id: int, cycle: int, level: int) -> None:
    """The job `escalation.step`: evaluate level `level` of cycle `cycle` (a level equal to the
    number of levels means the last level's wait is over)."""
    run = session.get(EscalationRun, run_id)
    if run is None or run.state not in OPEN_RUN_STATES:
        return
    if (run.cycle, run.level) != (cycle, level):
        return  # a stale timer: the run has moved on
    incident = run.incident
    stop = stop_reason(run, incident)
    if stop is not None:
        _end(session, run, *stop)
        return
    policy = run.policy
    if policy is None or not policy.levels:
        _end(session, run, RunState.exhausted, "the escalation policy was deleted or emptied")
        record(
            session,
            incident,
            "paging",
            f"Paging stopped: {run.label} no longer exists or has no levels",
            by=None,
        )
        return
    if run.state == RunState.waiting:
        run.state = RunState.active.value
        record(session, incident, "paging", f"Support hours began: {run.label} starts", by=None)
    _walk(session, run, incident, policy, cycle, level)


def _walk(
    session: Session,
    run: EscalationRun,
    incident: Incident,
    policy: EscalationPolicy,
    cycle: int,
    level: int,
) -> None:
    """Evaluate levels from (cycle, level) now (`walk.advance` decides) and write what it
    decided: steps, pages, the timeline, and the next timer."""
    now = utcnow()

    def evaluated(cycle: int, level: int) -> bool:
        return (
            session.scalar(
                select(EscalationStep.id).where(
                    EscalationStep.run_id == run.id,
                    EscalationStep.cycle == cycle,
                    EscalationStep.level == level,
                )
            )
            is not None
        )

    plan = advance(
        session,
        policy,
        cycle=cycle,
        level=level,
        at=now,
        first_level_only=run.first_level_only,
        paged_in=lambda c: any(s.paged_user_ids for s in run.steps if s.cycle == c),
        round_robin_next=lambda lvl: lvl.round_robin_next,
        evaluated=evaluated,
    )
    for decision in plan.decisions:
        if isinstance(decision, Ended):
            _end(session, run, decision.state, decision.why)
            summary = decision.summary(run.label)
            if summary is not None:
                record(session, incident, "paging", summary, by=None)
            return
        if isinstance(decision, Repeated):
            record(
                session,
                incident,
                "paging",
                f"Nobody acknowledged: {run.label} repeats (time {decision.cycle + 1} of "
                f"{decision.times})",
                by=None,
            )
            continue
        step = EscalationStep(
            run=run, incident_id=incident.id, cycle=decision.cycle, level=decision.level, at=now
        )
        session.add(step)
        if isinstance(decision, LevelSkipped):
            step.outcome = decision.outcome
            record(session, incident, "paging", step.outcome, by=None)
        elif isinstance(decision, LevelReachedNobody):
            step.decisions = decision.decisions
            step.outcome = decision.outcome
            record(session, incident, "paging", step.outcome, by=None)
        else:
            step.decisions = decision.decisions
            current = policy.levels[decision.level]
            if decision.round_robin_turn is not None:
                current.round_robin_next = decision.round_robin_turn + 1
            _page(session, run, incident, step, decision.people, policy, decision.level)
    if plan.next is not None:
        next_cycle, next_level, at = plan.next
        _schedule(session, run, cycle=next_cycle, level=next_level, at=at)
        session.flush()
    elif not plan.halted:
        log.error("escalation.walk_without_end", run_id=run.id)


def _page(
    session: Session,
    run: EscalationRun,
    incident: Incident,
    step: EscalationStep,
    people: Sequence[tuple[User, str]],
    policy: EscalationPolicy,
    level: int,
) -> None:
    key = f"esc:{run.id}:{step.cycle}:{level}"
    for user, why in people:
        reason = f"level {level + 1} of {q(policy.name)}: {why}"
        page_user(session, incident=incident, user=user, reason=reason, key=key)
    step.paged_user_ids = [u.id for u, _ in people]
    step.outcome = f"Level {level + 1}: paged {names(u for u, _ in people)}"
    record(
        session,
        incident,
        "paging",
        f"{run.label}, level {level + 1}: paging "
        + "; ".join(f"{u.name} ({why})" for u, why in people),
        by=None,
    )


# -- by hand -------------------------------------------------------------------------------------


def open_runs(incident: Incident) -> list[EscalationRun]:
    """The incident's runs still paging (or waiting to)."""
    session = object_session(incident)
    return _open_runs(session, incident) if session is not None else []


def _open_runs(session: Session, incident: Incident) -> list[EscalationRun]:
    return list(
        session.scalars(
            select(EscalationRun)
            .where(
                EscalationRun.incident_id == incident.id,
                EscalationRun.state.in_(OPEN_RUN_STATES),
            )
            .order_by(EscalationRun.id)
        )
    )


def _refuse_closed(incident: Incident, what: str) -> None:
    if incident.status in CLOSED:
        raise InvalidTransition(f"{incident.reference} is {incident.status}; reopen it to {what}")


def _supersede(session: Session, incident: Incident, why: str) -> None:
    for run in _open_runs(session, incident):
        _end(session, run, RunState.superseded, why)


def escalate(
    session: Session,
    incident: Incident,
    *,
    level: int,
    by: User,
    policy_id: int | None = None,
) -> EscalationRun:
    """Restart paging at `level` (1-based, as people count them) of the incident's policy, or of
    `policy_id`; paging in progress is superseded."""
    _refuse_closed(incident, "escalate it")
    policy = _policy_for(session, incident, policy_id)
    if (
        isinstance(level, bool)
        or not isinstance(level, int)
        or not 1 <= level <= len(policy.levels)
    ):
        raise ValidationFailed(
            f"level must be between 1 and {len(policy.levels)} for {q(policy.name)}",
            field="level",
        )
    _supersede(session, incident, f"escalated by hand by {by.name}")
    now = utcnow()
    run = EscalationRun(
        incident_id=incident.id,
        policy_id=policy.id,
        label=f"Escalation policy {q(policy.name)}",
        reason=f"escalated by hand by {by.name} to level {level}",
        state=RunState.active.value,
        started_at=now,
        started_by_id=by.id,
        needs_own_acknowledgement=incident.status != Status.triggered.value,
    )
    session.add(run)
    session.flush()
    _schedule(session, run, cycle=0, level=level - 1, at=now)
    record(
        session,
        incident,
        "paging",
        f"{by.name} escalated to level {level} of {q(policy.name)}",
        by=by,
        key_event=True,
    )
    return run


def _policy_for(session: Session, incident: Incident, policy_id: int | None) -> EscalationPolicy:
    if policy_id is not None:
        policy = session.get(EscalationPolicy, policy_id)
        if policy is None:
            raise UnknownReference(
                f"escalation policy {policy_id} does not exist", field="policy_id"
            )
        return policy
    for service in incident.services:
        paging = session.get(ServicePaging, service.id)
        if paging is not None and paging.policy is not None:
            return paging.policy
    raise ValidationFailed(
        f"{incident.reference} has no service with an escalation policy; choose a policy",
        field="policy_id",
    )


def page_people(
    session: Session,
    incident: Incident,
    *,
    by: User,
    user_ids: Sequence[int] = (),
    team_ids: Sequence[int] = (),
    message: str = "",
    supersede: bool = False,
    urgency: str | None = None,
) -> EscalationRun:
    """Page people by hand ("add responders"): each one's own notification rules run, for
    `urgency` ("high" or "low"; default: the incident's)."""
    if urgency not in (None, "high", "low"):
        raise ValidationFailed("urgency must be high or low", field="urgency")
    _refuse_closed(incident, "page anyone")
    message = v.text(message, "message", max_len=1000)
    if not user_ids and not team_ids:
        raise ValidationFailed("choose at least one person or team to page", field="user_ids")
    reached = Reached()
    for user_id in user_ids:
        user = session.get(User, user_id) if isinstance(user_id, int) else None
        if user is None:
            raise UnknownReference(f"user {user_id!r} does not exist", field="user_ids")
        if not user.active:
            raise ValidationFailed(f"{user.name} is deactivated", field="user_ids")
        decision: dict[str, Any] = {"target": f"user {user.name}", "users": []}
        reached.add(user, f"paged by hand by {by.name}", decision)
        reached.decisions.append(decision)
    for team_id in team_ids:
        team = session.get(Team, team_id) if isinstance(team_id, int) else None
        if team is None:
            raise UnknownReference(f"team {team_id!r} does not exist", field="team_ids")
        decision = {"target": f"team {q(team.name)}", "users": []}
        for member in pageable_members(team):
            reached.add(member, f"member of team {q(team.name)}, paged by {by.name}", decision)
        if not decision["users"]:
            raise ValidationFailed(
                f"team {q(team.name)} has no active responders to page", field="team_ids"
            )
        reached.decisions.append(decision)
    if supersede:
        _supersede(session, incident, f"reassigned by {by.name}")
    now = utcnow()
    people = list(reached.people.values())
    run = EscalationRun(
        incident_id=incident.id,
        label=f"Paged by {by.name}",
        reason=message or ("reassigned" if supersede else "responders added by hand"),
        # Open until acknowledged (or the incident resolves), so that the people paged can
        # acknowledge their page, which cancels their rules' later notifications.
        state=RunState.active.value,
        started_at=now,
        started_by_id=by.id,
        needs_own_acknowledgement=incident.status != Status.triggered.value,
    )
    session.add(run)
    session.flush()
    step = EscalationStep(
        run=run,
        incident_id=incident.id,
        cycle=0,
        level=0,
        at=now,
        decisions=reached.decisions,
        paged_user_ids=[u.id for u, _ in people],
        outcome=f"Paged {names(u for u, _ in people)}",
    )
    session.add(step)
    for user, why in people:
        reason = why + (f": {message}" if message else "")
        page_user(
            session,
            incident=incident,
            user=user,
            reason=reason,
            key=f"manual:{run.id}",
            urgency=urgency,
        )
    verb = "reassigned the incident to" if supersede else "paged"
    record(
        session,
        incident,
        "paging",
        f"{by.name} {verb} {names(u for u, _ in people)}" + (f": {message}" if message else ""),
        by=by,
        key_event=supersede,
    )
    session.flush()
    return run


def reassign(session: Session, incident: Incident, *, user_id: int, by: User) -> EscalationRun:
    """Hand the incident to one person: paging in progress stops and they are paged."""
    return page_people(session, incident, by=by, user_ids=[user_id], supersede=True)


def acknowledge_pages(session: Session, incident: Incident, *, by: User) -> list[EscalationRun]:
    """What "acknowledge" does for a person who was paged (the incident's API, the link in a
    page, the incident page): the incident while it is triggered, through incidents' service
    (its paging then stops in `on_incident_status_changed`); on an incident already
    acknowledged, the pages sent into it since (people paged by hand, or escalated, after
    that): every open run stops and the notifications still planned are cancelled. Refused
    when the incident is resolved or closed, or nobody is being paged. Returns the runs that
    stopped."""
    if incident.status in CLOSED:
        raise InvalidTransition(f"{incident.reference} is already {incident.status}")
    runs = _open_runs(session, incident)
    if incident.status == Status.triggered.value:
        incidents.acknowledge(session, incident, by=by)
        return runs
    if not runs:
        raise InvalidTransition(
            f"{incident.reference} is already acknowledged and nobody is being paged"
        )
    _stop_acknowledged(session, incident, runs, by=by)
    return runs


def on_incident_status_changed(session: Session, event: IncidentStatusChanged) -> None:
    """An incident was acknowledged: the paging in progress stops at once (the runs would
    stop at their next step anyway), and the notifications still planned are cancelled."""
    if not event.acknowledged:
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    runs = _open_runs(session, incident)
    if runs:
        by = session.get(User, event.by_id) if event.by_id is not None else None
        _stop_acknowledged(session, incident, runs, by=by)


def _stop_acknowledged(
    session: Session, incident: Incident, runs: Sequence[EscalationRun], *, by: User | None
) -> None:
    why = (
        f"acknowledged by {by.name}" if by is not None else f"{incident.reference} was acknowledged"
    )
    for run in runs:
        _end(session, run, RunState.acknowledged, why)
        run.acknowledged_by_id = by.id if by is not None else None
    cancel_pending(session, incident, reason=why)
    summary = (
        f"{by.name} acknowledged the page; escalation stopped"
        if by is not None
        else "Escalation stopped: the incident was acknowledged"
    )
    record(session, incident, "paging", summary, by=by)
    emit(
        session,
        PageAcknowledged(incident.id, tuple(r.id for r in runs), by.id if by is not None else None),
    )


def runs_for(session: Session, incident_id: int) -> list[EscalationRun]:
    return list(
        session.scalars(
            select(EscalationRun)
            .where(EscalationRun.incident_id == incident_id)
            .order_by(EscalationRun.id)
        )
    )


def effective_state(run: EscalationRun) -> tuple[str, str]:
    """(state, why) as a reader should see it now, even before the next timer notices."""
    if run.state in OPEN_RUN_STATES:
        stop = stop_reason(run, run.incident)
        if stop is not None:
            return stop[0].value, stop[1]
        return run.state, ""
    return run.state, run.ended_reason


def get_run(session: Session, run_id: int) -> EscalationRun:
    run = session.get(EscalationRun, run_id)
    if run is None:
        raise NotFound(f"escalation run {run_id} not found")
    return run
