"""Settings → Postmortem policies, through real form posts with the CSRF token: an admin
changes when postmortems are required and due; a refused value changes nothing and names the
severity; people who are not admins read the policies and cannot change them."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.postmortems.conftest import severity
from tocsin.catalog.models import User
from tocsin.postmortems import policies

URL = "/settings/postmortem-policies"


def _form(db: Session, csrf: str, **changes: dict[str, str]) -> dict[str, Any]:
    """The page's form as a browser sends it, with every severity as it is now and `changes`
    (by severity name) applied; an unchecked box is simply not sent."""
    data: dict[str, Any] = {"csrf_token": csrf}
    for sev, policy in policies.all_policies(db):
        fields = {
            "required": "on" if policy is not None and policy.required else None,
            "meeting_within": str(policy.meeting_within if policy else 5),
            "meeting_unit": policy.meeting_unit if policy else "business_days",
            "draft_hours_before": str(policy.draft_hours_before if policy else 24),
            **changes.get(sev.name, {}),
        }
        data.update({f"s{sev.id}.{k}": v for k, v in fields.items() if v is not None})
    return data


def test_an_admin_changes_the_policies_on_the_settings_page(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    page = client.get(URL)
    assert page.status_code == 200
    sev1, sev3 = severity(db, "SEV1"), severity(db, "SEV3")
    assert f'name="s{sev1.id}.required" checked' in page.text
    assert f'name="s{sev3.id}.required" ' in page.text
    assert f'name="s{sev3.id}.required" checked' not in page.text

    # Without the CSRF token nothing changes.
    form = _form(db, csrf, SEV3={"required": "on"})
    refused = client.post(URL, data={**form, "csrf_token": ""}, follow_redirects=False)
    assert refused.status_code == 403
    db.rollback()
    assert policies.policy_for(db, sev3.id).required is False  # type: ignore[union-attr]

    # SEV3 now needs a postmortem within 10 calendar days, its draft 48 hours before.
    form = _form(
        db,
        csrf,
        SEV3={
            "required": "on",
            "meeting_within": "10",
            "meeting_unit": "calendar_days",
            "draft_hours_before": "48",
        },
    )
    saved = client.post(URL, data=form)
    assert saved.status_code == 200
    assert "Postmortem policies saved." in saved.text
    db.rollback()
    policy = policies.policy_for(db, sev3.id)
    assert policy is not None
    assert (policy.required, policy.meeting_within, policy.meeting_unit) == (
        True,
        10,
        "calendar_days",
    )
    assert policy.draft_hours_before == 48
    # SEV1 was sent as it was and kept its policy.
    sev1_policy = policies.policy_for(db, sev1.id)
    assert sev1_policy is not None and sev1_policy.required and sev1_policy.meeting_within == 3

    # Unchecking SEV1's box makes it not required.
    form = _form(db, csrf, SEV1={"required": None})  # type: ignore[dict-item]
    client.post(URL, data=form)
    db.rollback()
    assert policies.policy_for(db, sev1.id).required is False  # type: ignore[union-attr]


def test_a_refused_value_changes_nothing_and_names_the_severity(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    sev2, sev4 = severity(db, "SEV2"), severity(db, "SEV4")
    form = _form(
        db,
        csrf,
        SEV2={"meeting_within": "7"},
        SEV4={"meeting_within": "²", "draft_hours_before": "<script>x</script>"},
    )
    shown = client.post(URL, data=form)
    assert shown.status_code == 200
    text = html.unescape(shown.text)
    assert "SEV4: meeting_within must be a whole number" in text
    assert "<script>x</script>" not in shown.text
    db.rollback()
    # SEV2's valid change was undone with the refused one: the form saves all or nothing.
    assert policies.policy_for(db, sev2.id).meeting_within == 5  # type: ignore[union-attr]
    assert policies.policy_for(db, sev4.id).meeting_within == 5  # type: ignore[union-attr]

    form = _form(db, csrf, SEV4={"meeting_unit": "fortnights"})
    text = html.unescape(client.post(URL, data=form).text)
    assert "SEV4: meeting_unit must be one of" in text


def test_people_who_are_not_admins_read_the_policies_and_cannot_change_them(
    client: TestClient, db: Session, responder: User
) -> None:
    csrf = browser_login(client, responder.email)
    page = client.get(URL)
    assert page.status_code == 200
    assert "Only administrators change policies." in page.text
    assert "Save policies" not in page.text
    sev3 = severity(db, "SEV3")
    refused = client.post(
        URL, data=_form(db, csrf, SEV3={"required": "on"}), follow_redirects=False
    )
    assert refused.status_code == 403
    db.rollback()
    assert policies.policy_for(db, sev3.id).required is False  # type: ignore[union-attr]
