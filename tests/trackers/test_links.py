"""Creating a follow-up's issue in each tracker, and linking an existing one, through the API:
the HTTP happens in a job after commit, against the loopback tracker, in the vendor's shapes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.trackers import fake as vendors
from tests.trackers.conftest import KINDS, connect, follow_up, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.incidents.models import ActionItem, TimelineEntry
from tocsin.jobs.models import Job
from tocsin.trackers import service
from tocsin.trackers.sync import PUSH_JOB

CREATED = {
    "jira": ("OPS-1", "http://127.0.0.1:{port}/browse/OPS-1", "To Do"),
    "github": ("1", "https://github.com/acme/platform/issues/1", "open"),
    "gitlab": ("1", "https://gitlab.com/acme/platform/-/issues/1", "opened"),
    "linear": ("ENG-1", "https://linear.app/acme/issue/ENG-1/some-title", "Todo"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_follow_up_is_created_in_the_tracker_after_commit(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    connection = connect(api, tracker, kind)
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    response = api.post(url, json={"connection_id": connection["id"], "action": "create"})
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "creating"
    assert tracker.requests == []  # nothing sent inside the request
    shown = api.get(f"/incidents/{item.incident.reference}")
    assert f"Creating in {kind} tracker" in shown.text

    run_jobs(container)

    link = api.get(url).json()
    key, link_url, state = CREATED[kind]
    assert (link["state"], link["key"], link["remote_state"]) == ("linked", key, state)
    assert link["url"] == link_url.format(port=tracker.port)
    assert link["remote_closed"] is False and link["error"] == ""
    issue = tracker.issues[kind][key]
    assert issue["title"] == "Add failover for the payment provider"
    text = str(issue["description"])
    assert "The provider went down" in text and "http://tocsin.test/incidents/INC-" in text
    page = api.get(f"/incidents/{item.incident.reference}").text
    assert f">{key}</a> in {kind} tracker" in page
    db.expire_all()
    assert db.get(ActionItem, item.id).status == "open"  # type: ignore[union-attr]
    entries = db.scalars(
        select(TimelineEntry.summary).where(TimelineEntry.incident_id == item.incident_id)
    ).all()
    assert any(f"created as {key}" in e for e in entries)


def test_the_vendors_documented_request_shapes_are_sent(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    items = {kind: follow_up(db, admin, f"Fix it in {kind}") for kind in KINDS}
    for kind, item in items.items():
        connection = connect(api, tracker, kind)
        api.post(
            f"/api/v1/action-items/{item.id}/tracker-link",
            json={"connection_id": connection["id"], "action": "create"},
        )
    run_jobs(container)
    posts = {r.path: r for r in tracker.requests if r.method == "POST"}
    jira = posts["/rest/api/3/issue"]
    fields = jira.body["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["description"]["type"] == "doc" and fields["description"]["version"] == 1
    assert jira.headers["Authorization"].startswith("Basic ")
    github = posts["/repos/acme/platform/issues"]
    assert github.body["title"] == "Fix it in github" and "body" in github.body
    assert github.headers["Authorization"] == f"Bearer {vendors.GITHUB_TOKEN}"
    assert github.headers["Accept"] == "application/vnd.github+json"
    gitlab = posts["/api/v4/projects/acme%2Fplatform/issues"]
    assert gitlab.body["title"] == "Fix it in gitlab" and gitlab.headers["PRIVATE-TOKEN"]
    linear = posts["/graphql"]
    assert "issueCreate" in linear.body["query"]
    assert linear.body["variables"]["input"]["teamId"] == vendors.LINEAR_TEAM
    assert linear.headers["Authorization"] == vendors.LINEAR_KEY


LINKS = {
    "jira": ("OPS-7", "{url}/browse/OPS-7"),
    "github": ("7", "https://github.com/acme/platform/issues/7"),
    "gitlab": ("7", "https://gitlab.com/acme/platform/-/issues/7"),
    "linear": ("ENG-7", "https://linear.app/acme/issue/ENG-7/fix-the-failover"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_issue_is_linked_by_url_after_a_get(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    key, given = LINKS[kind]
    tracker.add(kind, key, "Fix the failover")
    connection = connect(api, tracker, kind)
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    body = {
        "connection_id": connection["id"],
        "action": "link",
        "issue": given.format(url=tracker.url),
    }
    response = api.post(url, json=body)
    assert response.status_code == 202, response.text
    assert (response.json()["state"], response.json()["key"]) == ("linking", key)
    run_jobs(container)
    [lookup] = tracker.requests  # one read: a GET, or Linear's issue query
    assert lookup.method == "GET" or "issue(id: $id)" in lookup.body["query"]
    link = api.get(url).json()
    assert (link["state"], link["key"]) == ("linked", key)


@pytest.mark.parametrize("kind", KINDS)
def test_linking_an_issue_that_does_not_exist_fails_with_the_reason(
    kind: str, api: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    key = {"jira": "OPS-99", "github": "#99", "gitlab": "99", "linear": "ENG-99"}[kind]
    connection = connect(api, tracker, kind)
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    api.post(url, json={"connection_id": connection["id"], "action": "link", "issue": key})
    run_jobs(container)
    link = api.get(url).json()
    assert link["state"] == "failed"
    assert "found nothing to read issue" in link["error"], link["error"]
    assert len(tracker.requests) == 1  # a missing issue is not asked for again
    db.expire_all()
    assert db.get(ActionItem, item.id).status == "open"  # type: ignore[union-attr]


def test_a_bad_reference_or_a_second_link_is_refused_at_once(
    api: TestClient, db: Session, admin: User, tracker: vendors.Fake
) -> None:
    connection = connect(api, tracker, "github")
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    bad = api.post(url, json={"connection_id": connection["id"], "action": "link", "issue": "x"})
    assert bad.status_code == 422 and "GitHub issue" in bad.json()["error"]["message"]
    other = {"connection_id": connection["id"], "action": "link", "issue": "other/repo#3"}
    assert api.post(url, json=other).status_code == 422
    missing = api.post(url, json={"connection_id": 999, "action": "create"})
    assert missing.status_code == 404
    assert (
        api.post(url, json={"connection_id": connection["id"], "action": "create"}).status_code
        == 202
    )
    again = api.post(url, json={"connection_id": connection["id"], "action": "create"})
    assert again.status_code == 409
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_a_rolled_back_request_sends_nothing(
    db: Session, admin: User, container: Container, tracker: vendors.Fake, api: TestClient
) -> None:
    connection_id = connect(api, tracker, "github")["id"]
    item = follow_up(db, admin)
    connection = service.get_connection(db, connection_id)
    service.create_issue(db, item, connection, by=admin)
    db.rollback()
    assert db.scalars(select(Job).where(Job.kind == PUSH_JOB)).all() == []
    run_jobs(container)
    assert tracker.requests == []


def test_an_unlinked_follow_up_is_not_created_by_its_pending_job(
    api: TestClient, db: Session, admin: User, container: Container, tracker: vendors.Fake
) -> None:
    connection = connect(api, tracker, "gitlab")
    item = follow_up(db, admin)
    url = f"/api/v1/action-items/{item.id}/tracker-link"
    api.post(url, json={"connection_id": connection["id"], "action": "create"})
    assert api.delete(url).status_code == 204
    run_jobs(container)
    assert tracker.requests == [] and tracker.issues["gitlab"] == {}
