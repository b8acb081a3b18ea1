"""The `tocsin` command: server commands on the database, incident commands over the API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.auth import service as auth
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings

runner = CliRunner()


@pytest.fixture
def local_env(settings: Settings) -> dict[str, str]:
    return {"TOCSIN_DATABASE_URL": settings.database_url}


def test_user_and_token_create(local_env: dict[str, str], container) -> None:  # type: ignore[no-untyped-def]
    made = runner.invoke(
        app,
        [
            "user",
            "create",
            "--name",
            "Ops Bot",
            "--email",
            "OPS@example.com",
            "--role",
            "admin",
            "--password",
            "long-password",
            "--json",
        ],
        env=local_env,
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["email"] == "ops@example.com"
    again = runner.invoke(
        app,
        [
            "user",
            "create",
            "--name",
            "X",
            "--email",
            "ops@example.com",
            "--password",
            "long-password",
        ],
        env=local_env,
    )
    assert again.exit_code == 1 and "already exists" in again.output
    token = runner.invoke(app, ["token", "create", "--user", "ops@example.com"], env=local_env)
    assert token.exit_code == 0 and token.stdout.startswith("tcs_")
    with container.sessionmaker() as session:
        assert auth.user_for_api_token(session, token.stdout.strip()).email == "ops@example.com"
    unknown = runner.invoke(app, ["token", "create", "--user", "nobody@example.com"], env=local_env)
    assert unknown.exit_code == 1 and "no user with email" in unknown.output


def test_db_upgrade_is_repeatable(local_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env=local_env)
    assert result.exit_code == 0 and "up to date" in result.output


def test_worker_once_runs_due_jobs(local_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["worker", "--once"], env=local_env)
    assert result.exit_code == 0 and "ran 0 job(s)" in result.output


def test_remote_incident_commands(live_server: str, db, admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, secret = auth.create_api_token(db, admin, "cli")
    db.commit()
    env = {"TOCSIN_CLI_CONFIG": str(tmp_path / "cli.json"), "COLUMNS": "200"}
    assert runner.invoke(app, ["incident", "list"], env=env).exit_code == 1  # not logged in
    login = runner.invoke(app, ["login", live_server, "--token", secret], env=env)
    assert login.exit_code == 0, login.output
    assert oct((tmp_path / "cli.json").stat().st_mode & 0o777) == "0o600"

    declared = runner.invoke(
        app,
        [
            "incident",
            "declare",
            "Checkout failing",
            "--severity",
            "sev1",
            "--type",
            "Service outage",
            "--json",
        ],
        env=env,
    )
    assert declared.exit_code == 0, declared.output
    incident = json.loads(declared.stdout)
    assert incident["reference"] == "INC-1" and incident["severity"]["name"] == "SEV1"

    bad = runner.invoke(app, ["incident", "declare", "x", "--severity", "SEV9"], env=env)
    assert bad.exit_code == 1 and "no severity named 'SEV9'" in bad.output
    assert "Traceback" not in bad.output

    listed = runner.invoke(app, ["incident", "list", "--json"], env=env)
    assert [i["reference"] for i in json.loads(listed.stdout)["items"]] == ["INC-1"]
    table = runner.invoke(app, ["incident", "list"], env=env)
    assert "Checkout failing" in table.stdout

    assert runner.invoke(app, ["incident", "ack", "INC-1"], env=env).exit_code == 0
    update = runner.invoke(
        app,
        [
            "incident",
            "update",
            "INC-1",
            "--phase",
            "identified",
            "--template",
            "--external",
            "--next-update",
            "30m",
        ],
        env=env,
    )
    assert update.exit_code == 0, update.output
    note = runner.invoke(app, ["incident", "note", "INC-1", "Rolled back", "--key"], env=env)
    assert note.exit_code == 0
    closing_early = runner.invoke(app, ["incident", "close", "INC-1"], env=env)
    assert closing_early.exit_code == 1 and "cannot move to closed" in closing_early.output
    resolved = runner.invoke(
        app,
        ["incident", "resolve", "INC-1", "-m", "All fixed.", "--summary", "Rolled back.", "--json"],
        env=env,
    )
    assert json.loads(resolved.stdout)["status"] == "resolved"
    assert json.loads(resolved.stdout)["resolution_summary"] == "Rolled back."
    assert runner.invoke(app, ["incident", "close", "INC-1"], env=env).exit_code == 0
    shown = runner.invoke(app, ["incident", "show", "INC-1", "--json"], env=env)
    data = json.loads(shown.stdout)
    assert data["status"] == "closed"
    assert [u["phase"] for u in data["updates"]] == ["resolved", "identified"]
    assert any(e["body"] == "Rolled back" and e["is_key_event"] for e in data["timeline"])


def test_remote_commands_take_the_server_from_flags_then_the_environment_then_the_login(
    live_server: str, db, admin: User, responder: User, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Scripts and CI set TOCSIN_URL and TOCSIN_TOKEN; --url and --token win over them; the
    saved login is the last resort, and its token never goes to another server."""
    _, admin_token = auth.create_api_token(db, admin, "ci")
    _, rita_token = auth.create_api_token(db, responder, "laptop")
    db.commit()
    config = tmp_path / "cli.json"
    bare = {"TOCSIN_CLI_CONFIG": str(config), "TOCSIN_URL": None, "TOCSIN_TOKEN": None}
    ci = {**bare, "TOCSIN_URL": live_server, "TOCSIN_TOKEN": admin_token}

    declared = runner.invoke(
        app, ["incident", "declare", "From CI", "--urgency", "none", "--json"], env=ci
    )
    assert declared.exit_code == 0, declared.output
    incident = json.loads(declared.stdout)
    assert incident["created_by"]["email"] == admin.email  # the environment's token
    assert incident["declared_without_paging"] is True
    assert not config.exists()  # nothing saved

    flags = runner.invoke(
        app,
        ["incident", "declare", "By hand", "--url", live_server, "--token", rita_token, "--json"],
        env={**ci, "TOCSIN_URL": "http://127.0.0.1:9", "TOCSIN_TOKEN": "tcs_wrong"},
    )  # fmt: skip
    assert flags.exit_code == 0, flags.output
    assert json.loads(flags.stdout)["created_by"]["email"] == responder.email

    refused = runner.invoke(app, ["incident", "list"], env={**ci, "TOCSIN_TOKEN": "tcs_wrong"})
    assert refused.exit_code == 1 and "the token from TOCSIN_TOKEN was refused" in refused.output

    # A saved login: the environment's token still wins, with the saved server's address.
    assert (
        runner.invoke(app, ["login", live_server, "--token", rita_token], env=bare).exit_code == 0
    )
    listed = runner.invoke(app, ["incident", "list", "--json"], env=bare)
    assert json.loads(listed.stdout)["total"] == 2
    mine = runner.invoke(
        app, ["incident", "declare", "Env token", "--json"],
        env={**bare, "TOCSIN_TOKEN": admin_token},
    )  # fmt: skip
    assert json.loads(mine.stdout)["created_by"]["email"] == admin.email
    # Another server from the environment: the saved token is not sent there.
    elsewhere = runner.invoke(
        app, ["incident", "list"], env={**bare, "TOCSIN_URL": "http://127.0.0.1:9"}
    )
    assert elsewhere.exit_code == 1
    assert "no API token for http://127.0.0.1:9: set TOCSIN_TOKEN" in elsewhere.output
    bad = runner.invoke(app, ["incident", "list"], env={**ci, "TOCSIN_URL": "tocsin.local"})
    assert bad.exit_code == 1 and "TOCSIN_URL: the server's address must start" in bad.output
    # `tocsin login` reads them too.
    config.unlink()
    assert runner.invoke(app, ["login"], env=ci).exit_code == 0
    assert json.loads(config.read_text()) == {"url": live_server, "token": admin_token}


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    env = {"TOCSIN_CLI_CONFIG": str(tmp_path / "cli.json")}
    result = runner.invoke(app, ["login", "http://127.0.0.1:9", "--token", "tcs_x"], env=env)
    assert result.exit_code == 1 and "cannot reach http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_integration_create_prints_key_and_url(local_env: dict[str, str], container) -> None:  # type: ignore[no-untyped-def]
    from tocsin.alerts import service as alerts
    from tocsin.catalog import service as catalog

    with container.sessionmaker.begin() as session:
        catalog.create_service(session, name="Checkout")
    made = runner.invoke(
        app, ["integration", "create", "--service", "checkout", "--json"], env=local_env
    )
    assert made.exit_code == 0, made.output
    out = json.loads(made.stdout)
    assert out["url"].endswith("/v2/enqueue") and len(out["key"]) == 32
    hook = runner.invoke(
        app,
        ["integration", "create", "--service", "Checkout", "--type", "grafana", "--json"],
        env=local_env,
    )
    assert json.loads(hook.stdout)["url"].endswith(f"/hooks/{json.loads(hook.stdout)['key']}")
    with container.sessionmaker() as session:
        assert alerts.integration_by_key(session, out["key"]).service.name == "Checkout"
    hook = runner.invoke(
        app,
        ["integration", "create", "--service", "checkout", "--type", "alertmanager"],
        env=local_env,
    )
    assert hook.exit_code == 0, hook.output
    assert "key (in the URL)" in hook.output and "/hooks/" in hook.output
    missing = runner.invoke(app, ["integration", "create", "--service", "nope"], env=local_env)
    assert missing.exit_code == 1 and "no service named" in missing.output


def test_apply_prints_new_integration_keys_once(local_env: dict[str, str], container) -> None:  # type: ignore[no-untyped-def]
    from tocsin.alerts import service as alerts

    example = Path(__file__).resolve().parents[2] / "examples" / "tocsin.yaml"
    env = {**local_env, "COLUMNS": "200"}
    dry = runner.invoke(app, ["apply", "-f", str(example), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would create integration 'Prometheus' of 'Checkout'" in dry.output
    assert "would create postmortem template of 'Payment failure' (4 sections)" in dry.output
    assert "shown once" not in dry.output
    applied = runner.invoke(app, ["apply", "-f", str(example)], env=env)
    assert applied.exit_code == 0, applied.output
    lines = applied.output.splitlines()
    shown = [line for line in lines if line.startswith("key of integration 'Prometheus'")]
    key = shown[0].rsplit(" ", 1)[1]
    url = lines[lines.index(shown[0]) + 1].split("sender URL: ")[1]
    assert url.endswith(f"/hooks/{key}")
    with container.sessionmaker() as session:
        found = alerts.integration_by_key(session, key)
        assert found is not None and found.name == "Prometheus"
    again = runner.invoke(app, ["apply", "-f", str(example)], env=env)
    assert again.output.strip() == "no changes"


def _send_event(url: str, key: str, dedup: str, action: str = "trigger") -> None:
    import httpx

    body = {
        "routing_key": key,
        "event_action": action,
        "dedup_key": dedup,
        "payload": {"summary": f"alert {dedup}", "source": "cli-test", "severity": "error"},
    }
    assert httpx.post(f"{url}/v2/enqueue", json=body, timeout=30).status_code == 202


def test_events_tail_and_integration_list(  # type: ignore[no-untyped-def]
    live_server: str, db, admin: User, tmp_path: Path, container
) -> None:
    import threading

    from tests.conftest import settle
    from tocsin.alerts import service as alerts
    from tocsin.catalog import service as catalog

    web = catalog.create_service(db, name="Web")
    integration, key = alerts.create_integration(db, service_id=web.id, name="prom")
    _, secret = auth.create_api_token(db, admin, "cli")
    db.commit()
    env = {"TOCSIN_CLI_CONFIG": str(tmp_path / "cli.json"), "COLUMNS": "200"}
    assert runner.invoke(app, ["login", live_server, "--token", secret], env=env).exit_code == 0

    listed = runner.invoke(app, ["integration", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [i["name"] for i in json.loads(listed.stdout)["items"]] == ["prom"]
    assert key not in listed.stdout
    shown = runner.invoke(app, ["integration", "list", "--service", "web"], env=env)
    assert "prom" in shown.stdout and f"{key[:8]}…" in shown.stdout

    _send_event(live_server, key, "disk-full")
    _send_event(live_server, key, "disk-full")
    _send_event(live_server, key, "disk-full", action="resolve")
    settle(container)
    tailed = runner.invoke(app, ["events", "tail", "--since-id", "0", "--count", "2"], env=env)
    assert tailed.exit_code == 0, tailed.output
    lines = tailed.stdout.splitlines()
    assert len(lines) == 2
    assert "prom  trigger  disk-full  created_alert" in lines[0]
    assert "prom  trigger  disk-full  deduplicated" in lines[1]

    resolved = runner.invoke(
        app,
        ["events", "tail", "--since-id", "0", "--outcome", "resolved", "--json", "--timeout", "0"],
        env=env,
    )
    assert resolved.exit_code == 0, resolved.output
    assert [json.loads(line)["action"] for line in resolved.stdout.splitlines()] == ["resolve"]

    # Following: started first, it shows only what arrives after it started.
    def later() -> None:
        time.sleep(1.0)
        _send_event(live_server, key, "cpu-high")

    sender = threading.Thread(target=later)
    sender.start()
    followed = runner.invoke(
        app,
        ["events", "tail", "--integration", "prom", "--json", "--count", "1", "--timeout", "20"],
        env=env,
    )
    sender.join()
    assert followed.exit_code == 0, followed.output
    event = json.loads(followed.stdout)
    assert event["dedup_key"] == "cpu-high" and event["outcome"] == "created_alert"

    # A refused body is kept as a `rejected` event: following shows it like any other.
    import httpx

    refused = {"routing_key": key, "event_action": "trigger", "payload": {"source": "x"}}
    assert httpx.post(f"{live_server}/v2/enqueue", json=refused, timeout=30).status_code == 400
    settle(container)
    after = ["--since-id", str(event["id"]), "--json", "--count", "1", "--timeout", "20"]
    rejected = runner.invoke(app, ["events", "tail", *after], env=env)
    assert rejected.exit_code == 0, rejected.output
    assert json.loads(rejected.stdout)["outcome"] == "rejected"
    only_rejected = ["--since-id", "0", "--outcome", "rejected", "--timeout", "0"]
    only = runner.invoke(app, ["events", "tail", *only_rejected], env=env)
    assert only.exit_code == 0, only.output
    assert "rejected" in only.stdout and "created_alert" not in only.stdout

    unknown = runner.invoke(app, ["events", "tail", "--integration", "nope"], env=env)
    assert unknown.exit_code == 1 and "no integration named 'nope'" in unknown.output
    bad = runner.invoke(app, ["events", "tail", "--outcome", "exploded"], env=env)
    assert bad.exit_code == 1 and "Traceback" not in bad.output
