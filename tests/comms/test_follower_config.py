"""The `service_followers` section of the configuration file: applied exactly, idempotent,
exported, and bad references named by path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.comms import followers
from tocsin.configfile import ConfigError, apply_file, export_yaml

FILE = """
users:
  - {name: Ana Lopez, email: ana@example.com, role: viewer}
teams:
  - {name: Customer Support, members: [ana@example.com]}
services:
  - {name: Checkout}
  - {name: Search}
service_followers:
  - service: Checkout
    users: [Ana@Example.com, admin@example.com]
    teams: [Customer Support]
"""


def _apply(db: Session, path: Path, text: str) -> list[str]:
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def _followers(db: Session, name: str) -> list[str]:
    service = db.query(Service).filter_by(name=name).one()
    return [f.name for f in followers.followers_of(db, service)]


def test_apply_sets_exactly_the_listed_followers_and_round_trips(
    db: Session, tmp_path: Path, admin: User
) -> None:
    path = tmp_path / "tocsin.yaml"
    changes = _apply(db, path, FILE)
    assert changes[-1] == (
        "service followers 'Checkout': add ana@example.com, admin@example.com, "
        "team Customer Support"
    )
    assert _followers(db, "Checkout") == ["Ada Admin", "Ana Lopez", "Customer Support"]
    assert _apply(db, path, FILE) == []  # idempotent

    # Someone follows Search from the UI: a file that does not list Search leaves it alone.
    search = db.query(Service).filter_by(name="Search").one()
    followers.follow_service(db, search, by=admin)
    db.commit()
    smaller = FILE.replace("users: [Ana@Example.com, admin@example.com]", "users: []")
    assert _apply(db, path, smaller) == [
        "service followers 'Checkout': remove admin@example.com, ana@example.com"
    ]
    assert _followers(db, "Checkout") == ["Customer Support"]
    assert _followers(db, "Search") == ["Ada Admin"]

    exported = yaml.safe_load(export_yaml(db))
    assert exported["service_followers"] == [
        {"service": "Checkout", "users": [], "teams": ["Customer Support"]},
        {"service": "Search", "users": ["admin@example.com"], "teams": []},
    ]
    assert _apply(db, path, export_yaml(db)) == []


def test_a_deactivated_follower_survives_an_export_but_cannot_be_added(
    db: Session, tmp_path: Path, admin: User, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    followers.follow_service(db, checkout, by=viewer)
    catalog.update_user(db, viewer, {"active": False})
    db.commit()
    path = tmp_path / "tocsin.yaml"
    assert _apply(db, path, export_yaml(db)) == []
    gone = catalog.create_user(db, name="Gone", email="gone@example.com")
    catalog.update_user(db, gone, {"active": False})
    db.commit()
    text = "service_followers:\n  - service: Checkout\n    users: [gone@example.com]\n"
    with pytest.raises(ConfigError, match=r"service_followers\[0\]\.users: gone@example.com's"):
        _apply(db, path, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "service_followers:\n  - service: Nope\n",
            "bad.yaml: service_followers[0].service: no service named 'Nope'",
        ),
        (
            "service_followers:\n  - service: Checkout\n    users: [who@example.com]\n",
            "bad.yaml: service_followers[0].users: no user with email 'who@example.com'",
        ),
        (
            "service_followers:\n  - service: Checkout\n    teams: [Ghosts]\n",
            "bad.yaml: service_followers[0].teams: no team named 'Ghosts'",
        ),
        (
            "service_followers:\n  - service: Checkout\n    people: [a]\n",
            "bad.yaml: service_followers[0].people: Extra inputs are not permitted",
        ),
        (
            "service_followers:\n  - service: Checkout\n  - service: checkout\n",
            "bad.yaml: service_followers[1].service: 'checkout' is already defined",
        ),
    ],
)
def test_bad_references_name_the_path_and_change_nothing(
    db: Session, tmp_path: Path, admin: User, text: str, message: str
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    followers.follow_service(db, checkout, by=admin)
    db.commit()
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        apply_file(db, path)
    db.rollback()
    assert message in str(error.value)
    assert _followers(db, "Checkout") == ["Ada Admin"]
