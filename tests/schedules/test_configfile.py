"""The `schedules:` section of the configuration file: apply, idempotence, export, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.schedules.models import Schedule

DOC = {
    "users": [
        {"name": "Ann", "email": "ann@example.com"},
        {"name": "Bob", "email": "bob@example.com"},
    ],
    "schedules": [
        {
            "name": "Follow the sun",
            "timezone": "UTC",
            "layers": [
                {"name": "Europe", "shift_unit": "days", "timezone": "Europe/London",
                 "start_date": "2026-01-05", "handoff_time": "08:00",
                 "members": ["ann@example.com"],
                 "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                   "start": "08:00", "end": "20:00"}]},
                {"name": "Americas", "shift_unit": "days", "timezone": "America/New_York",
                 "start_date": "2026-01-05", "members": ["BOB@example.com", "ann@example.com"],
                 "end": "2027-01-01T00:00:00+00:00"},
            ],
        }
    ],
}  # fmt: skip


def _apply(db, tmp_path: Path, doc: dict) -> list[str]:  # type: ignore[no-untyped-def,type-arg]
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump(doc))
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_schedules_apply_idempotently_and_round_trip(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = _apply(db, tmp_path, DOC)
    assert "create schedule 'Follow the sun'" in first
    assert "create layer 'Americas' of schedule 'Follow the sun'" in first
    assert _apply(db, tmp_path, DOC) == []
    schedule = db.scalar(select(Schedule))
    assert [layer.name for layer in schedule.layers] == ["Europe", "Americas"]
    exported = yaml.safe_load(export_yaml(db))
    assert exported["schedules"][0]["layers"][1]["members"] == [
        "bob@example.com",
        "ann@example.com",
    ]
    assert _apply(db, tmp_path, exported) == []
    changed = yaml.safe_load(yaml.safe_dump(DOC))
    changed["schedules"][0]["layers"].reverse()
    changed["schedules"][0]["layers"][0]["handoff_time"] = "07:00"
    lines = _apply(db, tmp_path, changed)
    assert lines == [
        "update layer 'Americas' of schedule 'Follow the sun': handoff_time",
        "reorder layers of schedule 'Follow the sun'",
    ]
    db.expire_all()
    assert [layer.name for layer in schedule.layers] == ["Americas", "Europe"]


def test_bad_layers_are_refused_with_where(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = yaml.safe_load(yaml.safe_dump(DOC))
    bad["schedules"][0]["layers"][1]["members"] = ["zed@example.com"]
    with pytest.raises(
        ConfigError, match=r"schedules\[0\]\.layers\[1\]\.members: .*zed@example.com"
    ):
        _apply(db, tmp_path, bad)
    bad["schedules"][0]["layers"][1]["members"] = []
    with pytest.raises(ConfigError, match="at least one member"):
        _apply(db, tmp_path, bad)
    db.rollback()
    assert db.scalar(select(Schedule)) is None
