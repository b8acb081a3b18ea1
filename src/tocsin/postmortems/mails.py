"""Emails about a postmortem to people: a request to review it (to each reviewer added) and
the news that it is published (to the incident's stakeholders).

`plan` writes a `PostmortemMail` row and queues its `postmortems.send_mail` job in the
caller's transaction; the one delivery module (notify/delivery.py) sends it after commit,
with its retries. Each row has a key (the postmortem, the kind, the person and what it is
about), so asking twice, or a reaction run twice, sends one email.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.config import Settings
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
from tocsin.postmortems.models import Postmortem, PostmortemMail

SEND_JOB = "postmortems.send_mail"
REVIEW_REQUEST = "review_request"
PUBLISHED = "published"
KINDS = (REVIEW_REQUEST, PUBLISHED)
# The published email's summary: the overview, cut to this many characters.
SUMMARY_MAX = 1_200


def plan(
    session: Session, postmortem: Postmortem, user: User, kind: str, *, reason: str, about: str
) -> PostmortemMail | None:
    """Queue one email of `kind` to `user` about the postmortem, once per `about` (None if it
    was already planned)."""
    assert kind in KINDS
    key = f"pm-mail:{postmortem.id}:{kind}:{about}:{user.id}"
    if session.scalar(select(PostmortemMail.id).where(PostmortemMail.key == key)) is not None:
        return None
    mail = PostmortemMail(
        postmortem_id=postmortem.id, user_id=user.id, kind=kind, reason=reason, key=key
    )
    session.add(mail)
    session.flush()
    enqueue(session, SEND_JOB, {"mail_id": mail.id}, key=f"pm-mail:{mail.id}")
    return mail


def summary(postmortem: Postmortem) -> str:
    """The overview section's text, shortened for an email."""
    overview = postmortem.section("overview")
    text = (overview.body if overview else "").strip()
    if len(text) > SUMMARY_MAX:
        text = text[:SUMMARY_MAX].rstrip() + "…"
    return text or "(no overview written)"


@dataclass(frozen=True)
class PostmortemEmail(PageMessage):
    """A postmortem email: `title` is its subject, `reason` its body."""

    @property
    def subject(self) -> str:
        return f"[Tocsin] {self.title}"

    @property
    def headline(self) -> str:
        return self.title

    def text(self) -> str:
        return f"Hello {self.recipient_name},\n\n{self.reason}\n\nOpen: {self.incident_url}\n"


def message(mail: PostmortemMail, settings: Settings) -> PostmortemEmail:
    """What the email says: the request to review, or the published postmortem's summary."""
    postmortem = mail.postmortem
    incident = postmortem.incident
    name = f"{incident.reference} ({incident.title})"
    if mail.kind == REVIEW_REQUEST:
        title = f"{incident.reference}: please review the postmortem"
        body = (
            f"You are asked to review the postmortem of {name}. Read it, comment on its "
            "sections, and approve it or request changes."
        )
    else:
        title = f"{incident.reference}: postmortem published: {incident.title}"
        body = f"The postmortem of {name} is published.\n\nSummary:\n\n{summary(postmortem)}"
    if mail.reason:
        body += f"\n\nYou get this because {mail.reason}."
    base = settings.base_url.rstrip("/")
    return PostmortemEmail(
        kind="reminder",
        recipient_name=mail.user.name if mail.user else "",
        reason=body,
        title=title,
        incident_number=incident.number,
        incident_url=f"{base}/postmortems/{postmortem.id}",
        delivery_id=f"tocsin-postmortem-mail-{mail.id}",  # the same on a resend
    )


class PostmortemMails(Purpose[PostmortemMail]):
    """One postmortem email to one person (one PostmortemMail row)."""

    job = SEND_JOB
    payload_key = "mail_id"
    waiting = "planned"

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> PostmortemMail | None:
        return session.get(PostmortemMail, ident, with_for_update=True)

    def why_not(self, session: Session, record: PostmortemMail) -> str | None:
        if record.user is None:
            return "the account was deleted"
        if not record.user.active:
            return "the account is deactivated"
        return None

    def targets(self, session: Session, record: PostmortemMail) -> list[Target] | Refusal:
        user = record.user
        assert user is not None
        return email_to(self.channels, user.email, user.name, message(record, self.settings))

    def attempted(self, session: Session, record: PostmortemMail, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: PostmortemMail, outcome: Outcome) -> None:
        if not outcome.failed:
            return
        to = record.user.name if record.user else "someone"
        what = "asking for a review" if record.kind == REVIEW_REQUEST else "about publication"
        on_timeline(
            session,
            record.postmortem.incident,
            "postmortem",
            f"The postmortem email to {to} {what} failed: {'; '.join(outcome.failed)}",
            by=None,
            field="postmortem_mail",
        )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handler bootstrap registers for postmortem emails."""
    return {
        SEND_JOB: handler(PostmortemMails(channels, settings), RetryPolicy.from_settings(settings))
    }
