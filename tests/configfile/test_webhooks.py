"""The `webhooks` section of the configuration file: applied once, exported without URLs,
changed by name, refused with the field when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.webhooks import service as webhooks

FILE = """
webhooks:
  - name: Warehouse
    url: https://93.184.216.34/hooks/secret-token
    events: [incident.declared, incident.resolved]
    severities: [SEV1]
    teams: [Payments]
    include_restricted: true
"""


def _apply(db: Session, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_applied_once_exported_without_its_url_and_changed_by_name(
    db: Session, tmp_path: Path
) -> None:
    catalog.create_team(db, name="Payments")
    db.commit()
    assert _apply(db, tmp_path, FILE) == ["create webhook 'Warehouse'"]
    assert _apply(db, tmp_path, FILE) == []
    [subscription] = webhooks.list_subscriptions(db)
    assert subscription.url == "https://93.184.216.34/hooks/secret-token"
    assert subscription.include_restricted and not subscription.include_drills

    exported = yaml.safe_load(export_yaml(db))["webhooks"]
    assert exported == [
        {
            "name": "Warehouse",
            "events": ["incident.declared", "incident.resolved"],
            "severities": ["SEV1"],
            "services": [],
            "teams": ["Payments"],
            "incident_types": [],
            "include_drills": False,
            "include_restricted": True,
            "enabled": True,
        }
    ]
    # The export applied back keeps the stored URL.
    assert _apply(db, tmp_path, yaml.safe_dump({"webhooks": exported})) == []
    changed = FILE.replace("severities: [SEV1]", "severities: [SEV1, SEV2]")
    assert _apply(db, tmp_path, changed) == ["update webhook 'Warehouse': severity_ids"]


def test_refused_with_the_field(db: Session, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as unknown:
        _apply(db, tmp_path, FILE)  # no team named Payments
    assert "Payments" in str(unknown.value)
    no_url = "webhooks:\n  - name: New\n    events: [incident.declared]\n"
    with pytest.raises(ConfigError) as missing:
        _apply(db, tmp_path, no_url)
    assert "url is required" in str(missing.value)
    private = no_url + "    url: http://10.0.0.1/hook\n"
    with pytest.raises(ConfigError) as refused:
        _apply(db, tmp_path, private)
    assert "not a public internet address" in str(refused.value)
