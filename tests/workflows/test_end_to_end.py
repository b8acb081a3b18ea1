"""Workflows end to end with real parts: a SEV1 declared through the API runs the seeded
workflow, whose pages arrive over SMTP (aiosmtpd on loopback) and whose channel message and
webhook calls reach HTTP receivers on loopback, signed so that the recipe in docs/webhooks.md
verifies them; a timer fires; a drill's pages say DRILL."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.notify.conftest import Receiver, SmtpServer
from tests.notify.conftest import receiver as receiver  # noqa: PLC0414 - the fixtures
from tests.notify.conftest import smtp as smtp  # noqa: PLC0414
from tests.workflows.conftest import (
    declare,
    enable_seeded,
    only_these,
    role_id,
    runs,
    severity,
    time_passes,
    user,
    work,
    workflow,
)
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms import followers
from tocsin.comms import service as registry
from tocsin.config import Settings
from tocsin.incidents import queries
from tocsin.incidents.updates import post_update
from tocsin.notify import methods
from tocsin.roster import service as roster
from tocsin.runbooks.models import IncidentRunbook
from tocsin.workflows.models import Workflow, WorkflowDelivery

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """Email through the loopback SMTP server; loopback receivers allowed; retries at once."""
    return settings.model_copy(
        update={
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_tls": "none",
            "smtp_from": "tocsin@example.com",
            "outbound_allow_private": True,
            "notify_retry_base_seconds": 0.0,
            "base_url": "http://tocsin.test",
        }
    )


def documented_verify() -> Any:
    """The `verify` function of docs/webhooks.md, run as written."""
    text = DOCS.read_text()
    match = re.search(r"<!-- verify-recipe[^>]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/webhooks.md lost its verification recipe"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


def reachable(db: Session, settings: Settings, name: str) -> User:
    """A responder paged (and told things) by email."""
    person = user(db, name)
    method, _ = methods.create_contact_method(
        db, person, by=person, settings=settings, kind="email", target=person.email
    )
    for urgency in ("high", "low"):
        methods.create_rule(db, person, by=person, urgency=urgency, contact_method_id=method.id)
    return person


def mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    pairs = zip(smtp.messages, smtp.mailbox.recipients, strict=True)
    return [mail for mail, to in pairs if address in to]


def test_a_sev1_declared_pages_the_ic_adds_the_checklist_and_tells_stakeholders_and_channel(
    api: TestClient,
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
) -> None:
    ann, ben, sam = (reachable(db, settings, n) for n in ("Ann", "Ben", "Sam"))
    roster.set_entry(
        db, role_id(db, "incident_commander"), primary_user_id=ann.id, backup_user_id=ben.id
    )
    checkout = catalog.create_service(db, name="Checkout")
    followers.add_follower(db, checkout, by=admin, user_id=sam.id)
    enable_seeded(db)  # as on a new install
    registry.create_channel(
        db,
        {"name": "#incidents", "kind": "webhook", "target": receiver.url + "/hook",
         "audience": "internal"},
        settings=settings,
    )  # fmt: skip
    db.commit()

    answer = api.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout is down",
            "severity_id": severity(db, "SEV1"),
            "service_ids": [checkout.id],
        },
    )
    assert answer.status_code == 201, answer.text
    work(db, container)

    incident = queries.get_incident(db, answer.json()["reference"], viewer=admin)
    (run,) = runs(db, incident)
    assert run.state == "done", run.outcomes
    # The IC's primary and backup, paged over SMTP.
    for person in (ann, ben):
        (page,) = mails_to(smtp, person.email)
        assert page["Subject"] == "[Tocsin] INC-1 (SEV1, high urgency): Checkout is down"
        assert "Acknowledge: http://tocsin.test/act/" in page.get_content()
    # The incident commander's checklist is on the incident.
    attached = db.scalars(select(IncidentRunbook).where(IncidentRunbook.incident_id == incident.id))
    assert [a.runbook.name for a in attached] == ["Incident commander checklist"]
    # The stakeholder (a follower of Checkout) is told, without an update: still triggered.
    (told,) = mails_to(smtp, sam.email)
    assert "A SEV1 incident was declared" in told.get_content()
    assert "not a page" in told.get_content()
    assert incident.status == "triggered" and not incident.updates
    # The internal channel got the message as signed JSON.
    (posted,) = receiver.requests
    assert posted.path == "/hook"
    assert posted.json()["type"] == "message"
    assert posted.json()["incident"]["reference"] == "INC-1"
    assert "A SEV1 incident was declared" in posted.json()["message"]["body"]
    # And the external update is prompted.
    assert [i.title for i in incident.action_items] == ["Post the first external update"]
    # The incident page lists the messages among its deliveries, and the run's log.
    page_client = TestClient(api.app)
    browser_login(page_client, admin.email)
    page = page_client.get(f"/incidents/{incident.reference}").text
    assert "<strong>#incidents</strong> · message" in page
    assert "<strong>Sam</strong> · message" in page
    assert "done: attached runbook “Incident commander checklist”" in page


def test_call_webhook_is_received_signed_with_the_workflows_secret(
    api: TestClient,
    db: Session,
    container: Container,
    settings: Settings,
    receiver: Receiver,
    admin: User,
) -> None:
    created = api.post(
        "/api/v1/workflows",
        json={
            "name": "Tell the status tool",
            "trigger": "declared",
            "actions": [{"kind": "call_webhook", "url": receiver.url + "/tocsin"}],
        },
    )
    assert created.status_code == 201, created.text
    secret = api.get(f"/api/v1/workflows/{created.json()['id']}/signing-secret").json()
    mine = db.get(Workflow, created.json()["id"])
    assert mine is not None
    only_these(db, mine)
    rotate = f"/api/v1/workflows/{mine.id}/rotate-secret"
    incident = declare(db, admin, "SEV2")
    work(db, container)

    (call,) = receiver.requests
    assert call.path == "/tocsin"
    assert call.headers["x-tocsin-event"] == "workflow.action"
    verify = documented_verify()
    assert verify(secret["signing_secret"], call.headers["x-tocsin-signature"], call.body)
    assert not verify("whsec_wrong", call.headers["x-tocsin-signature"], call.body)
    body = call.json()
    assert body["workflow"] == "Tell the status tool"
    assert body["incident"]["reference"] == incident.reference
    assert body["incident"]["severity"] == "SEV2"
    assert body["delivery_id"] == call.headers["x-tocsin-delivery"]
    (run,) = runs(db, incident)
    assert run.outcomes == [f"done: webhook call to {receiver.url}/… queued"]
    (delivery,) = db.scalars(select(WorkflowDelivery))
    assert delivery.state == "sent"
    # After rotation, the next call verifies with the new secret only.
    db.commit()
    rotated = api.post(rotate).json()
    declare(db, admin, "SEV2", title="Again")
    work(db, container)
    latest = receiver.requests[-1]
    assert len(receiver.requests) == 2
    assert verify(rotated["signing_secret"], latest.headers["x-tocsin-signature"], latest.body)
    assert not verify(secret["signing_secret"], latest.headers["x-tocsin-signature"], latest.body)


def test_send_email_arrives_over_smtp_after_commit(
    db: Session, container: Container, smtp: SmtpServer, admin: User
) -> None:
    mine = workflow(
        db,
        "Mail the duty manager",
        "declared",
        [{"kind": "send_email", "to": "duty@example.com", "subject": "SEV1 declared",
          "body": "Join the bridge."}],
    )  # fmt: skip
    only_these(db, mine)
    db.commit()
    declare(db, admin, "SEV1", title="Payments down")
    db.rollback()  # a declaration rolled back runs nothing and sends nothing
    work(db, container)
    assert smtp.messages == []

    incident = declare(db, admin, "SEV1", title="Payments down")
    work(db, container)
    assert [r.outcomes for r in runs(db, incident)] == [["done: email to duty@example.com queued"]]
    (mail,) = mails_to(smtp, "duty@example.com")
    assert mail["Subject"] == "[Tocsin] SEV1 declared"
    assert "Join the bridge." in mail.get_content()
    assert f"{incident.reference}: http://tocsin.test/incidents/{incident.reference}" in (
        mail.get_content()
    )


def test_a_timer_fires_after_no_update_for_n_minutes(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, admin: User
) -> None:
    ann = reachable(db, settings, "Ann")
    quiet = workflow(
        db,
        "Quiet for 30 minutes",
        "no_update",
        [{"kind": "page", "target": "person", "user_id": ann.id, "message": "No update yet"}],
        trigger_minutes=30,
    )
    only_these(db, quiet)
    incident = declare(db, admin, "SEV3", urgency="none")
    work(db, container)
    assert smtp.messages == [] and runs(db, incident) == []  # not due yet

    time_passes(db, container)  # thirty minutes later, nothing was posted
    (run,) = runs(db, incident)
    assert run.outcomes == ["done: paged Ann"]
    (page,) = mails_to(smtp, ann.email)
    assert incident.reference in page["Subject"]

    # An update re-arms it: thirty more minutes without another update fire it again.
    post_update(db, incident, phase="investigating", body="On it", by=admin)
    work(db, container)
    time_passes(db, container)
    assert [r.trigger for r in runs(db, incident)] == ["no_update", "no_update"]


def test_a_drill_runs_a_workflow_that_allows_drills_and_its_pages_say_drill(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, admin: User
) -> None:
    ann, ben = reachable(db, settings, "Ann"), reachable(db, settings, "Ben")
    team = catalog.create_team(db, name="Payments", member_ids=[ann.id, ben.id])
    drills = workflow(
        db,
        "Page Payments",
        "declared",
        [{"kind": "page", "target": "team", "team_id": team.id}],
        conditions={"drill": "any"},
    )
    real_only = workflow(
        db, "Real incidents only", "declared", [{"kind": "create_action_item", "title": "x"}]
    )
    only_these(db, drills, real_only)
    incident = declare(db, admin, "SEV2", title="Game day", drill=True, urgency="none")
    work(db, container)
    (run,) = runs(db, incident)
    assert run.workflow_name == "Page Payments"
    assert run.outcomes == ["done: paged team “Payments”: Ann, Ben"]
    for person in (ann, ben):
        (page,) = mails_to(smtp, person.email)
        assert page["Subject"].startswith("[Tocsin] [DRILL] ")
        assert page.get_content().startswith("DRILL: this is a practice incident")
