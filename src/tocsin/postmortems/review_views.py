"""The postmortem page's review panel forms: reviewers, verdicts, comments on sections, the
meeting held, publishing. Each form runs one service call (`web.actions.perform`); the panel
itself is rendered by `views._page` from `review_context`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.deps import DbSession, Responder
from tocsin.postmortems import publishing, queries, review
from tocsin.postmortems.models import Postmortem, PostmortemComment, PostmortemStatus
from tocsin.web.actions import perform
from tocsin.web.forms import Form, int_list, local_datetime, optional_int, text

router = APIRouter(include_in_schema=False)


def _url(postmortem: Postmortem, anchor: str = "review") -> str:
    return f"/postmortems/{postmortem.id}#{anchor}"


def review_context(db: Session, postmortem: Postmortem, viewer_id: int) -> dict[str, Any]:
    """What the review panel and the sections' comments show."""
    state = review.state(db, postmortem)
    by_section: dict[str, list[PostmortemComment]] = {}
    for comment in review.comments(db, postmortem):
        by_section.setdefault(comment.section_key, []).append(comment)
    held = review.meeting(db, postmortem)
    return {
        "review": state,
        "my_review": next((r for r in state.reviewers if r.user_id == viewer_id), None),
        "comments": by_section,
        "meeting": held,
        "attendees": review.attendees_of(db, held) if held is not None else [],
        "can_publish": postmortem.published_at is None
        and postmortem.status in publishing.PUBLISHABLE,
        "in_review": postmortem.status == PostmortemStatus.in_review.value,
    }


@router.post("/postmortems/{postmortem_id}/reviewers")
def add_reviewer(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db,
        _url(postmortem),
        lambda: review.add_reviewer(db, postmortem, optional_int(form, "user_id") or 0, by=user),
        notice="Reviewer asked; they are emailed.",
    )


@router.post("/postmortems/{postmortem_id}/reviewers/{user_id}/remove")
def remove_reviewer(postmortem_id: int, user_id: int, db: DbSession, user: Responder,
                    form: Form) -> Response:  # fmt: skip
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db, _url(postmortem), lambda: review.remove_reviewer(db, postmortem, user_id, by=user)
    )


@router.post("/postmortems/{postmortem_id}/verdict")
def give_verdict(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db,
        _url(postmortem),
        lambda: review.give_verdict(
            db, postmortem, text(form, "verdict"), text(form, "note"), by=user
        ),
        notice="Verdict recorded.",
    )


@router.post("/postmortems/{postmortem_id}/comments")
def add_comment(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    key = text(form, "section_key")
    anchor = f"section-{key}" if postmortem.section(key) else "review"
    return perform(
        db,
        _url(postmortem, anchor),
        lambda: review.add_comment(db, postmortem, key, text(form, "body"), by=user),
        notice="Comment added.",
    )


@router.post("/postmortems/{postmortem_id}/comments/{comment_id}/resolve")
def resolve_comment(postmortem_id: int, comment_id: int, db: DbSession, user: Responder,
                    form: Form) -> Response:  # fmt: skip
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    key = text(form, "section_key")
    anchor = f"section-{key}" if postmortem.section(key) else "review"
    return perform(
        db,
        _url(postmortem, anchor),
        lambda: review.resolve_comment(db, postmortem, comment_id, by=user),
        notice="Comment resolved.",
    )


@router.post("/postmortems/{postmortem_id}/meeting")
def record_meeting(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    """The meeting as held: its time (in the user's time zone), attendees, notes."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db,
        _url(postmortem, "meeting"),
        lambda: review.record_meeting(
            db,
            postmortem,
            local_datetime(form, "held_at", user.timezone),
            int_list(form, "attendee_ids"),
            text(form, "notes"),
            by=user,
        ),
        notice="Meeting recorded.",
    )


@router.post("/postmortems/{postmortem_id}/publish")
def publish(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db,
        _url(postmortem),
        lambda: publishing.publish(db, postmortem, by=user),
        notice="Published; the incident's stakeholders are emailed.",
    )
