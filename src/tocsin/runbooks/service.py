"""Runbook actions: write a runbook (every edit a new version), delete it, attach it to an
incident (by hand, or by itself when one of its kind is declared).

Every function validates, writes and, where an incident is concerned, appends to its
timeline and emits a domain event (`runbooks.events`) in the caller's transaction. None of
them commits. Ticking steps is in `progress`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tocsin import bus
from tocsin import validation as v
from tocsin.catalog.models import Service, User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, IncidentType
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.incidents.events import IncidentDeclared
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import actor_name, record
from tocsin.runbooks.events import RunbookAttached
from tocsin.runbooks.models import IncidentRunbook, Runbook, RunbookVersion
from tocsin.runbooks.parsing import steps

NAME_MAX = 200
# A runbook's Markdown, at most: a long checklist with its commands fits many times over.
BODY_MAX = 50_000
STEPS_MAX = 200
STEP_MAX = 1_000  # one step's own line

_UNSET: Any = object()


def known_roles(session: Session) -> set[str]:
    return set(session.scalars(select(IncidentRole.slug)))


def role_names(session: Session) -> dict[str, str]:
    """Each role's name by its slug, for showing a step's owner."""
    rows = session.execute(select(IncidentRole.slug, IncidentRole.name))
    return {slug: name for slug, name in rows}


def checked_steps(session: Session, body: str) -> list[dict[str, Any]]:
    """The body's steps as stored on a version; ValidationFailed for an unknown role, too
    many steps, a step too long, or none at all."""
    found = steps(body)
    if not found:
        raise ValidationFailed(
            "body has no steps: write each step as a line starting with `- [ ] `", field="body"
        )
    if len(found) > STEPS_MAX:
        raise ValidationFailed(f"body has {len(found)} steps; at most {STEPS_MAX}", field="body")
    roles = known_roles(session)
    for step in found:
        if len(step.text) > STEP_MAX:
            raise ValidationFailed(
                f"step {step.number} is too long ({len(step.text)} characters; at most {STEP_MAX})",
                field="body",
            )
        if step.role is not None and step.role not in roles:
            raise ValidationFailed(
                f"step {step.number} names the role {step.role!r}, which does not exist "
                f"(known roles: {', '.join(sorted(roles))})",
                field="body",
            )
    return [{"number": s.number, "text": s.text, "role": s.role} for s in found]


def _name(session: Session, value: object, runbook: Runbook | None = None) -> str:
    name = v.text(value, "name", max_len=NAME_MAX, required=True)
    clash = session.scalar(select(Runbook).where(func.lower(Runbook.name) == name.lower()))
    if clash is not None and clash is not runbook:
        raise Conflict(f"a runbook named {name!r} already exists", field="name")
    return name


def _body(value: object) -> str:
    return v.text(value, "body", max_len=BODY_MAX, required=True, strip=False).strip("\n")


def _type_id(session: Session, value: int | None) -> int | None:
    if value is not None and session.get(IncidentType, value) is None:
        raise UnknownReference(f"no incident type {value}", field="incident_type_id")
    return value


def _services(session: Session, ids: Sequence[int]) -> list[Service]:
    wanted = sorted(set(ids))
    found = list(session.scalars(select(Service).where(Service.id.in_(wanted))))
    missing = set(wanted) - {s.id for s in found}
    if missing:
        raise UnknownReference(f"no service {min(missing)}", field="service_ids")
    return found


def _new_version(session: Session, runbook: Runbook, body: str, by: User | None) -> None:
    number = (runbook.current_version + 1) if runbook.versions else 1
    version = RunbookVersion(
        runbook=runbook,
        number=number,
        title=runbook.name,
        body=body,
        steps=checked_steps(session, body),
        created_by_id=by.id if by else None,
    )
    session.add(version)
    runbook.current_version = number


def create(
    session: Session,
    *,
    name: str,
    body: str,
    by: User | None,
    incident_type_id: int | None = None,
    service_ids: Sequence[int] = (),
    auto_attach: bool = False,
) -> Runbook:
    """A new runbook at version 1."""
    runbook = Runbook(
        name=_name(session, name),
        incident_type_id=_type_id(session, incident_type_id),
        auto_attach=bool(auto_attach),
        services=_services(session, service_ids),
    )
    text = _body(body)
    checked_steps(session, text)  # before anything is added to the session
    session.add(runbook)
    _new_version(session, runbook, text, by)
    session.flush()
    return runbook


def edit(
    session: Session,
    runbook: Runbook,
    *,
    by: User | None,
    name: str | None = None,
    body: str | None = None,
    incident_type_id: int | None = _UNSET,
    service_ids: Sequence[int] | None = None,
    auto_attach: bool | None = None,
) -> Runbook:
    """Change what is given. A new name or text is a new version; incidents that hold an
    earlier one keep it."""
    _live(runbook)
    new_name = _name(session, name, runbook) if name is not None else runbook.name
    new_body = _body(body) if body is not None else current(runbook).body
    if new_body != current(runbook).body or new_name != runbook.name:
        checked_steps(session, new_body)
    type_id = runbook.incident_type_id
    if incident_type_id is not _UNSET:
        type_id = _type_id(session, incident_type_id)
    services = _services(session, service_ids) if service_ids is not None else None
    changed_text = new_body != current(runbook).body or new_name != runbook.name
    runbook.name = new_name
    runbook.incident_type_id = type_id
    if services is not None:
        runbook.services = services
    if auto_attach is not None:
        runbook.auto_attach = bool(auto_attach)
    if changed_text:
        _new_version(session, runbook, new_body, by)
    runbook.updated_at = utcnow()
    session.flush()
    return runbook


def delete(session: Session, runbook: Runbook, *, by: User | None) -> None:
    """Withdraw a runbook: no longer listed or attachable; incidents keep their copies."""
    _live(runbook)
    runbook.deleted_at = utcnow()
    runbook.auto_attach = False
    # Free the name for a new runbook.
    runbook.name = f"{runbook.name[: NAME_MAX - 20]} (deleted {runbook.id})"
    session.flush()


def _live(runbook: Runbook) -> None:
    if runbook.deleted_at is not None:
        raise NotFound(f"runbook {runbook.id} was deleted")


def current(runbook: Runbook) -> RunbookVersion:
    return next(v for v in runbook.versions if v.number == runbook.current_version)


def get_runbook(session: Session, runbook_id: int) -> Runbook:
    """A runbook that is not deleted; NotFound otherwise."""
    runbook = session.get(Runbook, runbook_id)
    if runbook is None or runbook.deleted_at is not None:
        raise NotFound(f"no runbook {runbook_id}")
    return runbook


def list_runbooks(session: Session) -> list[Runbook]:
    return list(
        session.scalars(
            select(Runbook)
            .where(Runbook.deleted_at.is_(None))
            .order_by(Runbook.name)
            .options(selectinload(Runbook.versions), selectinload(Runbook.services))
        ).unique()
    )


def get_version(session: Session, runbook: Runbook, number: int) -> RunbookVersion:
    found = session.scalar(
        select(RunbookVersion).where(
            RunbookVersion.runbook_id == runbook.id, RunbookVersion.number == number
        )
    )
    if found is None:
        raise NotFound(f"runbook {runbook.id} has no version {number}")
    return found


# Attaching ---------------------------------------------------------------------------------


def attachment_of(session: Session, incident: Incident, runbook: Runbook) -> IncidentRunbook | None:
    return session.scalar(
        select(IncidentRunbook).where(
            IncidentRunbook.incident_id == incident.id, IncidentRunbook.runbook_id == runbook.id
        )
    )


def attach(
    session: Session, incident: Incident, runbook: Runbook, *, by: User | None
) -> IncidentRunbook:
    """Attach the runbook's current version to the incident (a workflow's action calls this
    too). Idempotent: an incident already holding the runbook keeps the version it has."""
    if runbook.deleted_at is not None:
        raise NotFound(f"runbook {runbook.id} was deleted")
    existing = attachment_of(session, incident, runbook)
    if existing is not None:
        return existing
    version = current(runbook)
    attachment = IncidentRunbook(
        incident_id=incident.id,
        runbook_id=runbook.id,
        version_id=version.id,
        attached_by_id=by.id if by else None,
    )
    session.add(attachment)
    how = f"by {actor_name(by)}" if by else "automatically"
    record(
        session,
        incident,
        "runbook",
        f"Runbook “{version.title}” (version {version.number}) attached {how}",
        by=by,
        field="runbook",
        new=version.title,
    )
    session.flush()
    bus.emit(
        session,
        RunbookAttached(
            incident_id=incident.id,
            attachment_id=attachment.id,
            runbook_id=runbook.id,
            title=version.title,
            version=version.number,
            steps=len(version.steps),
            by_id=by.id if by else None,
        ),
    )
    return attachment


def applies_to(runbook: Runbook, type_id: int | None, service_ids: Sequence[int]) -> bool:
    """Whether a runbook scoped by type and/or services covers an incident. One with no
    scope covers none (it is attached by hand)."""
    scoped_services = {s.id for s in runbook.services}
    if runbook.incident_type_id is None and not scoped_services:
        return False
    if runbook.incident_type_id is not None and runbook.incident_type_id != type_id:
        return False
    return not scoped_services or bool(scoped_services & set(service_ids))


def on_incident_declared(session: Session, event: IncidentDeclared) -> None:
    """Attach the runbooks that say "attach automatically" and cover the new incident."""
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    candidates = session.scalars(
        select(Runbook)
        .where(Runbook.auto_attach.is_(True), Runbook.deleted_at.is_(None))
        .order_by(Runbook.name)
    ).unique()
    for runbook in candidates:
        if applies_to(runbook, event.type_id, event.service_ids):
            attach(session, incident, runbook, by=None)
