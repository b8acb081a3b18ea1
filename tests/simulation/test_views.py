"""The service page's "Who would be paged?" card and its answer page."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.escalation.conftest import Org
from tocsin.catalog.models import User


def test_the_card_asks_and_the_page_answers_with_a_table(
    client: TestClient, db: Session, admin: User, org: Org
) -> None:
    browser_login(client, admin.email)
    page = client.get(f"/services/{org.service.id}")
    assert page.status_code == 200
    assert "Who would be paged?" in page.text
    assert f'action="/services/{org.service.id}/simulate"' in page.text

    answer = client.get(
        f"/services/{org.service.id}/simulate",
        params={"severity": "SEV2", "at": "2026-12-25T03:00", "timezone": "Europe/London"},
    )
    assert answer.status_code == 200, answer.text
    text = html.unescape(answer.text)
    assert "2026-12-25 03:00 GMT" in text and "Nothing was written or sent" in text
    assert '<table class="simulation">' in text
    assert "<td>Carol</td>" in text and "named in the level" in text
    assert "2026-12-25 03:05 GMT" in text  # level 2, five minutes on
    assert "Workflows" not in text  # none exist: no section, no placeholder


def test_a_bad_question_shows_the_reason_on_the_form(
    client: TestClient, db: Session, admin: User, org: Org
) -> None:
    browser_login(client, admin.email)
    answer = client.get(
        f"/services/{org.service.id}/simulate",
        params={"at": "2026-03-29T01:30", "timezone": "Europe/London"},
    )
    assert answer.status_code == 422
    assert "does not exist in Europe/London" in answer.text
    assert 'value="Europe/London"' in answer.text  # the question kept
    unknown = client.get(f"/services/{org.service.id}/simulate", params={"timezone": "Mars/X"})
    assert unknown.status_code == 422 and "unknown time zone" in html.unescape(unknown.text)
