"""The `runbooks` section of the configuration file: created, unchanged on a second apply,
a new version when the text changes, exported, and refused with the path when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.runbooks import service

FILE = """
services:
  - name: Checkout
runbooks:
  - name: Checkout down
    incident_type: Service outage
    services: [Checkout]
    auto_attach: true
    body: |
      - [ ] Roll back the last deploy (role: sme)
      - [ ] Tell support (role: support_lead)
"""


def _apply(db: Session, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def _book(db: Session, name: str = "Checkout down"):  # type: ignore[no-untyped-def]
    return next(r for r in service.list_runbooks(db) if r.name == name)


def test_apply_twice_then_change_the_text(db: Session, tmp_path: Path) -> None:
    changes = _apply(db, tmp_path, FILE)
    assert "create runbook 'Checkout down'" in changes
    book = _book(db)
    assert book.auto_attach and [s.name for s in book.services] == ["Checkout"]
    assert book.incident_type is not None and book.incident_type.name == "Service outage"
    assert _apply(db, tmp_path, FILE) == []
    changed = FILE.replace("Tell support", "Tell customer support")
    assert len(_apply(db, tmp_path, changed)) == 1
    assert _book(db).current_version == 2


def test_export_includes_runbooks_and_applies_as_no_change(db: Session, tmp_path: Path) -> None:
    _apply(db, tmp_path, FILE)
    exported = export_yaml(db)
    names = [r["name"] for r in yaml.safe_load(exported)["runbooks"]]
    assert "Checkout down" in names and "Security incident checklist" in names
    assert _apply(db, tmp_path, exported) == []


def test_unknown_role_names_the_path(db: Session, tmp_path: Path) -> None:
    bad = FILE.replace("(role: sme)", "(role: wizard)")
    with pytest.raises(ConfigError, match=r"runbooks\[0\]\.body: .*wizard"):
        _apply(db, tmp_path, bad)
