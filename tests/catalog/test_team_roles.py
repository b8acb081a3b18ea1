"""Roles scoped to teams, through the real routes: a team's responders change what it owns, its
admins also its members, and nobody else (but org admins) changes anything of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, api_as, browser_login
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Integration
from tocsin.audit.models import AuditRecord
from tocsin.catalog import membership
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.escalation import policies
from tocsin.escalation.models import EscalationPolicy
from tocsin.schedules import service as schedules
from tocsin.schedules.models import Schedule


@dataclass
class Owned:
    """What one team owns."""

    team: Team
    schedule: Schedule
    policy: EscalationPolicy
    service: Service
    integration: Integration


@dataclass
class World:
    a: Owned
    b: Owned
    alice: User  # org responder, team A responder
    bea: User  # org responder, team B responder
    tim: User  # org responder, team A admin
    val: User  # org responder, team A viewer
    olive: User  # org responder, in no team


def _user(db: Session, name: str, role: str = "responder") -> User:
    return catalog.create_user(
        db, name=name, email=f"{name.lower()}@example.com", role=role, password=ADMIN_PASSWORD
    )


def _owned(db: Session, name: str, member: User) -> Owned:
    team = catalog.create_team(db, name=name)
    schedule = schedules.create_schedule(db, name=f"{name} primary", team_id=team.id)
    schedules.add_layer(
        db,
        schedule,
        {
            "name": "Weekly",
            "start_date": date.today() - timedelta(days=3),
            "member_ids": [member.id],
        },
    )
    policy = policies.create_policy(
        db,
        name=f"{name} paging",
        team_id=team.id,
        levels=[{"delay_minutes": 5, "targets": [{"kind": "schedule", "id": schedule.id}]}],
    )
    service = catalog.create_service(db, name=f"{name} api", team_id=team.id)
    integration, _ = alerts.create_integration(
        db, service_id=service.id, name=f"{name} alertmanager", type="pagerduty"
    )
    return Owned(team, schedule, policy, service, integration)


@pytest.fixture
def world(db: Session, admin: User) -> World:
    alice, bea, tim, val, olive = (_user(db, n) for n in ("Alice", "Bea", "Tim", "Val", "Olive"))
    a = _owned(db, "Alpha", alice)
    b = _owned(db, "Bravo", bea)
    membership.set_member(db, a.team, alice, "responder")
    membership.set_member(db, a.team, tim, "admin")
    membership.set_member(db, a.team, val, "viewer")
    membership.set_member(db, b.team, bea, "responder")
    db.commit()
    return World(a, b, alice, bea, tim, val, olive)


def _api_changes(owned: Owned) -> list[tuple[str, str, dict[str, object]]]:
    """One JSON change to each thing the team owns."""
    return [
        ("PATCH", f"/api/v1/schedules/{owned.schedule.id}", {"description": "changed"}),
        ("PATCH", f"/api/v1/escalation-policies/{owned.policy.id}", {"description": "changed"}),
        ("PATCH", f"/api/v1/services/{owned.service.id}", {"description": "changed"}),
        ("PATCH", f"/api/v1/integrations/{owned.integration.id}", {"name": "changed"}),
    ]


def _descriptions(db: Session, owned: Owned) -> list[str]:
    db.commit()
    db.expire_all()  # a fresh read
    return [
        db.get(Schedule, owned.schedule.id).description,  # type: ignore[union-attr]
        db.get(EscalationPolicy, owned.policy.id).description,  # type: ignore[union-attr]
        db.get(Service, owned.service.id).description,  # type: ignore[union-attr]
        db.get(Integration, owned.integration.id).name,  # type: ignore[union-attr]
    ]


def test_a_responder_of_team_a_changes_a_things_not_b_things_through_the_api(
    client: TestClient, db: Session, world: World
) -> None:
    headers = api_as(client, db, world.alice)
    before = _descriptions(db, world.b)
    for method, path, body in _api_changes(world.b):
        refused = client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 403, (path, refused.text)
        message = refused.json()["error"]["message"]
        assert "team Bravo" in message and "not a member" in message, message
    assert _descriptions(db, world.b) == before  # nothing changed
    # Each refusal is in the audit trail: who, from where, what, whose and why.
    refusals = _refusal_records(db)
    assert [r.target for r in refusals] == ["Bravo"] * 4
    assert {(r.actor_label, r.via, r.address) for r in refusals} == {
        (world.alice.email, "token", "testclient")
    }
    whats = [json.loads(r.detail)["what"] for r in refusals]
    assert any(world.b.schedule.name in w for w in whats), whats
    assert all("not a member" in json.loads(r.detail)["reason"] for r in refusals)
    for method, path, body in _api_changes(world.a):
        done = client.request(method, path, json=body, headers=headers)
        assert done.status_code == 200, (path, done.text)
    assert _descriptions(db, world.a) == ["changed"] * 4
    assert len(_refusal_records(db)) == 4  # what was allowed is no refusal


def _refusal_records(db: Session) -> list[AuditRecord]:
    return _records(db, "config.refused")


def test_a_responder_cannot_create_in_or_move_into_another_team(
    client: TestClient, db: Session, world: World
) -> None:
    headers = api_as(client, db, world.alice)
    created = client.post(
        "/api/v1/services", json={"name": "Sneaky", "team_id": world.b.team.id}, headers=headers
    )
    assert created.status_code == 403 and "team Bravo" in created.json()["error"]["message"]
    moved = client.patch(
        f"/api/v1/services/{world.a.service.id}",
        json={"team_id": world.b.team.id},
        headers=headers,
    )
    assert moved.status_code == 403
    schedule = client.post(
        "/api/v1/schedules", json={"name": "Sneaky", "team_id": world.b.team.id}, headers=headers
    )
    assert schedule.status_code == 403
    db.commit()
    db.expire_all()
    assert db.scalar(select(Service).where(Service.name == "Sneaky")) is None
    assert db.get(Service, world.a.service.id).team_id == world.a.team.id  # type: ignore[union-attr]
    # In their own team it works; a service of no team stays the org admins'.
    mine = client.post(
        "/api/v1/services", json={"name": "Mine", "team_id": world.a.team.id}, headers=headers
    )
    assert mine.status_code == 201, mine.text
    nobody = client.post("/api/v1/services", json={"name": "Nobody's"}, headers=headers)
    assert nobody.status_code == 403 and "admin role" in nobody.json()["error"]["message"]
    unknown = client.post(
        "/api/v1/services", json={"name": "Ghost", "team_id": 999999}, headers=headers
    )
    assert unknown.status_code == 404


def test_a_team_viewer_and_an_org_responder_of_no_team_are_refused(
    client: TestClient, db: Session, world: World
) -> None:
    before = _descriptions(db, world.a)
    for person, why in ((world.val, "viewer of team Alpha"), (world.olive, "not a member")):
        headers = api_as(client, db, person)
        for method, path, body in _api_changes(world.a):
            refused = client.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (path, refused.text)
            assert why in refused.json()["error"]["message"]
    assert _descriptions(db, world.a) == before


def test_an_org_admin_changes_every_team_s_things(
    client: TestClient, db: Session, world: World, admin: User
) -> None:
    headers = api_as(client, db, admin)
    for owned in (world.a, world.b):
        for method, path, body in _api_changes(owned):
            done = client.request(method, path, json=body, headers=headers)
            assert done.status_code == 200, (path, done.text)
        assert _descriptions(db, owned) == ["changed"] * 4


def _form_changes(owned: Owned) -> list[tuple[str, dict[str, str]]]:
    """One HTML form change to each thing the team owns (what the pages post)."""
    team = str(owned.team.id)
    return [
        (
            f"/schedules/{owned.schedule.id}",
            {"name": owned.schedule.name, "description": "changed", "timezone": "UTC",
             "team_id": team},
        ),
        (
            f"/escalation-policies/{owned.policy.id}",
            {"name": owned.policy.name, "description": "changed", "repeat": "0",
             "team_id": team, "level_count": "1", "level-0-delay_minutes": "5",
             "level-0-schedules": str(owned.schedule.id)},
        ),
        (
            f"/settings/services/{owned.service.id}",
            {"name": owned.service.name, "description": "changed", "team_id": team, "tier": "2"},
        ),
        (
            f"/integrations/{owned.integration.id}",
            {"name": "changed", "service_id": str(owned.service.id)},
        ),
    ]  # fmt: skip


def test_the_forms_refuse_another_team_s_things_and_change_nothing(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = browser_login(client, world.alice.email)
    before = _descriptions(db, world.b)
    for path, form in _form_changes(world.b):
        refused = client.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)
        assert refused.status_code == 403, (path, refused.text[:300])
        assert "team Bravo" in refused.text
    assert _descriptions(db, world.b) == before
    refusals = _refusal_records(db)
    assert [(r.target, r.outcome, r.via) for r in refusals] == [("Bravo", "refused", "session")] * 4
    for path, form in _form_changes(world.a):
        done = client.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)
        assert done.status_code == 303, (path, done.text[:300])
        assert "error=" not in done.headers["location"], done.headers["location"]
    assert _descriptions(db, world.a) == ["changed"] * 4


def test_pages_offer_controls_only_where_they_work(
    client: TestClient, db: Session, world: World
) -> None:
    browser_login(client, world.alice.email)
    services = client.get("/settings/services").text
    assert f'action="/settings/services/{world.a.service.id}"' in services
    assert f'action="/settings/services/{world.b.service.id}"' not in services
    assert 'id="new-layer"' in client.get(f"/schedules/{world.a.schedule.id}").text
    assert 'id="new-layer"' not in client.get(f"/schedules/{world.b.schedule.id}").text
    assert "Save policy" in client.get(f"/escalation-policies/{world.a.policy.id}").text
    assert "Save policy" not in client.get(f"/escalation-policies/{world.b.policy.id}").text
    rotate = "/rotate"
    assert rotate in client.get(f"/integrations/{world.a.integration.id}").text
    assert rotate not in client.get(f"/integrations/{world.b.integration.id}").text
    team = client.get(f"/settings/teams/{world.a.team.id}").text
    assert "Team role of" not in team and "Add to team" not in team  # a responder reads
    client.cookies.clear()
    browser_login(client, world.tim.email)
    team = client.get(f"/settings/teams/{world.a.team.id}").text
    assert "Team role of Alice" in team and "Add to team" in team
    other = client.get(f"/settings/teams/{world.b.team.id}").text
    assert "Team role of" not in other


def _records(db: Session, action: str) -> list[AuditRecord]:
    db.commit()
    return list(
        db.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))
    )


def _permission_records(db: Session) -> list[AuditRecord]:
    return _records(db, "permission.changed")


def test_a_team_admin_manages_members_and_roles_and_it_is_recorded(
    client: TestClient, db: Session, world: World
) -> None:
    already = len(_permission_records(db))
    headers = api_as(client, db, world.tim)
    team = world.a.team.id
    promoted = client.put(
        f"/api/v1/teams/{team}/members/{world.alice.id}", json={"role": "admin"}, headers=headers
    )
    assert promoted.status_code == 200, promoted.text
    added = client.put(
        f"/api/v1/teams/{team}/members/{world.olive.id}", json={"role": "viewer"}, headers=headers
    )
    assert added.status_code == 200, added.text
    removed = client.delete(f"/api/v1/teams/{team}/members/{world.val.id}", headers=headers)
    assert removed.status_code == 204
    listed = client.get(f"/api/v1/teams/{team}/members", headers=headers).json()
    assert {m["user"]["email"]: m["role"] for m in listed} == {
        "alice@example.com": "admin",
        "olive@example.com": "viewer",
        "tim@example.com": "admin",
    }
    records = _permission_records(db)[already:]
    assert [(json.loads(r.detail)["user"], json.loads(r.detail)["old_role"],
             json.loads(r.detail)["new_role"]) for r in records] == [
        ("alice@example.com", "responder", "admin"),
        ("olive@example.com", None, "viewer"),
        ("val@example.com", "viewer", None),
    ]  # fmt: skip
    assert all(r.target_type == "team" and r.target == "Alpha" for r in records)
    assert all(r.actor_id == world.tim.id and r.via == "token" for r in records)
    # The team admin of Alpha is nobody in Bravo.
    refused = client.put(
        f"/api/v1/teams/{world.b.team.id}/members/{world.olive.id}",
        json={"role": "admin"},
        headers=headers,
    )
    assert refused.status_code == 403 and "Bravo" in refused.json()["error"]["message"]
    bad = client.put(
        f"/api/v1/teams/{team}/members/{world.olive.id}", json={"role": "owner"}, headers=headers
    )
    assert bad.status_code == 422
    after = _permission_records(db)[already:]
    assert [r.outcome for r in after] == ["ok", "ok", "ok", "refused"]
    assert after[-1].target == "Bravo" and after[-1].actor_id == world.tim.id
    assert membership.roles(db, world.b.team) == {world.bea.id: "responder"}


def test_a_team_responder_or_viewer_cannot_change_membership(
    client: TestClient, db: Session, world: World
) -> None:
    for person in (world.alice, world.val):
        headers = api_as(client, db, person)
        refused = client.put(
            f"/api/v1/teams/{world.a.team.id}/members/{person.id}",
            json={"role": "admin"},
            headers=headers,
        )
        assert refused.status_code == 403
        assert "Alpha's admins" in refused.json()["error"]["message"]
        record = _permission_records(db)[-1]
        assert (record.outcome, record.actor_id) == ("refused", person.id)
        assert json.loads(record.detail)["new_role"] == "admin"
    csrf = browser_login(client, world.alice.email)
    form = client.post(
        f"/settings/teams/{world.a.team.id}/members",
        data={"csrf_token": csrf, "user_id": str(world.olive.id), "role": "admin"},
        follow_redirects=False,
    )
    assert form.status_code == 403 and "Alpha" in form.text
    record = _permission_records(db)[-1]
    assert (record.outcome, record.actor_id, record.via) == ("refused", world.alice.id, "session")
    db.commit()
    assert membership.roles(db, world.a.team)[world.alice.id] == "responder"
    assert membership.roles(db, world.a.team)[world.val.id] == "viewer"


def test_a_team_admin_changes_roles_on_the_team_page(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = browser_login(client, world.tim.email)
    page = f"/settings/teams/{world.a.team.id}"
    changed = client.post(
        f"{page}/members",
        data={"csrf_token": csrf, "user_id": str(world.val.id), "role": "responder"},
        follow_redirects=False,
    )
    assert changed.status_code == 303 and "error=" not in changed.headers["location"]
    removed = client.post(
        f"{page}/members/{world.alice.id}/remove", data={"csrf_token": csrf},
        follow_redirects=False,
    )  # fmt: skip
    assert removed.status_code == 303
    db.commit()
    assert membership.roles(db, world.a.team) == {world.tim.id: "admin", world.val.id: "responder"}
    record = _permission_records(db)[-1]
    assert record.via == "session" and json.loads(record.detail)["old_role"] == "responder"
    # Without the token the form carries, nothing happens (CSRF).
    forged = client.post(
        f"{page}/members", data={"user_id": str(world.olive.id), "role": "admin"},
        follow_redirects=False,
    )  # fmt: skip
    assert forged.status_code == 403
    assert world.olive.id not in membership.roles(db, world.a.team)


def test_org_role_changes_are_recorded_with_old_and_new(
    client: TestClient, db: Session, world: World, admin: User
) -> None:
    headers = api_as(client, db, admin)
    done = client.patch(f"/api/v1/users/{world.olive.id}", json={"role": "viewer"}, headers=headers)
    assert done.status_code == 200
    record = _permission_records(db)[-1]
    assert (record.target_type, record.target) == ("user", "olive@example.com")
    assert json.loads(record.detail) == {
        "scope": "org", "old_role": "responder", "new_role": "viewer"
    }  # fmt: skip
    assert record.actor_id == admin.id


def test_overrides_on_a_team_schedule_are_for_its_team_and_people_on_it(
    client: TestClient, db: Session, world: World
) -> None:
    """Bea is on Bravo's rotation, so she may cover her shifts; Olive (in no team, on no
    layer) may not touch Bravo's schedule; Alice, on Alpha's rotation, may on Alpha's."""
    db.commit()
    window = {
        "start": (date.today() + timedelta(days=1)).isoformat() + "T09:00:00Z",
        "end": (date.today() + timedelta(days=1)).isoformat() + "T17:00:00Z",
    }
    path = f"/api/v1/schedules/{world.b.schedule.id}/overrides"
    refused = client.post(
        path, json={**window, "user_id": world.olive.id}, headers=api_as(client, db, world.olive)
    )
    assert refused.status_code == 403 and "team Bravo" in refused.json()["error"]["message"]
    done = client.post(
        path, json={**window, "user_id": world.bea.id}, headers=api_as(client, db, world.bea)
    )
    assert done.status_code == 201, done.text


def test_setting_a_team_s_members_keeps_the_roles_of_those_who_stay(
    client: TestClient, db: Session, world: World, admin: User
) -> None:
    """The org admins' whole-team edit (and config files, through the same service) adds
    responders, removes people, and leaves the stayers' team roles alone; each change is
    recorded."""
    already = len(_permission_records(db))
    keep = [world.tim.id, world.val.id, world.olive.id]  # Alice leaves, Olive joins
    done = client.patch(
        f"/api/v1/teams/{world.a.team.id}",
        json={"member_ids": keep},
        headers=api_as(client, db, admin),
    )
    assert done.status_code == 200, done.text
    db.commit()
    assert membership.roles(db, world.a.team) == {
        world.tim.id: "admin",
        world.val.id: "viewer",
        world.olive.id: "responder",
    }
    changes = {
        (json.loads(r.detail)["user"], json.loads(r.detail)["old_role"],
         json.loads(r.detail)["new_role"])
        for r in _permission_records(db)[already:]
    }  # fmt: skip
    assert changes == {
        ("alice@example.com", "responder", None),
        ("olive@example.com", None, "responder"),
    }


def test_every_write_route_of_another_team_s_things_refuses(
    client: TestClient, db: Session, world: World
) -> None:
    """Beyond editing: layers, order, paging, keys, rules, settings and deletion."""
    b = world.b
    layer = b.schedule.layers[0].id
    key_prefix = b.integration.key_prefix
    headers = api_as(client, db, world.alice)
    matchers = [{"field": "summary", "op": "contains", "value": "x"}]
    calls: list[tuple[str, str, object]] = [
        ("POST", f"/api/v1/schedules/{b.schedule.id}/layers",
         {"name": "More", "start_date": date.today().isoformat(), "member_ids": [world.bea.id]}),
        ("PATCH", f"/api/v1/schedules/{b.schedule.id}/layers/{layer}", {"name": "Renamed"}),
        ("PUT", f"/api/v1/schedules/{b.schedule.id}/layers/order", {"layer_ids": [layer]}),
        ("DELETE", f"/api/v1/schedules/{b.schedule.id}/layers/{layer}", None),
        ("DELETE", f"/api/v1/schedules/{b.schedule.id}", None),
        ("PUT", f"/api/v1/services/{b.service.id}/paging", {"policy_id": b.policy.id}),
        ("DELETE", f"/api/v1/escalation-policies/{b.policy.id}", None),
        ("POST", f"/api/v1/integrations/{b.integration.id}/rotate-key", None),
        ("PUT", f"/api/v1/integrations/{b.integration.id}/routing-rules",
         {"rules": [{"matchers": matchers, "service_id": world.a.service.id}]}),
        ("POST", f"/api/v1/services/{b.service.id}/suppression-rules",
         {"name": "Mute", "matchers": matchers}),
        ("PUT", f"/api/v1/services/{b.service.id}/alert-settings", {"auto_resolve": False}),
        ("DELETE", f"/api/v1/integrations/{b.integration.id}", None),
        ("DELETE", f"/api/v1/services/{b.service.id}", None),
    ]  # fmt: skip
    for method, path, body in calls:
        refused = client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 403, (method, path, refused.text)
        assert "team Bravo" in refused.json()["error"]["message"], (path, refused.text)
    db.commit()
    db.expire_all()
    schedule = db.get(Schedule, b.schedule.id)
    assert schedule is not None and [x.name for x in schedule.layers] == ["Weekly"]
    assert db.get(EscalationPolicy, b.policy.id) is not None
    integration = db.get(Integration, b.integration.id)
    assert integration is not None and integration.key_prefix == key_prefix
    assert integration.routing_rules == []
    assert db.get(Service, b.service.id) is not None
    assert alerts.list_suppression_rules(db, b.service.id) == []
    assert alerts.alert_settings(db, b.service.id).auto_resolve is True
