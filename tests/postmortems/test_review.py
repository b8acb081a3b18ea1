"""The blameless review suggestions, the Markdown preview and comparing revisions, through
the API and the pages (real form posts, as a browser without JavaScript)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems import service


def _started(api: TestClient) -> int:
    ref = api.post("/api/v1/incidents", json={"title": "Search slow"}).json()["reference"]
    return int(api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"])


def _save(api: TestClient, pm: int, key: str, body: str) -> None:
    url = f"/api/v1/postmortems/{pm}/sections/{key}"
    version = next(
        s["version"] for s in api.get(f"/api/v1/postmortems/{pm}").json()["sections"]
        if s["key"] == key
    )  # fmt: skip
    saved = api.put(url, json={"body": body, "base_version": version})
    assert saved.status_code == 200, saved.text


def test_suggestions_through_the_api_and_dismissing_one(
    api: TestClient, client: TestClient, db: Session, viewer: User
) -> None:
    pm = _started(api)
    _save(api, pm, "contributing_factors", "Human error in the deploy. The disk was small.")
    _save(api, pm, "what_happened", "Search slowed down. We will add a cache.")
    listed = api.get(f"/api/v1/postmortems/{pm}/suggestions")
    assert listed.status_code == 200
    items = listed.json()["items"]
    rules = {(i["rule"], i["section_key"]) for i in items}
    assert ("human_error", "contributing_factors") in rules
    assert ("fix_in_description", "what_happened") in rules
    human = next(i for i in items if i["rule"] == "human_error")
    assert human["text"] == "Human error in the deploy." and human["why"]

    # Viewers read them and cannot dismiss.
    as_viewer = api_as(client, db, viewer)
    assert client.get(f"/api/v1/postmortems/{pm}/suggestions", headers=as_viewer).status_code == 200
    url = f"/api/v1/postmortems/{pm}/suggestions/{human['id']}/dismiss"
    assert client.post(url, headers=as_viewer).status_code == 403

    dismissed = api.post(url)
    assert dismissed.status_code == 200, dismissed.text
    assert human["id"] not in {i["id"] for i in dismissed.json()["items"]}
    assert api.post(url).status_code == 200  # again: nothing changes
    assert api.post(f"/api/v1/postmortems/{pm}/suggestions/nope/dismiss").status_code == 404

    # Unchanged sentence, still dismissed after another edit elsewhere in the section…
    _save(api, pm, "contributing_factors", "Human error in the deploy. The disk was tiny.")
    ids = {i["id"] for i in api.get(f"/api/v1/postmortems/{pm}/suggestions").json()["items"]}
    assert human["id"] not in ids
    # …and back once the sentence itself changes.
    _save(api, pm, "contributing_factors", "Human error while deploying. The disk was tiny.")
    again = api.get(f"/api/v1/postmortems/{pm}/suggestions").json()["items"]
    assert any(i["rule"] == "human_error" for i in again)


def test_a_sections_diff_through_the_api(api: TestClient) -> None:
    pm = _started(api)
    _save(api, pm, "what_went_well", "Fast rollback\nGood paging")
    _save(api, pm, "what_went_well", "Fast rollback\nClear updates")
    url = f"/api/v1/postmortems/{pm}/sections/what_went_well/diff"
    got = api.get(url, params={"from_version": 2, "to_version": 3})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["lines"] == [
        {"op": "same", "text": "Fast rollback"},
        {"op": "removed", "text": "Good paging"},
        {"op": "added", "text": "Clear updates"},
    ]
    assert "-Good paging" in body["unified"] and "+Clear updates" in body["unified"]
    missing = api.get(url, params={"from_version": 2, "to_version": 9})
    assert missing.status_code == 404


def test_the_page_shows_suggestions_with_a_dismiss_button(
    client: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    section = postmortem.section("what_happened")
    assert section is not None
    service.save_section(
        db, postmortem, "what_happened", "It should have failed over.", section.version, by=admin
    )
    db.commit()
    csrf = browser_login(client, admin.email)
    url = f"/postmortems/{postmortem.id}"
    page = client.get(url).text
    assert "Review suggestions" in page and "<mark>should have</mark>" in page
    start = page.index('<li class="pm-suggestion" id="suggestion-')
    sid = page[start:].split('id="suggestion-', 1)[1].split('"', 1)[0]
    refused = client.post(
        f"{url}/suggestions/{sid}/dismiss", data={"section": "what_happened"},
        follow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 403  # no CSRF token
    done = client.post(
        f"{url}/suggestions/{sid}/dismiss",
        data={"csrf_token": csrf, "section": "what_happened"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(url)
    assert f'id="suggestion-{sid}"' not in client.get(url).text
    db.rollback()
    entries = [e.summary for e in incident_queries.timeline(db, incident)]
    assert any("dismissed a review suggestion (alternate reality)" in e for e in entries)


def test_preview_renders_the_text_sanitized_and_saves_nothing(
    client: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    db.commit()
    csrf = browser_login(client, admin.email)
    url = f"/postmortems/{postmortem.id}"
    body = "**Fast** rollback <script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    shown = client.post(
        f"{url}/sections/what_went_well/preview",
        data={"csrf_token": csrf, "base_version": "1", "body": body},
    )
    assert shown.status_code == 200
    preview = shown.text.split('id="preview-what_went_well"', 1)[1].split("</div>\n  </div>")[0]
    assert "<strong>Fast</strong>" in preview and "<table>" in preview
    assert "<script>alert(1)</script>" not in shown.text
    # The text stays in the editor, on the version it was edited from; nothing saved.
    assert "**Fast** rollback &lt;script&gt;" in shown.text
    db.rollback()
    db.expire_all()
    section = service.for_incident(db, incident).section("what_went_well")  # type: ignore[union-attr]
    assert section is not None and section.version == 1 and "Fast" not in section.body


def test_the_revisions_page_compares_two_versions(
    client: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    service.save_section(db, postmortem, "what_went_well", "one\n<b>two</b>", 1, by=admin)
    service.save_section(db, postmortem, "what_went_well", "one\nthree", 2, by=admin)
    db.commit()
    browser_login(client, admin.email)
    url = f"/postmortems/{postmortem.id}/sections/what_went_well/revisions"
    assert url in client.get(f"/postmortems/{postmortem.id}").text  # linked from the section
    page = client.get(url)
    assert page.status_code == 200
    # By default the two newest: version 2 → 3.
    assert '<del class="diff-removed">− &lt;b&gt;two&lt;/b&gt;</del>' in page.text
    assert '<ins class="diff-added">+ three</ins>' in page.text
    assert '<span class="diff-same">  one</span>' in page.text
    chosen = client.get(url, params={"from_version": 1, "to_version": 3}).text
    assert '<ins class="diff-added">+ one</ins>' in chosen
    assert client.get(f"/postmortems/{postmortem.id}/sections/nope/revisions").status_code == 404


def test_viewers_see_suggestions_without_dismiss_or_preview(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    service.save_section(db, postmortem, "contributing_factors", "Human error.", 1, by=admin)
    db.commit()
    csrf = browser_login(client, viewer.email)
    url = f"/postmortems/{postmortem.id}"
    page = client.get(url).text
    assert "<mark>Human error</mark>" in page
    assert "/dismiss" not in page and "Preview" not in page
    refused = client.post(
        f"{url}/sections/overview/preview",
        data={"csrf_token": csrf, "body": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
