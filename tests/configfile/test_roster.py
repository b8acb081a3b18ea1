"""The `roster` section of the configuration file: roles by slug, people by email, schedules
by name; applied once, exported and applied back without change, refused naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.roster import service as roster
from tocsin.schedules import service as schedules

FILE = """
users:
  - name: Ben Backup
    email: ben@example.com
schedules:
  - name: IC rotation
roster:
  - role: incident_commander
    primary: {schedule: IC rotation}
    backup: {user: Ben@Example.com}
  - role: comms_internal
    primary: {user: ben@example.com}
"""


def _apply(db: Session, tmp_path: Path, text: str, *, dry_run: bool = False) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    if dry_run:
        db.rollback()
    else:
        db.commit()
    return changes


def test_applied_once_exported_and_applied_back_without_change(db: Session, tmp_path: Path) -> None:
    # A dry run (tocsin apply --dry-run) lists the changes and keeps none.
    would = _apply(db, tmp_path, FILE, dry_run=True)
    assert "create roster entry 'incident_commander'" in would
    assert roster.entries(db) == []

    changes = _apply(db, tmp_path, FILE)
    assert changes[-2:] == [
        "create roster entry 'incident_commander'",
        "create roster entry 'comms_internal'",
    ]
    assert _apply(db, tmp_path, FILE) == []
    ic, comms = roster.entries(db)
    assert ic.primary_schedule is not None and ic.primary_schedule.name == "IC rotation"
    assert ic.backup_user is not None and ic.backup_user.email == "ben@example.com"
    assert comms.primary_user is not None and comms.backup_user is None

    exported = yaml.safe_load(export_yaml(db))
    assert exported["roster"] == [
        {"role": "incident_commander", "primary": {"schedule": "IC rotation"},
         "backup": {"user": "ben@example.com"}},
        {"role": "comms_internal", "primary": {"user": "ben@example.com"}, "backup": None},
    ]  # fmt: skip
    assert _apply(db, tmp_path, yaml.safe_dump(exported)) == []
    # A person deactivated since: the export still applies as no change.
    comms.primary_user.active = False
    db.commit()
    assert _apply(db, tmp_path, export_yaml(db)) == []
    comms.primary_user.active = True
    db.commit()

    swapped = FILE.replace("backup: {user: Ben@Example.com}", "backup: null")
    assert _apply(db, tmp_path, swapped) == [
        "update roster entry 'incident_commander': backup: user ben@example.com → nobody"
    ]
    assert roster.entries(db)[0].backup_user is None


def test_unknown_names_are_refused_naming_the_path_and_change_nothing(
    db: Session, tmp_path: Path
) -> None:
    catalog.create_user(db, name="Ben", email="ben@example.com")
    gone = catalog.create_user(db, name="Gone", email="gone@example.com")
    gone.active = False
    schedules.create_schedule(db, name="IC rotation", timezone="UTC")
    db.commit()
    cases = {
        "roster:\n  - role: incident_commander\n    primary: {schedule: Nope}\n":
            "roster[0].primary: no schedule named 'Nope'",
        "roster:\n  - role: incident_commander\n  - role: scribe\n    backup: {user: x@y.z}\n":
            "roster[1].backup: no user with email 'x@y.z'",
        "roster:\n  - role: no_such_role\n": "roster[0].role: no role with slug 'no_such_role'",
        "roster:\n  - role: scribe\n    primary: {user: gone@example.com}\n":
            "roster[0].primary: Gone is deactivated",
        "roster:\n  - role: incident_commander\n    primary: {team: Ops}\n":
            "roster[0].primary: Value error, a slot is {user: an email}",
        "roster:\n  - role: incident_commander\n  - role: Incident_Commander\n":
            "'Incident_Commander' is already defined at roster[0]",
    }  # fmt: skip
    for text, message in cases.items():
        with pytest.raises(ConfigError) as refused:
            _apply(db, tmp_path, text)
        assert message in str(refused.value), str(refused.value)
        db.rollback()
    assert roster.entries(db) == []
