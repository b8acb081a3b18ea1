"""A tracker answering 401, 404, 429, 500 or not answering: each gives the follow-up a clear
message, retries what may pass (429 after its Retry-After, 5xx with backoff), and leaves the
follow-up's own state alone."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.trackers import fake as vendors
from tests.trackers.conftest import KINDS, connect, follow_up, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import ActionItem
from tocsin.jobs.models import Job
from tocsin.trackers.sync import PUSH_JOB


def _create(api: TestClient, db: Session, admin: User, tracker: vendors.Fake, kind: str,
            **connection: str) -> tuple[str, int]:  # fmt: skip
    made = connect(api, tracker, kind, **connection)
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    assert api.post(url, json={"connection_id": made["id"], "action": "create"}).status_code == 202
    return url, item.id


def _status(db: Session, item_id: int) -> str:
    db.commit()  # a new read transaction, seeing what the server committed since
    db.expire_all()
    item = db.get(ActionItem, item_id)
    assert item is not None
    return item.status


@pytest.mark.parametrize("kind", KINDS)
def test_refused_credentials_fail_at_once_with_a_clear_message(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    url, item_id = _create(api, db, admin, tracker, kind, credential="wrong-token")
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed"
    assert "refused the" in link["error"] and "Settings → Issue trackers" in link["error"]
    assert len(tracker.requests) == 1  # not retried: it would be refused again
    assert _status(db, item_id) == "open"
    page = api.get("/follow-ups").text
    assert "refused the" in page and "Create in tracker" in page  # and it can be tried again


@pytest.mark.parametrize(
    ("kind", "project", "said"),
    [
        ("github", "acme/gone", "GitHub found nothing to create an issue in acme/gone (HTTP 404"),
        ("gitlab", "acme/gone", "GitLab found nothing to create an issue in project acme/gone"),
        ("jira", "GONE", "valid project is required"),
        ("linear", "no-such-team", "Entity not found: Team"),
    ],
)
def test_a_missing_project_fails_with_the_trackers_reason(
    kind: str, project: str, said: str, api: TestClient, db: Session, admin: User,
    container: Container, tracker: vendors.Fake,
) -> None:  # fmt: skip
    url, item_id = _create(api, db, admin, tracker, kind, project=project)
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed" and said in link["error"], link["error"]
    assert _status(db, item_id) == "open"


def test_a_rate_limit_is_waited_out_as_retry_after_asks_then_the_issue_is_created(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, _ = _create(api, db, admin, tracker, "github")
    tracker.fail(429, {"message": "API rate limit exceeded"}, **{"Retry-After": "2"})
    before = utcnow()
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "creating"
    assert "rate limiting" in link["error"] and "wait 2 s" in link["error"]
    assert "attempt 1 of 3" in link["error"]
    retry = db.scalars(select(Job).where(Job.kind == PUSH_JOB, Job.state == "queued")).one()
    assert retry.run_at >= before + timedelta(seconds=2)
    assert run_jobs(container) == 0  # not before its time
    time.sleep(max(0.0, (retry.run_at - utcnow()).total_seconds()) + 0.05)
    run_jobs(container)
    link = api.get(url).json()
    assert (link["state"], link["key"], link["error"]) == ("linked", "1", "")
    assert len(tracker.issues["github"]) == 1


def test_linear_rate_limits_in_graphql_errors_are_retried_too(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, _ = _create(api, db, admin, tracker, "linear")
    tracker.fail(
        400, {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]}
    )
    run_jobs(container)  # no Retry-After and a base delay of 0: tried again at once
    link = api.get(url).json()
    assert (link["state"], link["key"], link["attempts"]) == ("linked", "ENG-1", 2)
    assert len(tracker.requests) == 2


def test_server_errors_are_retried_with_backoff_and_then_given_up(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, item_id = _create(api, db, admin, tracker, "gitlab")
    tracker.fail(500, {"message": "500 Internal Server Error"}, times=2)
    run_jobs(container)
    link = api.get(url).json()
    assert (link["state"], link["key"]) == ("linked", "1")
    assert link["attempts"] == 3 and len(tracker.requests) == 3

    url, item_id = _create(api, db, admin, tracker, "jira", name="second jira")
    tracker.requests.clear()
    tracker.fail(503, None, times=5)
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed"
    assert link["error"] == "Jira failed (HTTP 503) (after 3 attempts)"
    assert len(tracker.requests) == 3
    assert _status(db, item_id) == "open"


def test_a_create_that_times_out_is_not_repeated_and_says_why(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, item_id = _create(api, db, admin, tracker, "github")
    tracker.slow(1.5)
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed"
    assert "did not answer within 0.5 s" in link["error"]
    assert "may have created the issue" in link["error"]
    assert _status(db, item_id) == "open"


def test_a_lookup_that_times_out_is_tried_again(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    tracker.add("jira", "OPS-3", "Fix it")
    made = connect(api, tracker, "jira")
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    api.post(url, json={"connection_id": made["id"], "action": "link", "issue": "OPS-3"})
    tracker.slow(1.5)
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "linked", link
    assert link["attempts"] == 2


def test_a_jira_issue_whose_read_fails_after_it_was_created_is_not_created_twice(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, _ = _create(api, db, admin, tracker, "jira")
    tracker.fail(500, None, method="GET")
    run_jobs(container)
    link = api.get(url).json()
    assert (link["state"], link["key"], link["remote_state"]) == ("linked", "OPS-1", "")
    assert list(tracker.issues["jira"]) == ["OPS-1"]


def test_a_github_secondary_rate_limit_403_with_retry_after_is_retried(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, _ = _create(api, db, admin, tracker, "github")
    message = {"message": "You have exceeded a secondary rate limit."}
    tracker.fail(403, message, **{"Retry-After": "0"})
    run_jobs(container)
    assert api.get(url).json()["state"] == "linked"
    assert len(tracker.requests) == 2


def test_a_credential_that_cannot_be_decrypted_fails_the_link_and_says_to_enter_it_again(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    url, item_id = _create(api, db, admin, tracker, "linear")
    db.execute(text("UPDATE tracker_connections SET credential_encrypted = 'written-elsewhere'"))
    db.commit()
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed" and "enter it again" in link["error"]
    assert tracker.requests == []
    assert _status(db, item_id) == "open"
