"""Plain emails to a person's account address, for any domain: plan one with `plan` in the
caller's transaction; a job sends it after commit through the one delivery module, with its
retries, and the `mails` row is its history. Planning the same key twice plans it once.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import EmailChannel
from tocsin.notify.delivery import Outcome, Purpose, Result, RetryPolicy, Target, handler
from tocsin.notify.models import Mail

SEND_JOB = "mails.send"
WAITING = "planned"


def plan(session: Session, *, key: str, kind: str, user: User, subject: str, body: str) -> bool:
    """Plan `body` to `user` unless a mail with `key` exists; True when planned now."""
    if session.scalar(select(Mail.id).where(Mail.key == key)) is not None:
        return False
    mail = Mail(key=key, kind=kind, user_id=user.id, subject=subject, body=body)
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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.email = EmailChannel(settings)

    def load(self, session: Session, ident: int) -> Mail | None:
        return session.get(Mail, ident, with_for_update=True)

    def why_not(self, session: Session, record: Mail) -> str | None:
        return None if record.user.active else "the account is deactivated"

    def targets(self, session: Session, record: Mail) -> list[Target]:
        user = record.user
        message = EmailMessage()
        message["Subject"] = record.subject
        message["From"] = formataddr(("Tocsin", self.settings.smtp_from))
        message["To"] = formataddr((user.name, user.email))
        domain = self.settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"
        message["Message-ID"] = f"<tocsin-mail-{record.id}@{domain}>"  # the same on a resend
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(f"Hello {user.name},\n\n{record.body}\n")
        email = self.email

        def send() -> str:
            email.transmit(message)
            return "sent"

        return [Target(f"mail:{user.email}", user.email, "email", send)]

    def attempted(self, session: Session, record: Mail, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: Mail, outcome: Outcome) -> None:
        pass  # the row is the mail's history


def job_kinds(settings: Settings) -> list[JobKind]:
    return [
        JobKind(
            SEND_JOB, handler(Mails(settings), RetryPolicy.from_settings(settings)), max_attempts=3
        )
    ]
