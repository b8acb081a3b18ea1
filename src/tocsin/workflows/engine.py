"""Running workflows: the reaction to incident events that queues one job per matching
workflow (in the change's transaction, keyed so that one event runs a workflow once), and the
job that runs it after commit, recording a `WorkflowRun` with each action's outcome.

Loops: while a run's actions are done, `session.info[DEPTH]` holds the run's depth, so the
events its own changes emit queue runs one deeper; past `DEPTH_LIMIT` the run is recorded as
skipped instead of queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.bus import Event
from tocsin.db import utcnow
from tocsin.errors import DomainError
from tocsin.incidents.models import Incident, Status, StatusUpdate
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue
from tocsin.workflows import timers
from tocsin.workflows.actions import Wait, describe, parse_actions
from tocsin.workflows.models import Workflow, WorkflowRun
from tocsin.workflows.perform import Context, actor, perform
from tocsin.workflows.triggers import Fired, Trigger, fired, mismatch, parse_conditions

RUN_JOB = "workflows.run"
DEPTH = "tocsin.workflow_depth"
DEPTH_LIMIT = 3
UNEXPECTED = "unexpected error (a bug: the log has the traceback)"

log = structlog.get_logger("tocsin.workflows")


def current_depth(session: Session) -> int:
    """The depth of the run whose actions are being done in this session (0: none)."""
    return int(session.info.get(DEPTH, 0))


def enabled_for(session: Session, trigger: Trigger) -> list[Workflow]:
    return list(
        session.scalars(
            select(Workflow)
            .where(Workflow.enabled, Workflow.trigger == trigger.value)
            .order_by(Workflow.position, Workflow.id)
        )
    )


def on_event(session: Session, event: Event) -> None:
    """Queue the workflows `event` triggers, and (re)arm the timers it concerns. One query
    when no workflow is enabled (every incident event comes here, alerts' included)."""
    enabled = list(
        session.scalars(
            select(Workflow).where(Workflow.enabled).order_by(Workflow.position, Workflow.id)
        )
    )
    if not enabled:
        return
    for fire in fired(session, event):
        timers.arm(session, fire, enabled)
        incident = session.get(Incident, fire.incident_id)
        for workflow in (w for w in enabled if w.trigger == fire.trigger.value):
            # Only the workflows whose conditions the incident meets now (checked again when
            # the run starts, as the incident may change meanwhile).
            if incident is None or not _meets(incident, workflow):
                continue
            wanted = workflow.trigger_field
            if fire.trigger == Trigger.field_changed and wanted and wanted not in fire.field_keys:
                continue
            queue_run(session, workflow, fire, depth=current_depth(session) + 1)


def _meets(incident: Incident, workflow: Workflow) -> bool:
    try:
        return mismatch(incident, parse_conditions(workflow.conditions)) is None
    except DomainError:
        return True  # the run records that its conditions are invalid


def _existing(session: Session, workflow_id: int, event_key: str) -> WorkflowRun | None:
    return session.scalar(
        select(WorkflowRun).where(
            WorkflowRun.workflow_id == workflow_id, WorkflowRun.event_key == event_key
        )
    )


def queue_run(session: Session, workflow: Workflow, fire: Fired, *, depth: int) -> None:
    """One job per workflow and triggering event (a repeated event queues nothing); beyond
    the depth limit, a skipped run saying so instead."""
    if depth > DEPTH_LIMIT:
        if _existing(session, workflow.id, fire.identity) is None:
            session.add(
                WorkflowRun(
                    workflow_id=workflow.id,
                    workflow_name=workflow.name,
                    incident_id=fire.incident_id,
                    trigger=fire.trigger.value,
                    event_key=fire.identity,
                    depth=depth,
                    state="skipped",
                    reason=f"skipped: depth limit ({DEPTH_LIMIT}): triggered by a change "
                    f"that a chain of {depth - 1} workflow runs made",
                    finished_at=utcnow(),
                )
            )
            session.flush()
        return
    payload = {
        "workflow_id": workflow.id,
        "incident_id": fire.incident_id,
        "trigger": fire.trigger.value,
        "event_key": fire.identity,
        "depth": depth,
    }
    enqueue(session, RUN_JOB, payload, key=f"wf:{workflow.id}:{fire.identity}"[:200])


def run_handler(base_url: str) -> Callable[[Session, dict[str, Any]], None]:
    """The `workflows.run` job handler; `base_url` makes the links in what actions send."""

    def handle(session: Session, payload: dict[str, Any]) -> None:
        run_job(session, payload, base_url=base_url)

    return handle


def run_job(session: Session, payload: dict[str, Any], *, base_url: str = "") -> None:
    """The job: start a run (or, after a `wait`, go on with one)."""
    incident = session.get(Incident, payload["incident_id"])
    if incident is None:
        return
    if "run_id" in payload:
        run = session.get(WorkflowRun, payload["run_id"])
        workflow = session.get(Workflow, run.workflow_id) if run and run.workflow_id else None
        if run is None:
            return
        if workflow is None:
            _finish(run, "skipped", "skipped: the workflow was deleted while waiting")
            return
        _go(session, run, workflow, incident, payload["from"], base_url)
        return
    workflow = session.get(Workflow, payload["workflow_id"])
    if workflow is None or _existing(session, workflow.id, payload["event_key"]) is not None:
        return
    run = WorkflowRun(
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        incident_id=incident.id,
        trigger=payload["trigger"],
        event_key=payload["event_key"],
        depth=payload["depth"],
        state="running",
        outcomes=[],
    )
    session.add(run)
    session.flush()
    if not workflow.enabled:
        _finish(run, "skipped", "skipped: the workflow was disabled")
        return
    try:
        why = mismatch(incident, parse_conditions(workflow.conditions))
    except DomainError as exc:
        _finish(run, "failed", f"failed: its conditions are invalid: {exc}")
        return
    if why is None:
        why = _over(incident, payload["trigger"])
    if why is not None:
        _finish(run, "skipped", f"skipped: {why}")
        return
    _go(session, run, workflow, incident, 0, base_url)


# The triggers that belong to the end of an incident: the only ones that still run once it is.
ENDING = {Trigger.resolved.value, Trigger.closed.value}


def _over(incident: Incident, trigger: str) -> str | None:
    """Why a run of `trigger` is pointless now: the incident ended before the run started
    (recorded as resolved, or backfilled as closed, in the change that fired it). Telling
    stakeholders it was declared, or paging for it, would only be noise."""
    if trigger in ENDING or Status(incident.status) not in (Status.resolved, Status.closed):
        return None
    return f"the incident was {incident.status} before the workflow ran"


def _finish(run: WorkflowRun, state: str, reason: str) -> None:
    run.state = state
    run.reason = reason
    run.finished_at = utcnow()


def _go(
    session: Session,
    run: WorkflowRun,
    workflow: Workflow,
    incident: Incident,
    start: int,
    base_url: str,
) -> None:
    """Do the actions from `start`, each in a savepoint (a failed one is undone and the next
    still runs), until the end or a `wait`.

    An unexpected exception (not a domain error: a bug) is treated like a failed action,
    with its traceback logged: the run says "failed" and why, rather than the job being
    retried (which would do again the actions before it) and ending failed with no word on
    the incident."""
    try:
        actions = parse_actions(workflow.actions)
    except DomainError as exc:
        _finish(run, "failed", f"failed: its actions are invalid: {exc}")
        return
    by = actor(session, workflow.created_by_id, incident)
    outer = session.info.get(DEPTH)
    session.info[DEPTH] = run.depth
    try:
        for index in range(start, len(actions)):
            action = actions[index]
            if isinstance(action, Wait):
                _wait(session, run, incident, action, index)
                return
            try:
                with session.begin_nested():
                    outcome = perform(session, incident, action, by, Context(run, index, base_url))
            except DomainError as exc:
                outcome = f"failed: {describe(action)}: {exc}"
            except Exception:
                log.exception(
                    "workflow.action_error", run_id=run.id, workflow=workflow.name, action=index
                )
                outcome = f"failed: {describe(action)}: {UNEXPECTED}"
            run.outcomes = [*run.outcomes, outcome]
    finally:
        if outer is None:
            session.info.pop(DEPTH, None)
        else:
            session.info[DEPTH] = outer
    failed = [i + 1 for i, o in enumerate(run.outcomes) if o.startswith("failed")]
    if failed:
        numbers = ", ".join(str(i) for i in failed)
        _finish(run, "failed", f"{len(failed)} action(s) failed (action {numbers})")
    else:
        _finish(run, "done", "")
    record(
        session,
        incident,
        "workflow",
        f"Workflow “{workflow.name}” ran: {'; '.join(run.outcomes) or 'no actions'}",
        by=None,
    )


def _wait(session: Session, run: WorkflowRun, incident: Incident, action: Wait, index: int) -> None:
    """Run the rest later, as another job of the same run."""
    run.outcomes = [*run.outcomes, f"waiting: {action.minutes} minutes"]
    run.state = "waiting"
    enqueue(
        session,
        RUN_JOB,
        {"run_id": run.id, "incident_id": incident.id, "from": index + 1},
        run_at=utcnow() + timedelta(minutes=action.minutes),
        key=f"wf-run:{run.id}:{index}",
    )


def timer_job(session: Session, payload: dict[str, Any]) -> None:
    """A timer came due: run its workflow if nothing happened since it was armed."""
    workflow = session.get(Workflow, payload["workflow_id"])
    incident = session.get(Incident, payload["incident_id"])
    if workflow is None or incident is None or not workflow.enabled:
        return
    if Status(incident.status) in (Status.resolved, Status.closed):
        return
    trigger = Trigger(workflow.trigger)
    armed_at = datetime.fromisoformat(payload["armed_at"])
    if trigger == Trigger.no_acknowledgement and incident.acknowledged_at is not None:
        return
    if trigger == Trigger.no_update:
        last = session.scalar(
            select(func.max(StatusUpdate.created_at)).where(StatusUpdate.incident_id == incident.id)
        )
        if last is not None and last > armed_at:
            return
    fire = Fired(trigger, incident.id, f"timer:{payload['armed_by']}")
    queue_run(session, workflow, fire, depth=current_depth(session) + 1)
