"""The postmortem flow of issue 16, end to end in Chromium: a SEV1 resolved in the UI has its
postmortem with owner and deadlines; two people edit one section and the second save shows
the conflict; a blameless suggestion appears; it goes to review, a reviewer approves, it is
marked Reviewed and published; its PDF export's text holds the sections."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems import service

pytestmark = pytest.mark.browser


def test_resolve_edit_review_publish_and_export(
    db: Session,
    admin: User,
    responder: User,
    live_server: str,
    tmp_path: Path,
    new_page,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    incident = incident_of(db, admin, "SEV1", commander=admin)
    db.commit()
    ada, rita = new_page(), new_page()
    login(ada, live_server, admin.email, ADMIN_PASSWORD)
    login(rita, live_server, responder.email, ADMIN_PASSWORD)

    # Resolve the SEV1 in the UI: its postmortem exists, owned by the commander, with deadlines.
    ada.goto(f"{live_server}/incidents/{incident.reference}")
    ada.get_by_role("link", name="Resolve…").click()
    dialog = ada.get_by_role("dialog", name=f"Resolve {incident.reference}")
    dialog.get_by_label("Resolution summary").fill("Rolled back the gateway deploy.")
    dialog.get_by_role("button", name=f"Resolve {incident.reference}").click()
    expect(ada.locator("#incident-header")).to_contain_text("resolved")
    card = ada.locator("#postmortem")
    expect(card).to_contain_text("owner Ada Admin")
    expect(card).to_contain_text("Next deadline")
    card.get_by_role("link", name="Draft postmortem").click()
    facts = ada.locator(".facts")
    expect(facts).to_contain_text("Ada Admin")
    for label in ("Draft due", "Meeting due"):
        expect(facts.locator("div", has_text=label).locator("time")).to_have_count(1)
    url = ada.url

    # Two editors of What happened: the second save shows the conflict with both texts.
    rita.goto(url)
    for page in (ada, rita):
        page.locator("#section-what_happened summary", has_text="Edit").click()
    ada.locator("#body-what_happened").fill("A bad deploy of the gateway.")
    ada.get_by_role("button", name="Save What happened").click()
    expect(ada.locator("#section-what_happened .markdown").first).to_contain_text("A bad deploy")
    rita.locator("#body-what_happened").fill("Card payments failed for 20 minutes.")
    rita.get_by_role("button", name="Save What happened").click()
    expect(rita.get_by_role("alert")).to_contain_text("Not saved: someone changed this section")
    expect(rita.locator(".conflict-saved")).to_have_text("A bad deploy of the gateway.")
    expect(rita.locator(".conflict-yours")).to_have_text("Card payments failed for 20 minutes.")
    combined = (
        "A bad deploy of the gateway. Card payments failed for 20 minutes.\n\n"
        "The outage happened because of human error."
    )
    rita.locator("#body-what_happened").fill(combined)
    rita.get_by_role("button", name="Save What happened").click()

    # The blameless review aid flags the sentence, with why.
    suggestion = rita.locator('#section-what_happened .pm-suggestion[data-rule="human_error"]')
    expect(suggestion).to_contain_text("because of human error")
    expect(suggestion).to_contain_text("conditions")

    # Review: Ada moves it to In review and asks Rita, who approves; then Reviewed, published.
    ada.goto(url)
    ada.get_by_role("button", name="Move to In review").click()
    expect(ada.locator("#pm-status")).to_have_text("In review")
    ada.get_by_label("Ask to review").select_option(label="Rita Responder")
    ada.get_by_role("button", name="Add reviewer").click()
    expect(ada.locator("#review")).to_contain_text("Rita Responder")
    expect(ada.locator("#review-state")).to_contain_text("no reviewer has approved it yet")
    rita.goto(url)
    rita.get_by_role("button", name="Approve").click()
    expect(rita.locator("#review .pm-reviewer")).to_contain_text("approved")
    ada.goto(url)
    expect(ada.locator("#review-state")).to_contain_text("can be marked Reviewed")
    ada.get_by_role("button", name="Move to Reviewed").click()
    expect(ada.locator("#pm-status")).to_have_text("Reviewed")
    ada.get_by_role("button", name="Publish").click()
    expect(ada.locator("#pm-published time")).to_have_count(1)

    # The PDF export holds the sections' text.
    with ada.expect_download() as download:
        ada.get_by_role("link", name="Download PDF").click()
    pdf = tmp_path / "postmortem.pdf"
    download.value.save_as(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert "Card payments failed for 20 minutes." in flat
    assert "Rolled back the gateway deploy." in flat
    for title in ("What happened", "Resolution", "Contributing factors"):
        assert title in flat

    db.rollback()
    db.expire_all()
    postmortem = service.for_incident(db, incident)
    assert postmortem is not None and postmortem.published_at is not None
    entries = [e.summary for e in incident_queries.timeline(db, postmortem.incident)]
    assert "Rita Responder approved the postmortem" in entries
    assert "Ada Admin published the postmortem" in entries
