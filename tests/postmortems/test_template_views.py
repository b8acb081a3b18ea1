"""The postmortem template settings pages, through real form posts with the CSRF token:
edit a type's template (rename, reorder, remove, add), meet each refusal with the form kept,
and go back to PagerDuty's."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.catalog.models import User
from tocsin.definitions import service as defs
from tocsin.postmortems import type_templates
from tocsin.postmortems.template import SECTIONS


def _form(csrf: str, rows: list[dict[str, str]], remove: list[int] | None = None) -> dict[str, Any]:
    """The editor's form as a browser sends it: one list per column, in the page's order."""
    columns = ("position", "key", "title", "kind", "guidance", "text")
    data: dict[str, Any] = {c: [r.get(c, "") for r in rows] for c in columns}
    data["csrf_token"] = csrf
    data["remove"] = [str(i) for i in remove or []]
    return data


def _row(
    position: int, key: str, title: str, kind: str = "markdown", **more: str
) -> dict[str, str]:
    return {"position": str(position), "key": key, "title": title, "kind": kind, **more}


def test_edit_a_types_template_and_go_back_to_pagerdutys(
    client: TestClient, db: Session, admin: User
) -> None:
    security = defs.create_incident_type(db, {"name": "Security breach"})
    db.commit()
    csrf = browser_login(client, admin.email)
    listing = client.get("/settings/postmortem-templates")
    assert listing.status_code == 200
    assert "Security breach" in listing.text and "PagerDuty's (default)" in listing.text
    url = f"/settings/postmortem-templates/{security.id}"
    page = client.get(url)
    assert page.status_code == 200
    assert page.text.count('name="key"') == len(SECTIONS) + 2  # two blank rows to add
    assert f'name="csrf_token" value="{csrf}"' in page.text

    # Without the CSRF token nothing changes.
    rows = [_row(1, "summary", "Summary", "overview")]
    refused = client.post(url, data=_form("", rows), follow_redirects=False)
    assert refused.status_code == 403
    db.rollback()
    assert type_templates.template_of(db, security.id) is None

    # Rename the overview, move the timeline first, remove "what went well", add a section.
    rows = [
        {**_row(i + 2, s.key, s.title, s.kind), "guidance": s.guidance}
        for i, s in enumerate(SECTIONS)
    ]
    rows[0]["title"] = "Summary <b>bold</b>"
    rows[6]["position"] = "1"  # the timeline
    went_well = next(i for i, s in enumerate(SECTIONS) if s.key == "what_went_well")
    rows += [
        _row(
            99,
            "data_exposed",
            "Data exposed",
            guidance="Which *records*. <script>alert(1)</script>",
            text="| Data | Records |",
        ),
        _row(100, "", ""),  # the second blank row, left blank
    ]
    saved = client.post(url, data=_form(csrf, rows, remove=[went_well]), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == url
    db.rollback()
    specs = type_templates.specs_for(db, security.id)
    keys = [s.key for s in specs]
    assert keys[0] == "timeline" and keys[1] == "overview" and keys[-1] == "data_exposed"
    assert "what_went_well" not in keys and len(keys) == len(SECTIONS)  # one removed, one added
    assert specs[1].title == "Summary <b>bold</b>"
    assert specs[-1].text == "| Data | Records |"

    shown = client.get(url)
    assert "Postmortem template saved." in shown.text
    # User text is escaped, the guidance's Markdown sanitized.
    assert (
        "Summary <b>bold</b>" not in shown.text and html.escape("Summary <b>bold</b>") in shown.text
    )
    assert "<em>records</em>" in shown.text and "<script>alert(1)</script>" not in shown.text
    assert "Its own" in client.get("/settings/postmortem-templates").text

    reset = client.post(f"{url}/reset", data={"csrf_token": csrf}, follow_redirects=False)
    assert reset.status_code == 303
    db.rollback()
    assert type_templates.specs_for(db, security.id) == SECTIONS


def test_refusals_show_the_form_as_sent_with_the_message(
    client: TestClient, db: Session, admin: User
) -> None:
    security = defs.create_incident_type(db, {"name": "Security breach"})
    db.commit()
    csrf = browser_login(client, admin.email)
    url = f"/settings/postmortem-templates/{security.id}"
    cases = [
        (
            [_row(1, "impact", "Impact"), _row(2, "impact", "Impact again")],
            "Section 2, key: &#39;impact&#39; is already the key of section 1",
        ),
        ([_row(1, "impact", "Impact"), _row(2, "notes", "  ")], "Section 2, title: title cannot"),
        ([_row(1, "a", "A", text="x" * 20_001)], "Section 1, text: text is 20,001 characters"),
        ([_row(1, "a", "A", guidance="x" * 2_001)], "at most 2,000"),
        ([_row(i, f"s{i}", f"S{i}") for i in range(1, 42)], "at most 40 sections (41 given)"),
        ([_row(1, "a", "A")], None),  # fine: the control case
    ]
    for rows, message in cases:
        answer = client.post(url, data=_form(csrf, rows), follow_redirects=False)
        if message is None:
            assert answer.status_code == 303
            continue
        assert answer.status_code == 422, answer.text
        assert 'role="alert"' in answer.text and message in answer.text
        # What was typed is still in the form.
        assert f'value="{html.escape(rows[-1]["title"])}"' in answer.text
        db.rollback()
        assert type_templates.template_of(db, security.id) is None


def test_responders_see_the_template_but_cannot_change_it(
    client: TestClient, db: Session, responder: User
) -> None:
    security = defs.create_incident_type(db, {"name": "Security breach"})
    db.commit()
    csrf = browser_login(client, responder.email)
    url = f"/settings/postmortem-templates/{security.id}"
    page = client.get(url)
    assert page.status_code == 200 and "Save template" not in page.text
    refused = client.post(url, data=_form(csrf, [_row(1, "a", "A")]), follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/settings/postmortem-templates/999999").status_code == 404
