"""Factories for schedule tests: people and schedules made through the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.schedules import service
from tocsin.schedules.models import Schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def people(db: Session) -> dict[str, User]:
    """Ann, Bob, Cat and Dan, responders."""
    out = {}
    for name in ("Ann", "Bob", "Cat", "Dan"):
        out[name] = catalog.create_user(
            db, name=name, email=f"{name.lower()}@example.com", timezone="Europe/London"
        )
    db.commit()
    return out


@pytest.fixture
def make_schedule(db: Session, people: dict[str, User]) -> Callable[..., Schedule]:
    """make_schedule(name, [layer dicts with "members": ["Ann", ...]], timezone=...)."""

    def make(name: str = "Primary", layers: list[dict[str, Any]] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        schedule = service.create_schedule(db, name=name, **kw)
        for index, layer in enumerate(layers or []):
            data = {"name": f"Layer {index + 1}", **layer}
            if "members" in data:
                data["member_ids"] = [people[m].id for m in data.pop("members")]
            service.add_layer(db, schedule, data)
        db.flush()
        return schedule

    return make
