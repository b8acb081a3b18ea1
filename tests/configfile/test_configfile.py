"""Configuration as code: apply is validated, idempotent and round-trips with export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.configfile import ConfigError, apply_file, export_yaml

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
