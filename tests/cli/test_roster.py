"""`tocsin roster`: who answers for each role now or at a time, on the database and through
a server's API, the same either way."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import token_for
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.definitions.models import IncidentRole
from tocsin.roster import service as roster
from tocsin.schedules import service as schedules

runner = CliRunner()


def _arrange(db: Session) -> None:
    ann = catalog.create_user(db, name="Ann Able", email="ann@example.com")
    bob = catalog.create_user(db, name="Bob Baker", email="bob@example.com")
    ben = catalog.create_user(db, name="Ben Backup", email="ben@example.com")
    ic_rotation = schedules.create_schedule(db, name="IC rotation", timezone="UTC")
    schedules.add_layer(
        db,
        ic_rotation,
        {"name": "Daily", "shift_length": 1, "shift_unit": "days", "handoff_time": "09:00",
         "start_date": "2026-01-05", "member_ids": [ann.id, bob.id]},
    )  # fmt: skip
    ic = db.scalars(select(IncidentRole).where(IncidentRole.slug == "incident_commander")).one()
    roster.set_entry(db, ic.id, primary_schedule_id=ic_rotation.id, backup_user_id=ben.id)
    db.commit()


def test_who_answers_at_a_time_locally_and_through_the_api(
    live_server: str, db: Session, admin: User, settings: Settings
) -> None:
    _arrange(db)
    local = {"TOCSIN_DATABASE_URL": settings.database_url, "COLUMNS": "220"}
    monday = runner.invoke(app, ["roster", "--at", "2026-01-05T10:00"], env=local)
    assert monday.exit_code == 0, monday.output
    assert "Incident Commander" in monday.output
    assert "on call for IC rotation" in monday.output
    assert "Ann Able" in monday.output and "Ben Backup" in monday.output
    assert "Bob Baker" not in monday.output
    tuesday = runner.invoke(app, ["roster", "--at", "2026-01-06 10:00 Europe/London"], env=local)
    assert "Bob Baker" in tuesday.output and "Ann Able" not in tuesday.output

    mine = runner.invoke(app, ["roster", "--at", "2026-01-06T10:00", "--json"], env=local)
    remote = {"TOCSIN_URL": live_server, "TOCSIN_TOKEN": token_for(db, admin)}
    theirs = runner.invoke(app, ["roster", "--at", "2026-01-06T10:00", "--json"], env=remote)
    assert theirs.exit_code == 0, theirs.output
    assert json.loads(mine.output) == json.loads(theirs.output)
    [entry] = json.loads(theirs.output)["items"]
    assert [p["name"] for p in entry["primary"]["now"]] == ["Bob Baker"]


def test_an_empty_roster_and_a_bad_time_are_one_line(db: Session, settings: Settings) -> None:
    local = {"TOCSIN_DATABASE_URL": settings.database_url, "COLUMNS": "220"}
    empty = runner.invoke(app, ["roster"], env=local)
    assert empty.exit_code == 0 and "The roster is empty" in empty.output
    wrong = runner.invoke(app, ["roster", "--at", "2026-12-25 Mars/X"], env=local)
    assert wrong.exit_code == 1 and "unknown time zone 'Mars/X'" in wrong.output
    assert "Traceback" not in wrong.output
