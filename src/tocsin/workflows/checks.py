"""Workflows' part of `tocsin check` (`tocsin.findings`): warnings for enabled workflows whose
actions refer to something deleted since (a runbook, role, person, schedule, team, channel,
severity or priority), which a run would skip with the same reason; whose conditions name a
type, severity, priority, service or team that does not exist (renamed or deleted: the
workflow silently never runs for it); or whose stored actions no longer validate."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.definitions.models import IncidentType, Priority, Severity
from tocsin.errors import DomainError
from tocsin.findings import Finding
from tocsin.workflows import service
from tocsin.workflows.actions import parse_actions
from tocsin.workflows.models import Workflow
from tocsin.workflows.perform import problem
from tocsin.workflows.triggers import parse_conditions

_NAMED = (
    ("types", IncidentType, "incident type"),
    ("severities", Severity, "severity"),
    ("priorities", Priority, "priority"),
    ("services", Service, "service"),
    ("teams", Team, "team"),
)


def _unknown_names(session: Session, workflow: Workflow) -> list[str]:
    try:
        conditions = parse_conditions(workflow.conditions)
    except DomainError as exc:
        return [f"its conditions are invalid: {exc}"]
    problems = []
    for attr, model, what in _NAMED:
        wanted = getattr(conditions, attr)
        if not wanted:
            continue
        known = set(session.scalars(select(model.name).where(model.name.in_(wanted))))
        problems += [f"its conditions name {what} '{n}', which does not exist"
                     for n in wanted if n not in known]  # fmt: skip
    return problems


def workflow_findings(session: Session) -> list[Finding]:
    findings = []
    for workflow in service.list_workflows(session):
        if not workflow.enabled:
            continue
        for reason in _unknown_names(session, workflow):
            message = f"workflow “{workflow.name}”: {reason}"
            findings.append(Finding("warning", "workflow", workflow.name, message))
        try:
            actions = parse_actions(workflow.actions)
        except DomainError as exc:
            message = f"workflow “{workflow.name}”: its actions are invalid: {exc}"
            findings.append(Finding("warning", "workflow", workflow.name, message))
            continue
        for index, action in enumerate(actions):
            gone = problem(session, action)
            if gone is not None:
                message = f"workflow “{workflow.name}”: action {index + 1} ({action.kind}): "
                findings.append(Finding("warning", "workflow", workflow.name, message + gone))
    return findings
