"""Private incidents (the `restricted` column): visible to admins and its members, and to
nobody else, on every surface (the API, the pages, search, the live stream, the CLI, metrics).

One private incident, with one person for each way of being involved in it (being paged or
following it does not make anyone a member), one responder who is not involved, and a viewer;
each test reads it as each of them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import api_as, browser_login, token_for
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.cli.main import app as cli
from tocsin.comms import stakeholders
from tocsin.config import Settings
from tocsin.incidents import access, actions, members, queries, updates
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem, Incident, TimelineEntry
from tocsin.notify import methods
from tocsin.notify.service import page_user

SECRET = "Vault root token leaked"
ITEM = "Rotate every vault token"
PUBLIC = "Search is slow"

# Who reads, and whether they may see the restricted incident.
SEES = {
    "admin": True,
    "declarer": True,
    "commander": True,
    "member": True,  # added by the commander
    "paged": False,  # told its codename, not let in
    "stakeholder": False,
    "team member": False,  # of a team that follows the incident
    "outsider": False,  # a responder not involved
    "viewer": False,
}


@dataclass
class World:
    incident: Incident  # restricted
    public: Incident
    item: ActionItem
    people: dict[str, User]

    @property
    def ref(self) -> str:
        return self.incident.reference


def _person(db: Session, name: str) -> User:
    """A responder who signs in with API tokens (no password to hash)."""
    return catalog.create_user(db, name=name, email=name.split()[0].lower() + "@example.com")


@pytest.fixture
def world(
    db: Session, app: object, settings: Settings, admin: User, responder: User, viewer: User
) -> World:
    """The restricted incident and everyone around it (`app`: the composition root has said
    who else counts as involved)."""
    dora, cal, pete, sam, tess, mia = (
        _person(db, n)
        for n in (
            "Dora Declarer",
            "Cal Commander",
            "Pete Paged",
            "Sam Stakeholder",
            "Tess Team",
            "Mia Member",
        )
    )
    security = catalog.create_team(db, name="Security", member_ids=[tess.id])
    incident = incidents.declare(db, by=dora, title=SECRET, restricted=True)
    commander = queries.role_by_slug(db, "incident_commander")
    incident_roles.assign_role(db, incident, role_id=commander.id, user_id=cal.id, by=dora)
    members.add_member(db, incident, user_id=mia.id, by=cal)
    method, _ = methods.create_contact_method(
        db, pete, by=pete, settings=settings, kind="email", target=pete.email
    )
    assert page_user(db, incident=incident, user=pete, reason="paged by hand", key="test")
    stakeholders.add(db, incident, by=dora, user_id=sam.id)
    stakeholders.add(db, incident, by=dora, team_id=security.id)
    updates.post_update(db, incident, phase="investigating", body="Rotating tokens.", by=dora)
    item = actions.add_action_item(db, incident, title=ITEM, assignee_id=cal.id, by=dora)
    public = incidents.declare(db, by=admin, title=PUBLIC)
    db.commit()
    people = {
        "admin": admin,
        "declarer": dora,
        "commander": cal,
        "member": mia,
        "paged": pete,
        "stakeholder": sam,
        "team member": tess,
        "outsider": responder,
        "viewer": viewer,
    }
    return World(incident, public, item, people)


# --- the policy ----------------------------------------------------------------------------


def test_each_kind_of_involvement_and_nothing_else_lets_someone_see_it(
    db: Session, world: World
) -> None:
    for who, sees in SEES.items():
        person = world.people[who]
        assert access.can_see(db, person, world.incident) is sees, who
        assert access.can_see(db, person, world.public) is True, who
        visible = db.scalars(select(Incident.title).where(access.visible_filter(person)))
        assert (SECRET in set(visible)) is sees, who


def test_a_viewer_in_a_following_team_and_a_deactivated_declarer_do_not_see_it(
    db: Session, world: World, viewer: User
) -> None:
    security = world.people["team member"].teams[0]
    catalog.update_team(db, security, {"member_ids": [world.people["team member"].id, viewer.id]})
    assert not access.can_see(db, viewer, world.incident)  # its updates never reach her either
    dora = world.people["declarer"]
    dora.active = False
    assert not access.can_see(db, dora, world.incident)


def test_lifting_the_restriction_shows_it_to_everyone(db: Session, world: World) -> None:
    outsider = world.people["outsider"]
    incidents.edit(db, world.incident, {"restricted": False}, by=world.people["admin"])
    assert access.can_see(db, outsider, world.incident)
    assert queries.get_incident(db, world.ref, viewer=outsider) is world.incident


def test_a_list_costs_the_same_queries_however_many_incidents_are_hidden(
    db: Session, world: World
) -> None:
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731

    def cost(who: str) -> tuple[int, int]:
        """(statements run, incidents in all) for one page of `who`'s list."""
        statements.clear()
        event.listen(db.get_bind(), "before_cursor_execute", listener)
        try:
            _, total = queries.search_incidents(
                db, queries.IncidentFilter(), viewer=world.people[who], limit=5
            )
        finally:
            event.remove(db.get_bind(), "before_cursor_execute", listener)
        return len(statements), total

    before = {who: cost(who) for who in ("outsider", "member")}
    for n in range(20):
        incidents.declare(db, by=world.people["admin"], title=f"Hidden {n}", restricted=True)
    db.commit()
    after = {who: cost(who) for who in ("outsider", "member")}
    assert after == before
    assert before["outsider"][1] == 1 and before["member"][1] == 2


def test_text_names_hidden_incidents_only_to_those_who_may_see_them(
    db: Session, world: World
) -> None:
    text = f"created alert 4; opened {world.ref}; see also {world.public.reference}"
    hidden = access.redactor(db, world.people["outsider"], [text])
    assert hidden(text) == (
        f"created alert 4; opened a private incident; see also {world.public.reference}"
    )
    assert access.redactor(db, world.people["member"], [text])(text) == text
    assert access.hidden_numbers(db, world.people["outsider"], [world.incident.number, 999]) == {
        world.incident.number: "a private incident"
    }
    # With a codename, outsiders (the people paged too) are told that instead.
    incidents.edit(db, world.incident, {"codename": "Operation Bluebird"}, by=None)
    for who in ("outsider", "paged"):
        told = access.redactor(db, world.people[who], [text])(text)
        assert (
            told
            == f"created alert 4; opened Operation Bluebird; see also INC-{world.public.number}"
        )
        assert access.name_for(db, world.people[who], world.incident) == "Operation Bluebird"
    assert access.name_for(db, world.people["member"], world.incident) == world.ref


def test_an_action_item_goes_only_to_someone_who_may_see_its_incident(
    client: TestClient, db: Session, world: World
) -> None:
    outsider = world.people["outsider"]
    response = client.post(
        f"/api/v1/incidents/{world.ref}/action-items",
        json={"title": "Audit access", "assignee_id": outsider.id},
        headers=api_as(client, db, world.people["declarer"]),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "assignee_id"
    assert "may not see" in response.json()["error"]["message"]
    db.rollback()
    assert db.scalar(select(func.count()).where(ActionItem.title == "Audit access")) == 0


# --- the API -------------------------------------------------------------------------------

READS = (
    "",
    "/timeline",
    "/updates",
    "/action-items",
    "/template?phase=resolved",
    "/alerts",
    "/paging",
    "/notifications",
    "/communication",
    "/stakeholders",
)


@pytest.mark.parametrize("who", SEES)
def test_the_api_shows_it_only_to_those_who_may_see_it(
    client: TestClient, db: Session, world: World, who: str
) -> None:
    headers = api_as(client, db, world.people[who])
    sees, ref = SEES[who], world.ref

    listed = client.get("/api/v1/incidents", headers=headers).json()
    titles = [i["title"] for i in listed["items"]]
    assert titles == ([PUBLIC, SECRET] if sees else [PUBLIC])
    assert listed["total"] == len(titles)
    # Pages count only what the reader may see.
    first = client.get("/api/v1/incidents", params={"limit": 1}, headers=headers).json()
    assert first["total"] == len(titles) and [i["title"] for i in first["items"]] == [PUBLIC]
    for q in ("vault", ref, str(world.incident.number)):
        found = client.get("/api/v1/incidents", params={"q": q}, headers=headers).json()
        assert [i["title"] for i in found["items"]] == ([SECRET] if sees else []), q
        assert found["total"] == (1 if sees else 0)

    for path in READS:
        response = client.get(f"/api/v1/incidents/{ref}{path}", headers=headers)
        if sees:
            assert response.status_code == 200, (path, response.text)
        else:
            # Exactly what a reference never used answers: its existence does not show.
            never = client.get(f"/api/v1/incidents/INC-999{path}", headers=headers)
            assert response.status_code == never.status_code == 404, path
            assert response.json()["error"]["message"] == f"no incident {ref}"
            assert never.json()["error"]["message"] == "no incident INC-999"
            assert SECRET not in response.text

    items = client.get("/api/v1/action-items", headers=headers).json()
    assert [i["title"] for i in items["items"]] == ([ITEM] if sees else [])
    assert items["total"] == (1 if sees else 0)
    mine = client.get(
        "/api/v1/action-items", params={"assignee": world.people["commander"].id}, headers=headers
    ).json()
    assert mine["total"] == (1 if sees else 0)


WRITES = (
    ("post", "/incidents/{ref}/acknowledge", None),
    ("post", "/incidents/{ref}/resolve", None),
    ("patch", "/incidents/{ref}", {"title": "Nothing to see"}),
    ("post", "/incidents/{ref}/notes", {"body": "I was here"}),
    ("post", "/incidents/{ref}/updates", {"phase": "identified", "body": "x"}),
    ("put", "/incidents/{ref}/roles/incident_commander", {"user_id": None}),
    ("post", "/incidents/{ref}/action-items", {"title": "x"}),
    ("patch", "/action-items/{item}", {"status": "done"}),
    ("put", "/incidents/{ref}/follow", None),
    ("post", "/incidents/{ref}/stakeholders", {"user_id": 1}),
    ("post", "/incidents/{ref}/escalate", {"level": 1}),
    ("post", "/incidents/{ref}/page", {"user_ids": [1]}),
)


def test_someone_not_involved_cannot_act_on_it_either(
    client: TestClient, db: Session, world: World
) -> None:
    headers = api_as(client, db, world.people["outsider"])
    before = db.scalar(select(func.count()).where(TimelineEntry.incident_id == world.incident.id))
    for method, path, body in WRITES:
        url = "/api/v1" + path.format(ref=world.ref, item=world.item.id)
        response = client.request(method.upper(), url, json=body, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert SECRET not in response.text
    db.rollback()
    after = db.scalar(select(func.count()).where(TimelineEntry.incident_id == world.incident.id))
    assert after == before
    assert db.get(ActionItem, world.item.id).status == "open"  # type: ignore[union-attr]


# --- the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", SEES)
def test_the_pages_show_it_only_to_those_who_may_see_it(
    client: TestClient, db: Session, world: World, who: str
) -> None:
    # The pages take an API token as well as a browser session.
    client.headers["Authorization"] = f"Bearer {token_for(db, world.people[who])}"
    sees, ref = SEES[who], world.ref
    for path in ("/incidents", "/incidents?q=vault", f"/incidents?q={ref}", "/action-items"):
        page = client.get(path)
        assert page.status_code == 200
        assert (SECRET in page.text) is sees, path
        assert (f'href="/incidents/{ref}"' in page.text) is sees, path
    assert (ITEM in client.get("/action-items").text) is sees
    for path in ("", "/alerts", "/template?phase=resolved"):
        page = client.get(f"/incidents/{ref}{path}")
        assert page.status_code == (200 if sees else 404), path
        if not sees:
            assert SECRET not in page.text
            never = client.get(f"/incidents/INC-999{path}")
            assert page.text.replace(ref, "INC-999") == never.text
    if who == "commander":
        assert ITEM in client.get("/action-items?show=mine").text


def test_its_forms_answer_404_to_someone_not_involved(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = browser_login(client, world.people["outsider"].email)
    ref = world.ref
    for path, data in (
        (f"/incidents/{ref}/status", {"status": "acknowledged"}),
        (f"/incidents/{ref}/notes", {"body": "I was here"}),
        (f"/incidents/{ref}/edit", {"title": "Nothing to see"}),
        (f"/incidents/{ref}/follow", {}),
        (f"/incidents/{ref}/paging/acknowledge", {}),
        (f"/action-items/{world.item.id}", {"status": "done"}),
    ):
        response = client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert response.status_code == 404, path
    db.rollback()
    assert db.get(Incident, world.incident.id).title == SECRET  # type: ignore[union-attr]
    assert db.get(ActionItem, world.item.id).status == "open"  # type: ignore[union-attr]


def test_metrics_never_name_an_incident(client: TestClient, db: Session, world: World) -> None:
    body = client.get("/metrics", headers=api_as(client, db, world.people["outsider"])).text
    assert "tocsin_incidents" in body
    for name in (SECRET, world.ref, PUBLIC, world.public.reference):
        assert name not in body


# --- the live stream and the CLI, on a real server ------------------------------------------


def _as(base: str, db: Session, user: User) -> httpx.Client:
    return httpx.Client(
        base_url=base, timeout=30, headers={"Authorization": f"Bearer {token_for(db, user)}"}
    )


def _events(lines, until: str, most: int = 200) -> list[str]:  # type: ignore[no-untyped-def]
    """The stream's lines up to the first starting with `until` (or `most` lines)."""
    seen = []
    for line in lines:
        seen.append(line)
        if line.startswith(until) or len(seen) >= most:
            break
    return seen


def test_the_live_stream_ends_when_its_watcher_may_no_longer_see_it(
    live_server: str, db: Session, world: World
) -> None:
    outsider = _as(live_server, db, world.people["outsider"])
    assert outsider.get(f"/incidents/{world.ref}/events").status_code == 404
    outsider.close()
    commander = _as(live_server, db, world.people["commander"])
    try:
        with commander.stream("GET", f"/incidents/{world.ref}/events") as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert _events(lines, "event: hello")[-1] == "event: hello"
            # An admin takes the role back and Cal off the members: he is no longer involved.
            role = queries.role_by_slug(db, "incident_commander")
            admin = world.people["admin"]
            incident_roles.assign_role(db, world.incident, role_id=role.id, user_id=None, by=admin)
            members.remove_member(
                db, world.incident, user_id=world.people["commander"].id, by=admin
            )
            db.commit()
            assert "event: gone" in _events(lines, "event: gone")
        assert commander.get(f"/incidents/{world.ref}").status_code == 404
    finally:
        commander.close()


def test_the_cli_shows_it_only_to_those_who_may_see_it(
    live_server: str, db: Session, world: World, tmp_path: Path
) -> None:
    runner = CliRunner()
    for who in ("outsider", "paged"):
        env = {"TOCSIN_CLI_CONFIG": str(tmp_path / f"{who}.json"), "COLUMNS": "200"}
        secret = token_for(db, world.people[who])
        assert runner.invoke(cli, ["login", live_server, "--token", secret], env=env).exit_code == 0
        listed = runner.invoke(cli, ["incident", "list", "--json"], env=env)
        titles = [i["title"] for i in json.loads(listed.stdout)["items"]]
        shown = runner.invoke(cli, ["incident", "show", world.ref, "--json"], env=env)
        noted = runner.invoke(cli, ["incident", "note", world.ref, "Seen from the CLI"], env=env)
        if SEES[who]:
            assert titles == [PUBLIC, SECRET]
            assert shown.exit_code == 0 and json.loads(shown.stdout)["title"] == SECRET
            assert noted.exit_code == 0, noted.output
        else:
            assert titles == [PUBLIC]
            assert shown.exit_code == 1 and f"no incident {world.ref}" in shown.output
            assert noted.exit_code == 1 and f"no incident {world.ref}" in noted.output


def test_the_html_list_paginates_over_what_the_reader_may_see(
    client: TestClient, db: Session, world: World
) -> None:
    admin = world.people["admin"]
    for n in range(30):
        incidents.declare(db, by=admin, title=f"Hidden {n}", restricted=True)
    db.commit()
    browser_login(client, world.people["outsider"].email)
    page = client.get("/incidents")
    assert "Hidden" not in page.text and PUBLIC in page.text
    assert "Older →" not in page.text  # one page: one incident to show
