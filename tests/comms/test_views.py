"""The Communication card on the incident page and the channel registry under Settings,
driven through their forms as a browser would (CSRF included), for each role."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.comms.conftest import channel, declare
from tests.conftest import browser_login
from tocsin.catalog.models import User
from tocsin.comms.models import CommsChannel
from tocsin.config import Settings
from tocsin.incidents.models import Incident, TimelineEntry

SLACK = "slack://T1AAAAAAA/B2BBBBBBB/SecretToken3CCCCCCCCCC/#incidents"


def _card(html: str) -> str:
    start = html.index('id="communication"')
    return html[start : html.index("</section>", start)]


def _arrange(db: Session, settings: Settings, admin: User) -> Incident:
    channel(db, settings, name="Exec briefing", instructions="Call the **CEO's** office.",
            post_user_roles=["admin"], cadence_minutes=30)  # fmt: skip
    channel(db, settings, name="#incidents", kind="apprise", target=SLACK, automatic=False)
    incident = declare(db, admin)
    db.commit()
    return incident


def test_the_card_for_an_admin_a_responder_and_a_viewer(
    client: TestClient,
    db: Session,
    settings: Settings,
    admin: User,
    responder: User,
    viewer: User,
) -> None:
    incident = _arrange(db, settings, admin)
    page = f"/incidents/{incident.reference}"

    browser_login(client, admin.email)
    card = _card(client.get(page).text)
    assert "Exec briefing" in card and "#incidents" in card
    assert "who may post: admins" in card and "who may post: any responder" in card
    assert "every 30 min" in card and "none yet" in card
    assert "<strong>CEO&#39;s</strong>" in card or "<strong>CEO's</strong>" in card
    assert card.count("Mark posted") == 2
    assert "Send the latest internal update" in card  # #incidents is on request
    assert "SecretToken3" not in card
    assert "Add a person or a team" in card

    client.cookies.clear()
    browser_login(client, responder.email)
    card = _card(client.get(page).text)
    assert card.count("Mark posted") == 1  # not the admins' briefing
    assert f"/communication/{_id(db, 'Exec briefing')}/posted" not in card

    client.cookies.clear()
    browser_login(client, viewer.email)
    card = _card(client.get(page).text)
    assert "Exec briefing" in card and "Mark posted" not in card
    assert "Add a person or a team" not in card and ">Follow</button>" in card


def _id(db: Session, name: str) -> int:
    found = db.scalar(select(CommsChannel.id).where(CommsChannel.name == name))
    assert found is not None
    return found


def test_a_viewer_follows_and_unfollows_from_the_page(
    client: TestClient, db: Session, settings: Settings, admin: User, viewer: User
) -> None:
    incident = _arrange(db, settings, admin)
    page = f"/incidents/{incident.reference}"
    csrf = browser_login(client, viewer.email)
    followed = client.post(f"{page}/follow", data={"csrf_token": csrf}, follow_redirects=False)
    assert followed.status_code == 303 and followed.headers["location"].endswith("#communication")
    card = _card(client.get(page).text)
    assert "Vic Viewer" in card and ">Unfollow</button>" in card
    assert client.post(f"{page}/unfollow", data={"csrf_token": csrf}).status_code == 200
    assert "Nobody follows this incident yet." in _card(client.get(page).text)
    # Without the CSRF token nothing happens.
    refused = client.post(f"{page}/follow", data={}, follow_redirects=False)
    assert refused.status_code == 403


def test_an_overdue_channel_is_highlighted_and_marking_it_posted_moves_it_on(
    client: TestClient, db: Session, settings: Settings, admin: User
) -> None:
    incident = _arrange(db, settings, admin)
    db.execute(
        update(Incident).where(Incident.id == incident.id)
        .values(created_at=incident.created_at - timedelta(minutes=45))
    )  # fmt: skip
    db.commit()
    page = f"/incidents/{incident.reference}"
    csrf = browser_login(client, admin.email)
    card = _card(client.get(page).text)
    assert re.search(r'class="comms-channel overdue" id="comms-channel-\d+"', card)
    assert "update overdue" in card
    briefing = _id(db, "Exec briefing")
    marked = client.post(f"{page}/communication/{briefing}/posted",
                         data={"csrf_token": csrf, "note": "Briefed the CEO"})  # fmt: skip
    assert marked.status_code == 200
    assert "update overdue" not in _card(marked.text)
    db.rollback()  # a fresh snapshot
    summaries = db.scalars(
        select(TimelineEntry.summary).where(TimelineEntry.incident_id == incident.id)
    ).all()
    assert "Ada Admin posted to Exec briefing" in summaries


def test_a_responder_adds_a_team_a_viewer_cannot(
    client: TestClient,
    db: Session,
    settings: Settings,
    admin: User,
    responder: User,
    viewer: User,
) -> None:
    from tocsin.catalog import service as catalog

    team = catalog.create_team(db, name="Payments")
    incident = _arrange(db, settings, admin)
    page = f"/incidents/{incident.reference}"
    csrf = browser_login(client, viewer.email)
    refused = client.post(f"{page}/stakeholders", data={"csrf_token": csrf, "team_id": team.id})
    assert refused.status_code == 403
    client.cookies.clear()
    csrf = browser_login(client, responder.email)
    added = client.post(f"{page}/stakeholders", data={"csrf_token": csrf, "team_id": team.id})
    assert added.status_code == 200
    assert "Payments" in _card(added.text)
    assert "Rita Responder added the Payments team as stakeholders" in added.text  # timeline
    again = client.post(f"{page}/stakeholders", data={"csrf_token": csrf, "team_id": team.id})
    assert "already follows" in again.text


def test_everyone_reads_the_registry_and_admins_edit_it(
    client: TestClient, db: Session, settings: Settings, admin: User, viewer: User
) -> None:
    channel(db, settings, name="#incidents", kind="apprise", target=SLACK, severities=["SEV1"])
    db.commit()
    browser_login(client, viewer.email)
    html = client.get("/settings/comms").text
    assert "#incidents" in html and "SEV1" in html and "SecretToken3" not in html
    assert "Add channel" not in html and "Only admins can change" in html

    client.cookies.clear()
    csrf = browser_login(client, admin.email)
    form = {
        "csrf_token": csrf, "name": "Exec briefing", "kind": "manual", "audience": "internal",
        "instructions": "Call the CEO.", "severities": ["SEV1", "SEV9"], "cadence_minutes": "30",
        "post_incident_roles": ["incident_commander"],
    }  # fmt: skip
    bad = client.post("/settings/comms", data=form)
    assert bad.status_code == 422 and "no severity named &#39;SEV9&#39;" in bad.text
    assert db.scalar(select(CommsChannel).where(CommsChannel.name == "Exec briefing")) is None
    created = client.post("/settings/comms", data={**form, "severities": ["SEV1"]})
    assert created.status_code == 200 and "Channel Exec briefing added." in created.text
    db.rollback()
    briefing = db.scalar(select(CommsChannel).where(CommsChannel.name == "Exec briefing"))
    assert briefing is not None and briefing.cadence_minutes == 30
    assert [r.slug for r in briefing.post_incident_roles] == ["incident_commander"]

    hook = client.post("/settings/comms", data={
        "csrf_token": csrf, "name": "Ops bus", "kind": "webhook", "target": "http://127.0.0.1:9/h",
        "automatic": "on",
    })  # fmt: skip
    assert hook.status_code == 201 and "whsec_" in hook.text
    assert hook.headers["cache-control"] == "no-store"
    assert "whsec_" not in client.get("/settings/comms").text

    saved = client.post(f"/settings/comms/{briefing.id}",
                        data={**form, "severities": [], "paused": "on"})  # fmt: skip
    assert "Channel saved." in saved.text
    db.rollback()  # a fresh snapshot
    assert briefing.severities == [] and briefing.paused
    deleted = client.post(f"/settings/comms/{briefing.id}/delete", data={"csrf_token": csrf})
    assert "Channel deleted." in deleted.text
