"""Emails about a postmortem to people: a request to review it (to each reviewer added) and
the news that it is published (to the incident's stakeholders).

`plan` words the email and plans it as a plain mail of notify's (notify/mails.py) about the
incident, linking to the postmortem, in the caller's transaction; it is sent after commit
with the one delivery module's retries. Each has a key (the postmortem, the kind, what it is
about and the person), so asking twice, or a reaction run twice, sends one email.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.notify import mails
from tocsin.postmortems.models import Postmortem

REVIEW_REQUEST = "review_request"
PUBLISHED = "published"
KINDS = (REVIEW_REQUEST, PUBLISHED)
# The published email's summary: the overview, cut to this many characters.
SUMMARY_MAX = 1_200


def _mail_kind(kind: str) -> str:
    return f"postmortem_{kind}"


# How the incident's timeline names one that could not be delivered; the composition root
# gives them to notify's mail delivery.
MAIL_KINDS = (
    mails.MailKind(_mail_kind(REVIEW_REQUEST), "postmortem review request", timeline="postmortem"),
    mails.MailKind(_mail_kind(PUBLISHED), "postmortem publication email", timeline="postmortem"),
)


def summary(postmortem: Postmortem) -> str:
    """The overview section's text, shortened for an email."""
    overview = postmortem.section("overview")
    text = (overview.body if overview else "").strip()
    if len(text) > SUMMARY_MAX:
        text = text[:SUMMARY_MAX].rstrip() + "…"
    return text or "(no overview written)"


def plan(
    session: Session, postmortem: Postmortem, user: User, kind: str, *, reason: str, about: str
) -> bool:
    """Plan one email of `kind` to `user` about the postmortem, once per `about` (False if it
    was already planned): the request to review, or the published postmortem's summary."""
    assert kind in KINDS
    incident = postmortem.incident
    name = f"{incident.reference} ({incident.title})"
    if kind == REVIEW_REQUEST:
        subject = f"{incident.reference}: please review the postmortem"
        body = (
            f"You are asked to review the postmortem of {name}. Read it, comment on its "
            "sections, and approve it or request changes."
        )
    else:
        subject = f"{incident.reference}: postmortem published: {incident.title}"
        body = f"The postmortem of {name} is published.\n\nSummary:\n\n{summary(postmortem)}"
    if reason:
        body += f"\n\nYou get this because {reason}."
    return mails.plan(
        session,
        key=f"pm-mail:{postmortem.id}:{kind}:{about}:{user.id}",
        kind=_mail_kind(kind),
        user=user,
        subject=f"[Tocsin] {subject}",
        body=body,
        link=f"/postmortems/{postmortem.id}",
        incident=incident,
    )
