"""Reading workflows' runs for the settings pages: each workflow's latest run, and one
workflow's recent runs on the incidents the viewer may see."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import Incident
from tocsin.workflows.models import Workflow, WorkflowRun

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
