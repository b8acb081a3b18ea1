"""The reminder email that an incident's first response is nearly due, sent by the one
delivery module (notify/delivery.py) after the reminder's transaction commits.

"INC-12 must be acknowledged within 12 minutes (SEV1 response target 1 hour, due 14:03
UTC)". It is not sent once the incident has responded, its due time has changed or passed,
or the account is deactivated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.response import clock, state
from tocsin.incidents.timeline import record as on_timeline
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
from tocsin.notify.messages import DRILL_LINE, PageMessage
from tocsin.targets.models import TargetReminder
from tocsin.targets.service import SEND_JOB


@dataclass(frozen=True)
class TargetEmail(PageMessage):
    """A reminder's email: `title` is its subject, `reason` its body."""

    @property
    def subject(self) -> str:
        return f"[Tocsin] {self._drill}{self.title}"

    @property
    def headline(self) -> str:
        return self.title

    def text(self) -> str:
        drill = f"{DRILL_LINE}\n\n" if self.drill else ""
        return (
            f"{drill}Hello {self.recipient_name},\n\n{self.reason}\n\nOpen: {self.incident_url}\n"
        )


def sentence(reminder: TargetReminder) -> str:
    """ "INC-12 must be acknowledged within 12 minutes (SEV1 response target 1 hour, due
    14:03 UTC)", counted from now."""
    incident = reminder.incident
    left = max(1, math.ceil((reminder.due_at - utcnow()).total_seconds() / 60))
    minutes = f"{left} minute{'s' if left != 1 else ''}"
    severity = incident.severity
    target = ""
    if severity is not None:
        target = f"{severity.name} response target {severity.response_target_text}, "
    return (
        f"{incident.reference} must be acknowledged within {minutes} "
        f"({target}due {clock(reminder.due_at)})"
    )


def message(reminder: TargetReminder, settings: Settings) -> TargetEmail:
    incident = reminder.incident
    body = (
        f"{sentence(reminder)}.\n\n{incident.reference}: {incident.title}\n\n"
        "You get this because you are its incident commander or on the team of an affected "
        "service."
    )
    base = settings.base_url.rstrip("/")
    return TargetEmail(
        kind="reminder",
        recipient_name=reminder.user.name,
        reason=body,
        title=sentence(reminder),
        incident_number=incident.number,
        drill=incident.drill,
        incident_url=f"{base}/incidents/{incident.reference}",
        delivery_id=f"tocsin-target-reminder-{reminder.id}",  # the same on a resend
    )


class TargetReminders(Purpose[TargetReminder]):
    """A reminder email to one person (one TargetReminder row)."""

    job = SEND_JOB
    payload_key = "reminder_id"
    waiting = "planned"

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> TargetReminder | None:
        return session.get(TargetReminder, ident, with_for_update=True)

    def why_not(self, session: Session, record: TargetReminder) -> str | None:
        incident = record.incident
        if incident.response_due_at != record.due_at:
            return "the response due time changed"
        if state(incident) != "pending":
            return "the incident responded, or the response is already due"
        if not record.user.active:
            return "the account is deactivated"
        return None

    def targets(self, session: Session, record: TargetReminder) -> list[Target] | Refusal:
        user = record.user
        return email_to(self.channels, user.email, user.name, message(record, self.settings))

    def attempted(self, session: Session, record: TargetReminder, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: TargetReminder, outcome: Outcome) -> None:
        if not outcome.failed:
            return
        on_timeline(
            session,
            record.incident,
            "notification",
            f"The response target reminder to {record.user.name} failed: "
            f"{'; '.join(outcome.failed)}",
            by=None,
            field="target_reminder",
        )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handler bootstrap registers for the reminder emails."""
    policy = RetryPolicy.from_settings(settings)
    return {SEND_JOB: handler(TargetReminders(channels, settings), policy)}
