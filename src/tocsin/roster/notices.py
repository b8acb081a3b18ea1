"""Telling people they were given a role on an incident, with the role's responsibilities.

`on_role_assigned` (and `on_incident_declared`, for a commander named when declaring) react
in the assigning transaction: one plain mail of notify's (notify/mails.py) about the
incident, so a rolled-back assignment sends nothing; it is sent after commit. Nobody is told
of a role they gave themselves, and a notice whose holder no longer holds the role by the
time it is sent is skipped (`MAIL_KIND`'s check, which the composition root gives notify's
mail delivery).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole
from tocsin.incidents.events import IncidentDeclared, RoleAssigned
from tocsin.incidents.models import Incident, RoleAssignment
from tocsin.incidents.roles import COMMANDER
from tocsin.notify import mails
from tocsin.notify.models import Mail

KIND = "role_notice"


def plan(
    session: Session,
    *,
    incident_id: int,
    role_id: int,
    user_id: int,
    by_id: int | None,
) -> bool:
    """Plan the email telling `user_id` they hold the role (none for a self-assignment); each
    assignment is told, a role given again after it was taken away too."""
    if user_id == by_id:
        return False
    incident = session.get(Incident, incident_id)
    role = session.get(IncidentRole, role_id)
    user = session.get(User, user_id)
    if incident is None or role is None or user is None:
        return False
    by = session.get(User, by_id) if by_id is not None else None
    lines = [f"{by.name if by else 'Tocsin'} made you {role.name} on {incident.reference}: "
             f"{incident.title}."]  # fmt: skip
    if role.description:
        lines += ["", role.description]
    if role.responsibility_list:
        lines += ["", "Your responsibilities:"] + [f"- {r}" for r in role.responsibility_list]
    prefix = f"{KIND}:{incident.id}:{role.id}:{user.id}:"
    earlier = Mail.key.startswith(prefix, autoescape=True)
    told = session.scalar(select(func.count(Mail.id)).where(earlier)) or 0
    drill = "[DRILL] " if incident.drill else ""
    return mails.plan(
        session,
        key=f"{prefix}{told + 1}",
        kind=KIND,
        user=user,
        subject=f"[Tocsin] {drill}{incident.reference}: you are {role.name}",
        body="\n".join(lines),
        link=f"/incidents/{incident.reference}",
        incident=incident,
        context={"role_id": role.id},
    )


def on_role_assigned(session: Session, event: RoleAssigned) -> None:
    """A holder added or a role handed over: tell the new holder."""
    if event.user_id is not None:
        plan(
            session,
            incident_id=event.incident_id,
            role_id=event.role_id,
            user_id=event.user_id,
            by_id=event.by_id,
        )


def on_incident_declared(session: Session, event: IncidentDeclared) -> None:
    """A commander named when declaring: tell them too."""
    if event.commander_id is None:
        return
    role_id = session.scalar(select(IncidentRole.id).where(IncidentRole.slug == COMMANDER))
    if role_id is not None:
        plan(
            session,
            incident_id=event.incident_id,
            role_id=role_id,
            user_id=event.commander_id,
            by_id=event.by_id,
        )


def why_not(session: Session, mail: Mail) -> str | None:
    """A notice goes only while its person still holds the role."""
    holds = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.incident_id == mail.incident_id,
            RoleAssignment.role_id == mail.context.get("role_id"),
            RoleAssignment.user_id == mail.user_id,
        )
    )
    return None if holds is not None else "they no longer hold the role"


MAIL_KIND = mails.MailKind(KIND, "role notice", why_not)
