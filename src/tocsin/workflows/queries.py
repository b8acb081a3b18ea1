"""Reading workflows for pages and other domains: each workflow's latest run and one
workflow's recent runs on the incidents a viewer may see (the settings pages), and what each
severity sets in motion (the response plan's severity table). Reads only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.errors import DomainError
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import Incident
from tocsin.workflows.actions import parse_actions
from tocsin.workflows.models import Workflow, WorkflowRun
from tocsin.workflows.references import in_words
from tocsin.workflows.triggers import Conditions, Trigger, parse_conditions

RECENT = 50


def last_runs(session: Session) -> dict[int, WorkflowRun]:
    """Each workflow's latest run, by workflow id (one query)."""
    latest = (
        select(func.max(WorkflowRun.id))
        .where(WorkflowRun.workflow_id.is_not(None))
        .group_by(WorkflowRun.workflow_id)
    )
    runs = session.scalars(select(WorkflowRun).where(WorkflowRun.id.in_(latest)))
    return {r.workflow_id: r for r in runs if r.workflow_id is not None}


def recent_runs(
    session: Session, workflow: Workflow, viewer: User, limit: int = RECENT
) -> list[tuple[WorkflowRun, Incident]]:
    """The workflow's latest runs, newest first, on incidents `viewer` may see."""
    rows = session.execute(
        select(WorkflowRun, Incident)
        .join(Incident, Incident.id == WorkflowRun.incident_id)
        .where(WorkflowRun.workflow_id == workflow.id, visible_filter(viewer))
        .order_by(WorkflowRun.id.desc())
        .limit(limit)
    )
    return [(run, incident) for run, incident in rows]


def next_position(session: Session) -> int:
    """A position after every workflow's: where a new one goes in the order they run."""
    highest = session.scalar(select(func.max(Workflow.position)))
    return int(highest or 0) + 10


# The triggers that start with a severity: an incident declared with it, or changed to it.
SEVERITY_TRIGGERS = (Trigger.declared, Trigger.severity_changed)
WHEN = {
    Trigger.declared: "when declared",
    Trigger.severity_changed: "when its severity changes to it",
}


@dataclass(frozen=True)
class InMotion:
    """An enabled workflow an incident of a severity starts, and its actions in words."""

    workflow_id: int
    name: str
    trigger: str  # "declared" or "severity_changed"
    when: str  # the trigger in words
    limits: str  # the workflow's other conditions in words ("" when none)
    actions: tuple[str, ...]


def _limits(c: Conditions) -> str:
    """The conditions other than severity, as a reader of the plan needs them."""
    parts = []
    if c.types:
        parts.append("type " + " or ".join(c.types))
    if c.priorities:
        parts.append("priority " + " or ".join(c.priorities))
    if c.services:
        parts.append("services " + ", ".join(c.services))
    if c.teams:
        parts.append("services of team " + " or ".join(c.teams))
    parts += [f"field '{key}' is {value!r}" for key, value in c.fields.items()]
    if c.restricted != "any":
        parts.append("restricted incidents" if c.restricted == "yes" else "unrestricted incidents")
    return ("only for " + "; ".join(parts)) if parts else ""


def set_in_motion(session: Session, severities: list[str]) -> dict[str, list[InMotion]]:
    """For each severity name, the enabled workflows that declaring an incident with it, or
    changing an incident to it, would start (drills aside), in the order they run. A workflow
    whose stored conditions or actions no longer parse is left out (`tocsin check` names it)."""
    out: dict[str, list[InMotion]] = {name: [] for name in severities}
    rows = session.scalars(
        select(Workflow)
        .where(Workflow.enabled, Workflow.trigger.in_([t.value for t in SEVERITY_TRIGGERS]))
        .order_by(Workflow.position, Workflow.id)
    ).all()
    for trigger in SEVERITY_TRIGGERS:
        for workflow in (w for w in rows if w.trigger == trigger.value):
            try:
                conditions = parse_conditions(workflow.conditions)
                parsed = parse_actions(workflow.actions)
            except DomainError:
                continue
            if conditions.drill == "yes":
                continue  # only drills: nothing a real incident sets in motion
            actions = tuple(
                in_words(session, a, stored)
                for a, stored in zip(parsed, workflow.actions, strict=True)
            )
            row = InMotion(
                workflow.id, workflow.name, trigger.value, WHEN[trigger], _limits(conditions),
                actions,
            )  # fmt: skip
            for name in severities:
                if not conditions.severities or name in conditions.severities:
                    out[name].append(row)
    return out
