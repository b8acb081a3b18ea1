"""The audit trail read back: the page under Settings and the API search it, the export can
be verified by anyone, tampering shows in the page, the API and `tocsin audit verify`, and the
retention job purges old records without breaking the chain."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import api_as, browser_login, token_for
from tocsin.audit.models import AuditRecord
from tocsin.audit.trail import Actor, record, verify
from tocsin.auditing.tasks import PURGE_JOB
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.cli.main import app as cli
from tocsin.config import Settings
from tocsin.db import transaction, utcnow
from tocsin.jobs.queue import enqueue

runner = CliRunner()
ANN = Actor(41, "ann@example.com", "session", "192.0.2.7")
BOB = Actor(42, "bob@example.com", "token", "198.51.100.9")


def _seed(container: Container, count: int = 6) -> None:
    """Records by two people, a refusal, and a configuration change, committed one by one."""
    for n in range(count):
        with transaction(container.sessionmaker) as session:
            record(
                session,
                "auth.login" if n % 2 == 0 else "config.service.updated",
                actor=ANN if n % 2 == 0 else BOB,
                target_type="" if n % 2 == 0 else "service",
                target_id=None if n % 2 == 0 else n,
                target="" if n % 2 == 0 else f"svc-{n}",
                detail={} if n % 2 == 0 else {"name": {"old": f"old-{n}", "new": f"svc-{n}"}},
            )
    with transaction(container.sessionmaker) as session:
        record(
            session,
            "auth.login_failed",
            actor=Actor(None, "<script>alert(1)</script>", "anonymous", "203.0.113.5"),
            outcome="refused",
            detail={"email": "<b>mallory</b>@example.com"},
        )


def _first_use_recorded(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """Use a new token once: its first use from this address is recorded (token.new_address)
    by that request, after what it read, so counts compare from the next request on."""
    assert client.get("/api/v1/audit", params={"limit": 1}, headers=headers).status_code == 200
    return headers


def _count(container: Container) -> int:
    """Records so far (a new install's vocabulary is recorded too, as Tocsin's)."""
    with container.sessionmaker() as session:
        return len(session.scalars(select(AuditRecord.id)).all())


def _tamper(db: Session, seq: int) -> None:
    db.commit()
    db.execute(text("UPDATE audit_records SET target = 'forged' WHERE seq = :seq"), {"seq": seq})
    db.commit()


# --- the page ------------------------------------------------------------------------------


def test_the_page_filters_escapes_and_shows_old_and_new(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    _seed(container)
    browser_login(client, admin.email)
    page = client.get("/settings/audit")
    assert page.status_code == 200
    # Verifying reads every record: only when asked.
    assert "The chain verifies" not in page.text and "Verify the chain" in page.text
    assert page.text.count('class="audit-record"') >= 7
    # Newest first: the refusal, escaped.
    first = page.text.index('class="audit-record"')
    assert page.text.index("auth.login_failed", first) < page.text.index("svc-5", first)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page.text
    # A configuration change: its field with the old and new value, who and from where.
    changes = client.get("/settings/audit", params={"action": "config.", "actor": "bob@"})
    rows = changes.text.count('class="audit-record"')
    assert rows == 3
    assert "<td>old-5</td><td>svc-5</td>" in changes.text
    assert "198.51.100.9" in changes.text and "192.0.2.7" not in changes.text
    refused = client.get("/settings/audit", params={"outcome": "refused"})
    assert refused.text.count('class="audit-record"') == 1
    found = client.get("/settings/audit", params={"q": "old-3"})
    assert found.text.count('class="audit-record"') == 1 and "svc-3" in found.text
    target = client.get("/settings/audit", params={"target_type": "service", "target_id": "1"})
    assert target.text.count('class="audit-record"') == 1
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    later = client.get("/settings/audit", params={"since": tomorrow})
    assert later.text.count('class="audit-record"') == 0 and "No records match" in later.text


def test_the_page_shows_where_the_chain_breaks(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    _seed(container)
    _tamper(db, 3)
    browser_login(client, admin.email)
    page = client.get("/settings/audit", params={"verify": "1", "actor": "bob@"})
    assert "The chain is broken at record 3: the record was changed" in page.text
    assert "The chain verifies" not in page.text
    assert page.text.count('class="audit-record"') == 3  # the filter still applies


def test_the_page_is_for_admins_only(
    client: TestClient, db: Session, responder: User, container: Container
) -> None:
    browser_login(client, responder.email)
    assert client.get("/settings/audit").status_code == 403
    assert "/settings/audit" not in client.get("/settings/teams").text


# --- the API -------------------------------------------------------------------------------


def test_the_api_paginates_newest_first_with_a_cursor(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    _seed(container)
    headers = _first_use_recorded(client, api_as(client, db, admin))
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/audit", params=params, headers=headers).json()
        seen += [item["seq"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == _count(container)
    filtered = client.get(
        "/api/v1/audit", params={"action": "config.service", "actor": "42"}, headers=headers
    ).json()
    assert [i["target"] for i in filtered["items"]] == ["svc-5", "svc-3", "svc-1"]
    assert filtered["items"][0]["detail"] == {"name": {"old": "old-5", "new": "svc-5"}}
    assert filtered["items"][0]["address"] == "198.51.100.9"
    bad = client.get("/api/v1/audit", params={"outcome": "maybe"}, headers=headers)
    assert bad.status_code == 422
    naive = client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422


def test_non_admins_get_403_from_every_audit_route(
    client: TestClient, db: Session, responder: User, container: Container
) -> None:
    _seed(container, 2)
    headers = api_as(client, db, responder)
    for path in ("/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"):
        assert client.get(path, headers=headers).status_code == 403
    with container.sessionmaker() as session:
        assert not session.scalars(
            select(AuditRecord).where(AuditRecord.action == "export.audit")
        ).all()


def _digest(line: dict[str, Any], prev: str) -> str:
    """The chain's hash, computed here from the export alone (as a third party would)."""
    content = {
        k: line[k]
        for k in (
            "seq", "at", "actor_id", "actor_label", "via", "address", "token_id", "action",
            "outcome", "target_type", "target_id", "target", "detail",
        )
    }  # fmt: skip
    content["prev"] = prev
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_export_verifies_independently_and_is_itself_recorded(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    _seed(container)
    headers = api_as(client, db, admin)
    response = client.get("/api/v1/audit/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    prev = "0" * 64
    for line in lines:
        assert line["prev_hash"] == prev
        assert _digest(line, prev) == line["hash"]
        prev = line["hash"]
    # The export is recorded (and committed before it streams, so it is its own last line).
    assert lines[-1]["action"] == "export.audit"
    assert lines[-1]["actor_id"] == admin.id and lines[-1]["via"] == "token"
    # A changed line no longer verifies.
    lines[2]["target"] = "forged"
    assert _digest(lines[2], lines[2]["prev_hash"]) != lines[2]["hash"]
    # Dates filter the export.
    later = (utcnow() + timedelta(days=1)).isoformat()
    none = client.get("/api/v1/audit/export", params={"since": later}, headers=headers)
    assert none.status_code == 200 and none.text == ""


def test_verify_through_the_api_reports_tampering(
    client: TestClient, db: Session, admin: User, container: Container
) -> None:
    _seed(container)
    headers = _first_use_recorded(client, api_as(client, db, admin))
    good = client.get("/api/v1/audit/verify", headers=headers).json()
    assert good["intact"] is True and good["checked"] == _count(container)
    _tamper(db, 4)
    bad = client.get("/api/v1/audit/verify", headers=headers).json()
    assert (bad["intact"], bad["broken_seq"], bad["checked"]) == (False, 4, 3)


# --- the CLI -------------------------------------------------------------------------------


def test_cli_verify_and_export_locally(
    settings: Settings, container: Container, db: Session, tmp_path: Path
) -> None:
    _seed(container)
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    ok = runner.invoke(cli, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"verifies: {_count(container)} record(s)" in ok.output
    out = tmp_path / "audit.jsonl"
    exported = runner.invoke(cli, ["audit", "export", "-o", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == _count(container) and lines[-1]["action"] == "export.audit"
    assert lines[-1]["via"] == "cli" and lines[-1]["actor_label"].startswith("tocsin CLI (")
    prev = "0" * 64
    for line in lines:
        assert _digest(line, prev) == line["hash"]
        prev = line["hash"]
    _tamper(db, 2)
    broken = runner.invoke(cli, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "broken at record 2: the record was changed" in broken.output
    bad_date = runner.invoke(cli, ["audit", "export", "--since", "yesterday"], env=env)
    assert bad_date.exit_code == 1 and "is not a date" in bad_date.output


def test_cli_verify_and_export_through_the_api(
    live_server: str, db: Session, admin: User, responder: User, container: Container
) -> None:
    _seed(container)
    env = {"TOCSIN_URL": live_server, "TOCSIN_TOKEN": token_for(db, admin)}
    ok = runner.invoke(cli, ["audit", "verify", "--url", live_server], env=env)
    assert ok.exit_code == 0, ok.output
    exported = runner.invoke(cli, ["audit", "export", "--url", live_server], env=env)
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert lines[-1]["action"] == "export.audit" and lines[-1]["actor_id"] == admin.id
    _tamper(db, 5)
    broken = runner.invoke(cli, ["audit", "verify", "--url", live_server], env=env)
    assert broken.exit_code == 1 and "broken at record 5" in broken.output
    refused = runner.invoke(
        cli,
        ["audit", "verify", "--url", live_server],
        env={**env, "TOCSIN_TOKEN": token_for(db, responder)},
    )
    assert refused.exit_code == 1 and "admin" in refused.output


# --- retention -----------------------------------------------------------------------------


def test_the_retention_job_purges_old_records_and_the_chain_still_verifies(
    settings: Settings,
) -> None:
    built = build(settings.model_copy(update={"audit_retention_days": 30}))
    try:
        for age_days in (90, 60, 31, 5, 0):
            with transaction(built.sessionmaker) as session:
                row = record(session, "auth.login", actor=ANN, detail={"age": age_days})
                row.at = utcnow() - timedelta(days=age_days)  # written that long ago
        with transaction(built.sessionmaker) as session:
            enqueue(session, PURGE_JOB, {})
        built.runner(name="test").run_until_idle()
        with built.sessionmaker() as session:
            kept = [json.loads(r.detail)["age"] for r in session.scalars(
                select(AuditRecord).order_by(AuditRecord.seq))]  # fmt: skip
            assert kept == [5, 0]
            verdict = verify(session)
            assert verdict.intact and verdict.checked == 2
    finally:
        built.close()


def test_retention_zero_keeps_everything(settings: Settings) -> None:
    built = build(settings.model_copy(update={"audit_retention_days": 0}))
    try:
        with transaction(built.sessionmaker) as session:
            row = record(session, "auth.login", actor=ANN)
            row.at = utcnow() - timedelta(days=4000)
            enqueue(session, PURGE_JOB, {})
        built.runner(name="test").run_until_idle()
        with built.sessionmaker() as session:
            old = select(AuditRecord).where(AuditRecord.action == "auth.login")
            assert len(session.scalars(old).all()) == 1
    finally:
        built.close()
