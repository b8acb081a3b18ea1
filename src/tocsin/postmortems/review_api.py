"""JSON routes for reviewing and publishing a postmortem: reviewers, verdicts, comments on
sections, the review meeting, publishing.

Everyone logged in who may see the postmortem reads; responders write. Only a reviewer gives
a verdict (403 otherwise); each change goes through one service function.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tocsin.db import utcnow
from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.errors import NotFound
from tocsin.postmortems import publishing, queries, review
from tocsin.postmortems.review_schemas import (
    CommentIn,
    CommentList,
    CommentOut,
    MeetingIn,
    MeetingOut,
    ReviewerIn,
    ReviewOut,
    VerdictIn,
    comment_out,
    meeting_out,
    review_out,
)
from tocsin.postmortems.schemas import PostmortemOut, postmortem_out

router = APIRouter(prefix="/api/v1/postmortems/{postmortem_id}", tags=["postmortems"])

PostmortemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CommentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/reviewers", response_model=ReviewOut)
def reviewers(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> ReviewOut:
    """The reviewers with their verdicts, and whether it may be marked reviewed."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return review_out(review.state(db, postmortem))


@router.post("/reviewers", status_code=201, response_model=ReviewOut)
def add_reviewer(
    postmortem_id: PostmortemId, body: ReviewerIn, db: DbSession, user: Responder
) -> ReviewOut:
    """Ask someone to review it: they are emailed. 404 for an unknown user, 422 for a
    deactivated one, a viewer or someone who cannot see a restricted incident, 409 if they
    already review it."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    review.add_reviewer(db, postmortem, body.user_id, by=user)
    return review_out(review.state(db, postmortem))


@router.delete("/reviewers/{user_id}", response_model=ReviewOut)
def remove_reviewer(
    postmortem_id: PostmortemId, user_id: UserId, db: DbSession, user: Responder
) -> ReviewOut:
    """Stop asking someone to review it (404 if they do not)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    review.remove_reviewer(db, postmortem, user_id, by=user)
    return review_out(review.state(db, postmortem))


@router.post("/approvals", response_model=ReviewOut)
def give_verdict(
    postmortem_id: PostmortemId, body: VerdictIn, db: DbSession, user: Responder
) -> ReviewOut:
    """Your verdict as a reviewer while it is in review: `approved`, or `changes_requested`
    with a note. 403 if you do not review it; 409 if it is not in review."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    review.give_verdict(db, postmortem, body.verdict, body.note, by=user)
    return review_out(review.state(db, postmortem))


@router.get("/comments", response_model=CommentList)
def comments(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> CommentList:
    """Every comment on the postmortem's sections, oldest first."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    items = [comment_out(c) for c in review.comments(db, postmortem)]
    return CommentList(items=items, total=len(items))


@router.post("/comments", status_code=201, response_model=CommentOut)
def add_comment(
    postmortem_id: PostmortemId, body: CommentIn, db: DbSession, user: Responder
) -> CommentOut:
    """Comment on a section (Markdown; 404 for a section the postmortem does not have)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return comment_out(review.add_comment(db, postmortem, body.section_key, body.body, by=user))


@router.post("/comments/{comment_id}/resolve", response_model=CommentOut)
def resolve_comment(
    postmortem_id: PostmortemId, comment_id: CommentId, db: DbSession, user: Responder
) -> CommentOut:
    """Mark a comment resolved (again: unchanged)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return comment_out(review.resolve_comment(db, postmortem, comment_id, by=user))


@router.get("/meeting", response_model=MeetingOut)
def get_meeting(postmortem_id: PostmortemId, db: DbSession, user: CurrentUser) -> MeetingOut:
    """The review meeting as recorded; 404 until it is."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    row = review.meeting(db, postmortem)
    if row is None:
        raise NotFound("the postmortem's review meeting is not recorded yet")
    return meeting_out(review.MeetingHeld(row, review.attendees_of(db, row)))


@router.put("/meeting", response_model=MeetingOut)
def record_meeting(
    postmortem_id: PostmortemId, body: MeetingIn, db: DbSession, user: Responder
) -> MeetingOut:
    """Record (or correct) the review meeting: when, who attended, its notes in Markdown.
    404 for an unknown attendee, 422 for a deactivated one."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    held = review.record_meeting(
        db, postmortem, body.held_at, body.attendee_ids, body.notes, by=user
    )
    return meeting_out(held)


@router.post("/publish", response_model=PostmortemOut)
def publish(postmortem_id: PostmortemId, db: DbSession, user: Responder) -> PostmortemOut:
    """Publish a reviewed postmortem: readable by the organisation (a restricted incident's
    still only by those who may see it), its incident's stakeholders emailed. 409 if it is
    not reviewed or already published."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    publishing.publish(db, postmortem, by=user)
    return postmortem_out(postmortem, utcnow())
