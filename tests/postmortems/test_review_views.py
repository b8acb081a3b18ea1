"""The postmortem page's review panel, through real form posts (as a browser without
JavaScript): reviewers, verdicts, comments shown escaped, the meeting, publishing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems import service
from tocsin.postmortems.models import Postmortem


def _post(client: TestClient, url: str, data: dict[str, object]) -> str:
    done = client.post(url, data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def test_the_review_panel_from_reviewer_to_publication(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    service.change_status(db, postmortem, "in_review", by=admin)
    db.commit()
    url = f"/postmortems/{postmortem.id}"
    csrf = browser_login(client, admin.email)
    page = client.get(url).text
    assert 'id="review"' in page and "No reviewers yet." in page
    assert "no reviewer has approved it yet" in page

    # Without the CSRF token nothing happens.
    refused = client.post(f"{url}/reviewers", data={"user_id": responder.id},
                          follow_redirects=False)  # fmt: skip
    assert refused.status_code == 403
    _post(client, f"{url}/reviewers", {"csrf_token": csrf, "user_id": responder.id})
    # A comment with a script in it is shown escaped, its Markdown rendered.
    body = "**Which** deploy? <script>alert(1)</script>"
    _post(client, f"{url}/comments",
          {"csrf_token": csrf, "section_key": "what_happened", "body": body})  # fmt: skip
    page = client.get(url).text
    assert "Rita Responder" in page and "waiting" in page
    assert "<strong>Which</strong> deploy?" in page
    assert "<script>alert(1)</script>" not in page
    # An unknown section: a clear message, nothing added.
    back = _post(client, f"{url}/comments", {"csrf_token": csrf, "section_key": "nope",
                                             "body": "x"})  # fmt: skip
    assert "no section" in client.get(back).text

    # The reviewer signs in, requests changes, then approves.
    client.cookies.clear()
    csrf = browser_login(client, responder.email)
    page = client.get(url).text
    assert 'value="changes_requested"' in page and 'value="approved"' in page
    _post(client, f"{url}/verdict", {"csrf_token": csrf, "verdict": "changes_requested",
                                     "note": "Name the <b>trigger</b>."})  # fmt: skip
    page = client.get(url).text
    assert "changes requested" in page and "Rita Responder requested changes" in page
    assert "“Name the &lt;b&gt;trigger&lt;/b&gt;.”" in page
    back = _post(client, f"{url}/status", {"csrf_token": csrf, "status": "reviewed"})
    assert "cannot be marked Reviewed" in client.get(back).text
    _post(client, f"{url}/verdict", {"csrf_token": csrf, "verdict": "approved", "note": ""})
    _post(client, f"{url}/meeting", {"csrf_token": csrf, "held_at": "2026-12-07T10:00",
                                     "attendee_ids": [str(admin.id), str(responder.id)],
                                     "notes": "Agreed: *two* follow-ups."})  # fmt: skip
    _post(client, f"{url}/status", {"csrf_token": csrf, "status": "reviewed"})
    page = client.get(url).text
    assert "Ada Admin, Rita Responder" in page and "<em>two</em>" in page
    assert f'action="/postmortems/{postmortem.id}/publish"' in page
    _post(client, f"{url}/publish", {"csrf_token": csrf})
    page = client.get(url).text
    assert "Published <time" in page

    db.rollback()
    db.expire_all()
    pm = db.get(Postmortem, postmortem.id, populate_existing=True)
    assert pm is not None, pm
    assert (pm.status, pm.published_at is not None) == ("reviewed", True)
    entries = [e.summary for e in incident_queries.timeline(db, pm.incident)]
    assert "Rita Responder approved the postmortem" in entries
    assert "Rita Responder published the postmortem" in entries


def test_viewers_see_the_review_without_its_forms(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    db.commit()
    browser_login(client, viewer.email)
    page = client.get(f"/postmortems/{postmortem.id}").text
    assert 'id="review"' in page
    assert '/reviewers"' not in page and "/publish" not in page and '/comments"' not in page
