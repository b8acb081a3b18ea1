"""The timer triggers: "no acknowledgement after N minutes" and "no update for N minutes".

When an incident is declared (and, for "no update", whenever an update is posted) a
`workflows.timer` job is queued N minutes later for each enabled timer workflow; when it
comes due, `engine.timer_job` runs the workflow only if nothing happened meanwhile (still
unacknowledged; no update posted since the timer was armed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.workflows.models import Workflow
from tocsin.workflows.triggers import Fired, Trigger

TIMER_JOB = "workflows.timer"


def arm(session: Session, fire: Fired, enabled: list[Workflow]) -> None:
    """Queue the timers of the `enabled` workflows that `fire` starts (declared: both kinds;
    an update: "no update")."""
    if fire.trigger == Trigger.declared:
        kinds = [Trigger.no_acknowledgement.value, Trigger.no_update.value]
    elif fire.trigger == Trigger.update_posted:
        kinds = [Trigger.no_update.value]
    else:
        return
    now = utcnow()
    for workflow in (w for w in enabled if w.trigger in kinds):
        minutes = workflow.trigger_minutes or 0
        if minutes < 1:
            continue
        enqueue(
            session,
            TIMER_JOB,
            {
                "workflow_id": workflow.id,
                "incident_id": fire.incident_id,
                "armed_at": now.isoformat(),
                "armed_by": fire.identity,
            },
            run_at=now + timedelta(minutes=minutes),
            key=f"wf-timer:{workflow.id}:{fire.identity}"[:200],
        )
