"""`tocsin postmortem list|show|export` against Tocsin served by uvicorn."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import token_for
from tests.postmortems.conftest import incident_of
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.db import utcnow
from tocsin.incidents import service as incidents
from tocsin.postmortems import service
from tocsin.postmortems.models import Postmortem

runner = CliRunner()


def _started(db: Session, admin: User) -> tuple[Postmortem, Postmortem]:
    """A postmortem long overdue (its incident resolved ten days ago) and a fresh one."""
    now = utcnow()
    late = incident_of(db, admin, "SEV2", started=now - timedelta(days=10, hours=1))
    incidents.change_status(db, late, "resolved", by=admin, occurred_at=now - timedelta(days=10))
    late_pm = service.for_incident(db, late)
    assert late_pm is not None
    fresh_pm = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    overview = fresh_pm.section("overview")
    assert overview is not None
    service.save_section(
        db, fresh_pm, "overview", "The **cache** fell over.\n\n- one\n- two", overview.version,
        by=admin,
    )  # fmt: skip
    db.commit()
    return late_pm, fresh_pm


def test_list_show_and_export_with_the_environments_server(
    live_server: str, db: Session, admin: User, tmp_path: Path
) -> None:
    late, fresh = _started(db, admin)
    env = {
        "TOCSIN_CLI_CONFIG": str(tmp_path / "none.json"),
        "TOCSIN_URL": live_server,
        "TOCSIN_TOKEN": token_for(db, admin),
        "COLUMNS": "200",
    }

    listed = runner.invoke(app, ["postmortem", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    late_row = next(i for i, line in enumerate(lines) if late.incident.reference in line)
    fresh_row = next(i for i, line in enumerate(lines) if fresh.incident.reference in line)
    assert late_row < fresh_row  # overdue first
    assert "Draft (overdue)" in lines[late_row] and admin.name in lines[late_row]
    assert "2 of 2 postmortems" in listed.stdout

    overdue = runner.invoke(app, ["postmortem", "list", "--overdue", "--json"], env=env)
    assert [p["id"] for p in json.loads(overdue.stdout)["items"]] == [late.id]
    reviewing = runner.invoke(app, ["postmortem", "list", "--status", "in_review"], env=env)
    assert reviewing.exit_code == 0 and "0 of 0 postmortems" in reviewing.stdout
    found = runner.invoke(
        app, ["postmortem", "list", "-q", "FELL over", "--severity", "sev3", "--json"], env=env
    )
    assert [p["id"] for p in json.loads(found.stdout)["items"]] == [fresh.id]
    nowhere = runner.invoke(app, ["postmortem", "list", "--service", "Nowhere"], env=env)
    assert nowhere.exit_code == 1 and "service: nothing named 'Nowhere'" in nowhere.output
    bad = runner.invoke(app, ["postmortem", "list", "--status", "lost"], env=env)
    assert bad.exit_code == 2

    shown = runner.invoke(app, ["postmortem", "show", str(fresh.id)], env=env)
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert f"Postmortem {fresh.id}: {fresh.incident.reference}" in text
    assert "Severity: SEV3" in text and "Status: Draft" in text
    assert "Review: no reviewers; no reviewer has approved it yet" in text
    assert "Published: not yet" in text
    # Rendered, not raw: no asterisks around the bold word, bullets for the list.
    assert "The cache fell over." in text and "**cache**" not in text
    assert "• one" in text
    for section in fresh.sections:
        assert section.title in text

    printed = runner.invoke(app, ["postmortem", "export", str(fresh.id)], env=env)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith(f"# Postmortem: {fresh.incident.reference} ")
    assert "\n## Overview\n\nThe **cache** fell over.\n" in printed.stdout

    target = tmp_path / "pm.md"
    saved = runner.invoke(
        app, ["postmortem", "export", str(fresh.id), "--format", "md", "-o", str(target)], env=env
    )
    assert saved.exit_code == 0, saved.output
    assert target.read_text() == printed.stdout
    assert f"wrote postmortem {fresh.id} to {target}" in saved.stdout

    pdf = tmp_path / "pm.pdf"
    made = runner.invoke(
        app, ["postmortem", "export", str(fresh.id), "--format", "pdf", "-o", str(pdf)], env=env
    )
    assert made.exit_code == 0, made.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    unknown = runner.invoke(
        app, ["postmortem", "export", str(fresh.id), "--format", "doc"], env=env
    )
    assert unknown.exit_code == 2


def test_a_restricted_postmortem_is_missing_for_others(
    live_server: str, db: Session, admin: User, responder: User, tmp_path: Path
) -> None:
    hidden = service.start(db, incident_of(db, admin, "SEV3", restricted=True), by=admin)
    db.commit()
    env = {
        "TOCSIN_CLI_CONFIG": str(tmp_path / "none.json"),
        "TOCSIN_URL": live_server,
        "TOCSIN_TOKEN": token_for(db, responder),
    }
    for command in (["show", str(hidden.id)], ["export", str(hidden.id)]):
        result = runner.invoke(app, ["postmortem", *command], env=env)
        assert result.exit_code == 1
        assert f"no postmortem {hidden.id}" in result.output and "Traceback" not in result.output
    listed = runner.invoke(app, ["postmortem", "list", "--json"], env=env)
    assert json.loads(listed.stdout)["total"] == 0
    refused = runner.invoke(app, ["postmortem", "list"], env={**env, "TOCSIN_TOKEN": "tcs_wrong"})
    assert refused.exit_code == 1 and "the token from TOCSIN_TOKEN was refused" in refused.output
