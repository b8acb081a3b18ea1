"""A postmortem exported as one Markdown document, readable by whoever may read it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.postmortems import publishing, review, service
from tocsin.postmortems.template import SECTIONS


def test_markdown_export_holds_the_header_and_every_section(
    api: TestClient, db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV2")
    postmortem = service.start(db, incident, by=admin)
    service.schedule(
        db,
        postmortem,
        {
            "meeting_at": datetime(2026, 3, 4, 15, 30, tzinfo=UTC),
            "recording_url": "https://meet.example.com/rec/1",
        },
        by=admin,
    )
    bodies = {spec.key: f"Text of {spec.title} — naïve café ✓" for spec in SECTIONS}
    for key, body in bodies.items():
        section = postmortem.section(key)
        assert section is not None
        service.save_section(db, postmortem, key, body, section.version, by=admin)
    db.commit()

    got = api.get(f"/api/v1/postmortems/{postmortem.id}/export.md")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/markdown; charset=utf-8"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="postmortem-{incident.reference}.md"'
    )
    text = got.text
    assert text.startswith(f"# Postmortem: {incident.reference} {incident.title}\n")
    for fact in (
        "- **Severity:** SEV2",
        f"- **Owner:** {admin.name}",
        "- **Status:** Draft",
        "- **Meeting:** 2026-03-04 15:30 UTC",
        "- **Recording:** https://meet.example.com/rec/1",
    ):
        assert fact in text
    # Every section, in the template's order, with its text.
    positions = [text.index(f"\n## {spec.title}\n\n{bodies[spec.key]}\n") for spec in SECTIONS]
    assert positions == sorted(positions)


def test_an_empty_section_says_so(api: TestClient, db: Session, admin: User) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    overview = postmortem.section("overview")
    assert overview is not None
    service.save_section(db, postmortem, "overview", "  ", overview.version, by=admin)
    db.commit()
    text = api.get(f"/api/v1/postmortems/{postmortem.id}/export.md").text
    assert "\n## Overview\n\n_Not written yet._\n" in text


def test_a_restricted_incidents_export_is_hidden_from_others(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    hidden = service.start(db, incident_of(db, admin, "SEV3", restricted=True), by=admin)
    db.commit()
    url = f"/api/v1/postmortems/{hidden.id}/export.md"
    as_rita = api_as(client, db, responder)
    refused = client.get(url, headers=as_rita)
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == f"no postmortem {hidden.id}"
    assert client.get("/api/v1/postmortems/999999/export.md", headers=as_rita).status_code == 404
    assert api.get(url).status_code == 200


def test_the_page_links_to_the_download(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    db.commit()
    browser_login(client, viewer.email)
    page = client.get(f"/postmortems/{postmortem.id}")
    assert f'href="/api/v1/postmortems/{postmortem.id}/export.md" download>Download Markdown' in (
        page.text
    )
    # A viewer's browser session downloads it.
    assert client.get(f"/api/v1/postmortems/{postmortem.id}/export.md").status_code == 200


def _pdf_text(content: bytes, tmp_path: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it (poppler-utils, installed by CI)."""
    path = tmp_path / "export.pdf"
    path.write_bytes(content)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


def test_pdf_export_holds_the_header_and_every_section(
    api: TestClient, db: Session, admin: User, tmp_path: Path
) -> None:
    incident = incident_of(db, admin, "SEV2")
    postmortem = service.start(db, incident, by=admin)
    # The pre-filled timeline (a table whose rows link to the incident) stays as it is.
    timeline = postmortem.section("timeline")
    assert timeline is not None and "|" in timeline.body
    bodies = {
        "overview": "Żółć naïve café — Ελληνικά, кириллица ✓ and **bold** `code`",
        "what_happened": "- first step\n- second step\n\n1. numbered",
        "impact": "```\n502 errors: 1,204\n```",
        "what_went_well": "> quoted <script>alert(1)</script> text",
    }
    for key, body in bodies.items():
        section = postmortem.section(key)
        assert section is not None, key
        service.save_section(db, postmortem, key, body, section.version, by=admin)
    db.commit()

    got = api.get(f"/api/v1/postmortems/{postmortem.id}/export.pdf")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="postmortem-{incident.reference}.pdf"'
    )
    assert got.content.startswith(b"%PDF-")
    words = " ".join(_pdf_text(got.content, tmp_path).split())
    assert f"Postmortem: {incident.reference} {incident.title}" in words
    assert "Severity SEV2" in words and f"Owner {admin.name}" in words
    for spec in SECTIONS:
        assert spec.title in words
    assert "Żółć naïve café — Ελληνικά, кириллица ✓ and bold code" in words
    assert "• first step • second step" in words and "502 errors: 1,204" in words
    assert "quoted <script>alert(1)</script> text" in words
    # The timeline table, its links as plain text in the cells.
    assert "Time (UTC)" in words and "Data link" in words


def test_a_restricted_incidents_pdf_is_hidden_from_others(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    hidden = service.start(db, incident_of(db, admin, "SEV3", restricted=True), by=admin)
    db.commit()
    as_rita = api_as(client, db, responder)
    assert (
        client.get(f"/api/v1/postmortems/{hidden.id}/export.pdf", headers=as_rita).status_code
        == 404
    )


def test_a_table_too_wide_for_the_page_prints_as_its_markdown(
    api: TestClient, db: Session, admin: User, tmp_path: Path
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    impact = postmortem.section("impact")
    assert impact is not None
    wide = "\n".join(["|" + "|".join(cells * 40) + "|" for cells in (["c"], ["-"], ["wide words"])])
    service.save_section(db, postmortem, "impact", wide, impact.version, by=admin)
    db.commit()
    got = api.get(f"/api/v1/postmortems/{postmortem.id}/export.pdf")
    assert got.status_code == 200, got.text
    words = " ".join(_pdf_text(got.content, tmp_path).split())
    assert "|wide words|wide words|" in words.replace(" |", "|").replace("| ", "|")
    assert "What went well" in words  # the sections after it are there


def test_exports_record_the_review_the_meeting_and_the_publication(
    api: TestClient, db: Session, admin: User, responder: User, tmp_path: Path
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV1"), by=admin)
    service.change_status(db, postmortem, "in_review", by=admin)
    review.add_reviewer(db, postmortem, responder.id, by=admin)
    review.give_verdict(db, postmortem, "approved", "", by=responder)
    review.record_meeting(
        db,
        postmortem,
        datetime(2026, 3, 6, 10, 0, tzinfo=UTC),
        [admin.id, responder.id],
        "Agreed: **failover drill** every quarter.",
        by=admin,
    )
    service.change_status(db, postmortem, "reviewed", by=admin)
    publishing.publish(db, postmortem, by=admin)
    db.commit()

    text = api.get(f"/api/v1/postmortems/{postmortem.id}/export.md").text
    assert f"- **Reviewers:** {responder.name} (approved)" in text
    assert f"- **Meeting held:** 2026-03-06 10:00 UTC with {admin.name}, {responder.name}" in text
    assert "- **Published:** " in text
    assert text.endswith("## Review meeting notes\n\nAgreed: **failover drill** every quarter.\n")

    got = api.get(f"/api/v1/postmortems/{postmortem.id}/export.pdf")
    assert got.status_code == 200
    words = " ".join(_pdf_text(got.content, tmp_path).split())
    assert f"Reviewers {responder.name} (approved)" in words
    assert "Review meeting notes Agreed: failover drill every quarter." in words


def test_an_unreviewed_postmortem_exports_no_review_facts(
    api: TestClient, db: Session, admin: User
) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV2"), by=admin)
    db.commit()
    text = api.get(f"/api/v1/postmortems/{postmortem.id}/export.md").text
    assert "Reviewers" not in text and "Meeting held" not in text and "Published" not in text
    assert "Review meeting notes" not in text
