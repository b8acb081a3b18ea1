"""Paging a person end to end: rules planned as jobs, sent by the worker through real
servers on loopback, retried, falling back, and never sent twice or after a rollback."""

from __future__ import annotations

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.notify.conftest import Receiver, SmtpServer, declare, run_jobs
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents import queries
from tocsin.incidents import service as incidents
from tocsin.jobs.models import Job
from tocsin.notify import channels, methods
from tocsin.notify.channels import EmailNotConfigured
from tocsin.notify.models import Notification
from tocsin.notify.service import notifications_for, page_user


def _email(db: Session, user: User, settings: Settings, address: str | None = None):  # type: ignore[no-untyped-def]
    method, _ = methods.create_contact_method(
        db, user, by=user, settings=settings, kind="email", target=address or user.email
    )
    return method


def _timeline(db: Session, incident) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.summary for e in queries.timeline(db, incident)]


def test_an_email_page_arrives_with_everything_needed_to_act(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    email = _email(db, responder, settings)
    methods.create_rule(db, responder, by=responder, urgency="high", contact_method_id=email.id)
    incident = declare(db, responder)
    planned = page_user(
        db, incident=incident, user=responder, reason='on call in "Primary"', key="esc:1:0"
    )
    db.commit()
    assert [n.state for n in planned] == ["planned"]
    assert smtp.messages == []  # nothing is sent before the worker runs

    run_jobs(container)

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert smtp.mailbox.recipients == [["rita@example.com"]]
    assert mail["Subject"] == "[Tocsin] INC-1 (high urgency): Checkout is down"
    body = mail.get_content()
    assert 'Why you: on call in "Primary"' in body
    assert "Open: http://tocsin.test/incidents/INC-1" in body
    assert "Acknowledge: http://tocsin.test/act/" in body
    assert "Resolve: http://tocsin.test/act/" in body
    db.expire_all()
    (sent,) = notifications_for(db, incident.id)
    assert sent.state == "sent" and sent.sent_at is not None and sent.attempts == 1
    assert "Paged Rita Responder by email (rita@example.com)" in _timeline(db, incident)


def test_a_drill_page_says_drill_in_its_subject_and_body(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    _email(db, responder, settings)
    incident = incidents.declare(db, by=responder, title="Game day: lose a zone", drill=True)
    page_user(db, incident=incident, user=responder, reason="on call", key="esc:1:0")
    db.commit()
    run_jobs(container)
    (mail,) = smtp.messages
    assert mail["Subject"] == "[Tocsin] [DRILL] INC-1 (high urgency): Game day: lose a zone"
    assert mail.get_content().startswith("DRILL: this is a practice incident, not a real one.")


def test_same_key_pages_once_and_a_rollback_sends_nothing(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    _email(db, responder, settings)
    incident = declare(db, responder)
    db.commit()
    first = page_user(db, incident=incident, user=responder, reason="r", key="k")
    second = page_user(db, incident=incident, user=responder, reason="r", key="k")
    assert len(first) == 1 and second == []
    db.rollback()  # the change that paged never committed
    assert db.scalar(select(func.count()).select_from(Notification)) == 0
    deliveries = select(func.count()).select_from(Job).where(Job.kind == "notify.deliver")
    assert db.scalar(deliveries) == 0
    db.rollback()  # end this read before the worker writes (SQLite: one writer at a time)
    run_jobs(container)
    assert smtp.messages == []

    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 1


def test_no_rules_means_every_method_at_once_and_it_is_recorded(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    responder: User,
) -> None:
    _email(db, responder, settings)
    methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook",
        target=receiver.url + "/hook", label="My hook",
    )  # fmt: skip
    incident = declare(db, responder)
    planned = page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    assert sorted(n.channel for n in planned) == ["email", "webhook"]
    assert {n.rule_position for n in planned} == {0}
    entry = queries.timeline(db, incident)[-1]
    assert "no notification rules for high urgency" in entry.body
    run_jobs(container)
    assert len(smtp.messages) == 1 and len(receiver.requests) == 1


def test_rules_follow_their_delays(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    first = _email(db, responder, settings)
    later = _email(db, responder, settings, "rita.phone@example.com")
    methods.create_rule(db, responder, by=responder, urgency="high", contact_method_id=first.id)
    methods.create_rule(
        db, responder, by=responder, urgency="high", contact_method_id=later.id, delay_minutes=5
    )
    incident = declare(db, responder)
    planned = page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    assert (planned[1].planned_at - planned[0].planned_at).total_seconds() >= 299
    run_jobs(container)  # only the immediate rule is due
    assert [m["To"] for m in smtp.messages] == ["Rita Responder <rita@example.com>"]
    assert any("after 5 min" in entry for entry in _timeline(db, incident))


def test_acknowledged_before_the_delivery_runs_sends_nothing_and_says_why(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    _email(db, responder, settings)
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    incidents.acknowledge(db, incident, by=responder)
    db.commit()
    run_jobs(container)
    assert smtp.messages == []
    db.expire_all()
    (skipped,) = notifications_for(db, incident.id)
    assert skipped.state == "skipped"
    assert skipped.detail.startswith("not sent: acknowledged by Rita Responder at ")


def test_failing_method_is_retried_then_the_next_method_is_tried(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    responder: User,
) -> None:
    receiver.status = 500
    hook, _ = methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook",
        target=receiver.url, label="Pager app",
    )  # fmt: skip
    email = _email(db, responder, settings)
    methods.create_rule(db, responder, by=responder, urgency="high", contact_method_id=hook.id)
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()

    run_jobs(container)

    assert len(receiver.requests) == settings.notify_attempts == 3
    assert len(smtp.messages) == 1  # the fallback reached her by email
    db.expire_all()
    rows = notifications_for(db, incident.id)
    assert [(n.channel, n.state) for n in rows] == [("webhook", "failed"), ("email", "sent")]
    assert rows[1].contact_method_id == email.id and "fallback" in rows[1].reason
    # One entry per delivery outcome: the webhook's three attempts make one, not three.
    summaries = [s for s in _timeline(db, incident) if "Rita Responder" in s and "by" in s
                 or "failed" in s]  # fmt: skip
    assert [s for s in summaries if "failed" in s] == [
        "Webhook to Rita Responder failed after 3 attempts: 127.0.0.1 answered HTTP 500; "
        "trying email (rita@example.com)"
    ]
    assert "Paged Rita Responder by email (rita@example.com)" in summaries
    assert not any("attempt 1" in s or "retrying" in s for s in _timeline(db, incident))
    assert "attempt 1 of 3 failed" not in rows[0].detail  # the final word replaced it
    assert rows[0].results[str(hook.id)]["detail"] == "127.0.0.1 answered HTTP 500"
    db.refresh(hook)
    assert hook.last_ok is False and hook.consecutive_failures == 3


def test_without_smtp_email_fails_at_once_says_why_and_warns_once(
    db: Session, settings: Settings, receiver: Receiver, responder: User
) -> None:
    """No relay configured: each email page fails on its first attempt with the reason (on
    the timeline), is not retried, falls back to the next method, and the process logs one
    warning, not a line per attempt."""
    unconfigured = build(settings.model_copy(update={"smtp_host": ""}))
    email = _email(db, responder, settings)
    hook, _ = methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook", target=receiver.url,
        label="Pager app",
    )  # fmt: skip
    methods.create_rule(db, responder, by=responder, urgency="high", contact_method_id=email.id)
    first, second = declare(db, responder), declare(db, responder, title="Search is down")
    for incident in (first, second):
        page_user(db, incident=incident, user=responder, reason="r", key=incident.reference)
    db.commit()
    channels.warn_email_not_configured.reset()
    try:
        with structlog.testing.capture_logs() as logs:
            run_jobs(unconfigured)
    finally:
        unconfigured.close()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["email.not_configured"]
    assert len(receiver.requests) == 2  # each page reached her through the fallback
    db.expire_all()
    for incident in (first, second):
        rows = notifications_for(db, incident.id)
        assert [(n.channel, n.state, n.attempts) for n in rows] == [
            ("email", "failed", 1),
            ("webhook", "sent", 1),
        ]
        assert rows[0].detail == (
            f"failed after 1 attempt: rita@example.com: {EmailNotConfigured().reason}"
        )
        assert (
            "Email to Rita Responder failed: email is not configured on this server (set "
            "TOCSIN_SMTP_HOST to send email); trying webhook (Pager app)"
        ) in _timeline(db, incident)
    assert (
        db.scalar(select(func.count()).select_from(Job).where(Job.kind == "notify.deliver")) == 4
    )  # no retries: one job per notification


def test_every_method_failing_is_recorded_and_stops(
    db: Session, container: Container, settings: Settings, responder: User
) -> None:
    from tests.conftest import free_port

    closed = f"http://127.0.0.1:{free_port()}/"
    methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook", target=closed
    )
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    run_jobs(container)
    db.expire_all()
    (row,) = notifications_for(db, incident.id)
    assert row.state == "failed" and row.attempts == 3
    assert _timeline(db, incident)[-1].endswith("no other contact method left to try")


def test_a_broken_channel_does_not_block_the_others(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    responder: User,
) -> None:
    from tests.conftest import free_port

    methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="webhook",
        target=f"http://127.0.0.1:{free_port()}/",
    )  # fmt: skip
    _email(db, responder, settings)
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="r", key="k")
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 1  # sent on the first run, not after the webhook's retries


def test_a_person_without_contact_methods_is_on_the_timeline(
    db: Session, container: Container, responder: User
) -> None:
    incident = declare(db, responder)
    assert page_user(db, incident=incident, user=responder, reason="r", key="k") == []
    db.commit()
    assert _timeline(db, incident)[-1] == (
        "Rita Responder could not be paged: no enabled contact method"
    )


def test_the_incident_notifications_api_says_who_was_paged_and_how(
    client, db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import api_as

    _email(db, responder, settings)
    incident = declare(db, responder)
    page_user(db, incident=incident, user=responder, reason="level 1 of policy", key="k")
    db.commit()
    run_jobs(container)
    rows = client.get(
        f"/api/v1/incidents/{incident.reference}/notifications",
        headers=api_as(client, db, responder),
    ).json()
    assert [(r["user_name"], r["channel"], r["state"], r["reason"]) for r in rows] == [
        ("Rita Responder", "email", "sent", "level 1 of policy")
    ]
    assert rows[0]["sent_at"] is not None
