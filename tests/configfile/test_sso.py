"""The `sso` section of the configuration file: identity providers applied once, exported
without the client secret, changed by name; the secret read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.auth import sso
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.configfile import ConfigError, apply_file, export_yaml

FILE = """
sso:
  - name: Okta
    kind: oidc
    issuer: https://93.184.216.34/oauth2/default
    client_id: 0oa-tocsin
    client_secret: {env: TEST_OKTA_SECRET}
    require_group: true
    rules:
      - {group: sre-admins, role: admin}
      - {group: payments-oncall, role: responder, team: Payments}
"""


def _apply(db: Session, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_applied_once_exported_without_the_secret_and_changed_by_name(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("TOCSIN_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("TEST_OKTA_SECRET", "first-secret")
    catalog.create_team(db, name="Payments")
    db.commit()
    assert _apply(db, tmp_path, FILE) == ["create identity provider 'Okta'"]
    assert _apply(db, tmp_path, FILE) == []
    [provider] = sso.list_providers(db)
    assert sso.client_secret(provider, settings) == "first-secret"
    assert [(r.group, r.role, r.team.name if r.team else None) for r in provider.rules] == [
        ("sre-admins", "admin", None),
        ("payments-oncall", "responder", "Payments"),
    ]
    exported = yaml.safe_load(export_yaml(db))["sso"]
    assert "client_secret" not in exported[0]
    assert exported[0]["rules"][1] == {"group": "payments-oncall", "role": "responder",
                                       "team": "Payments"}  # fmt: skip
    # A new secret in the environment is a change, named but not shown.
    monkeypatch.setenv("TEST_OKTA_SECRET", "second-secret")
    changes = _apply(db, tmp_path, FILE.replace("require_group: true", "require_group: false"))
    assert changes == ["update identity provider 'Okta': client_secret, require_group"]
    assert "second-secret" not in changes[0]
    db.expire_all()
    assert sso.client_secret(sso.list_providers(db)[0], settings) == "second-secret"


def test_refused_with_the_field_when_wrong(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OKTA_SECRET", "s")
    with pytest.raises(ConfigError, match="Payments"):
        _apply(db, tmp_path, FILE)  # no team named Payments
    monkeypatch.delenv("TEST_OKTA_SECRET")
    catalog.create_team(db, name="Payments")
    db.commit()
    with pytest.raises(ConfigError, match="TEST_OKTA_SECRET"):
        _apply(db, tmp_path, FILE)
    with pytest.raises(ConfigError, match="colour"):
        _apply(db, tmp_path, FILE.replace("kind: oidc", "kind: oidc\n    colour: red"))
    assert sso.list_providers(db) == []
