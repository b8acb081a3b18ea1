"""The postmortem pages, driven through real form posts as a browser without JavaScript
would: start one from the incident page, edit a section, meet the conflict with both texts."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.postmortems import service


def fresh(db: Session) -> None:
    db.rollback()
    db.expire_all()


def test_start_from_the_incident_page_and_edit_a_section(
    client: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    db.commit()
    csrf = browser_login(client, admin.email)
    page = client.get(f"/incidents/{incident.reference}")
    assert "No postmortem yet." in page.text and "Start the postmortem" in page.text

    # Without the CSRF token, nothing starts.
    refused = client.post(f"/incidents/{incident.reference}/postmortem", follow_redirects=False)
    assert refused.status_code == 403
    started = client.post(
        f"/incidents/{incident.reference}/postmortem",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert started.status_code == 303
    url = started.headers["location"]
    fresh(db)
    postmortem = service.for_incident(db, incident)
    assert postmortem is not None and url == f"/postmortems/{postmortem.id}"
    assert "Draft postmortem" in client.get(f"/incidents/{incident.reference}").text

    shown = client.get(url)
    assert shown.status_code == 200
    # Every form on the page carries the session's CSRF token.
    assert shown.text.count('name="csrf_token" value="') == shown.text.count(
        f'name="csrf_token" value="{csrf}"'
    )
    assert shown.text.count(f'name="csrf_token" value="{csrf}"') > 12
    assert "What didn&#39;t go so well?" in shown.text or "What didn't go so well?" in shown.text
    saved = client.post(
        f"{url}/sections/what_went_well",
        data={
            "csrf_token": csrf,
            "base_version": "1",
            "body": "Fast rollback <script>alert(1)</script>",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(url).text
    assert "<script>alert(1)</script>" not in page
    assert "Fast rollback &lt;script&gt;alert(1)&lt;/script&gt;" in page

    moved = client.post(
        f"{url}/status", data={"csrf_token": csrf, "status": "in_review"}, follow_redirects=False
    )
    assert moved.status_code == 303
    assert "In review" in client.get(url).text
    assert "Postmortems" in client.get("/postmortems").text


def test_a_stale_edit_shows_both_texts_and_keeps_yours(
    client: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    service.save_section(db, postmortem, "resolution", "Restarted the primary.", 1, by=admin)
    db.commit()
    csrf = browser_login(client, admin.email)

    stale = client.post(
        f"/postmortems/{postmortem.id}/sections/resolution",
        data={"csrf_token": csrf, "base_version": "1", "body": "Failed over to the replica."},
    )
    assert stale.status_code == 409
    text = html.unescape(stale.text)
    assert "Not saved: someone changed this section" in text
    assert "Restarted the primary." in text  # the saved text
    # Yours stays in the editor, now based on the saved version, ready to save again.
    assert ">Failed over to the replica.</textarea>" in text
    assert 'name="base_version" value="2"' in text
    fresh(db)
    assert postmortem.section("resolution").body == "Restarted the primary."  # type: ignore[union-attr]


def test_viewers_see_no_edit_forms(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    db.commit()
    browser_login(client, viewer.email)
    page = client.get(f"/postmortems/{postmortem.id}")
    assert page.status_code == 200
    assert "Edit Overview" not in page.text
    assert "Start the postmortem" not in client.get(f"/incidents/{incident.reference}").text
