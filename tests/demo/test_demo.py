"""`tocsin demo` seeds a believable organisation once."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from tocsin.alerts.models import Event
from tocsin.auth.passwords import verify_password
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.incidents.models import ActionItem, Incident, StatusUpdate, TimelineEntry

runner = CliRunner()


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
        # Nine declared by people, one opened by an alert, two in the status page's history.
        assert session.scalar(select(func.count(Incident.id))) == 12
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
