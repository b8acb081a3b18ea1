"""Exports of data are recorded in the audit trail: who exported what, with which filters."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import api_as, browser_login
from tocsin.audit.models import AuditRecord
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.cli.main import app as cli
from tocsin.config import Settings

runner = CliRunner()


def _exports(container: Container) -> list[AuditRecord]:
    with container.sessionmaker() as session:
        query = select(AuditRecord).where(AuditRecord.action.startswith("export."))
        return list(session.scalars(query.order_by(AuditRecord.seq)))


def test_an_insights_csv_is_recorded_with_its_filters(
    client: TestClient, db: Session, responder: User, container: Container
) -> None:
    browser_login(client, responder.email)
    response = client.get(
        "/insights/overview.csv",
        params={"table": "by_severity", "since": "2026-03-01", "until": "2026-03-31"},
    )
    assert response.status_code == 200
    [row] = _exports(container)
    assert (row.action, row.actor_id, row.via) == ("export.insights", responder.id, "session")
    assert row.target.startswith("insights-by_severity-") and row.target.endswith(".csv")
    detail = json.loads(row.detail)
    assert detail["path"] == "/insights/overview.csv"
    assert detail["filters"]["table"] == "by_severity"
    assert detail["filters"]["since"] == "2026-03-01"
    # A refused export records nothing.
    assert client.get("/insights/overview.csv", params={"table": "nope"}).status_code == 422
    assert len(_exports(container)) == 1


def test_the_response_plan_export_is_recorded(
    client: TestClient, db: Session, responder: User, container: Container
) -> None:
    headers = api_as(client, db, responder)
    assert client.get("/api/v1/plan/export.md", headers=headers).status_code == 200
    [row] = _exports(container)
    assert (row.action, row.target, row.actor_id) == ("export.plan", "response plan", responder.id)
    assert json.loads(row.detail) == {"format": "markdown"}


def test_tocsin_export_is_recorded_as_the_cli(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    out = tmp_path / "tocsin.yaml"
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    result = runner.invoke(cli, ["export", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    [row] = _exports(container)
    assert row.action == "export.config" and row.via == "cli"
    assert json.loads(row.detail) == {"format": "yaml", "to": str(out)}
