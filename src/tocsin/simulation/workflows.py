"""Which workflows a declared incident would run: the dry run asks workflows
(`workflows.dryrun.would_run`, which evaluates conditions and describes actions without doing
them), and its interfaces show what it returns."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.workflows.dryrun import would_run
from tocsin.workflows.triggers import Trigger


@dataclass(frozen=True)
class WorkflowPreview:
    """A workflow that would run, and what its actions would do, in words."""

    name: str
    actions: tuple[str, ...]


def workflows_that_would_run(session: Session, incident: Incident) -> list[WorkflowPreview]:
    """The workflows declaring `incident` would start, in order. Writes nothing."""
    return [
        WorkflowPreview(p.name, p.actions) for p in would_run(session, incident, Trigger.declared)
    ]
