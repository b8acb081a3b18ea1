"""Runbooks' part of `tocsin check` (`tocsin.findings`): warnings only (a runbook is not a
page). A step naming a role that was deleted since (the runbook cannot be saved again until
the marker is changed), and a runbook set to attach itself that covers no incident (its
type was deleted, or it never named one nor any service)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.findings import Finding
from tocsin.runbooks import service


def runbook_findings(session: Session) -> list[Finding]:
    findings = []
    roles = service.known_roles(session)
    for runbook in service.list_runbooks(session):
        for step in service.current(runbook).steps:
            if step["role"] is not None and step["role"] not in roles:
                findings.append(
                    Finding(
                        "warning",
                        "runbook_role",
                        runbook.name,
                        f"runbook \u201c{runbook.name}\u201d: step {step['number']} names the "
                        f"role {step['role']!r}, which no longer exists",
                    )
                )
        if runbook.auto_attach and runbook.incident_type_id is None and not runbook.services:
            findings.append(
                Finding(
                    "warning",
                    "runbook_scope",
                    runbook.name,
                    f"runbook \u201c{runbook.name}\u201d attaches itself automatically but names "
                    "no incident type and no service, so it is never attached",
                )
            )
    return findings
