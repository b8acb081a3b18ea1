"""Configuration as code: apply is validated, idempotent and round-trips with export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.catalog.models import Service, Team
from tocsin.configfile import ConfigError, NewKey, apply_file, export_yaml
from tocsin.definitions.models import Severity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tocsin.yaml"


def _apply(db: Session, path: Path) -> list[str]:
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_example_applies_then_changes_nothing(db: Session) -> None:
    first = _apply(db, EXAMPLE)
    assert "create team 'Payments'" in first
    assert any(c.startswith("create service 'Checkout'") for c in first)
    assert _apply(db, EXAMPLE) == []
    checkout = db.scalars(select(Service).where(Service.name == "Checkout")).one()
    assert checkout.team is not None and checkout.team.name == "Payments"


def test_export_then_apply_is_a_no_op(db: Session, tmp_path: Path) -> None:
    _apply(db, EXAMPLE)
    exported = tmp_path / "exported.yaml"
    exported.write_text(export_yaml(db))
    assert _apply(db, exported) == []
    assert yaml.safe_load(exported.read_text())["version"] == 1


def test_changes_are_reported_field_by_field(db: Session, tmp_path: Path) -> None:
    _apply(db, EXAMPLE)
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["services"][0]["tier"] = 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc))
    assert _apply(db, changed) == [f"update service '{doc['services'][0]['name']}': tier: 1 → 3"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "services:\n  - name: X\n    team: Paymnts\n",
            "bad.yaml: services[0].team: no team named 'Paymnts'",
        ),
        ("services:\n  - name: X\n    tier: high\n", "bad.yaml: services[0].tier:"),
        (
            "teams:\n  - name: A\n  - name: a\n",
            "bad.yaml: teams[1].name: 'a' is already defined at teams[0]",
        ),
        (
            "incident_types:\n  - name: T\n    fields:\n"
            "      - key: k\n        label: K\n        kind: dropdown\n",
            "bad.yaml: incident_types[0]",
        ),
        ("colour: red\n", "bad.yaml: colour: Extra inputs are not permitted"),
        ("teams: [\n", "bad.yaml: line"),
        ("teams: " + "[" * 100_000 + "]" * 100_000, "bad.yaml: nested too deeply"),
        ("teams:\n  - name: " + "{a: " * 100_000 + "1" + "}" * 100_000, "bad.yaml: nested"),
        ("templates:\n  panicking: hi\n", "bad.yaml: templates.panicking"),
    ],
)
def test_invalid_files_name_the_path_and_change_nothing(
    db: Session, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "teams:\n  - name: Early\n" + content if content.startswith("services") else content
    )
    with pytest.raises(ConfigError) as error:
        apply_file(db, bad)
    db.rollback()
    assert message in str(error.value)
    assert db.scalars(select(Team).where(Team.name == "Early")).first() is None


def test_alerting_creates_integrations_once_and_hands_back_their_keys(db: Session) -> None:
    keys: list[NewKey] = []
    first = apply_file(db, EXAMPLE, keys)
    db.commit()
    assert "create integration 'Prometheus' of 'Checkout' (alertmanager)" in first
    assert "create suppression rule 'Canary noise' of 'Checkout'" in first
    assert any(c.startswith("update alert settings of 'Checkout'") for c in first)
    assert [(k.service, k.integration, k.type) for k in keys] == [
        ("Checkout", "Prometheus", "alertmanager"),
        ("Checkout", "Nightly export", "heartbeat"),
    ]
    for new in keys:
        found = alerts.integration_by_key(db, new.key)
        assert found is not None and found.name == new.integration
    prometheus = alerts.integration_by_key(db, keys[0].key)
    assert prometheus is not None and prometheus.routing_rules[0].service.name == "Search"
    checkout = db.scalars(select(Service).where(Service.name == "Checkout")).one()
    assert alerts.alert_settings(db, checkout.id).group_window_minutes == 30

    again: list[NewKey] = []
    assert _apply(db, EXAMPLE) == [] and apply_file(db, EXAMPLE, again) == [] and again == []


def test_alerting_changes_are_reported_and_applied(db: Session, tmp_path: Path) -> None:
    _apply(db, EXAMPLE)
    doc = yaml.safe_load(EXAMPLE.read_text())
    checkout = doc["alerting"][0]
    checkout["integrations"][0]["enabled"] = False
    checkout["integrations"][0]["routing_rules"] = []
    checkout["integrations"][1]["config"]["interval_seconds"] = 600
    checkout["suppression_rules"][1]["severity"] = "warning"
    checkout["settings"]["auto_resolve"] = False
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc))
    lines = _apply(db, changed)
    assert lines[0] == "update alert settings of 'Checkout': auto_resolve: True → False"
    assert lines[1] == "update integration 'Prometheus' of 'Checkout': enabled: True → False"
    assert lines[2].startswith("update routing rules of integration 'Prometheus'")
    assert lines[3].startswith("update integration 'Nightly export' of 'Checkout': config:")
    assert lines[4] == (
        "update suppression rule 'Staging is not urgent' of 'Checkout': "
        "severity: 'info' → 'warning'"
    )
    assert len(lines) == 5 and _apply(db, changed) == []
    exported = tmp_path / "exported.yaml"
    exported.write_text(export_yaml(db))
    assert _apply(db, exported) == []
    assert yaml.safe_load(exported.read_text())["alerting"][0]["integrations"][1] == {
        "name": "Prometheus",
        "type": "alertmanager",
        "enabled": False,
    }


ALERTING = "services:\n  - name: Web\nalerting:\n  - service: Web\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "    integrations:\n      - name: P\n        routing_rules:\n"
            "          - service: Nowhere\n            matchers: [{field: summary, value: x}]\n",
            "bad.yaml: alerting[0].integrations[0].routing_rules[0].service: "
            "no service named 'Nowhere'",
        ),
        (
            "    integrations:\n      - {name: P, type: carrier-pigeon}\n",
            "bad.yaml: alerting[0].integrations[0].type: type must be one of",
        ),
        (
            "    integrations:\n      - {name: P}\n      - {name: p}\n",
            "bad.yaml: alerting[0].integrations[1].name: 'p' is already defined",
        ),
        (
            "    suppression_rules:\n      - name: S\n        matchers: [{field: nope}]\n",
            "bad.yaml: alerting[0].suppression_rules[0].matchers",
        ),
        (
            "    settings: {grouping: fields}\n",
            "bad.yaml: alerting[0].settings.group_fields: grouping by fields needs group_fields",
        ),
        (
            "    integrations:\n      - {name: P, key: abc}\n",
            "bad.yaml: alerting[0].integrations[0].key: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_alerting_names_the_path_and_changes_nothing(
    db: Session, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(ALERTING + content)
    with pytest.raises(ConfigError) as error:
        apply_file(db, bad)
    db.rollback()
    assert message in str(error.value)
    assert db.scalars(select(Service).where(Service.name == "Web")).first() is None


def test_an_integration_type_cannot_change(db: Session, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text(ALERTING + "    integrations:\n      - {name: P, type: pagerduty}\n")
    _apply(db, first)
    second = tmp_path / "second.yaml"
    second.write_text(ALERTING + "    integrations:\n      - {name: P, type: grafana}\n")
    with pytest.raises(ConfigError) as error:
        apply_file(db, second)
    assert "alerting[0].integrations[0].type: is a pagerduty integration" in str(error.value)


def test_a_severitys_default_urgency_is_configuration(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "severities.yaml"
    path.write_text(
        "severities:\n"
        "  - {name: SEV3, label: Moderate, rank: 3, default_urgency: low}\n"
        "  - {name: SEV5, label: Cosmetic, rank: 5, default_urgency: low}\n"
    )
    changes = _apply(db, path)
    assert changes[0].endswith("default_urgency: 'high' → 'low'")
    assert "create severity 'SEV5'" in changes
    sevs = {s.name: s.default_urgency for s in db.scalars(select(Severity))}
    assert (sevs["SEV3"], sevs["SEV4"], sevs["SEV5"]) == ("low", "low", "low")
    exported = yaml.safe_load(export_yaml(db))["severities"]
    assert {s["name"]: s["default_urgency"] for s in exported}["SEV1"] == "high"
    path.write_text("severities:\n  - {name: SEV1, label: Critical, default_urgency: urgent}\n")
    with pytest.raises(ConfigError, match=r"severities\[0\]\.default_urgency: .*high, low"):
        apply_file(db, path)
