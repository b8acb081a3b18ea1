"""The `status_pages` section of the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.statuspages import service

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tocsin.yaml"


def _apply(db: Session, path: Path) -> list[str]:
    changes = apply_file(db, path)
    db.commit()
    return changes


def test_pages_groups_and_components_from_the_file(db: Session, tmp_path: Path) -> None:
    changes = _apply(db, EXAMPLE)
    assert "create status page 'acme'" in changes
    assert "create group 'Shopping' of status page 'acme'" in changes
    page = service.get_page(db, "acme")
    assert (page.name, page.time_zone, page.owner_team.name) == (  # type: ignore[union-attr]
        "Acme Status", "Europe/London", "Platform",
    )  # fmt: skip
    [shopping] = page.groups
    assert [(c.name, c.service.name) for c in shopping.components] == [  # type: ignore[union-attr]
        ("Checkout", "Checkout"), ("Search", "Search"),
    ]  # fmt: skip
    assert [c.name for c in service.top_level(page)] == ["Shopping", "Help centre"]
    assert _apply(db, EXAMPLE) == [], "applying it again changes nothing"

    edited = tmp_path / "edited.yaml"
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["status_pages"][0]["groups"][0]["components"][1]["description"] = "Find anything"
    edited.write_text(yaml.safe_dump(doc))
    assert _apply(db, edited) == ["update component 'Search' of status page 'acme': description"]

    exported = tmp_path / "exported.yaml"
    exported.write_text(export_yaml(db))
    assert "status_pages:" in exported.read_text()
    assert _apply(db, exported) == []


def test_a_bad_reference_names_its_place(db: Session, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "status_pages:\n  - slug: x\n    name: X\n    groups:\n      - name: G\n"
        "        components:\n          - name: C\n            service: Nope\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"status_pages\[0\]\.groups\[0\]\.components\[0\]\.service: no service named 'Nope'",
    ):  # noqa: E501
        apply_file(db, bad)
