"""The paging record of an incident: "who was notified, how, and when", and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team
from tocsin.escalation import engine, policies
from tocsin.escalation.models import OPEN_RUN_STATES
from tocsin.escalation.schemas import NotificationOut, PagingRecordOut, run_out
from tocsin.incidents.models import Incident
from tocsin.notify.models import Notification
from tocsin.notify.service import notifications_for


def paging_record(session: Session, incident: Incident) -> PagingRecordOut:
    runs = engine.runs_for(session, incident.id)
    return PagingRecordOut(
        runs=[run_out(run, *engine.effective_state(run)) for run in runs],
        notifications=[notification_out(n) for n in notifications_for(session, incident.id)],
    )


def notification_out(n: Notification) -> NotificationOut:
    label = f"{n.channel} ({n.method_label})" if n.method_label else n.channel
    return NotificationOut(
        id=n.id,
        user_id=n.user_id,
        user=n.user.name,
        channel=label,
        reason=n.reason,
        state=n.state,
        detail=n.detail,
        planned_at=n.planned_at,
        sent_at=n.sent_at,
    )


def panel_context(session: Session, incident: Incident) -> dict[str, Any]:
    """What the incident page's paging card shows."""
    record = paging_record(session, incident)
    runs = engine.runs_for(session, incident.id)
    items = []
    for run in runs:
        state, why = engine.effective_state(run)
        items.append({"run": run, "state": state, "why": why})
    policy = None
    for service in incident.services:
        paging = policies.paging_for(session, service.id)
        if paging is not None and paging.policy is not None:
            policy = paging.policy
            break
    open_runs = [r for r in runs if r.state in OPEN_RUN_STATES]
    current = max((r.level for r in open_runs if r.policy_id), default=0)
    return {
        "runs": items,
        "open_runs": [i for i in items if i["state"] in OPEN_RUN_STATES],
        "notifications": record.notifications,
        "policies": policies.list_policies(session),
        "policy": policy,
        "suggested_level": min(current + 1, len(policy.levels)) if policy else 1,
        "teams": session.scalars(select(Team).order_by(Team.name)).all(),
        "note": "" if incident.services else "the incident has no service",
    }
