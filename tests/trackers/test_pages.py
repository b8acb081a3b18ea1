"""The incident page and the follow-up list: Create in tracker, Link issue, the link and its
state, through the forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.trackers import fake as vendors
from tests.trackers.conftest import connect, follow_up, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User


def test_create_in_tracker_and_link_issue_from_the_pages(
    api: TestClient, client: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    connection = connect(api, tracker, "github", name="Platform <b>repo</b>")
    first = follow_up(db, admin, "Add failover")
    second = follow_up(db, admin, "Alert on 5xx")
    client.headers.pop("Authorization", None)
    csrf = browser_login(client, admin.email)
    page = client.get(f"/incidents/{first.incident.reference}").text
    assert "Create in tracker" in page and "Link issue" in page
    assert "Platform &lt;b&gt;repo&lt;/b&gt;" in page
    form = {"csrf_token": csrf, "action": "create", "connection_id": str(connection["id"]),
            "back": f"/incidents/{first.incident.reference}"}  # fmt: skip
    done = client.post(f"/action-items/{first.id}/tracker", data=form, follow_redirects=False)
    assert done.status_code == 303
    page = client.get(f"/incidents/{first.incident.reference}").text
    assert "Creating in Platform &lt;b&gt;repo&lt;/b&gt; (GitHub)…" in page
    run_jobs(container)
    page = client.get(f"/incidents/{first.incident.reference}").text
    assert 'href="https://github.com/acme/platform/issues/1"' in page and "open</span>" in page

    tracker.add("github", "9", "Alerting")
    link = {**form, "action": "link", "issue": "https://github.com/acme/platform/issues/9",
            "back": "/follow-ups"}  # fmt: skip
    assert client.post(f"/action-items/{second.id}/tracker", data=link).status_code == 200
    bad = client.post(f"/action-items/{second.id}/tracker", data={**link, "issue": "nope"})
    assert "GitHub issue" in bad.text  # the error, shown on the page it came from
    run_jobs(container)
    listing = client.get("/follow-ups").text
    assert ">9</a> in Platform" in listing and ">1</a> in Platform" in listing
    unlinked = client.post(
        f"/action-items/{second.id}/tracker/unlink",
        data={"csrf_token": csrf, "back": "/follow-ups"},
    )
    assert unlinked.status_code == 200 and ">9</a>" not in unlinked.text


def test_viewers_see_the_link_but_no_controls(
    api: TestClient, client: TestClient, db: Session, admin: User, viewer: User,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    connect(api, tracker, "jira")
    item = follow_up(db, admin)
    client.headers.pop("Authorization", None)
    browser_login(client, viewer.email)
    page = client.get(f"/incidents/{item.incident.reference}").text
    assert "Create in tracker" not in page


def test_what_a_tracker_answers_is_escaped_and_only_http_links_are_followed(
    api: TestClient, client: TestClient, db: Session, admin: User, container: Container,
    tracker: vendors.Fake,
) -> None:  # fmt: skip
    connection = connect(api, tracker, "github")
    item = follow_up(db, admin)
    hostile = {"number": 5, "state": "<script>alert(1)</script>", "html_url": "javascript:alert(1)"}
    tracker.fail(200, hostile, method="GET")
    body = {"connection_id": connection["id"], "action": "link", "issue": "#5"}
    api.post(f"/api/v1/action-items/{item.id}/tracker-link", json=body)
    run_jobs(container)
    page = api.get(f"/incidents/{item.incident.reference}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
