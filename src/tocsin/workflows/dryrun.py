""" "Test against an incident": which workflows a trigger would run on an incident and what
each action would do, in words. It reads only: conditions are evaluated and each action's
references are checked (`perform.problem`), nothing is written or queued."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.errors import DomainError
from tocsin.incidents.models import Incident
from tocsin.workflows.actions import parse_actions
from tocsin.workflows.engine import enabled_for
from tocsin.workflows.models import Workflow
from tocsin.workflows.perform import problem
from tocsin.workflows.references import in_words
from tocsin.workflows.triggers import Trigger, mismatch, parse_conditions


@dataclass(frozen=True)
class Preview:
    """One workflow: whether it would run (else why not) and each action, in words."""

    workflow_id: int
    name: str
    runs: bool
    reason: str
    actions: tuple[str, ...]


def preview(session: Session, workflow: Workflow, incident: Incident) -> Preview:
    """What `workflow` would do to `incident` if its trigger fired now; each action names what
    it refers to ("add runbook 3 (runbook: Incident commander checklist)")."""
    try:
        why = mismatch(incident, parse_conditions(workflow.conditions))
        actions = parse_actions(workflow.actions)
    except DomainError as exc:
        return Preview(workflow.id, workflow.name, False, f"invalid: {exc}", ())
    if not workflow.enabled:
        why = "the workflow is disabled"
    lines = []
    for action, stored in zip(actions, workflow.actions, strict=True):
        reason = problem(session, action)
        line = in_words(session, action, stored)
        lines.append(line + (f" (would be skipped: {reason})" if reason else ""))
    return Preview(workflow.id, workflow.name, why is None, why or "", tuple(lines))


def would_run(session: Session, incident: Incident, trigger: Trigger | str) -> list[Preview]:
    """The enabled workflows of `trigger` that `incident` meets, in the order they run."""
    previews = [preview(session, w, incident) for w in enabled_for(session, Trigger(trigger))]
    return [p for p in previews if p.runs]
