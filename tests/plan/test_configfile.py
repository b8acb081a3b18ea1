"""The `plan` section of the configuration file: planned, applied once, exported, refused
with the path when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.plan import service

FILE = """
plan:
  what_is_an_incident: |
    - Customers cannot pay
    - Data may have leaked
  values: "**Always blameless.**"
"""


def _write(tmp_path: Path, text: str, name: str = "tocsin.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _apply(db: Session, path: Path) -> list[str]:
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_the_plan_applies_once_and_a_dry_run_changes_nothing(db: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, FILE)
    planned = apply_file(db, path)
    db.rollback()
    assert planned == [
        "update response plan 'plan': what_is_an_incident: '' → '- Customers cannot pay\\n"
        "- Data may have leaked', values: '' → '**Always blameless.**'"
    ]
    assert service.texts(db) == {"what_is_an_incident": "", "values": ""}
    assert _apply(db, path) == planned
    assert _apply(db, path) == [], "applying again changes nothing"
    assert service.texts(db)["values"] == "**Always blameless.**"

    only_values = _write(tmp_path, "plan:\n  values: Learn\n", "values.yaml")
    assert _apply(db, only_values) == [
        "update response plan 'plan': values: '**Always blameless.**' → 'Learn'"
    ]
    assert service.texts(db)["what_is_an_incident"].startswith("- Customers"), "left alone"


def test_export_writes_the_plan_and_applies_as_a_no_op(db: Session, tmp_path: Path) -> None:
    _apply(db, _write(tmp_path, FILE))
    exported = export_yaml(db)
    assert yaml.safe_load(exported)["plan"] == {
        "what_is_an_incident": "- Customers cannot pay\n- Data may have leaked",
        "values": "**Always blameless.**",
    }
    assert _apply(db, _write(tmp_path, exported, "exported.yaml")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plan:\n  mission: x\n", "plan.mission: Extra inputs are not permitted"),
        ("plan:\n  values: [1]\n", "plan.values: Input should be a valid string"),
    ],
)
def test_a_wrong_plan_names_the_path(db: Session, tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        apply_file(db, _write(tmp_path, text))
