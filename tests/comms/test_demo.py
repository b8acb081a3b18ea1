"""The demo shows communication: the channel sheet, a followed incident and followed services
whose incidents got their followers as stakeholders, sending nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.bootstrap import Container
from tocsin.catalog.models import Service
from tocsin.comms.models import CommsChannel, CommsDelivery, Stakeholder
from tocsin.comms.stakeholders import stakeholders_of
from tocsin.demo.comms import FOLLOWED
from tocsin.demo.seed import seed_demo
from tocsin.incidents.models import Incident, TimelineEntry


def test_the_demo_has_a_channel_sheet_and_a_followed_incident(
    client: TestClient, db: Session, container: Container
) -> None:
    seed_demo(db, "admin@example.com", ADMIN_PASSWORD)
    db.commit()
    container.runner(name="test").run_until_idle()
    db.rollback()
    channels = {c.name: c for c in db.scalars(select(CommsChannel))}
    assert set(channels) == {"#incidents", "Exec briefing", "Customer support list"}
    assert channels["#incidents"].paused  # a made-up Slack URL: the demo sends nothing there
    incident = db.scalar(select(Incident).where(Incident.title == FOLLOWED))
    assert incident is not None
    names = {s.name for s in db.scalars(select(Stakeholder))}
    assert names == {"Claire Dubois", "Customer Support"}
    # Followed by hand: no service brought them in.
    assert {s.name: s.reason for s in stakeholders_of(db, incident)} == {
        "Claire Dubois": "",
        "Customer Support": "",
    }
    # The Customer Support team follows Checkout and the Payment Gateway: a stakeholder of
    # every (non-drill) incident on them, saying why.
    by_title = {i.title: i for i in db.scalars(select(Incident))}
    for title in (
        "Checkout error rate above 2% in APAC",
        "Card payments declined for customers of one processor",
        "Card payments failing for some customers",  # the status page's history
        "Primary database failover caused 9 minutes of write errors",
    ):
        found = {s.name: s.reason for s in stakeholders_of(db, by_title[title])}
        assert found == {"Customer Support": "follows Checkout"}, title
    # Claire (a viewer) follows Single Sign-On, but its security incident is restricted.
    sso = by_title["Suspicious logins to the staff SSO from a new country"]
    assert sso.restricted and stakeholders_of(db, sso) == []
    assert db.scalar(
        select(TimelineEntry.summary).where(
            TimelineEntry.incident_id == sso.id, TimelineEntry.kind == "stakeholders_added"
        )
    ) == (
        "Not added as stakeholders though they follow Single Sign-On (restricted: only admins "
        "and the people involved see it): Claire Dubois."
    )
    deliveries = list(db.scalars(select(CommsDelivery)))
    (marked,) = [d for d in deliveries if d.purpose == "manual"]
    assert marked.recipient == "Exec briefing"
    # The demo's status page publishes external updates: those reach only external channels.
    assert {d.recipient for d in deliveries if d.purpose != "manual"} <= {"Customer support list"}

    browser_login(client, "admin@example.com")
    html = client.get(f"/incidents/{incident.reference}").text
    card = html[html.index('id="communication"') :]
    for text in ("#incidents", "Exec briefing", "Customer support list", "Claire Dubois"):
        assert text in card
    checkout = db.scalar(select(Service).where(Service.name == "Checkout"))
    assert checkout is not None
    html = client.get(f"/services/{checkout.id}").text
    followers_card = html[html.index('id="followers"') :]
    assert "Customer Support" in followers_card and "Unfollow this service" not in followers_card
