"""Ticking and unticking an attached runbook's steps, and reading its progress.

Each ticked step is its own row, unique per (attachment, step): two people ticking different
steps at once both land, and the same step ticked twice at once is ticked once. Both actions
are idempotent; only a change is put on the incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin import bus
from tocsin.catalog.models import User
from tocsin.errors import NotFound
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import actor_name, record
from tocsin.runbooks.events import RunbookStepChanged
from tocsin.runbooks.models import IncidentRunbook, StepTick


def attachments(session: Session, incident: Incident) -> list[IncidentRunbook]:
    """The incident's runbooks, in the order they were attached."""
    return list(
        session.scalars(
            select(IncidentRunbook)
            .where(IncidentRunbook.incident_id == incident.id)
            .order_by(IncidentRunbook.attached_at, IncidentRunbook.id)
        ).unique()
    )


def get_attachment(session: Session, incident: Incident, attachment_id: int) -> IncidentRunbook:
    found = session.get(IncidentRunbook, attachment_id)
    if found is None or found.incident_id != incident.id:
        raise NotFound(f"{incident.reference} has no attached runbook {attachment_id}")
    return found


def _step(attachment: IncidentRunbook, number: int) -> dict[str, Any]:
    for step in attachment.version.steps:
        if step["number"] == number:
            return step
    raise NotFound(
        f"runbook “{attachment.version.title}” has no step {number} "
        f"(it has {len(attachment.version.steps)})"
    )


def _tick_row(session: Session, attachment: IncidentRunbook, number: int) -> StepTick | None:
    return session.scalar(
        select(StepTick).where(StepTick.attachment_id == attachment.id, StepTick.step == number)
    )


def _lock(session: Session, incident: Incident) -> None:
    """Ticks of one incident take its row first (PostgreSQL; SQLite has one writer anyway),
    as the timeline entry will: two transactions ticking several steps then queue instead of
    each holding a step the other waits for (a deadlock that would lose one of them)."""
    session.execute(select(Incident.id).where(Incident.id == incident.id).with_for_update())


def tick(
    session: Session, incident: Incident, attachment: IncidentRunbook, number: int, *, by: User
) -> bool:
    """Mark step `number` done by `by`. False (nothing written) if it already was."""
    step = _step(attachment, number)
    _lock(session, incident)
    if _tick_row(session, attachment, number) is not None:
        return False
    try:
        # A savepoint: someone else's tick of the same step, committed meanwhile, makes this
        # insert fail alone, and theirs stands.
        with session.begin_nested():
            session.add(StepTick(attachment_id=attachment.id, step=number, ticked_by_id=by.id))
    except IntegrityError:
        return False
    record(
        session,
        incident,
        "runbook_step",
        f"{actor_name(by)} ticked step {number} of “{attachment.version.title}”: {step['text']}",
        by=by,
        field="runbook_step",
        new=number,
    )
    session.expire(attachment, ["ticks"])
    _emit(session, incident, attachment, step, done=True, by=by)
    return True


def untick(
    session: Session, incident: Incident, attachment: IncidentRunbook, number: int, *, by: User
) -> bool:
    """Mark step `number` not done. False (nothing written) if it was not done."""
    step = _step(attachment, number)
    _lock(session, incident)
    removed = session.execute(
        delete(StepTick).where(StepTick.attachment_id == attachment.id, StepTick.step == number)
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        return False
    record(
        session,
        incident,
        "runbook_step",
        f"{actor_name(by)} unticked step {number} of “{attachment.version.title}”: {step['text']}",
        by=by,
        field="runbook_step",
        old=number,
    )
    session.expire(attachment, ["ticks"])
    _emit(session, incident, attachment, step, done=False, by=by)
    return True


def _emit(
    session: Session,
    incident: Incident,
    attachment: IncidentRunbook,
    step: dict[str, Any],
    *,
    done: bool,
    by: User,
) -> None:
    bus.emit(
        session,
        RunbookStepChanged(
            incident_id=incident.id,
            attachment_id=attachment.id,
            runbook_id=attachment.runbook_id,
            title=attachment.version.title,
            step=step["number"],
            text=step["text"],
            role=step.get("role"),
            done=done,
            by_id=by.id,
        ),
    )


@dataclass(frozen=True)
class StepProgress:
    number: int
    text: str
    role: str | None
    tick: StepTick | None


def progress(attachment: IncidentRunbook) -> list[StepProgress]:
    """Every step of the attached version with its tick, if any."""
    ticks = {t.step: t for t in attachment.ticks}
    return [
        StepProgress(s["number"], s["text"], s["role"], ticks.get(s["number"]))
        for s in attachment.version.steps
    ]
