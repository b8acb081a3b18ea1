"""Publishing a reviewed postmortem, and emailing the incident's stakeholders about it.

Who the stakeholders are is comms' knowledge, which postmortems may not import: `publish`
emits `PostmortemPublished`, and the composition root (`tocsin.wiring`) answers it by
resolving the recipients through comms and handing them to `tell_stakeholders`, in the same
transaction. A rolled-back publication therefore emails nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tocsin.bus import emit
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Conflict, InvalidTransition
from tocsin.incidents.timeline import actor_name, record
from tocsin.postmortems import mails
from tocsin.postmortems.events import PostmortemPublished
from tocsin.postmortems.models import Postmortem, PostmortemStatus

PUBLISHABLE = frozenset({PostmortemStatus.reviewed.value, PostmortemStatus.closed.value})


def publish(session: Session, postmortem: Postmortem, *, by: User | None) -> None:
    """Publish a Reviewed (or Closed) postmortem: on the timeline as a key event, and its
    incident's stakeholders emailed after commit. Conflict if it is already published."""
    if postmortem.published_at is not None:
        raise Conflict(
            f"the postmortem was already published on {postmortem.published_at:%Y-%m-%d}"
        )
    if postmortem.status not in PUBLISHABLE:
        raise InvalidTransition(
            f"the postmortem is {postmortem.status}; only a reviewed postmortem can be published"
        )
    now = utcnow()
    postmortem.published_at = now
    postmortem.version += 1
    postmortem.updated_at = now
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} published the postmortem",
        by=by,
        field="postmortem_published",
        new=now.isoformat(),
        key_event=True,
    )
    emit(
        session,
        PostmortemPublished(postmortem.id, postmortem.incident_id, by.id if by else None),
    )
    session.flush()


def tell_stakeholders(
    session: Session, event: PostmortemPublished, people: Sequence[tuple[User, str]]
) -> int:
    """Queue the publication email to each person (with why they get it); returns how many.
    Said on the timeline, so that the incident shows who was told."""
    postmortem = session.get(Postmortem, event.postmortem_id)
    if postmortem is None:
        return 0
    planned = 0
    for person, reason in people:
        if mails.plan(session, postmortem, person, mails.PUBLISHED, reason=reason, about="1"):
            planned += 1
    told = f"{planned} stakeholder{'s' if planned != 1 else ''}" if planned else "nobody"
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"The published postmortem is emailed to {told}",
        by=None,
        field="postmortem_published_mail",
        new=planned,
    )
    return planned
