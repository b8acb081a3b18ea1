"""What happens to an incident's runbooks, as domain events (`tocsin.bus`).

Each is emitted by the service function that made the change, after it is written and on the
incident's timeline, in the same transaction. Who reacts is wired in `tocsin.wiring.build_bus`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class RunbookAttached(Event):
    """A runbook's current version was attached to an incident (by a person, or
    automatically when the incident was declared: `by_id` None)."""

    incident_id: int
    attachment_id: int
    runbook_id: int
    title: str
    version: int  # the attached version's number
    steps: int  # how many steps it has
    by_id: int | None


@dataclass(frozen=True)
class RunbookStepChanged(Event):
    """A step of an attached runbook was ticked (`done`) or unticked. Only a change is an
    event: ticking a ticked step emits nothing."""

    incident_id: int
    attachment_id: int
    runbook_id: int
    title: str
    step: int  # the step's number in the attached version
    text: str
    role: str | None  # the role slug the step names, if any
    done: bool
    by_id: int | None
