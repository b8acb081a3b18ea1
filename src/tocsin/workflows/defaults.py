"""The seeded workflows: PagerDuty's severity table ("what each severity sets in motion").

SEV1: page the IC (the roster's primary and backup at once), attach the incident commander's
checklist, tell the internal stakeholders and the incident's internal channels that it was
declared (messages, not an update: an update would take the incident out of triggered, which
stops its paging), and prompt the first external update (an action item: what customers read
is written by a person). SEV2: page the IC. SEV3: a high-urgency page to the service's team
(its escalation policy). SEV4: a low-urgency one. Drills run them too (their pages and
messages say DRILL): a drill rehearses the real response.

Enabled on a new database (`migrate.upgrade` from empty); an existing database that gains
them by an upgrade gets them disabled, so that nobody is paged by something they did not
choose (an admin turns them on). Editable like any other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.definitions.models import Severity
from tocsin.runbooks.models import Runbook
from tocsin.workflows import service
from tocsin.workflows.models import Workflow

IC_RUNBOOK = "Incident commander checklist"  # runbooks.defaults
DECLARED = (
    "A SEV1 incident was declared. The incident commander is being paged; follow the "
    "incident page for updates."
)

DEFAULTS: list[dict[str, Any]] = [
    {
        "name": "SEV1: page the IC, tell stakeholders, prompt the external update",
        "severity": "SEV1",
        "actions": [
            {"kind": "page", "target": "ic", "urgency": "high"},
            {"kind": "add_runbook", "runbook": IC_RUNBOOK},
            {"kind": "notify_stakeholders", "message": DECLARED},
            {"kind": "post_to_channel", "message": DECLARED},
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


def _resolved(session: Session, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runbook named by a default, as its id; dropped if the install has no such runbook."""
    out = []
    for action in actions:
        if action["kind"] == "add_runbook":
            rid = session.scalar(
                select(Runbook.id).where(
                    Runbook.name == action["runbook"], Runbook.deleted_at.is_(None)
                )
            )
            if rid is None:
                continue
            action = {"kind": "add_runbook", "runbook_id": rid}
        out.append(action)
    return out


def ensure_default_workflows(session: Session, *, enabled: bool = False) -> bool:
    """Seed the defaults where no workflow was ever written, for the severities that exist,
    `enabled` or not. Returns True if it did."""
    if session.scalar(select(func.count(Workflow.id))):
        return False
    names = set(session.scalars(select(Severity.name)))
    for position, spec in enumerate(DEFAULTS):
        if spec["severity"] not in names:
            continue
        service.create(
            session,
            guard=None,  # the defaults call no webhook
            name=spec["name"],
            trigger="declared",
            conditions={"severities": [spec["severity"]], "drill": "any"},
            actions=_resolved(session, spec["actions"]),
            position=position,
            enabled=enabled,
            by=None,
        )
    return True
