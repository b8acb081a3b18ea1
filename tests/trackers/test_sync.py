"""The tracker's state flows back: by polling and by each vendor's signed webhook. Closed →
the follow-up is done (with a timeline entry); reopened → open again."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.trackers import fake as vendors
from tests.trackers.conftest import KINDS, WEBHOOK_SECRET, connect, follow_up, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.incidents.models import ActionItem, TimelineEntry
from tocsin.jobs.queue import enqueue
from tocsin.trackers.sync import POLL_JOB

KEYS = {"jira": "OPS-1", "github": "1", "gitlab": "1", "linear": "ENG-1"}


def _linked(api: TestClient, db: Session, admin: User, container: Container,
            tracker: vendors.Fake, kind: str) -> tuple[dict[str, Any], ActionItem]:  # fmt: skip
    connection = connect(api, tracker, kind)
    item = follow_up(db, admin)
    api.post(
        f"/api/v1/action-items/{item.id}/tracker-link",
        json={"connection_id": connection["id"], "action": "create"},
    )
    run_jobs(container)
    return connection, item


def _status(db: Session, item: ActionItem) -> str:
    db.commit()  # a new read transaction, seeing what the server committed since
    db.expire_all()
    found = db.get(ActionItem, item.id)
    assert found is not None
    return found.status


def _timeline(db: Session, item: ActionItem) -> list[str]:
    return list(
        db.scalars(
            select(TimelineEntry.summary)
            .where(TimelineEntry.incident_id == item.incident_id)
            .order_by(TimelineEntry.id)
        )
    )


def _poll(db: Session, container: Container) -> None:
    db.commit()  # no read transaction left from before: on SQLite it could not write now
    enqueue(db, POLL_JOB, {"slot": f"test-{time.monotonic()}"})
    db.commit()
    run_jobs(container)


@pytest.mark.parametrize("kind", KINDS)
def test_polling_marks_the_follow_up_done_when_the_issue_closes_and_open_when_reopened(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    _, item = _linked(api, db, admin, container, tracker, kind)
    _poll(db, container)
    assert _status(db, item) == "open"
    tracker.close(kind, KEYS[kind])
    _poll(db, container)
    assert _status(db, item) == "done"
    assert any("is done" in e and KEYS[kind] in e for e in _timeline(db, item))
    tracker.close(kind, KEYS[kind], closed=False)
    _poll(db, container)
    assert _status(db, item) == "open"
    assert any("was reopened" in e for e in _timeline(db, item))


def test_a_follow_up_reopened_in_tocsin_is_not_closed_again_by_the_next_poll(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    _, item = _linked(api, db, admin, container, tracker, "github")
    tracker.close("github", "1")
    _poll(db, container)
    assert _status(db, item) == "done"
    api.patch(f"/api/v1/action-items/{item.id}", json={"status": "open"})
    _poll(db, container)
    assert _status(db, item) == "open"


def test_a_poll_that_fails_keeps_the_link_and_says_why(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    _, item = _linked(api, db, admin, container, tracker, "gitlab")
    tracker.fail(401, {"message": "401 Unauthorized"})
    _poll(db, container)
    link = api.get(f"/api/v1/action-items/{item.id}/tracker-link").json()
    assert link["state"] == "linked" and "reading its state failed" in link["error"]
    assert "refused the credentials" in link["error"]
    _poll(db, container)
    assert api.get(f"/api/v1/action-items/{item.id}/tracker-link").json()["error"] == ""


def _sign(kind: str, body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "github": {"X-GitHub-Event": "issues", "X-Hub-Signature-256": f"sha256={digest}"},
        "gitlab": {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": secret},
        "jira": {"X-Hub-Signature": f"sha256={digest}"},
        "linear": {"Linear-Event": "Issue", "Linear-Signature": digest},
    }[kind]


def _event(kind: str, tracker: vendors.Fake, closed: bool) -> dict[str, Any]:
    key = KEYS[kind]
    tracker.close(kind, key, closed)
    if kind == "github":
        return {
            "action": "closed" if closed else "reopened",
            "issue": vendors.github_issue(tracker, key),
            "repository": {"full_name": vendors.GITHUB_REPO},
        }
    if kind == "gitlab":
        issue = vendors.gitlab_issue(tracker, key)
        issue["url"] = issue.pop("web_url")
        issue["action"] = "close" if closed else "reopen"
        return {
            "object_kind": "issue",
            "event_type": "issue",
            "project": {"id": 42, "path_with_namespace": vendors.GITLAB_PROJECT},
            "object_attributes": issue,
        }
    if kind == "jira":
        return {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue": vendors.jira_issue(tracker, key),
        }
    return {
        "action": "update",
        "type": "Issue",
        "data": vendors.linear_issue(tracker, key),
        "url": f"https://linear.app/acme/issue/{key}",
        "webhookTimestamp": int(time.time() * 1000),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_webhook_closes_and_reopens_the_follow_up(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake, client: TestClient,
) -> None:  # fmt: skip
    connection, item = _linked(api, db, admin, container, tracker, kind)
    hook = f"/api/v1/trackers/{connection['id']}/webhook"
    body = json.dumps(_event(kind, tracker, closed=True)).encode()
    anonymous = {"Content-Type": "application/json"}
    response = client.post(
        hook, content=body, headers={**anonymous, **_sign(kind, body)}, auth=None
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "follow_ups": 1}
    assert _status(db, item) == "done"
    assert any("(webhook)" in e for e in _timeline(db, item))
    body = json.dumps(_event(kind, tracker, closed=False)).encode()
    response = client.post(hook, content=body, headers={**anonymous, **_sign(kind, body)})
    assert response.status_code == 200
    assert _status(db, item) == "open"


@pytest.mark.parametrize("kind", KINDS)
def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    connection, item = _linked(api, db, admin, container, tracker, kind)
    hook = f"/api/v1/trackers/{connection['id']}/webhook"
    body = json.dumps(_event(kind, tracker, closed=True)).encode()
    forged = _sign(kind, body, secret="not-the-secret")
    for headers in (forged, {}):
        response = api.post(
            hook, content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 401, response.text
        assert "signature" in response.json()["error"]["message"]
    assert _status(db, item) == "open"


def test_a_stale_linear_webhook_is_refused(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    connection, item = _linked(api, db, admin, container, tracker, "linear")
    event = _event("linear", tracker, closed=True)
    event["webhookTimestamp"] -= 10 * 60 * 1000
    body = json.dumps(event).encode()
    hook = f"/api/v1/trackers/{connection['id']}/webhook"
    assert api.post(hook, content=body, headers=_sign("linear", body)).status_code == 401
    assert _status(db, item) == "open"


def test_a_github_event_about_another_repository_changes_nothing(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    connection, item = _linked(api, db, admin, container, tracker, "github")
    event = _event("github", tracker, closed=True)
    event["repository"]["full_name"] = "acme/other"
    body = json.dumps(event).encode()
    hook = f"/api/v1/trackers/{connection['id']}/webhook"
    response = api.post(hook, content=body, headers=_sign("github", body))
    assert response.json()["follow_ups"] == 0
    assert _status(db, item) == "open"
