"""Reviewing a postmortem: reviewers and their verdicts, comments on sections, the review
meeting as held, and whether the postmortem may be marked Reviewed.

Every function validates, writes, appends to the incident's timeline where a person would
look for it (a reviewer asked or removed, a verdict, the meeting held) and queues its emails
in the caller's transaction. None of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.bus import emit
from tocsin.catalog.models import User, UserRole
from tocsin.db import utcnow
from tocsin.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    UnknownReference,
    ValidationFailed,
)
from tocsin.incidents.access import sees_when_restricted
from tocsin.incidents.timeline import actor_name, record
from tocsin.postmortems import mails
from tocsin.postmortems.events import PostmortemReviewed, PostmortemReviewerAdded
from tocsin.postmortems.models import (
    Postmortem,
    PostmortemComment,
    PostmortemMeeting,
    PostmortemReviewer,
    PostmortemStatus,
    Verdict,
)

COMMENT_MAX = 10_000
NOTE_MAX = 10_000
MEETING_NOTES_MAX = 50_000
ATTENDEES_MAX = 200
VERDICT_WORDS = {
    Verdict.approved: "approved the postmortem",
    Verdict.changes_requested: "requested changes to the postmortem",
}


def _closed(postmortem: Postmortem, what: str) -> None:
    if postmortem.status == PostmortemStatus.closed.value:
        raise InvalidTransition(f"the postmortem is closed; {what}")


def reviewers(session: Session, postmortem: Postmortem) -> list[PostmortemReviewer]:
    """The postmortem's reviewers, in the order they were asked."""
    return list(
        session.scalars(
            select(PostmortemReviewer)
            .where(PostmortemReviewer.postmortem_id == postmortem.id)
            .order_by(PostmortemReviewer.added_at, PostmortemReviewer.id)
        ).unique()
    )


def _person(session: Session, user_id: int, field: str) -> User:
    """An active user named by a request (404 naming the field when there is none)."""
    person = session.get(User, user_id) if 0 < user_id < 2**31 else None
    if person is None:
        raise UnknownReference(f"{field}: no user with id {user_id}", field=field)
    if not person.active:
        raise ValidationFailed(f"{person.name}'s account is deactivated", field=field)
    return person


def add_reviewer(
    session: Session, postmortem: Postmortem, user_id: int, *, by: User | None
) -> PostmortemReviewer:
    """Ask a person (an active responder or admin who may see the incident) to review the
    postmortem; they are emailed after commit. Conflict if they already review it."""
    _closed(postmortem, "reviewers can no longer be added")
    person = _person(session, user_id, "user_id")
    if not person.can(UserRole.responder):
        raise ValidationFailed(
            f"{person.name} is a viewer; reviewers must be responders or admins", field="user_id"
        )
    incident = postmortem.incident
    if incident.restricted and not sees_when_restricted(session, person, incident):
        raise ValidationFailed(
            f"{person.name} cannot see {incident.reference}, which is private: its commander "
            "or an admin adds them as a member first",
            field="user_id",
        )
    existing = session.scalar(
        select(PostmortemReviewer.id).where(
            PostmortemReviewer.postmortem_id == postmortem.id,
            PostmortemReviewer.user_id == person.id,
        )
    )
    if existing is not None:
        raise Conflict(f"{person.name} already reviews this postmortem", field="user_id")
    row = PostmortemReviewer(
        postmortem_id=postmortem.id,
        user_id=person.id,
        added_by_id=by.id if by else None,
        added_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record(
        session,
        incident,
        "postmortem",
        f"{actor_name(by)} asked {person.name} to review the postmortem",
        by=by,
        field="postmortem_reviewer",
        new=person.name,
    )
    asked_by = "yourself" if by is not None and by.id == person.id else actor_name(by)
    # Keyed by the reviewer row: someone removed and asked again is emailed again.
    mails.plan(
        session,
        postmortem,
        person,
        mails.REVIEW_REQUEST,
        reason=f"{asked_by} asked you to review it",
        about=str(row.id),
    )
    emit(
        session,
        PostmortemReviewerAdded(postmortem.id, incident.id, person.id, by.id if by else None),
    )
    return row


def _reviewer(session: Session, postmortem: Postmortem, user_id: int) -> PostmortemReviewer:
    if not 0 < user_id < 2**31:
        raise NotFound(f"user {user_id} does not review this postmortem")
    row = session.scalar(
        select(PostmortemReviewer).where(
            PostmortemReviewer.postmortem_id == postmortem.id,
            PostmortemReviewer.user_id == user_id,
        )
    )
    if row is None:
        raise NotFound(f"user {user_id} does not review this postmortem")
    return row


def remove_reviewer(
    session: Session, postmortem: Postmortem, user_id: int, *, by: User | None
) -> None:
    """Stop asking someone to review it (their verdict goes with them)."""
    _closed(postmortem, "its reviewers can no longer change")
    row = _reviewer(session, postmortem, user_id)
    name = row.user.name
    session.delete(row)
    session.flush()
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} removed {name} from the postmortem's reviewers",
        by=by,
        field="postmortem_reviewer",
        old=name,
    )


def give_verdict(
    session: Session, postmortem: Postmortem, verdict: Verdict | str, note: str, *, by: User
) -> PostmortemReviewer:
    """A reviewer approves the postmortem or requests changes (with a note), while it is in
    review; a later verdict replaces their earlier one."""
    try:
        chosen = Verdict(verdict)
    except ValueError as exc:
        raise ValidationFailed("verdict must be approved or changes_requested",
                               field="verdict") from exc  # fmt: skip
    if chosen == Verdict.pending:
        raise ValidationFailed("verdict must be approved or changes_requested", field="verdict")
    note = v.text(note, "note", max_len=NOTE_MAX)
    row = session.scalar(
        select(PostmortemReviewer).where(
            PostmortemReviewer.postmortem_id == postmortem.id,
            PostmortemReviewer.user_id == by.id,
        )
    )
    if row is None:
        raise Forbidden("only the postmortem's reviewers approve it or request changes")
    if postmortem.status != PostmortemStatus.in_review.value:
        raise InvalidTransition(
            f"the postmortem is {postmortem.status}; reviewers give their verdict while it is "
            "in review"
        )
    if chosen == Verdict.changes_requested and not note:
        raise ValidationFailed("say which changes you request", field="note")
    row.verdict = chosen.value
    row.note = note
    row.decided_at = utcnow()
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{by.name} {VERDICT_WORDS[chosen]}",
        by=by,
        field="postmortem_verdict",
        new=chosen.value,
        body=note,
    )
    emit(session, PostmortemReviewed(postmortem.id, postmortem.incident_id, chosen.value, by.id))
    session.flush()
    return row


def blocker(session: Session, postmortem: Postmortem) -> str | None:
    """Why the postmortem may not be marked Reviewed yet, or None: it needs at least one
    approval and no reviewer's changes outstanding."""
    rows = reviewers(session, postmortem)
    wanting = [r.user.name for r in rows if r.verdict == Verdict.changes_requested.value]
    if wanting:
        return f"{', '.join(wanting)} requested changes"
    if not any(r.verdict == Verdict.approved.value for r in rows):
        return "no reviewer has approved it yet"
    return None


# --- comments ---------------------------------------------------------------------------


def comments(session: Session, postmortem: Postmortem) -> list[PostmortemComment]:
    """Every comment on the postmortem, oldest first."""
    return list(
        session.scalars(
            select(PostmortemComment)
            .where(PostmortemComment.postmortem_id == postmortem.id)
            .order_by(PostmortemComment.created_at, PostmortemComment.id)
        ).unique()
    )


def add_comment(
    session: Session, postmortem: Postmortem, section_key: str, body: str, *, by: User
) -> PostmortemComment:
    """Comment on a section (Markdown, shown sanitized)."""
    section = postmortem.section(section_key) if isinstance(section_key, str) else None
    if section is None:
        raise UnknownReference(
            f"section_key: the postmortem has no section {section_key!r}", field="section_key"
        )
    body = v.text(body, "body", max_len=COMMENT_MAX, required=True)
    _closed(postmortem, "it can no longer be commented on")
    comment = PostmortemComment(
        postmortem_id=postmortem.id,
        section_key=section.key,
        author_id=by.id,
        author=by,
        body=body,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    return comment


def resolve_comment(
    session: Session, postmortem: Postmortem, comment_id: int, *, by: User
) -> PostmortemComment:
    """Mark a comment resolved (again: nothing changes)."""
    comment = session.get(PostmortemComment, comment_id) if 0 < comment_id < 2**31 else None
    if comment is None or comment.postmortem_id != postmortem.id:
        raise NotFound(f"no comment {comment_id} on this postmortem")
    if comment.resolved_at is None:
        comment.resolved_at = utcnow()
        comment.resolved_by_id = by.id
        session.flush()
    return comment


# --- the meeting ------------------------------------------------------------------------


def meeting(session: Session, postmortem: Postmortem) -> PostmortemMeeting | None:
    return session.scalar(
        select(PostmortemMeeting).where(PostmortemMeeting.postmortem_id == postmortem.id)
    )


@dataclass(frozen=True)
class MeetingHeld:
    """The review meeting as recorded, with its attendees loaded."""

    meeting: PostmortemMeeting
    attendees: list[User]


def attendees_of(session: Session, row: PostmortemMeeting) -> list[User]:
    ids = list(row.attendee_ids or [])
    if not ids:
        return []
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def record_meeting(
    session: Session,
    postmortem: Postmortem,
    held_at: datetime | None,
    attendee_ids: Sequence[int],
    notes: str,
    *,
    by: User | None,
) -> MeetingHeld:
    """Record (or correct) the review meeting: when it was held, who attended (active
    users), and its notes in Markdown."""
    when = v.aware(held_at, "held_at")
    if when is None:
        raise ValidationFailed("held_at is required: when the meeting was held", field="held_at")
    when = when.astimezone(UTC)
    notes = v.text(notes, "notes", max_len=MEETING_NOTES_MAX, strip=False)
    if len(attendee_ids) > ATTENDEES_MAX:
        raise ValidationFailed(f"at most {ATTENDEES_MAX} attendees", field="attendee_ids")
    people: list[User] = []
    for ident in dict.fromkeys(attendee_ids):
        people.append(_person(session, int(ident), "attendee_ids"))
    _closed(postmortem, "its meeting can no longer change")
    row = meeting(session, postmortem)
    first = row is None
    if row is None:
        row = PostmortemMeeting(postmortem_id=postmortem.id, held_at=when)
        session.add(row)
    row.held_at = when
    row.attendee_ids = [p.id for p in people]
    row.notes = notes
    row.recorded_by_id = by.id if by else None
    row.recorded_at = utcnow()
    names = ", ".join(p.name for p in people) or "nobody recorded"
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} {'recorded' if first else 'corrected'} the postmortem's review "
        f"meeting, held {when:%Y-%m-%d %H:%M UTC} (attendees: {names})",
        by=by,
        field="postmortem_meeting_held",
        new={"held_at": when.isoformat(), "attendee_ids": row.attendee_ids},
        key_event=first,
    )
    session.flush()
    return MeetingHeld(row, people)


# --- the review as a whole --------------------------------------------------------------


@dataclass(frozen=True)
class ReviewState:
    """What the review panel and the API show: reviewers, verdicts, and what blocks."""

    reviewers: list[PostmortemReviewer]
    approvals: int
    changes_requested: int
    blocker: str | None

    @property
    def may_be_reviewed(self) -> bool:
        return self.blocker is None


def state(session: Session, postmortem: Postmortem) -> ReviewState:
    rows = reviewers(session, postmortem)
    return ReviewState(
        reviewers=rows,
        approvals=sum(r.verdict == Verdict.approved.value for r in rows),
        changes_requested=sum(r.verdict == Verdict.changes_requested.value for r in rows),
        blocker=blocker(session, postmortem),
    )
