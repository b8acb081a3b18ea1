"""After SCIM deprovisions someone, `tocsin check` names each schedule and escalation policy
that still names them, and paging skips them."""

from __future__ import annotations

import json
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.scim.conftest import SCIM, USER_SCHEMA, patch_body
from tocsin.catalog.models import Team
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.escalation import policies
from tocsin.escalation.walk import pageable_members
from tocsin.schedules import service as schedules

runner = CliRunner()


def _findings(settings: Settings) -> tuple[int, list[dict]]:
    result = runner.invoke(
        app, ["check", "--json"], env={"TOCSIN_DATABASE_URL": settings.database_url}
    )
    return result.exit_code, json.loads(result.stdout)["findings"]


def test_check_flags_schedules_and_policies_naming_a_deprovisioned_person(
    scim: TestClient, db: Session, settings: Settings
) -> None:
    ids = {}
    for name in ("ann", "bob", "carol"):
        response = scim.post(
            f"{SCIM}/Users",
            json={
                "schemas": [USER_SCHEMA],
                "userName": f"{name}@example.com",
                "displayName": name.title(),
            },
        )
        ids[name] = int(response.json()["id"])
    team = scim.post(
        f"{SCIM}/Groups",
        json={"displayName": "Ops", "members": [{"value": str(ids["carol"])}]},
    ).json()
    db.commit()
    primary = schedules.create_schedule(db, name="Primary")
    schedules.add_layer(
        db,
        primary,
        {
            "name": "Daily",
            "start_date": date.today() - timedelta(days=3),
            "member_ids": [ids["ann"], ids["bob"]],
        },
    )
    policies.create_policy(
        db,
        name="Checkout",
        levels=[
            {"targets": [{"kind": "schedule", "id": primary.id}]},
            {"targets": [{"kind": "user", "id": ids["carol"]}]},
        ],
    )
    db.commit()
    _, findings = _findings(settings)
    assert [f for f in findings if f["check"] == "deactivated_person"] == []

    for name in ("bob", "carol"):
        off = scim.patch(
            f"{SCIM}/Users/{ids[name]}",
            json=patch_body({"op": "replace", "path": "active", "value": False}),
        )
        assert off.status_code == 200, off.text

    code, findings = _findings(settings)
    flagged = {f["subject"]: f["message"] for f in findings if f["check"] == "deactivated_person"}
    assert code == 1
    assert set(flagged) == {"Primary", "Checkout"}
    assert "Bob" in flagged["Primary"] and "Ann" not in flagged["Primary"]
    assert "Carol" in flagged["Checkout"]
    # Carol is still in the team, but no longer paged through it.
    db.expire_all()
    ops = db.get(Team, int(team["id"]))
    assert ops is not None and [m.name for m in ops.members] == ["Carol"]
    assert pageable_members(ops) == []

    # The plain output names them too.
    result = runner.invoke(app, ["check"], env={"TOCSIN_DATABASE_URL": settings.database_url})
    assert "deactivated_person" in result.stdout and "Primary" in result.stdout
