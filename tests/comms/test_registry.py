"""The channel registry: validation that names the field, the outbound guard, masking, and
the `comms_channels` section of the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.comms import service as registry
from tocsin.comms.models import CommsChannel
from tocsin.config import Settings
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.errors import DomainError, ValidationFailed

SLACK = "slack://T1AAAAAAA/B2BBBBBBB/SecretToken3CCCCCCCCCC/#incidents"


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """The outbound guard as installed: no private or loopback targets."""
    return settings.model_copy(update={"outbound_allow_private": False})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "apprise", "target": SLACK, "severities": ["SEV9"]}, "severities",
         "severities: no severity named 'SEV9'"),
        ({"kind": "apprise", "target": SLACK, "services": ["Nope"]}, "services",
         "services: no service named 'Nope'"),
        ({"kind": "apprise", "target": "not a url"}, "target", "Apprise does not understand"),
        ({"kind": "apprise", "target": "mailto://a:b@example.com"}, "target",
         "for email, add a contact method of kind email"),
        ({"kind": "apprise"}, "target", "target is required for apprise channels"),
        ({"kind": "webhook", "target": "ftp://example.com/x"}, "target", "must be an http(s) URL"),
        ({"kind": "webhook", "target": "http://127.0.0.1:9/hook"}, "target", "loopback"),
        ({"kind": "apprise", "target": "json://10.0.0.5/hook"}, "target", "private"),
        ({"kind": "webhook", "target": "http://100.100.100.200/hook"}, "target", "not a public"),
        ({"kind": "webhook", "target": "http://[2002:7f00:1::1]/"}, "target", "6to4, embedding"),
        ({"kind": "apprise", "target": "json://100.64.0.1/hook"}, "target", "not a public"),
        ({"kind": "email", "target": "ops at example"}, "target", "not a valid email address"),
        ({"kind": "manual", "instructions": "x", "target": "x@example.com"}, "target",
         "a manual channel has no address"),
        ({"kind": "pigeon"}, "kind", "kind must be one of"),
        ({"kind": "manual", "instructions": "x", "audience": "everyone"}, "audience",
         "audience must be one of"),
        ({"kind": "manual", "instructions": "x", "cadence_minutes": 1}, "cadence_minutes",
         "between 5 and 10080"),
        ({"kind": "manual", "instructions": "x", "post_user_roles": ["viewer"]},
         "post_user_roles", "must be one of admin, responder"),
        ({"kind": "manual", "instructions": "x", "severities": "SEV1"}, "severities",
         "a list of names"),
        ({"kind": "manual", "instructions": "x", "colour": "red"}, "colour",
         "not a channel field"),
    ],
)  # fmt: skip
def test_bad_channels_are_refused_naming_the_field(
    db: Session, strict: Settings, data: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(DomainError) as caught:
        registry.create_channel(db, {"name": "#incidents", **data}, settings=strict)
    assert caught.value.field == field
    assert message in caught.value.message
    db.rollback()
    assert db.query(CommsChannel).count() == 0


def test_apprise_tokens_are_masked_and_kept(db: Session, strict: Settings) -> None:
    channel, secret = registry.create_channel(
        db, {"name": "#incidents", "kind": "apprise", "target": SLACK}, settings=strict
    )
    assert secret is None
    shown = registry.display_target(channel)
    assert shown.startswith("slack://") and "SecretToken3" not in shown
    registry.update_channel(db, channel, {"target": shown, "paused": True}, settings=strict)
    assert channel.target == SLACK and channel.paused


def test_a_refused_change_leaves_the_channel_as_it_was(
    db: Session, strict: Settings, admin: object
) -> None:
    channel, _ = registry.create_channel(
        db, {"name": "#incidents", "kind": "apprise", "target": SLACK, "severities": ["SEV1"]},
        settings=strict,
    )  # fmt: skip
    db.commit()
    with pytest.raises(ValidationFailed):
        registry.update_channel(
            db, channel, {"name": "#renamed", "severities": ["SEV2", "SEV9"]}, settings=strict
        )
    db.rollback()
    db.expire_all()
    again = db.get(CommsChannel, channel.id)
    assert again is not None and again.name == "#incidents"
    assert [s.name for s in again.severities] == ["SEV1"]


def test_a_manual_channel_needs_instructions_and_is_never_automatic(
    db: Session, strict: Settings
) -> None:
    with pytest.raises(ValidationFailed, match="say how to post") as caught:
        registry.create_channel(db, {"name": "Exec briefing", "kind": "manual"}, settings=strict)
    assert caught.value.field == "instructions"
    channel, _ = registry.create_channel(
        db, {"name": "Exec briefing", "kind": "manual", "instructions": "Call the CEO.",
             "automatic": True}, settings=strict,
    )  # fmt: skip
    assert channel.automatic is False and registry.display_target(channel) == ""


CONFIG = """
comms_channels:
  - name: "#incidents"
    kind: apprise
    target: "slack://T1AAAAAAA/B2BBBBBBB/SecretToken3CCCCCCCCCC/#incidents"
    severities: [SEV1, SEV2]
    cadence_minutes: 30
    post_incident_roles: [incident_commander, comms_internal]
  - name: Exec briefing
    kind: manual
    instructions: Call the CEO's office.
    severities: [SEV1]
  - name: Support list
    kind: email
    target: support@example.com
    audience: external
    customer_impact: "yes"
"""


def test_the_config_file_section_applies_exports_without_tokens_and_round_trips(
    db: Session, tmp_path: Path
) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(CONFIG)
    assert apply_file(db, path) == [
        "create comms channel '#incidents'",
        "create comms channel 'Exec briefing'",
        "create comms channel 'Support list'",
    ]
    db.commit()
    assert apply_file(db, path) == []
    exported = export_yaml(db)
    assert "SecretToken3" not in exported and "support@example.com" in exported
    channels = {c["name"]: c for c in yaml.safe_load(exported)["comms_channels"]}
    assert "target" not in channels["#incidents"]
    assert channels["#incidents"]["post_incident_roles"] == ["incident_commander", "comms_internal"]
    again = tmp_path / "exported.yaml"
    again.write_text(exported)
    assert apply_file(db, again) == []  # the stored Slack URL is kept
    stored = registry.channel_by_name(db, "#incidents")
    assert stored is not None and stored.target.startswith("slack://T1AAAAAAA")

    doc = yaml.safe_load(CONFIG)
    doc["comms_channels"][0]["cadence_minutes"] = 15
    doc["comms_channels"][0]["target"] = "slack://T9AAAAAAA/B9BBBBBBB/OtherToken9CCCCCCCCCCC/#ops"
    path.write_text(yaml.safe_dump(doc))
    assert apply_file(db, path) == ["update comms channel '#incidents': cadence_minutes, target"]


def test_the_config_file_names_the_bad_field(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "comms_channels:\n  - name: X\n    kind: manual\n    instructions: i\n"
        "    severities: [SEV9]\n"
    )
    with pytest.raises(ConfigError, match=r"bad.yaml: comms_channels\[0\]\.severities: .*SEV9"):
        apply_file(db, path)
    path.write_text("comms_channels:\n  - name: X\n    kind: apprise\n")
    with pytest.raises(ConfigError, match=r"comms_channels\[0\]\.target: target is required"):
        apply_file(db, path)


def test_tocsin_check_warns_about_a_channel_that_cannot_be_sent_to(
    db: Session, settings: Settings
) -> None:
    import json

    from typer.testing import CliRunner

    from tocsin.cli.main import app

    working, _ = registry.create_channel(
        db, {"name": "Support list", "kind": "email", "target": "support@example.com"}
    )
    broken, _ = registry.create_channel(
        db, {"name": "#incidents", "kind": "apprise", "target": SLACK}
    )
    registry.remember(broken, ok=False, result="failed: Slack answered 404")
    db.commit()
    result = CliRunner().invoke(
        app, ["check", "--json"], env={"TOCSIN_DATABASE_URL": settings.database_url}
    )
    findings = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "comms_channel"]
    assert findings == [
        {
            "severity": "warning",
            "check": "comms_channel",
            "subject": "#incidents",
            "message": "communication channel \u201c#incidents\u201d cannot be sent to: its last "
            "send failed (failed: Slack answered 404); updates will not reach it",
        }
    ]
