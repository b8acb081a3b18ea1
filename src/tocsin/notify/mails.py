"""Plain emails to a person's account address, for any domain: plan one with `plan` in the
caller's transaction; a job sends it after commit through the one delivery module, with its
retries, and the `mails` row is its history. Planning the same key twice plans it once.

A mail may link to a page (`link=`, a path: "Open:" and the address under the base URL
end it), and be about an incident (`incident=`): it then names the incident in an
`X-Tocsin-Incident` header, starts with the drill line when the incident is a drill, and a
mail that could not be delivered is on the incident's timeline. A domain whose mails may stop
being wanted before they go (a reminder once the incident has responded) describes their kind
with a `MailKind`, whose check reads the mail (its incident, its `context`) when it is sent;
notify imports no domain above it, so the composition root hands the kinds to `Mails`
(`job_kinds(settings, kinds)`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record as on_timeline
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import EmailChannel
from tocsin.notify.delivery import Outcome, Purpose, Result, RetryPolicy, Target, handler
from tocsin.notify.messages import DRILL_LINE
from tocsin.notify.models import Mail

SEND_JOB = "mails.send"
WAITING = "planned"


@dataclass(frozen=True)
class MailKind:
    """What the domain planning one kind of mail says about it at send time."""

    kind: str  # Mail.kind
    name: str  # how the incident's timeline names one that failed: "response target reminder"
    # Why a mail of this kind must not go now (the mail is loaded and locked), or None.
    why_not: Callable[[Session, Mail], str | None] | None = None
    timeline: str = "notification"  # the kind of the timeline entry saying it failed


def plan(
    session: Session,
    *,
    key: str,
    kind: str,
    user: User,
    subject: str,
    body: str,
    link: str = "",
    incident: Incident | None = None,
    context: dict[str, Any] | None = None,
) -> bool:
    """Plan `body` to `user` unless a mail with `key` exists; True when planned now.
    `link`: the path of the page it points to; `incident`: the incident it is about;
    `context`: what its kind's check reads."""
    if session.scalar(select(Mail.id).where(Mail.key == key)) is not None:
        return False
    mail = Mail(
        key=key,
        kind=kind,
        user_id=user.id,
        subject=subject,
        body=body,
        link=link,
        incident_id=incident.id if incident is not None else None,
        context=context or {},
    )
    session.add(mail)
    session.flush()
    enqueue(session, SEND_JOB, {"mail_id": mail.id}, key=f"{SEND_JOB}:{mail.id}")
    return True


def planned_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of `keys` were planned already."""
    if not keys:
        return set()
    return set(session.scalars(select(Mail.key).where(Mail.key.in_(keys))))


class Mails(Purpose[Mail]):
    job = SEND_JOB
    payload_key = "mail_id"
    waiting = WAITING

    def __init__(self, settings: Settings, kinds: Iterable[MailKind] = ()) -> None:
        self.settings = settings
        self.email = EmailChannel(settings)
        self.kinds = {k.kind: k for k in kinds}

    def load(self, session: Session, ident: int) -> Mail | None:
        return session.get(Mail, ident, with_for_update=True)

    def why_not(self, session: Session, record: Mail) -> str | None:
        if not record.user.active:
            return "the account is deactivated"
        kind = self.kinds.get(record.kind)
        return kind.why_not(session, record) if kind and kind.why_not else None

    def targets(self, session: Session, record: Mail) -> list[Target]:
        user = record.user
        message = EmailMessage()
        message["Subject"] = record.subject
        message["From"] = formataddr(("Tocsin", self.settings.smtp_from))
        message["To"] = formataddr((user.name, user.email))
        domain = self.settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"
        message["Message-ID"] = f"<tocsin-mail-{record.id}@{domain}>"  # the same on a resend
        message["Auto-Submitted"] = "auto-generated"
        incident = record.incident
        drill = ""
        if incident is not None:
            message["X-Tocsin-Incident"] = incident.reference
            drill = f"{DRILL_LINE}\n\n" if incident.drill else ""
        link = ""
        if record.link:
            link = f"\n\nOpen: {self.settings.base_url.rstrip('/')}{record.link}"
        message.set_content(f"{drill}Hello {user.name},\n\n{record.body}{link}\n")
        email = self.email

        def send() -> str:
            email.transmit(message)
            return "sent"

        return [Target(f"mail:{user.email}", user.email, "email", send)]

    def attempted(self, session: Session, record: Mail, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: Mail, outcome: Outcome) -> None:
        # The row is the mail's history; one about an incident that never went is also on
        # the incident's timeline, once.
        if not outcome.failed or record.incident is None:
            return
        kind = self.kinds.get(record.kind)
        name, entry = (kind.name, kind.timeline) if kind else ("email", "notification")
        on_timeline(
            session,
            record.incident,
            entry,
            f"The {name} to {record.user.name} failed: {'; '.join(outcome.failed)}",
            by=None,
            field=record.kind,
        )


def job_kinds(settings: Settings, kinds: Iterable[MailKind] = ()) -> list[JobKind]:
    """The send job, knowing the `kinds` other domains describe (the composition root's)."""
    send = handler(Mails(settings, kinds), RetryPolicy.from_settings(settings))
    return [JobKind(SEND_JOB, send, max_attempts=3)]
