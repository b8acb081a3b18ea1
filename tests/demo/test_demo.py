"""`tocsin demo` seeds a believable organisation once."""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import ADMIN_PASSWORD, api_as
from tocsin.alerts.models import Event
from tocsin.auth.passwords import verify_password
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.demo.history import KINDS
from tocsin.demo.seed import seed_demo
from tocsin.escalation.models import EscalationRun
from tocsin.incidents import queries
from tocsin.incidents.models import ActionItem, Incident, StatusUpdate, TimelineEntry
from tocsin.notify.channels import EmailNotConfigured, warn_email_not_configured
from tocsin.notify.models import Notification
from tocsin.subscribers.models import Delivery, Subscriber

runner = CliRunner()

PAST_TITLES = sorted({title for title, *_ in KINDS})  # the demo's thirteen past weeks


def test_demo_seeds_once_with_every_state(settings: Settings, container) -> None:  # type: ignore[no-untyped-def]
    env = {
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_ADMIN_EMAIL": "boss@example.org",
        "TOCSIN_ADMIN_PASSWORD": "a-good-password",
    }
    first = runner.invoke(app, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    assert "boss@example.org" in first.output and "a-good-password" in first.output
    second = runner.invoke(app, ["demo"], env=env)
    assert "already there" in second.output
    with container.sessionmaker() as session:
        statuses = set(session.scalars(select(Incident.status)))
        assert statuses == {
            "triggered",
            "acknowledged",
            "investigating",
            "identified",
            "monitoring",
            "resolved",
            "closed",
        }
        # Thirteen weeks of past incidents (2 to 6 a week), all resolved, for Insights; then
        # nine declared by people, one opened by an alert, two in the status page's history.
        past = session.scalars(select(Incident).where(Incident.title.in_(PAST_TITLES))).all()
        assert 26 <= len(past) <= 78 and {i.status for i in past} == {"resolved"}
        assert all(i.acknowledged_at and i.resolved_at for i in past)
        assert max(i.number for i in past) < min(
            session.scalars(select(Incident.number).where(Incident.title.not_in(PAST_TITLES)))
        )
        assert session.scalar(select(func.count(Incident.id))) == len(past) + 12
        outcomes = set(session.scalars(select(Event.outcome)))
        assert outcomes == {"maintenance", "created_alert", "deduplicated", "suppressed"}
        assert session.scalar(select(func.count(StatusUpdate.id))) >= 5
        assert session.scalar(select(func.count(ActionItem.id))) >= 8
        assert (
            session.scalar(
                select(func.count(TimelineEntry.id)).where(TimelineEntry.is_key_event.is_(True))
            )
            >= 5
        )
        assert session.scalar(select(func.count()).where(Incident.drill.is_(True))) == 1
        assert session.scalar(select(func.count()).where(Incident.restricted.is_(True))) == 1
        boss = session.scalars(select(User).where(User.email == "boss@example.org")).one()
        assert boss.role == "admin" and verify_password(boss.password_hash, "a-good-password")


def test_the_demo_pages_only_what_is_triggered_and_runs_quietly_without_smtp(
    settings: Settings, container: Container
) -> None:
    """After `tocsin demo`, the jobs it queued page nobody about an incident someone already
    acknowledged (the search incident, monitoring since its acknowledgement hours ago, paged
    the Platform team), send nothing to a placeholder webhook, and without SMTP log one warning."""
    env = {"TOCSIN_DATABASE_URL": settings.database_url, "TOCSIN_PORT": "9123"}
    made = runner.invoke(app, ["demo"], env=env)
    assert made.exit_code == 0, made.output
    assert "Log in at http://127.0.0.1:9123 as" in made.output
    assert "8080" not in made.output
    warn_email_not_configured.reset()
    with structlog.testing.capture_logs() as logs:
        container.runner(name="test").run_until_idle()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["email.not_configured"]
    with container.sessionmaker() as session:
        paged = session.execute(
            select(Incident.number, Incident.status)
            .join(EscalationRun, EscalationRun.incident_id == Incident.id)
            .distinct()
        ).all()
        assert paged and {status for _, status in paged} == {"triggered"}
        monitoring = session.scalars(
            select(Incident).where(Incident.title.startswith("Search results slow after"))
        ).one()
        assert monitoring.status == "monitoring"
        assert (
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.incident_id == monitoring.id)
            )
            == 0
        )
        summaries = [e.summary for e in queries.timeline(session, monitoring)]
        assert (
            f"Nobody was paged: {monitoring.reference} was already monitoring when paging was "
            "to start" in summaries
        )
        webhook_deliveries = (
            select(func.count())
            .select_from(Delivery)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.kind == "webhook", Delivery.kind != "quarantine_notice")
        )
        assert session.scalar(webhook_deliveries) == 0
        failed = session.scalars(select(Notification).where(Notification.state == "failed")).all()
        assert failed and {n.attempts for n in failed} == {1}
        assert all(n.detail.endswith(f": {EmailNotConfigured().reason}") for n in failed)
        assert all(n.detail.startswith("failed after 1 attempt: ") for n in failed)


def test_the_demos_updates_and_follow_ups_sit_inside_their_incidents_timelines(
    settings: Settings, container: Container
) -> None:
    """Updates are posted while their incident runs, not when the demo is seeded; follow-ups
    are agreed after their incident (at its review meeting), some of them days overdue."""
    made = runner.invoke(app, ["demo"], env={"TOCSIN_DATABASE_URL": settings.database_url})
    assert made.exit_code == 0, made.output
    with container.sessionmaker() as session:
        now = utcnow()
        pay = session.scalars(
            select(Incident).where(Incident.title.startswith("Card payments declined for"))
        ).one()
        assert pay.status == "resolved" and pay.started_at and pay.resolved_at
        posted = session.scalars(
            select(StatusUpdate)
            .where(StatusUpdate.incident_id == pay.id)
            .order_by(StatusUpdate.created_at, StatusUpdate.id)
        ).all()
        assert [u.phase for u in posted] == ["investigating", "identified", "resolved"]
        assert all(pay.started_at < u.created_at <= pay.resolved_at for u in posted)
        assert pay.resolved_at < now - timedelta(hours=12)
        on_timeline = [e for e in queries.timeline(session, pay) if e.kind == "update_posted"]
        assert [e.occurred_at for e in on_timeline] == [u.created_at for u in posted]

        follow_ups = session.scalars(select(ActionItem).where(ActionItem.kind == "follow_up")).all()
        today = now.date()
        ages = {(today - item.created_at.date()).days for item in follow_ups}
        assert max(ages) >= 4 and len(ages) >= 3  # not every one "0 d"
        for item in follow_ups:
            assert item.created_at >= item.incident.started_at  # type: ignore[operator]
        overdue = [i.days_overdue(today) for i in follow_ups if i.is_overdue(today)]
        assert overdue and all(1 <= days <= 14 for days in overdue)


def test_the_demo_fills_the_roster_so_page_the_ic_and_the_plan_name_people(
    client: TestClient, db: Session, admin: User
) -> None:
    """A new user of `make run` sees an IC rotation as the Incident Commander's primary (with
    a person as backup), and Page the IC and the response plan name who is on call now."""
    seed_demo(db, admin.email, ADMIN_PASSWORD)
    db.commit()
    headers = api_as(client, db, admin)
    roster = client.get("/api/v1/roster", headers=headers).json()["items"]
    by_role = {e["role"]["slug"]: e for e in roster}
    ic = by_role["incident_commander"]
    assert ic["primary"]["schedule"]["name"] == "IC rotation"
    [commander] = ic["primary"]["now"]
    assert commander["email"] in (admin.email, "priya@example.com", "hannah@example.com")
    assert ic["backup"]["user"]["email"] == "mateo@example.com"
    assert {"deputy", "comms_internal", "comms_external", "support_lead"} <= set(by_role)

    plan = client.get("/plan", headers=headers)
    assert f"{commander['name']} (on call for IC rotation)" in plan.text
    assert "Mateo García" in plan.text

    triggered = db.scalars(select(Incident).where(Incident.status == "triggered")).first()
    assert triggered is not None
    paged = client.post(f"/api/v1/incidents/{triggered.number}/page-ic", headers=headers)
    assert paged.status_code == 200, paged.text
    assert [p["name"] for p in paged.json()["paged"]] == [commander["name"], "Mateo García"]
