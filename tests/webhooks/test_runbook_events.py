"""Runbook events reach event webhooks through a real HTTP receiver on loopback: attaching a
runbook (by hand and automatically) and ticking and unticking its steps; a repeat of either
sends nothing, and a rolled-back tick sends nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.runbooks.conftest import BODY
from tests.webhooks.conftest import Receiver, run_jobs, subscribe
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents import service as incidents
from tocsin.runbooks import progress
from tocsin.runbooks import service as runbooks

KINDS = ["runbook.attached", "runbook.step_ticked", "runbook.step_unticked"]


def test_attach_tick_and_untick_are_sent_with_their_data(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url("/runbooks"), events=KINDS)
    checkout = catalog.create_service(db, name="Checkout")
    by_hand = runbooks.create(db, name="Checkout down", body=BODY, by=admin)
    runbooks.create(db, name="Checkout auto", body="- [ ] Look at the graphs", by=admin,
                    service_ids=[checkout.id], auto_attach=True)  # fmt: skip
    incident = incidents.declare(db, by=admin, title="Checkout failing", service_ids=[checkout.id])
    attachment = runbooks.attach(db, incident, by_hand, by=admin)
    runbooks.attach(db, incident, by_hand, by=admin)  # already attached: nothing
    db.commit()
    progress.tick(db, incident, attachment, 1, by=admin)
    progress.tick(db, incident, attachment, 1, by=admin)  # already ticked: nothing
    progress.untick(db, incident, attachment, 1, by=admin)
    db.commit()
    run_jobs(container)

    bodies = [r.json() for r in receiver.requests]
    assert sorted(b["event"] for b in bodies) == [
        "runbook.attached",
        "runbook.attached",
        "runbook.step_ticked",
        "runbook.step_unticked",
    ]
    assert {r.headers["x-tocsin-event"] for r in receiver.requests} == set(KINDS)
    assert all(b["incident"]["reference"] == incident.reference for b in bodies)
    attached = {b["data"]["runbook"]["title"]: b["data"] for b in bodies
                if b["event"] == "runbook.attached"}  # fmt: skip
    assert attached["Checkout auto"]["by"] is None  # attached when it was declared
    assert attached["Checkout down"]["by"] == {"id": admin.id, "name": admin.name}
    assert attached["Checkout down"]["runbook"]["version"] == 1
    assert attached["Checkout down"]["steps"] == 3
    ticked = next(b["data"] for b in bodies if b["event"] == "runbook.step_ticked")
    assert ticked["step"] == {
        "number": 1,
        "text": "Introduce yourself",
        "role": "incident_commander",
    }
    assert ticked["attachment_id"] == attachment.id
    unticked = next(b["data"] for b in bodies if b["event"] == "runbook.step_unticked")
    assert unticked["step"]["number"] == 1 and unticked["by"]["id"] == admin.id


def test_a_rolled_back_tick_sends_nothing_and_other_kinds_are_not_sent(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url("/ticks"), name="ticks", events=["runbook.step_ticked"])
    subscribe(db, settings, receiver.url("/declared"), name="declared",
              events=["incident.declared"])  # fmt: skip
    book = runbooks.create(db, name="Checkout down", body=BODY, by=admin)
    incident = incidents.declare(db, by=admin, title="Checkout failing")
    attachment = runbooks.attach(db, incident, book, by=admin)
    db.commit()
    progress.tick(db, incident, attachment, 2, by=admin)
    db.rollback()
    run_jobs(container)
    assert [r.path for r in receiver.requests] == ["/declared"]
