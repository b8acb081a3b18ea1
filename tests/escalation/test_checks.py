"""`tocsin check` finds what would stop a page, and exits 1 for CI."""

from __future__ import annotations

import json
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.escalation.conftest import Org
from tocsin.catalog import service as catalog
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.escalation import policies
from tocsin.notify.models import ContactMethod
from tocsin.schedules import service as schedules

runner = CliRunner()


def _check(settings: Settings, *args: str) -> tuple[int, dict]:
    result = runner.invoke(
        app, ["check", "--json", *args], env={"TOCSIN_DATABASE_URL": settings.database_url}
    )
    return result.exit_code, json.loads(result.stdout)


def test_a_sound_setup_is_all_clear(db: Session, settings: Settings, org: Org) -> None:
    code, out = _check(settings)
    assert (code, out["ok"]) == (0, True), out
    result = runner.invoke(app, ["check"], env={"TOCSIN_DATABASE_URL": settings.database_url})
    assert result.exit_code == 0 and "all clear" in result.stdout


def test_each_problem_is_found_and_named(
    db: Session, api: TestClient, settings: Settings, org: Org
) -> None:
    catalog.create_service(db, name="Forgotten")  # no policy
    part_time = schedules.create_schedule(db, name="Weekdays only")
    schedules.add_layer(
        db,
        part_time,
        {
            "name": "Office",
            "start_date": date.today() - timedelta(days=3),
            "member_ids": [org.bob.id],
            "restrictions": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
            ],
        },
    )
    ghost = catalog.create_user(db, name="Ghost", email="ghost@example.com")
    lonely = catalog.create_team(db, name="Empty team")
    policies.create_policy(
        db,
        name="Dead end",
        levels=[{"targets": [{"kind": "team", "id": lonely.id}]}],
    )
    policies.create_policy(
        db,
        name="Ghostly",
        levels=[
            {"targets": [{"kind": "user", "id": ghost.id}]},
            {"targets": [{"kind": "team", "id": lonely.id}]},
        ],
    )
    carols = db.query(ContactMethod).filter_by(user_id=org.carol.id).all()
    for method in carols:
        method.last_ok = False
        method.last_result = "550 mailbox unavailable"
    db.commit()

    code, out = _check(settings)
    assert code == 1 and out["ok"] is False
    found = {(f["check"], f["subject"]) for f in out["findings"]}
    assert ("gaps", "Weekdays only") in found
    assert ("unpaged_service", "Forgotten") in found
    assert ("unreachable_policy", "Dead end") in found
    assert ("unreachable_level", "Ghostly") in found  # level 2 only: a warning
    assert ("no_contact", "ghost@example.com") in found
    assert ("no_contact", "carol@example.com") in found
    (carol,) = [f for f in out["findings"] if f["subject"] == "carol@example.com"]
    assert "550 mailbox unavailable" in carol["message"]
    assert ("no_contact", "ann@example.com") not in found

    api_view = api.get("/api/v1/checks").json()
    assert api_view["ok"] is False and len(api_view["findings"]) == len(out["findings"])
    page = api.get("/escalation-policies")
    assert "Forgotten" in page.text and "can reach nobody" in page.text
