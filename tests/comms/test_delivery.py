"""Updates reach stakeholders by their own contact methods and matching channels through the
notification channels (real SMTP, real HTTP receivers on loopback), never as a page."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.comms.conftest import channel, declare, email_method, run_jobs, severity
from tests.notify.conftest import Receiver, SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms import service as registry
from tocsin.comms import stakeholders
from tocsin.comms.models import CommsDelivery
from tocsin.comms.sending import deliveries_for, mark_posted
from tocsin.config import Settings
from tocsin.errors import Forbidden, NotFound
from tocsin.escalation.models import EscalationRun
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.incidents.queries import role_by_slug
from tocsin.incidents.updates import post_update
from tocsin.notify.channels import verify_signature
from tocsin.notify.models import Notification


def _states(db: Session, incident: Incident) -> dict[str, str]:
    db.expire_all()
    return {d.recipient: d.state for d in deliveries_for(db, incident)}


def _timeline(db: Session, incident: Incident) -> list[str]:
    return list(
        db.scalars(
            select(TimelineEntry.summary)
            .where(TimelineEntry.incident_id == incident.id)
            .order_by(TimelineEntry.id)
        )
    )


def test_an_internal_update_reaches_followers_and_chat_channels_and_is_never_a_page(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
    viewer: User,
) -> None:
    email_method(db, viewer, settings, urgency="high")  # rules for pages only: still reached
    chat = channel(db, settings, name="#incidents", kind="apprise",
                   target=f"json://127.0.0.1:{receiver.port}/chat")  # fmt: skip
    hook, secret = registry.create_channel(
        db, {"name": "Ops bus", "kind": "webhook", "target": receiver.url + "/bus"},
        settings=settings,
    )  # fmt: skip
    incident = declare(db, admin, severity_id=severity(db, "SEV1").id)
    stakeholders.follow(db, incident, by=viewer)
    db.commit()
    run_jobs(container)  # paging for the declaration (nobody: the incident has no service)
    runs_before = db.scalar(select(func.count(EscalationRun.id)))

    post_update(db, incident, phase="identified", body="The **database** failover stuck.",
                by=admin)  # fmt: skip
    db.commit()
    run_jobs(container)

    (mail,) = smtp.messages
    assert mail["To"] == "Vic Viewer <vic@example.com>"
    assert mail["Subject"] == f"[Tocsin] {incident.reference} update (Identified): Checkout is down"
    text = mail.get_content()
    assert "The **database** failover stuck." in text
    assert f"You get this because you follow {incident.reference}." in text
    assert "not a page" in text and "Acknowledge" not in text and "/act/" not in text
    by_path = {r.path: r for r in receiver.requests}
    assert json.loads(by_path["/chat"].body)["message"].count("failover stuck") == 1
    bus = by_path["/bus"]
    assert bus.headers["x-tocsin-event"] == "update"
    assert verify_signature(secret or "", bus.headers["x-tocsin-signature"], bus.body)
    payload = bus.json()
    assert payload["update"]["phase"] == "identified"
    assert payload["incident"]["reference"] == incident.reference and "actions" not in payload
    assert _states(db, incident) == {"Vic Viewer": "sent", "#incidents": "sent", "Ops bus": "sent"}
    # Never a page: no notification planned, no escalation started, nothing to acknowledge.
    assert db.scalar(select(func.count(Notification.id))) == 0
    assert db.scalar(select(func.count(EscalationRun.id))) == runs_before
    db.refresh(chat)
    db.refresh(hook)
    assert chat.last_ok is True and hook.last_ok is True


def chat_and_support_list(db: Session, settings: Settings, receiver: Receiver) -> None:
    """An internal chat channel (Apprise JSON to the receiver) and an external email list."""
    channel(db, settings, name="#incidents", kind="apprise",
            target=f"json://127.0.0.1:{receiver.port}/chat")  # fmt: skip
    channel(db, settings, name="Support list", kind="email", target="support@example.com",
            audience="external")  # fmt: skip


def test_external_updates_go_to_external_channels_only(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    responder: User,
    viewer: User,
) -> None:
    email_method(db, viewer, settings)
    chat_and_support_list(db, settings, receiver)
    incident = declare(db, responder)
    stakeholders.follow(db, incident, by=viewer)
    post_update(db, incident, phase="investigating", body="We are looking into errors.",
                visibility="external", by=responder)  # fmt: skip
    db.commit()
    run_jobs(container)
    (mail,) = smtp.messages
    assert mail["To"] == "Support list <support@example.com>"
    assert mail["Subject"] == "Checkout is down: Investigating"
    # What customers may read only: no reference, severity, author or link into Tocsin.
    body = mail.get_content()
    assert "We are looking into errors." in body
    assert "INC-" not in body and "Rita" not in body and "http" not in body
    assert receiver.requests == []
    assert _states(db, incident) == {"Support list": "sent"}


def test_channels_apply_by_severity_service_and_customer_impact(
    db: Session, container: Container, settings: Settings, receiver: Receiver, admin: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    catalog.create_service(db, name="Search")
    url = f"json://127.0.0.1:{receiver.port}"
    channel(db, settings, name="sev1", kind="apprise", target=url + "/sev1",
            severities=["SEV1"])  # fmt: skip
    channel(db, settings, name="search", kind="apprise", target=url + "/search",
            services=["Search"])  # fmt: skip
    channel(db, settings, name="impact", kind="apprise", target=url + "/impact",
            customer_impact="yes")  # fmt: skip
    channel(db, settings, name="quiet", kind="apprise", target=url + "/quiet",
            customer_impact="no")  # fmt: skip
    incident = declare(db, admin, severity_id=severity(db, "SEV1").id,
                       service_ids=[checkout.id], customer_impact="Card payments fail")  # fmt: skip
    post_update(db, incident, phase="investigating", body="Looking.", by=admin)
    db.commit()
    run_jobs(container)
    assert sorted(r.path for r in receiver.requests) == ["/impact", "/sev1"]


def test_restricted_incidents_reach_only_people_allowed_to_see_them(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
    responder: User,
    viewer: User,
) -> None:
    for person in (responder, viewer):
        email_method(db, person, settings)
    team = catalog.create_team(db, name="Security", member_ids=[responder.id, viewer.id])
    url = f"json://127.0.0.1:{receiver.port}"
    channel(db, settings, name="#incidents", kind="apprise", target=url + "/all")
    channel(db, settings, name="#security", kind="apprise", target=url + "/sec",
            include_restricted=True)  # fmt: skip
    channel(db, settings, name="Support list", kind="apprise", target=url + "/support",
            audience="external")  # fmt: skip
    incident = declare(db, admin, restricted=True)
    with pytest.raises(NotFound):  # not involved: for them it does not exist
        stakeholders.follow(db, incident, by=viewer)
    stakeholders.add(db, incident, by=admin, team_id=team.id)
    post_update(db, incident, phase="investigating", body="Token leaked.", by=admin)
    post_update(db, incident, phase="identified", body="Customer text.", visibility="external",
                by=admin)  # fmt: skip
    db.commit()
    run_jobs(container)

    assert [m["To"] for m in smtp.messages] == ["Rita Responder <rita@example.com>"]
    assert [r.path for r in receiver.requests] == ["/sec"]
    db.expire_all()
    skipped = {d.recipient: d.detail for d in deliveries_for(db, incident) if d.state == "skipped"}
    assert skipped == {
        "Vic Viewer": "not sent: a viewer; the incident is restricted",
        "#incidents": "not sent: the incident is restricted",
        "Support list": "not sent: the incident is restricted",
    }


def test_a_restriction_set_after_posting_stops_the_send(
    db: Session, container: Container, settings: Settings, receiver: Receiver, admin: User
) -> None:
    channel(db, settings, name="#incidents", kind="apprise",
            target=f"json://127.0.0.1:{receiver.port}/all")  # fmt: skip
    incident = declare(db, admin)
    post_update(db, incident, phase="investigating", body="Looking.", by=admin)
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    db.commit()
    run_jobs(container)
    assert receiver.requests == []
    assert _states(db, incident) == {"#incidents": "skipped"}


def test_drills_say_so_and_never_reach_an_external_audience(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
    responder: User,
) -> None:
    email_method(db, responder, settings)
    chat_and_support_list(db, settings, receiver)
    incident = declare(db, admin, drill=True)
    stakeholders.follow(db, incident, by=responder)
    post_update(db, incident, phase="investigating", body="Game day.", by=admin)
    post_update(db, incident, phase="identified", body="Game day, outside.",
                visibility="external", by=admin)  # fmt: skip
    db.commit()
    run_jobs(container)
    (mail,) = smtp.messages
    assert mail["To"] == "Rita Responder <rita@example.com>"
    assert "[DRILL]" in mail["Subject"]
    assert mail.get_content().startswith("DRILL: this is a practice incident, not a real one.")
    (chat,) = receiver.requests
    message = json.loads(chat.body)
    assert message["title"].startswith("[DRILL]") and "DRILL:" in message["message"]
    assert _states(db, incident)["Support list"] == "skipped"


def test_who_may_post_decides_which_channels_an_update_goes_to(
    db: Session,
    container: Container,
    settings: Settings,
    receiver: Receiver,
    admin: User,
    responder: User,
    viewer: User,
) -> None:
    execs = channel(db, settings, name="Exec list", kind="apprise",
                    target=f"json://127.0.0.1:{receiver.port}/exec",
                    post_incident_roles=["comms_internal", "incident_commander"])  # fmt: skip
    briefing = channel(db, settings, name="Exec briefing", post_user_roles=["admin"])
    incident = declare(db, admin)
    post_update(db, incident, phase="investigating", body="First.", by=responder)
    db.commit()
    run_jobs(container)
    assert receiver.requests == []
    (skipped,) = deliveries_for(db, incident)
    assert skipped.detail == (
        "not sent: Rita Responder may not post here (only the Incident Commander or the "
        "Communications Manager (internal))"
    )
    incident_roles.assign_role(db, incident, role_id=role_by_slug(db, "comms_internal").id,
                          user_id=responder.id, by=admin)  # fmt: skip
    post_update(db, incident, phase="identified", body="Second.", by=responder)
    db.commit()
    run_jobs(container)
    assert [r.path for r in receiver.requests] == ["/exec"]

    with pytest.raises(Forbidden, match="only admins may post to Exec briefing"):
        mark_posted(db, incident, briefing, by=responder)
    with pytest.raises(Forbidden):
        mark_posted(db, incident, execs, by=viewer)
    mark_posted(db, incident, briefing, by=admin, note="Told the CEO")
    assert _timeline(db, incident)[-1] == "Ada Admin posted to Exec briefing"


def test_a_failing_channel_is_retried_recorded_and_blocks_no_other(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
    responder: User,
) -> None:
    receiver.status = 500
    email_method(db, responder, settings)
    channel(db, settings, name="Ops bus", kind="webhook", target=receiver.url + "/bus")
    incident = declare(db, admin)
    stakeholders.follow(db, incident, by=responder)
    post_update(db, incident, phase="investigating", body="Looking.", by=admin)
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == settings.notify_attempts == 3
    assert len(smtp.messages) == 1
    db.expire_all()
    rows = {d.recipient: d for d in deliveries_for(db, incident)}
    assert rows["Ops bus"].state == "failed" and rows["Ops bus"].attempts == 3
    assert rows["Rita Responder"].state == "sent"
    assert rows["Rita Responder"].detail == "sent to Work email"
    assert _timeline(db, incident)[-1] == (
        "Update to Ops bus failed after 3 attempts: Ops bus: 127.0.0.1 answered HTTP 500"
    )


def test_a_rolled_back_update_sends_nothing(
    db: Session, container: Container, settings: Settings, receiver: Receiver, admin: User
) -> None:
    channel(db, settings, name="#incidents", kind="apprise",
            target=f"json://127.0.0.1:{receiver.port}/chat")  # fmt: skip
    incident = declare(db, admin)
    db.commit()
    post_update(db, incident, phase="investigating", body="Oops.", by=admin)
    db.rollback()
    run_jobs(container)
    assert receiver.requests == []
    assert db.scalar(select(func.count(CommsDelivery.id))) == 0


def test_paused_channels_and_unfollowing_skip_the_send(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    admin: User,
    responder: User,
) -> None:
    email_method(db, responder, settings)
    channel(db, settings, name="#incidents", kind="apprise", paused=True,
            target=f"json://127.0.0.1:{receiver.port}/chat")  # fmt: skip
    incident = declare(db, admin)
    stakeholders.follow(db, incident, by=responder)
    post_update(db, incident, phase="investigating", body="Looking.", by=admin)
    stakeholders.unfollow(db, incident, by=responder)  # before the job runs
    db.commit()
    run_jobs(container)
    assert receiver.requests == [] and smtp.messages == []
    db.expire_all()
    details = {d.recipient: d.detail for d in deliveries_for(db, incident)}
    assert details == {
        "#incidents": "not sent: sending to this channel is paused",
        "Rita Responder": "not sent: no longer follows the incident",
    }
