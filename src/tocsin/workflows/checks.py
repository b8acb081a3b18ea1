"""Workflows' part of `tocsin check` (`tocsin.findings`): warnings for enabled workflows whose
actions refer to something deleted since (a runbook, role, person, schedule, team, channel,
severity or priority), which a run would skip with the same reason, or whose stored actions
no longer validate."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.errors import DomainError
from tocsin.findings import Finding
from tocsin.workflows import service
from tocsin.workflows.actions import parse_actions
from tocsin.workflows.perform import problem


def workflow_findings(session: Session) -> list[Finding]:
    findings = []
    for workflow in service.list_workflows(session):
        if not workflow.enabled:
            continue
        try:
            actions = parse_actions(workflow.actions)
        except DomainError as exc:
            message = f"workflow “{workflow.name}”: its actions are invalid: {exc}"
            findings.append(Finding("warning", "workflow", workflow.name, message))
            continue
        for index, action in enumerate(actions):
            reason = problem(session, action)
            if reason is not None:
                message = f"workflow “{workflow.name}”: action {index + 1} ({action.kind}): "
                findings.append(Finding("warning", "workflow", workflow.name, message + reason))
    return findings
