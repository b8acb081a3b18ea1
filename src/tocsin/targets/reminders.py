"""The reminder email that an incident's first response is nearly due: a plain mail of
notify's (notify/mails.py), one per person and due time, sent after the reminder's
transaction commits.

"INC-12 must be acknowledged within 12 minutes (SEV1 response target 1 hour, due 14:03
UTC)", counted from when it is planned. It is not sent once the incident has responded, its
due time has changed or passed, or the account is deactivated: `MAIL_KIND`'s check, which
the composition root gives notify's mail delivery.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.incidents.response import REMINDER_KIND, clock, state
from tocsin.notify import mails
from tocsin.notify.models import Mail
from tocsin.targets.due import stamp


def _key_prefix(incident: Incident, due: datetime) -> str:
    return f"{REMINDER_KIND}:{incident.id}:{stamp(due)}:"


def sentence(incident: Incident, due: datetime) -> str:
    """ "INC-12 must be acknowledged within 12 minutes (SEV1 response target 1 hour, due
    14:03 UTC)", counted from now."""
    left = max(1, math.ceil((due - utcnow()).total_seconds() / 60))
    minutes = f"{left} minute{'s' if left != 1 else ''}"
    severity = incident.severity
    target = ""
    if severity is not None:
        target = f"{severity.name} response target {severity.response_target_text}, "
    return f"{incident.reference} must be acknowledged within {minutes} ({target}due {clock(due)})"


def reminded(session: Session, incident: Incident, due: datetime) -> bool:
    """Whether the reminders of this due time were planned already."""
    planned = Mail.key.startswith(_key_prefix(incident, due), autoescape=True)
    return session.scalar(select(Mail.id).where(planned).limit(1)) is not None


def plan(session: Session, incident: Incident, due: datetime, people: list[User]) -> None:
    """One reminder email per person about `due`, sent after commit."""
    about = sentence(incident, due)
    drill = "[DRILL] " if incident.drill else ""
    body = (
        f"{about}.\n\n{incident.reference}: {incident.title}\n\n"
        "You get this because you are its incident commander or on the team of an affected "
        "service."
    )
    for user in people:
        mails.plan(
            session,
            key=f"{_key_prefix(incident, due)}{user.id}",
            kind=REMINDER_KIND,
            user=user,
            subject=f"[Tocsin] {drill}{about}",
            body=body,
            link=f"/incidents/{incident.reference}",
            incident=incident,
            context={"due_at": stamp(due)},
        )


def why_not(session: Session, mail: Mail) -> str | None:
    """A reminder goes only while its due time is the incident's and nobody has responded."""
    incident = mail.incident
    if incident is None:
        return "the incident is gone"
    due = incident.response_due_at
    if due is None or stamp(due) != mail.context.get("due_at"):
        return "the response due time changed"
    if state(incident) != "pending":
        return "the incident responded, or the response is already due"
    return None


MAIL_KIND = mails.MailKind(REMINDER_KIND, "response target reminder", why_not)
