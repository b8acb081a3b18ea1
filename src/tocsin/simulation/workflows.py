"""Which workflows a declared incident would run: the extension point for workflows.

Tocsin has no workflows yet, so none would run. When they exist, this function answers from
the workflows' own trigger and conditions (a declared incident), without running any, and the
dry run's interfaces show what it returns."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident


@dataclass(frozen=True)
class WorkflowPreview:
    """A workflow that would run, and what its actions would do, in words."""

    name: str
    actions: tuple[str, ...]


def workflows_that_would_run(session: Session, incident: Incident) -> list[WorkflowPreview]:
    """The workflows declaring `incident` would start, in order. Always empty until
    workflows exist."""
    return []
