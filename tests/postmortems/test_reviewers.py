"""Reviewing a postmortem through the API: reviewers (emailed when asked), verdicts gating
Reviewed, the admin's override, comments on sections, the meeting, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401  (the fixtures)
from tests.postmortems.test_reminders import work
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems.models import (
    Postmortem,
    PostmortemComment,
    PostmortemMeeting,
    PostmortemReviewer,
)
from tocsin.postmortems.review import MEETING_NOTES_MAX


def _in_review(api: TestClient, title: str = "Search slow") -> int:
    ref = api.post("/api/v1/incidents", json={"title": title}).json()["reference"]
    pm = int(api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"])
    moved = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "in_review"})
    assert moved.status_code == 200, moved.text
    return pm


def _timeline(db: Session, pm_id: int) -> list[str]:
    db.rollback()
    postmortem = db.get(Postmortem, pm_id)
    assert postmortem is not None
    return [e.summary for e in incident_queries.timeline(db, postmortem.incident)]


@pytest.fixture
def rita(db: Session) -> User:
    db.commit()
    user = catalog.create_user(db, name="Rita Reviewer", email="rita.r@example.com",
                               role="responder", password="correct horse battery")  # fmt: skip
    db.commit()
    return user


def test_changes_requested_block_reviewed_and_an_approval_allows_it(
    api: TestClient,
    client: TestClient,
    db: Session,
    container: Container,
    rita: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    pm = _in_review(api)
    added = api.post(f"/api/v1/postmortems/{pm}/reviewers", json={"user_id": rita.id})
    assert added.status_code == 201, added.text
    assert [r["user"]["name"] for r in added.json()["reviewers"]] == ["Rita Reviewer"]
    assert added.json()["may_be_reviewed"] is False
    # Rita is emailed after commit, once.
    work(db, container)
    assert [m["To"] for m in smtp.messages] == ["Rita Reviewer <rita.r@example.com>"]
    assert "please review the postmortem" in smtp.messages[0]["Subject"]
    assert f"/postmortems/{pm}" in smtp.messages[0].get_content()
    assert "because Ada Admin asked you to review it" in smtp.messages[0].get_content()
    again = api.post(f"/api/v1/postmortems/{pm}/reviewers", json={"user_id": rita.id})
    assert again.status_code == 409 and "already reviews" in again.json()["error"]["message"]

    as_rita = api_as(client, db, rita)
    url = f"/api/v1/postmortems/{pm}/approvals"
    wants = client.post(url, json={"verdict": "changes_requested", "note": "Name the cause."},
                        headers=as_rita)  # fmt: skip
    assert wants.status_code == 200, wants.text
    assert wants.json()["changes_requested"] == 1
    blocked = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "reviewed"})
    assert blocked.status_code == 409
    assert "Rita Reviewer requested changes" in blocked.json()["error"]["message"]

    # Only a reviewer gives a verdict (the admin is not one).
    assert api.post(url, json={"verdict": "approved"}).status_code == 403

    approved = client.post(url, json={"verdict": "approved"}, headers=as_rita)
    assert approved.status_code == 200 and approved.json()["may_be_reviewed"] is True
    done = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "reviewed"})
    assert done.status_code == 200 and done.json()["status"] == "reviewed"

    entries = _timeline(db, pm)
    assert "Ada Admin asked Rita Reviewer to review the postmortem" in entries
    assert "Rita Reviewer requested changes to the postmortem" in entries
    assert "Rita Reviewer approved the postmortem" in entries
    assert len(smtp.messages) == 1  # nobody else was mailed


def test_reviewed_without_approval_needs_an_admins_reason(
    api: TestClient, client: TestClient, db: Session, responder: User
) -> None:
    pm = _in_review(api)
    refused = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "reviewed"})
    assert refused.status_code == 409
    assert "no reviewer has approved it yet" in refused.json()["error"]["message"]
    as_rita = api_as(client, db, responder)
    not_admin = client.post(
        f"/api/v1/postmortems/{pm}/status",
        json={"status": "reviewed", "override": "We reviewed it in the meeting."},
        headers=as_rita,
    )
    assert not_admin.status_code == 403
    overridden = api.post(
        f"/api/v1/postmortems/{pm}/status",
        json={"status": "reviewed", "override": "Reviewed in the meeting; reviewers away."},
    )
    assert overridden.status_code == 200, overridden.text
    entries = _timeline(db, pm)
    assert any(
        "overriding the review (no reviewer has approved it yet): Reviewed in the meeting" in e
        for e in entries
    )


def test_verdicts_wait_for_in_review(api: TestClient, client: TestClient, db: Session,
                                     rita: User) -> None:  # fmt: skip
    ref = api.post("/api/v1/incidents", json={"title": "Draft only"}).json()["reference"]
    pm = api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"]
    api.post(f"/api/v1/postmortems/{pm}/reviewers", json={"user_id": rita.id})
    early = client.post(f"/api/v1/postmortems/{pm}/approvals", json={"verdict": "approved"},
                        headers=api_as(client, db, rita))  # fmt: skip
    assert early.status_code == 409 and "in review" in early.json()["error"]["message"]
    as_rita = api_as(client, db, rita)
    api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "in_review"})
    bare = client.post(f"/api/v1/postmortems/{pm}/approvals",
                       json={"verdict": "changes_requested"}, headers=as_rita)  # fmt: skip
    assert bare.status_code == 422 and "say which changes" in bare.text


def _counts(db: Session) -> tuple[Any, ...]:
    db.rollback()
    return tuple(
        db.scalar(select(func.count()).select_from(model))
        for model in (PostmortemReviewer, PostmortemComment, PostmortemMeeting)
    )


def test_bad_input_is_refused_clearly_and_changes_nothing(
    api: TestClient, db: Session, viewer: User
) -> None:
    pm = _in_review(api)
    db.commit()
    gone = catalog.create_user(db, name="Gone Person", email="gone@example.com", role="responder")
    catalog.update_user(db, gone, {"active": False})
    db.commit()
    before = _counts(db)
    base = f"/api/v1/postmortems/{pm}"

    unknown = api.post(f"{base}/reviewers", json={"user_id": 999_999})
    assert unknown.status_code == 404 and "no user with id 999999" in unknown.text
    deactivated = api.post(f"{base}/reviewers", json={"user_id": gone.id})
    assert deactivated.status_code == 422 and "deactivated" in deactivated.text
    a_viewer = api.post(f"{base}/reviewers", json={"user_id": viewer.id})
    assert a_viewer.status_code == 422 and "viewer" in a_viewer.text

    no_section = api.post(f"{base}/comments", json={"section_key": "nope", "body": "Hm"})
    assert no_section.status_code == 404 and "no section 'nope'" in no_section.text
    blank = api.post(f"{base}/comments", json={"section_key": "overview", "body": "   "})
    assert blank.status_code == 422

    meeting = {"held_at": "2026-12-07T10:00:00+00:00", "attendee_ids": [], "notes": ""}
    too_long = api.put(f"{base}/meeting", json={**meeting, "notes": "x" * (MEETING_NOTES_MAX + 1)})
    assert too_long.status_code == 422
    nobody = api.put(f"{base}/meeting", json={**meeting, "attendee_ids": [999_999]})
    assert nobody.status_code == 404 and "attendee_ids" in nobody.text
    inactive = api.put(f"{base}/meeting", json={**meeting, "attendee_ids": [gone.id]})
    assert inactive.status_code == 422 and "deactivated" in inactive.text
    naive = api.put(f"{base}/meeting", json={**meeting, "held_at": "2026-12-07T10:00:00"})
    assert naive.status_code == 422
    assert api.get(f"{base}/meeting").status_code == 404
    assert api.delete(f"{base}/reviewers/{viewer.id}").status_code == 404

    assert _counts(db) == before


def test_comments_and_the_meeting(api: TestClient, db: Session, admin: User, rita: User) -> None:
    pm = _in_review(api)
    base = f"/api/v1/postmortems/{pm}"
    made = api.post(
        f"{base}/comments",
        json={"section_key": "what_happened", "body": "Add **when** <script>alert(1)</script>"},
    )
    assert made.status_code == 201, made.text
    comment = made.json()
    assert comment["author"]["name"] == "Ada Admin"
    assert "<strong>when</strong>" in comment["html"] and "<script>" not in comment["html"]
    resolved = api.post(f"{base}/comments/{comment['id']}/resolve")
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] is not None
    assert api.post(f"{base}/comments/999999/resolve").status_code == 404
    assert api.get(f"{base}/comments").json()["total"] == 1

    held = api.put(
        f"{base}/meeting",
        json={"held_at": "2026-12-07T10:00:00+01:00", "attendee_ids": [admin.id, rita.id],
              "notes": "We agreed on *two* follow-ups."},
    )  # fmt: skip
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["held_at"] == "2026-12-07T09:00:00+00:00"
    assert [a["name"] for a in body["attendees"]] == ["Ada Admin", "Rita Reviewer"]
    assert "<em>two</em>" in body["html"]
    assert api.get(f"{base}/meeting").json()["notes"] == "We agreed on *two* follow-ups."
    entries = _timeline(db, pm)
    assert any(
        "recorded the postmortem's review meeting, held 2026-12-07 09:00 UTC "
        "(attendees: Ada Admin, Rita Reviewer)" in e
        for e in entries
    )
