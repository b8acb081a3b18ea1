"""`tocsin oncall now|next` and `tocsin override add`, against the database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tocsin.cli.main import app

runner = CliRunner()


def test_oncall_and_override_commands(settings, db, people, make_schedule) -> None:  # type: ignore[no-untyped-def]
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    make_schedule(layers=[{"members": ["Ann", "Bob"], "shift_unit": "days", "timezone": "UTC",
                           "start_date": "2026-06-01"}])  # fmt: skip
    make_schedule("Empty")
    db.commit()
    at = ["--at", "2026-06-01T12:00:00+00:00"]
    shown = runner.invoke(app, ["oncall", "now", *at, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    data = {s["schedule"]: s["on_call"] for s in json.loads(shown.stdout)["schedules"]}
    assert data["Primary"][0]["email"] == "ann@example.com" and data["Empty"] == []
    table = runner.invoke(app, ["oncall", "now", "primary", *at, "--tz", "Asia/Kolkata"], env=env)
    assert table.exit_code == 0 and "Ann" in table.stdout and "IST" in table.stdout
    missing = runner.invoke(app, ["oncall", "now", "Nope"], env=env)
    assert missing.exit_code == 1 and "no schedule named 'Nope'" in missing.output
    # Ann's zone is Europe/London: a time without an offset is read there.
    added = runner.invoke(
        app,
        ["override", "add", "--schedule", "Primary", "--user", "cat@example.com",
         "--start", "2030-07-01T10:00", "--end", "2030-07-01T12:00", "--json"],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["start"] == "2030-07-01T09:00:00+00:00"  # 10:00 BST
    clash = runner.invoke(
        app,
        ["override", "add", "--schedule", "Primary", "--user", "dan@example.com",
         "--start", "2030-07-01T11:00", "--end", "2030-07-01T13:00"],
        env=env,
    )  # fmt: skip
    assert clash.exit_code == 1 and "overlaps the override putting Cat on call" in clash.output
    upcoming = runner.invoke(
        app, ["oncall", "next", "--user", "cat@example.com", "--days", "366"], env=env
    )
    assert upcoming.exit_code == 0
    nothing = runner.invoke(app, ["oncall", "next", "--user", "dan@example.com", "--json"], env=env)
    assert json.loads(nothing.stdout)["shifts"] == []


def test_oncall_now_says_until_when_the_person_is_on_call(  # type: ignore[no-untyped-def]
    settings, db, people, make_schedule
) -> None:
    """Until is the end of Ann's time on call (her daily shift, then an override that keeps
    her on call), not the end of today's shift; the override names whom it covers."""
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    make_schedule(layers=[{"members": ["Ann", "Bob"], "shift_unit": "days", "timezone": "UTC",
                           "start_date": "2030-06-01", "handoff_time": "09:00"}])  # fmt: skip
    make_schedule("Alone", layers=[{"members": ["Dan"], "timezone": "UTC",
                                    "start_date": "2030-06-01"}])  # fmt: skip
    db.commit()
    added = runner.invoke(
        app,
        ["override", "add", "--schedule", "Primary", "--user", "ann@example.com",
         "--start", "2030-06-02T09:00+00:00", "--end", "2030-06-02T15:00+00:00"],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    at = ["--at", "2030-06-01T12:00:00+00:00"]
    shown = runner.invoke(app, ["oncall", "now", *at, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    data = {s["schedule"]: s["on_call"] for s in json.loads(shown.stdout)["schedules"]}
    (ann,) = data["Primary"]
    assert ann["end"] == "2030-06-02T09:00:00+00:00"  # today's shift
    assert (ann["until"], ann["until_beyond"]) == ("2030-06-02T15:00:00+00:00", False)
    (dan,) = data["Alone"]
    assert (dan["until"], dan["until_beyond"]) == ("2030-06-15T12:00:00+00:00", True)
    table = runner.invoke(app, ["oncall", "now", "Alone", *at], env=env)
    assert table.exit_code == 0 and "beyond" in table.stdout
    covering = runner.invoke(
        app, ["oncall", "now", "Primary", "--at", "2030-06-02T10:00+00:00", "--json"], env=env
    )
    (shift,) = json.loads(covering.stdout)["schedules"][0]["on_call"]
    assert shift["source"] == "override covering Bob"
