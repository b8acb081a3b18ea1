"""The demo shows communication: the channel sheet and a followed incident, sending nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.bootstrap import Container
from tocsin.comms.models import CommsChannel, CommsDelivery, Stakeholder
from tocsin.demo.comms import FOLLOWED
from tocsin.demo.seed import seed_demo
from tocsin.incidents.models import Incident


def test_the_demo_has_a_channel_sheet_and_a_followed_incident(
    client: TestClient, db: Session, container: Container
) -> None:
    seed_demo(db, "admin@example.com", ADMIN_PASSWORD)
    db.commit()
    container.worker(name="test").run_until_idle()
    db.rollback()
    channels = {c.name: c for c in db.scalars(select(CommsChannel))}
    assert set(channels) == {"#incidents", "Exec briefing", "Customer support list"}
    assert channels["#incidents"].paused  # a made-up Slack URL: the demo sends nothing there
    incident = db.scalar(select(Incident).where(Incident.title == FOLLOWED))
    assert incident is not None
    names = {s.name for s in db.scalars(select(Stakeholder))}
    assert names == {"Claire Dubois", "Customer Support"}
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
