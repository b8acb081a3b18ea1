"""API shapes for reviewing a postmortem: reviewers and verdicts, comments, the meeting."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tocsin.catalog.models import User
from tocsin.catalog.schemas import Aware, Id, Strict, Timestamp, UserRef, user_ref
from tocsin.postmortems.models import PostmortemComment, PostmortemReviewer
from tocsin.postmortems.review import (
    ATTENDEES_MAX,
    COMMENT_MAX,
    MEETING_NOTES_MAX,
    NOTE_MAX,
    MeetingHeld,
    ReviewState,
)
from tocsin.postmortems.schemas import SectionKey
from tocsin.web.markdown import render_markdown

VerdictName = Literal["pending", "approved", "changes_requested"]

# --- requests ---------------------------------------------------------------------------


class ReviewerIn(Strict):
    user_id: Id = Field(description="An active responder or admin who may see the incident")


class VerdictIn(Strict):
    verdict: Literal["approved", "changes_requested"]
    note: str = Field(
        default="", max_length=NOTE_MAX, description="Required when requesting changes"
    )


class CommentIn(Strict):
    section_key: SectionKey = Field(description="The section commented on")
    body: str = Field(min_length=1, max_length=COMMENT_MAX, description="Markdown")


class MeetingIn(Strict):
    held_at: Aware = Field(description="When the review meeting was held")
    attendee_ids: list[Id] = Field(default_factory=list, max_length=ATTENDEES_MAX)
    notes: str = Field(default="", max_length=MEETING_NOTES_MAX, description="Markdown")


# --- responses --------------------------------------------------------------------------


class ReviewerOut(BaseModel):
    user: UserRef
    verdict: VerdictName
    note: str
    decided_at: Timestamp | None
    added_at: Timestamp


class ReviewOut(BaseModel):
    reviewers: list[ReviewerOut]
    approvals: int
    changes_requested: int
    may_be_reviewed: bool = Field(description="At least one approval and no changes requested")
    blocker: str | None = Field(description="Why it may not be marked reviewed yet")


class CommentOut(BaseModel):
    id: int
    section_key: str
    author: UserRef | None
    body: str
    html: str = Field(description="The body as sanitized HTML")
    created_at: Timestamp
    resolved_at: Timestamp | None
    resolved_by: UserRef | None


class CommentList(BaseModel):
    items: list[CommentOut]
    total: int


class MeetingOut(BaseModel):
    held_at: Timestamp
    attendees: list[UserRef]
    notes: str
    html: str = Field(description="The notes as sanitized HTML")
    recorded_at: Timestamp


def _ref(user: User) -> UserRef:
    found = user_ref(user)
    assert found is not None
    return found


def reviewer_out(row: PostmortemReviewer) -> ReviewerOut:
    return ReviewerOut(
        user=_ref(row.user),
        verdict=row.verdict,
        note=row.note,
        decided_at=row.decided_at,
        added_at=row.added_at,
    )


def review_out(state: ReviewState) -> ReviewOut:
    return ReviewOut(
        reviewers=[reviewer_out(r) for r in state.reviewers],
        approvals=state.approvals,
        changes_requested=state.changes_requested,
        may_be_reviewed=state.may_be_reviewed,
        blocker=state.blocker,
    )


def comment_out(comment: PostmortemComment) -> CommentOut:
    return CommentOut(
        id=comment.id,
        section_key=comment.section_key,
        author=user_ref(comment.author),
        body=comment.body,
        html=str(render_markdown(comment.body)),
        created_at=comment.created_at,
        resolved_at=comment.resolved_at,
        resolved_by=user_ref(comment.resolved_by),
    )


def meeting_out(held: MeetingHeld) -> MeetingOut:
    return MeetingOut(
        held_at=held.meeting.held_at,
        attendees=[_ref(u) for u in held.attendees],
        notes=held.meeting.notes,
        html=str(render_markdown(held.meeting.notes, tables=True)),
        recorded_at=held.meeting.recorded_at,
    )
