"""Configuration changes are recorded once whichever interface makes them (the HTML form, the
API, `tocsin apply`), with old and new values, who acted and from where; secrets never show
a value."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import ADMIN_PASSWORD, api_as, browser_login
from tocsin.audit.models import AuditRecord
from tocsin.auth import service as auth_service
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User
from tocsin.cli.main import app as cli
from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind, JobRegistry
from tocsin.jobs.runner import JobRunner

runner = CliRunner()


def _config(container: Container, action: str) -> list[AuditRecord]:
    with container.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
            )
        )


def test_a_service_renamed_through_the_form_is_recorded_with_who_and_where(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    svc = catalog.create_service(db, name="pay", description="old words")
    db.commit()
    csrf = browser_login(client, admin.email)
    response = client.post(
        f"/settings/services/{svc.id}",
        data={"csrf_token": csrf, "name": "checkout", "description": "old words", "tier": "2"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [row] = _config(container, "config.service.updated")
    assert (row.actor_id, row.actor_label, row.via, row.address) == (
        admin.id,
        admin.email,
        "session",
        "testclient",
    )
    assert (row.target_type, row.target_id, row.target) == ("service", str(svc.id), "checkout")
    assert json.loads(row.detail) == {"name": {"old": "pay", "new": "checkout"}}
    assert row.seq is not None and row.hash is not None


def test_a_service_renamed_through_the_api_is_recorded_once(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    svc = catalog.create_service(db, name="pay", tier=3)
    db.commit()
    headers = api_as(client, db, admin)
    response = client.patch(
        f"/api/v1/services/{svc.id}", json={"name": "checkout", "tier": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    [row] = _config(container, "config.service.updated")
    assert (row.actor_id, row.via, row.address) == (admin.id, "token", "testclient")
    assert json.loads(row.detail) == {
        "name": {"old": "pay", "new": "checkout"},
        "tier": {"old": 3, "new": 1},
    }
    # A change refused changes nothing, and records nothing.
    other = catalog.create_service(db, name="search")
    db.commit()
    refused = client.patch(
        f"/api/v1/services/{other.id}", json={"name": "checkout"}, headers=headers
    )
    assert refused.status_code == 409
    assert len(_config(container, "config.service.updated")) == 1


def test_tocsin_apply_is_recorded_as_the_cli(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text("services:\n  - name: checkout\n    tier: 3\n")
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    first = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert first.exit_code == 0, first.output
    [created] = _config(container, "config.service.created")
    assert created.via == "cli" and created.actor_id is None
    assert created.actor_label.startswith("tocsin CLI (")
    assert created.target == "checkout" and created.target_id.isdigit()
    assert json.loads(created.detail)["tier"] == {"new": 3}
    path.write_text("services:\n  - name: checkout\n    tier: 1\n    description: Pays\n")
    second = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert second.exit_code == 0, second.output
    [updated] = _config(container, "config.service.updated")
    assert updated.via == "cli" and updated.target_id == created.target_id
    assert json.loads(updated.detail) == {
        "tier": {"old": 3, "new": 1},
        "description": {"old": "", "new": "Pays"},
    }
    # Applying the same file again changes nothing, and records nothing.
    again = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert again.exit_code == 0 and "no changes" in again.output
    assert len(_config(container, "config.service.updated")) == 1
    # A dry run is rolled back with its records.
    path.write_text("services:\n  - name: checkout\n    tier: 2\n")
    dry = runner.invoke(cli, ["apply", "-f", str(path), "--dry-run"], env=env)
    assert dry.exit_code == 0 and "would" in dry.output
    assert len(_config(container, "config.service.updated")) == 1


def test_a_password_change_is_recorded_without_its_value(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    target = catalog.create_user(
        db, name="Rita", email="rita@example.com", role="viewer", password=ADMIN_PASSWORD
    )
    db.commit()
    old_hash = target.password_hash
    response = client.patch(
        f"/api/v1/users/{target.id}",
        json={"password": "a-new-long-password", "role": "responder"},
        headers=api_as(client, db, admin),
    )
    assert response.status_code == 200, response.text
    [row] = _config(container, "config.user.updated")
    detail = json.loads(row.detail)
    assert detail == {
        "password_hash": {"changed": True},
        "role": {"old": "viewer", "new": "responder"},
    }
    db.expire_all()
    new_hash = db.get(User, target.id).password_hash  # type: ignore[union-attr]
    assert new_hash != old_hash
    for secret in (old_hash, new_hash, "a-new-long-password"):
        assert secret and secret not in row.detail
    # The user's creation did not show the hash either.
    [created] = [
        r for r in _config(container, "config.user.created") if r.target == "rita@example.com"
    ]
    assert json.loads(created.detail)["password_hash"] == {"changed": True}
    assert old_hash not in created.detail  # type: ignore[operator]


def test_team_members_added_and_removed_and_deletion(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    rita = catalog.create_user(db, name="Rita", email="rita@example.com", password=ADMIN_PASSWORD)
    team = catalog.create_team(db, name="Payments", member_ids=[admin.id])
    db.commit()
    headers = api_as(client, db, admin)
    response = client.patch(
        f"/api/v1/teams/{team.id}", json={"member_ids": [rita.id]}, headers=headers
    )
    assert response.status_code == 200, response.text
    [row] = _config(container, "config.team.updated")
    assert json.loads(row.detail) == {
        "members": {"added": ["rita@example.com"], "removed": ["admin@example.com"]}
    }
    assert client.delete(f"/api/v1/teams/{team.id}", headers=headers).status_code == 204
    [gone] = _config(container, "config.team.deleted")
    assert gone.target == "Payments" and json.loads(gone.detail)["name"] == {"old": "Payments"}


def test_operational_rows_and_noise_are_not_recorded(
    container: Container, db: Session, admin: User
) -> None:
    with transaction(container.sessionmaker) as session:
        user = session.get(User, admin.id)
        assert user is not None
        auth_service.create_api_token(session, user, "laptop")  # a token: not configuration
    with container.sessionmaker() as session:
        actions = set(session.scalars(select(AuditRecord.action)))
    assert not any(a.startswith("config.api_token") for a in actions)
    assert not {a for a in actions if a.startswith("config.") and "team" in a}
    assert Team  # the members' side is recorded on the team only


def test_a_change_made_by_a_job_is_recorded_as_tocsin(container: Container, db: Session) -> None:
    svc = catalog.create_service(db, name="pay")
    db.commit()

    def rename(session: Session, payload: dict[str, object]) -> None:
        catalog.update_service(session, catalog.get_service(session, svc.id), {"name": "paid"})

    registry = JobRegistry()
    registry.register(JobKind("test.rename", rename, max_attempts=1))
    with transaction(container.sessionmaker) as session:
        enqueue(session, "test.rename", {})
    assert JobRunner(container.sessionmaker, registry, name="test").run_until_idle() == 1
    [row] = _config(container, "config.service.updated")
    assert (row.actor_id, row.actor_label, row.via, row.address) == (None, "Tocsin", "system", None)
    assert json.loads(row.detail) == {"name": {"old": "pay", "new": "paid"}}
