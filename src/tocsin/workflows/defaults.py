"""The seeded workflows: PagerDuty's severity table ("what each severity sets in motion").

SEV1: page the IC (the roster's primary and backup at once), prompt the internal update to
stakeholders and the first external update (action items: an update posted while the incident
is triggered would move it to investigating, which stops its paging). SEV2: page the IC. SEV3:
a high-urgency page to the service's team (its escalation policy). SEV4: a low-urgency one.

They are seeded disabled, so that upgrading pages nobody new: an admin turns them on (PATCH
/api/v1/workflows/{id} with enabled true). Editable like any other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.definitions.models import Severity
from tocsin.workflows import service
from tocsin.workflows.models import Workflow

DEFAULTS: list[dict[str, Any]] = [
    {
        "name": "SEV1: page the IC, prompt the internal and external updates",
        "severity": "SEV1",
        "actions": [
            {"kind": "page", "target": "ic", "urgency": "high"},
            {
                "kind": "create_action_item",
                "title": "Tell internal stakeholders: post the first internal update",
                "description": "Once acknowledged: what is affected, who is on it, when the "
                "next update comes.",
            },
            {
                "kind": "create_action_item",
                "title": "Post the first external update",
                "description": "A SEV1 affects customers: tell them on the status page.",
            },
        ],
    },
    {
        "name": "SEV2: page the IC",
        "severity": "SEV2",
        "actions": [{"kind": "page", "target": "ic", "urgency": "high"}],
    },
    {
        "name": "SEV3: high-urgency page to the service's team",
        "severity": "SEV3",
        "actions": [{"kind": "page", "target": "service_policy", "urgency": "high"}],
    },
    {
        "name": "SEV4: low-urgency page to the service's team",
        "severity": "SEV4",
        "actions": [{"kind": "page", "target": "service_policy", "urgency": "low"}],
    },
]


def ensure_default_workflows(session: Session) -> bool:
    """Seed the defaults where no workflow was ever written, for the severities that exist.
    Returns True if it did."""
    if session.scalar(select(func.count(Workflow.id))):
        return False
    names = set(session.scalars(select(Severity.name)))
    for position, spec in enumerate(DEFAULTS):
        if spec["severity"] not in names:
            continue
        service.create(
            session,
            name=spec["name"],
            trigger="declared",
            conditions={"severities": [spec["severity"]], "drill": "no"},
            actions=spec["actions"],
            position=position,
            enabled=False,
            by=None,
        )
    return True
