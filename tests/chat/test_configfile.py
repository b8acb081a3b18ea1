"""The `chat` section of the configuration file: credentials named by environment variable,
applied once, exported without them, the export applied back changes nothing; and the
`tocsin chat` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tocsin.chat import connections
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.configfile import ConfigError, apply_file, export_yaml

# Public addresses written as IP literals: the outbound guard of `tocsin apply` (settings from
# the environment) allows them without a DNS lookup, and nothing is sent to them.
FILE = """
chat:
  - name: Acme Slack
    vendor: slack
    base_url: https://93.184.216.34/api/
    team: T0123ABCD
    bot_user_id: U0123ABCD
    channel_severities: [SEV1, sev2]
    naming: "inc-{number}-{title}"
    archive_after_minutes: 60
    announce_channel: C0ANNOUNCE
    secrets:
      bot_token: {env: TEST_CHAT_SLACK_TOKEN}
      signing_secret: {env: TEST_CHAT_SLACK_SIGNING}
  - name: Acme Matrix
    vendor: matrix
    base_url: https://93.184.216.34
    team: example.org
    bot_user_id: "@tocsin:example.org"
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The credentials' variables, as the operator's environment holds them."""
    monkeypatch.setenv("TEST_CHAT_SLACK_TOKEN", "xoxb-from-the-environment")
    monkeypatch.setenv("TEST_CHAT_SLACK_SIGNING", "signing-from-the-environment")
    return monkeypatch


def _apply(db: Session, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_applied_once_exported_without_secrets_and_the_export_changes_nothing(
    db: Session, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    assert _apply(db, tmp_path, FILE) == [
        "create chat connection 'Acme Slack'",
        "create chat connection 'Acme Matrix'",
    ]
    assert _apply(db, tmp_path, FILE) == []
    slack = connections.connection_named(db, "acme slack")
    assert connections.secrets_of(slack, Settings()) == {
        "bot_token": "xoxb-from-the-environment",
        "signing_secret": "signing-from-the-environment",
    }
    assert slack.announce_channel == "C0ANNOUNCE" and slack.archive_after_minutes == 60

    text = export_yaml(db)
    assert "from-the-environment" not in text and "secrets" not in text
    exported = yaml.safe_load(text)["chat"]
    assert exported[1] == {
        "name": "Acme Slack",
        "vendor": "slack",
        "base_url": "https://93.184.216.34/api/",
        "team": "T0123ABCD",
        "bot_user_id": "U0123ABCD",
        "enabled": True,
        "channel_severities": ["SEV1", "SEV2"],
        "naming": "inc-{number}-{title}",
        "archive_after_minutes": 60,
        "announce_channel": "C0ANNOUNCE",
    }
    # The export applied back, without credentials, changes nothing and keeps them.
    assert _apply(db, tmp_path, yaml.safe_dump({"chat": exported})) == []
    assert connections.secrets_of(slack, Settings())["bot_token"] == "xoxb-from-the-environment"

    env.setenv("TEST_CHAT_SLACK_TOKEN", "xoxb-rotated")
    changed = FILE.replace("[SEV1, sev2]", "[SEV1]")
    assert _apply(db, tmp_path, changed) == [
        "update chat connection 'Acme Slack': channel_severities, secrets"
    ]
    assert connections.secrets_of(slack, Settings())["bot_token"] == "xoxb-rotated"
    assert "xoxb-rotated" not in export_yaml(db)


def test_an_unset_variable_or_a_wrong_field_is_refused_with_its_place(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_CHAT_SLACK_TOKEN", raising=False)
    monkeypatch.setenv("TEST_CHAT_SLACK_SIGNING", "set")
    with pytest.raises(ConfigError) as unset:
        _apply(db, tmp_path, FILE)
    assert "chat[0].secrets.bot_token" in str(unset.value)
    assert "TEST_CHAT_SLACK_TOKEN" in str(unset.value) and "not set" in str(unset.value)
    monkeypatch.setenv("TEST_CHAT_SLACK_TOKEN", "set")
    with pytest.raises(ConfigError) as severity:
        _apply(db, tmp_path, FILE.replace("[SEV1, sev2]", "[SEV7]"))
    assert "chat[0].channel_severities" in str(severity.value) and "SEV7" in str(severity.value)
    with pytest.raises(ConfigError) as shape:
        _apply(db, tmp_path, FILE.replace("{env: TEST_CHAT_SLACK_SIGNING}", "plain-text"))
    assert "chat[0].secrets.signing_secret" in str(shape.value)
    db.rollback()
    assert connections.list_connections(db) == []


def test_the_cli_lists_connections_and_prints_the_matrix_registration(
    db: Session, tmp_path: Path, env: pytest.MonkeyPatch, settings: Settings
) -> None:
    _apply(db, tmp_path, FILE)
    env.setenv("TOCSIN_DATABASE_URL", settings.database_url)
    env.setenv("TOCSIN_BASE_URL", "https://tocsin.example.com")
    runner = CliRunner()
    listed = runner.invoke(app, ["chat", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in yaml.safe_load(listed.output)}
    matrix = connections.connection_named(db, "Acme Matrix")
    assert rows["Acme Matrix"]["inbound_urls"] == {
        "appservice": f"https://tocsin.example.com/chat/{matrix.id}"
    }
    assert "from-the-environment" not in listed.output

    printed = runner.invoke(app, ["chat", "matrix-registration", "acme matrix"])
    assert printed.exit_code == 0, printed.output
    reg = yaml.safe_load(printed.output)
    assert reg["as_token"] == connections.secrets_of(matrix, Settings())["as_token"]
    assert reg["url"] == f"https://tocsin.example.com/chat/{matrix.id}"
    refused = runner.invoke(app, ["chat", "matrix-registration", "Acme Slack"])
    assert refused.exit_code != 0 and "not a Matrix connection" in refused.output
    missing = runner.invoke(app, ["chat", "matrix-registration", "Nope"])
    assert missing.exit_code != 0 and "no chat connection named 'Nope'" in missing.output
