"""Runbook pages and the incident page's Runbooks card: forms with CSRF, no script runs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.runbooks.conftest import incident, runbook, timeline_kinds
from tocsin.catalog.models import User
from tocsin.runbooks import progress, service

SCRIPTED = """\
<script>alert(1)</script>
- [ ] Click [here](javascript:alert(2)) <img src=x onerror=alert(3)>
  <script>alert(4)</script>
  ```sh
  echo "<script>alert(5)</script>"
  ```
"""


def test_a_runbook_with_script_renders_inert(client: TestClient, db: Session, admin: User) -> None:
    book = runbook(db, admin, "Scripted", body=SCRIPTED)
    inc = incident(db, admin)
    service.attach(db, inc, book, by=admin)
    db.commit()
    browser_login(client, admin.email)
    for page in (client.get(f"/runbooks/{book.id}"), client.get(f"/incidents/{inc.reference}")):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert 'href="javascript' not in page.text and "<img src=x" not in page.text
        # Shown as text: the tags escaped, the command there to copy.
        assert "&lt;img src=x onerror=alert(3)&gt;" in page.text
        assert 'echo "&lt;script&gt;alert(5)&lt;/script&gt;"' in page.text


def test_create_with_preview_then_edit(client: TestClient, db: Session, admin: User) -> None:
    token = browser_login(client, admin.email)
    form = {"csrf_token": token, "name": "Cache", "body": "- [ ] Flush it (role: sme)"}
    preview = client.post("/runbooks", data={**form, "preview": "1"})
    assert preview.status_code == 200 and "Preview (not saved)" in preview.text
    assert "Cache" not in [r.name for r in service.list_runbooks(db)]
    bad = client.post("/runbooks", data={**form, "body": "- [ ] x (role: wizard)"})
    assert bad.status_code == 422 and "wizard" in bad.text
    created = client.post("/runbooks", data=form, follow_redirects=False)
    assert created.status_code == 303
    db.rollback()  # a fresh read: the server committed since
    book = next(r for r in service.list_runbooks(db) if r.name == "Cache")
    saved = client.post(
        f"/runbooks/{book.id}",
        data={**form, "body": "- [ ] Flush it (role: sme)\n- [ ] Warm it"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(f"/runbooks/{book.id}?version=1")
    assert "version 1" in page.text and "the current one is 2" in page.text
    assert "Runbooks" in client.get("/runbooks").text
    no_csrf = client.post("/runbooks", data={"name": "Z", "body": "- [ ] z"})
    assert no_csrf.status_code == 403


def test_the_incident_card_attaches_and_ticks(client: TestClient, db: Session, admin: User) -> None:
    inc = incident(db, admin)
    db.commit()
    token = browser_login(client, admin.email)
    page = client.get(f"/incidents/{inc.reference}")
    assert 'id="runbooks"' in page.text and "No runbook attached." in page.text
    ic = next(r for r in service.list_runbooks(db) if r.name == "Incident commander checklist")
    attached = client.post(
        f"/incidents/{inc.reference}/runbooks",
        data={"csrf_token": token, "runbook_id": str(ic.id)},
        follow_redirects=False,
    )
    assert attached.status_code == 303
    db.rollback()
    (held,) = progress.attachments(db, inc)
    step_url = f"/incidents/{inc.reference}/runbooks/{held.id}/steps/1"
    client.post(step_url, data={"csrf_token": token, "done": "on"})
    page = client.get(f"/incidents/{inc.reference}")
    assert "ticked by Ada Admin" in page.text and "1/14 done" in page.text
    client.post(step_url, data={"csrf_token": token})  # the checkbox left unticked
    db.rollback()
    assert timeline_kinds(db, inc, "runbook_step")[-1].startswith("Ada Admin unticked step 1")
    missing = client.post(
        f"/incidents/{inc.reference}/runbooks/{held.id}/steps/99",
        data={"csrf_token": token, "done": "on"},
        follow_redirects=False,
    )
    assert missing.status_code == 303  # back to the page with the message
    assert "has no step 99" in client.get(f"/incidents/{inc.reference}").text


def test_viewers_see_progress_but_cannot_tick(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    inc = incident(db, admin)
    held = service.attach(db, inc, runbook(db, admin), by=admin)
    progress.tick(db, inc, held, 1, by=admin)
    db.commit()
    token = browser_login(client, viewer.email)
    page = client.get(f"/incidents/{inc.reference}")
    assert "ticked by Ada Admin" in page.text and "disabled" in page.text
    assert "Add a runbook" not in page.text
    refused = client.post(
        f"/incidents/{inc.reference}/runbooks/{held.id}/steps/2",
        data={"csrf_token": token, "done": "on"},
    )
    assert refused.status_code == 403
    db.rollback()
    assert [t.step for t in progress.attachments(db, inc)[0].ticks] == [1]
