"""Writing workflows: create, edit, delete (they flush, never commit), and reading them and
an incident's runs. Everything is validated before it is stored: the trigger, the conditions
and each action (a ValidationFailed names the action's index and field)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.incidents.models import Incident
from tocsin.outbound import OutboundGuard, OutboundRefused
from tocsin.workflows.actions import Action, CallWebhook, dump, parse_actions
from tocsin.workflows.models import Workflow, WorkflowRun
from tocsin.workflows.triggers import TIMERS, Trigger, parse_conditions


def _trigger(value: object, minutes: object) -> tuple[str, int | None]:
    trigger = v.one_of(value, "trigger", [t.value for t in Trigger])
    if Trigger(trigger) in TIMERS:
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 10080:
            raise ValidationFailed(
                "a timer needs trigger_minutes, 1 to 10080", field="trigger_minutes"
            )
        return trigger, minutes
    return trigger, None


def _name(session: Session, value: object, workflow: Workflow | None = None) -> str:
    name = v.text(value, "name", max_len=200, required=True)
    other = session.scalar(select(Workflow).where(Workflow.name == name))
    if other is not None and other is not workflow:
        raise Conflict(f"a workflow named “{name}” exists", field="name")
    return name


def _actions(raw: object, guard: OutboundGuard | None) -> list[dict[str, Any]]:
    """The actions validated; with `guard`, a webhook URL must reach a public address (or
    one the settings allow), as event webhook subscriptions' URLs must."""
    actions: list[Action] = parse_actions(raw)
    for index, action in enumerate(actions):
        if guard is not None and isinstance(action, CallWebhook):
            parts = urlsplit(action.url)
            try:
                guard.check_host(parts.hostname or "", parts.port)
            except OutboundRefused as exc:
                field = f"actions[{index}].url"
                raise ValidationFailed(f"{field}: {exc.reason}", field=field) from exc
    return dump(actions)


def create(
    session: Session,
    *,
    name: str,
    trigger: str,
    actions: list[dict[str, Any]],
    conditions: dict[str, Any] | None = None,
    trigger_minutes: int | None = None,
    trigger_field: str = "",
    enabled: bool = True,
    position: int = 0,
    by: User | None,
    guard: OutboundGuard | None,
) -> Workflow:
    """A new workflow, validated whole. `guard`: the settings' outbound guard, which a
    webhook URL must pass now (every call is checked again when sent); None only where the
    actions are Tocsin's own (the seeded defaults call no webhook)."""
    trigger, minutes = _trigger(trigger, trigger_minutes)
    workflow = Workflow(
        name=_name(session, name),
        trigger=trigger,
        trigger_minutes=minutes,
        trigger_field=v.text(trigger_field, "trigger_field", max_len=64),
        conditions=parse_conditions(conditions).model_dump(mode="json"),
        actions=_actions(actions, guard),
        enabled=bool(enabled),
        position=position,
        created_by_id=by.id if by else None,
        signing_salt=secrets.token_hex(16),
    )
    session.add(workflow)
    session.flush()
    return workflow


EDITABLE = {"name", "trigger", "trigger_minutes", "trigger_field", "conditions", "actions"}
EDITABLE |= {"enabled", "position"}


def edit(
    session: Session,
    workflow: Workflow,
    changes: dict[str, Any],
    *,
    guard: OutboundGuard | None,
) -> Workflow:
    """Change some of a workflow's settings; the result is validated whole (`guard`: as
    for `create`)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "name" in changes:
        workflow.name = _name(session, changes["name"], workflow)
    if "trigger" in changes or "trigger_minutes" in changes:
        workflow.trigger, workflow.trigger_minutes = _trigger(
            changes.get("trigger", workflow.trigger),
            changes.get("trigger_minutes", workflow.trigger_minutes),
        )
    if "trigger_field" in changes:
        workflow.trigger_field = v.text(changes["trigger_field"], "trigger_field", max_len=64)
    if "conditions" in changes:
        workflow.conditions = parse_conditions(changes["conditions"]).model_dump(mode="json")
    if "actions" in changes:
        workflow.actions = _actions(changes["actions"], guard)
    if "enabled" in changes:
        workflow.enabled = bool(changes["enabled"])
    if "position" in changes:
        workflow.position = int(changes["position"])
    workflow.updated_at = utcnow()
    session.flush()
    return workflow


def rotate_secret(session: Session, workflow: Workflow) -> None:
    """A new signing secret for its webhook calls; the old one stops matching at once."""
    workflow.signing_salt = secrets.token_hex(16)
    workflow.updated_at = utcnow()
    session.flush()


def delete(session: Session, workflow: Workflow) -> None:
    """Delete it; its runs stay on their incidents, under its name."""
    session.delete(workflow)
    session.flush()


def get_workflow(session: Session, workflow_id: int) -> Workflow:
    found = session.get(Workflow, workflow_id)
    if found is None:
        raise NotFound(f"workflow {workflow_id} does not exist")
    return found


def list_workflows(session: Session) -> list[Workflow]:
    return list(session.scalars(select(Workflow).order_by(Workflow.position, Workflow.id)))


def runs_of(session: Session, incident: Incident) -> list[WorkflowRun]:
    """The incident's runs, oldest first."""
    return list(
        session.scalars(
            select(WorkflowRun)
            .where(WorkflowRun.incident_id == incident.id)
            .order_by(WorkflowRun.id)
        )
    )


def move(session: Session, workflow: Workflow, offset: int) -> None:
    """Move `workflow` one place earlier (-1) or later (+1) in the order workflows run;
    positions are renumbered 10, 20, 30… so that the order is explicit afterwards."""
    ordered = list_workflows(session)
    index = ordered.index(workflow)
    other = index + (1 if offset > 0 else -1)
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for number, item in enumerate(ordered, start=1):
        if item.position != number * 10:
            item.position = number * 10
            item.updated_at = utcnow()
    session.flush()
