"""A small history whose figures the tests work out by hand (see test_kpis.py's docstring)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident


def at(day: str, hm: str) -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{hm}:00+00:00")


@pytest.fixture
def history(db: Session, admin: User) -> dict[str, Incident]:
    payments = catalog.create_team(db, name="Payments")
    web_team = catalog.create_team(db, name="Web")
    pay = catalog.create_service(db, name="payments-api", team_id=payments.id)
    web = catalog.create_service(db, name="storefront", team_id=web_team.id)
    sev = {s.name: s.id for s in db.scalars(select(Severity))}

    def declare(title: str, severity: str, services: list[int], **kw: object) -> Incident:
        return incidents.declare(
            db,
            by=admin,
            title=title,
            severity_id=sev[severity],
            service_ids=services,
            urgency="none",
            **kw,  # type: ignore[arg-type]
        )

    def move(incident: Incident, status: str, when: datetime) -> None:
        incidents.change_status(db, incident, status, by=admin, occurred_at=when)

    a = declare(
        "A", "SEV1", [pay.id], started_at=at("03-02", "10:00"), detected_at=at("03-02", "10:10")
    )
    move(a, "acknowledged", at("03-02", "10:15"))
    move(a, "resolved", at("03-02", "11:10"))
    b = declare("B", "SEV1", [pay.id, web.id], detected_at=at("03-05", "22:00"))
    move(b, "acknowledged", at("03-05", "23:30"))
    move(b, "resolved", at("03-06", "02:00"))
    c = declare(
        "C secret",
        "SEV3",
        [web.id],
        restricted=True,
        started_at=at("03-10", "08:00"),
        detected_at=at("03-10", "08:30"),
    )
    move(c, "acknowledged", at("03-10", "09:00"))
    move(c, "resolved", at("03-10", "10:00"))
    incidents.reopen(db, c, by=admin)
    move(c, "resolved", at("03-11", "08:00"))
    d = declare("D drill", "SEV3", [web.id], drill=True, detected_at=at("03-12", "08:00"))
    move(d, "acknowledged", at("03-12", "08:01"))
    e = declare("E", "SEV3", [], detected_at=at("03-20", "12:00"))
    f = declare(
        "F", "SEV1", [pay.id], started_at=at("02-10", "09:00"), detected_at=at("02-10", "10:00")
    )
    move(f, "acknowledged", at("02-10", "10:20"))
    move(f, "resolved", at("02-10", "12:00"))
    db.commit()
    return {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f, "payments": payments, "pay": pay}  # type: ignore[dict-item]
