"""Contact methods and rules as configuration: applied once, exported without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.notify import methods
from tocsin.notify.service import contact_methods

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"


def _apply(db: Session, tmp_path: Path, doc: dict) -> list[str]:  # type: ignore[type-arg]
    path = tmp_path / "tocsin.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **doc}))
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_methods_and_rules_apply_once_and_export_without_secrets(
    db: Session, tmp_path: Path, responder: User
) -> None:
    doc = {
        "notifications": [
            {
                "user": "Rita@example.com",
                "contact_methods": [
                    {"label": "Work", "kind": "email", "target": "rita@example.com"},
                    {"label": "Slack", "kind": "apprise", "target": SLACK},
                ],
                "rules": [
                    {"urgency": "high", "delay_minutes": 0, "contact_method": "Slack"},
                    {"urgency": "high", "delay_minutes": 5, "contact_method": "Work"},
                ],
            }
        ]
    }
    changes = _apply(db, tmp_path, doc)
    assert "create contact method 'Slack' for rita@example.com" in changes
    assert "set 2 notification rule(s) for rita@example.com" in changes
    assert _apply(db, tmp_path, doc) == []
    rules = methods.rules_of(db, responder)
    assert [(r.position, r.delay_minutes, r.contact_method.label) for r in rules] == [
        (1, 0, "Slack"),
        (2, 5, "Work"),
    ]
    exported = export_yaml(db)
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in exported
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    assert apply_file(db, path) == []
    assert {m.target for m in contact_methods(db, responder)} == {"rita@example.com", SLACK}


def test_bad_notification_settings_name_the_path_and_change_nothing(
    db: Session, tmp_path: Path
) -> None:
    catalog.create_user(db, name="Ann", email="ann@example.com")
    db.commit()
    doc = {
        "notifications": [
            {
                "user": "ann@example.com",
                "contact_methods": [{"label": "Mail", "kind": "email", "target": "nope"}],
            }
        ]
    }
    with pytest.raises(ConfigError, match=r"notifications\[0\]\.contact_methods\[0\]\.target"):
        _apply(db, tmp_path, doc)
    db.rollback()
    doc["notifications"][0]["contact_methods"][0]["target"] = "ann@example.com"
    doc["notifications"][0]["rules"] = [{"urgency": "high", "contact_method": "Phone"}]
    with pytest.raises(ConfigError, match=r"rules\[0\]\.contact_method"):
        _apply(db, tmp_path, doc)
    db.rollback()
    assert contact_methods(db, catalog.user_by_email(db, "ann@example.com")) == []  # type: ignore[arg-type]


def test_demo_people_can_be_paged_by_email(db: Session) -> None:
    from sqlalchemy import select

    from tocsin.demo.seed import seed_demo

    assert seed_demo(db, "boss@example.org", "a-good-password")
    db.commit()
    for person in db.scalars(select(User)):
        kinds = [m.kind for m in contact_methods(db, person)]
        assert "email" in kinds, person.email
        assert any(r.urgency == "high" for r in methods.rules_of(db, person))
