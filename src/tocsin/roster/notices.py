"""Telling people they were given a role on an incident, with the role's responsibilities.

`on_role_assigned` (and `on_incident_declared`, for a commander named when declaring) react
in the assigning transaction: one `RoleNotice` row and its sending job, so a rolled-back
assignment sends nothing. The one delivery module (notify/delivery.py) emails it after
commit. Nobody is told of a role they gave themselves, and a notice whose holder no longer
holds the role by the time it is sent is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.definitions.models import IncidentRole
from tocsin.incidents.events import IncidentDeclared, RoleAssigned
from tocsin.incidents.models import RoleAssignment
from tocsin.incidents.roles import COMMANDER
from tocsin.incidents.timeline import record as on_timeline
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler
from tocsin.notify.channels import Channels
from tocsin.notify.delivery import (
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    email_to,
    handler,
)
from tocsin.notify.messages import PageMessage
from tocsin.roster.models import RoleNotice

SEND_JOB = "roster.role_notice"


def plan(
    session: Session, *, incident_id: int, role_id: int, user_id: int, by_id: int | None
) -> RoleNotice | None:
    """Queue the email telling `user_id` they hold the role (none for a self-assignment)."""
    if user_id == by_id:
        return None
    notice = RoleNotice(
        incident_id=incident_id, role_id=role_id, user_id=user_id, assigned_by_id=by_id
    )
    session.add(notice)
    session.flush()
    enqueue(session, SEND_JOB, {"notice_id": notice.id}, key=f"role-notice:{notice.id}")
    return notice


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


@dataclass(frozen=True)
class RoleEmail(PageMessage):
    """A role notice's email: `title` is its subject, `reason` its body."""

    @property
    def subject(self) -> str:
        return f"[Tocsin] {self._drill}{self.title}"

    @property
    def headline(self) -> str:
        return self.title

    def text(self) -> str:
        return f"Hello {self.recipient_name},\n\n{self.reason}\n\nOpen: {self.incident_url}\n"


def message(notice: RoleNotice, settings: Settings) -> RoleEmail:
    """What the notice says: the incident, the role, who gave it, what the role does."""
    incident, role = notice.incident, notice.role
    by = notice.assigned_by.name if notice.assigned_by else "Tocsin"
    lines = [f"{by} made you {role.name} on {incident.reference}: {incident.title}."]
    if role.description:
        lines += ["", role.description]
    if role.responsibility_list:
        lines += ["", "Your responsibilities:"] + [f"- {r}" for r in role.responsibility_list]
    base = settings.base_url.rstrip("/")
    return RoleEmail(
        kind="reminder",
        recipient_name=notice.user.name,
        reason="\n".join(lines),
        title=f"{incident.reference}: you are {role.name}",
        incident_number=incident.number,
        drill=incident.drill,
        incident_url=f"{base}/incidents/{incident.reference}",
        delivery_id=f"tocsin-role-notice-{notice.id}",  # the same on a resend
    )


class RoleNotices(Purpose[RoleNotice]):
    """The email telling someone they hold a role (one RoleNotice row)."""

    job = SEND_JOB
    payload_key = "notice_id"
    waiting = "planned"

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> RoleNotice | None:
        return session.get(RoleNotice, ident, with_for_update=True)

    def why_not(self, session: Session, record: RoleNotice) -> str | None:
        if not record.user.active:
            return "the account is deactivated"
        holds = session.scalar(
            select(RoleAssignment.id).where(
                RoleAssignment.incident_id == record.incident_id,
                RoleAssignment.role_id == record.role_id,
                RoleAssignment.user_id == record.user_id,
            )
        )
        return None if holds is not None else "they no longer hold the role"

    def targets(self, session: Session, record: RoleNotice) -> list[Target] | Refusal:
        user = record.user
        return email_to(self.channels, user.email, user.name, message(record, self.settings))

    def attempted(self, session: Session, record: RoleNotice, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: RoleNotice, outcome: Outcome) -> None:
        if not outcome.failed:
            return
        on_timeline(
            session,
            record.incident,
            "notification",
            f"The email telling {record.user.name} they are {record.role.name} failed: "
            f"{'; '.join(outcome.failed)}",
            by=None,
            field="role_notice",
        )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handler bootstrap registers for role notices."""
    return {SEND_JOB: handler(RoleNotices(channels, settings), RetryPolicy.from_settings(settings))}
