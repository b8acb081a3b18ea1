"""Incidents run from Matrix, end to end: a real Synapse homeserver pushing to a real Tocsin
server on loopback, people acting as Matrix users would.

Declaring with `!tocsin declare` (asked in turn), the incident's room made with the linked
responder invited and the header and summary pinned, a message pinned to the timeline with
📌 (then edited and redacted), acknowledging by command and by ✅ on the header, and an
unlinked person refused with a one-time link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from tests.chat.live import Live, serve
from tests.chat.synapse import Person, Synapse, start_synapse
from tocsin.catalog.models import User
from tocsin.chat import connections, people
from tocsin.chat.models import ChannelState, ChatChannel, ChatConnection
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.escalation.engine import page_people
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.notify import methods


@dataclass
class Stack(Live):
    synapse: Synapse

    def bot(self, method: str, path: str) -> dict[str, Any]:
        response = httpx.request(
            method,
            f"{self.synapse.base_url}/_matrix/client/v3{path}",
            headers={"Authorization": f"Bearer {self.synapse.as_token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    connection = {
        "name": "Matrix",
        "vendor": "matrix",
        "base_url": "http://127.0.0.1:1",  # the homeserver's, once it is started
        "team": "tocsin.test",
        "bot_user_id": "@tocsin:tocsin.test",
        "channel_severities": ["SEV1", "SEV2"],
    }
    with serve(settings, connection) as live:
        with live.session() as db:
            found = db.get(ChatConnection, live.connection_id)
            assert found is not None
            tokens = connections.secrets_of(found, live.settings)
        with start_synapse(
            tmp_path / "synapse",
            appservice_url=f"{live.url}/chat/{live.connection_id}",
            as_token=tokens["as_token"],
            hs_token=tokens["hs_token"],
        ) as synapse:
            with live.session() as db:
                found = db.get(ChatConnection, live.connection_id)
                assert found is not None
                connections.update_connection(
                    db, found, {"base_url": synapse.base_url}, settings=live.settings
                )
                db.commit()
            yield Stack(live.container, live.settings, live.url, live.connection_id, synapse)


def _bodies(person: Person, room: str) -> list[str]:
    return [str(e.get("content", {}).get("body", "")) for e in person.messages(room)]


def _link(stack: Stack, person: Person, room: str, user_email: str) -> None:
    """The unlinked person's command is refused with a one-time link in a direct message;
    opening it signed in links them."""
    person.say(room, "!tocsin ack INC-1")

    def dm_link() -> str | None:
        path = f"/user/{quote('@tocsin:tocsin.test')}/account_data/m.direct"
        try:
            direct = stack.bot("GET", path)
        except AssertionError:  # not written yet
            return None
        for room_id in direct.get(person.user_id, []):
            path = f"/rooms/{quote(room_id)}/messages?dir=b&limit=20"
            for event in stack.bot("GET", path)["chunk"]:
                found = re.search(r"/chat/link/([\w-]+)", str(event["content"].get("body", "")))
                if found:
                    return found.group(1)
        return None

    token = stack.wait_for("the link in a direct message", dm_link)
    with stack.session() as db:
        user = db.scalar(select(User).where(User.email == user_email))
        assert user is not None
        people.complete_link(db, token, user)
        db.commit()


def _quiet(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except AssertionError:
        return None


def test_declare_room_pin_and_acknowledge_from_matrix(stack: Stack, responder: User) -> None:
    alice = stack.synapse.register("alice")
    room = alice.ok("POST", "/createRoom", {"name": "ops", "invite": ["@tocsin:tocsin.test"]})[
        "room_id"
    ]
    stack.wait_for(
        "the bot to join the room it was invited to",
        lambda: (
            _quiet(lambda: alice.state(room, "m.room.member", "@tocsin:tocsin.test"))
            and alice.state(room, "m.room.member", "@tocsin:tocsin.test").get("membership")
            == "join"
        ),
    )
    # Unlinked: nothing is done, the link comes privately.
    with stack.session() as db:
        assert db.scalar(select(Incident)) is None
    _link(stack, alice, room, responder.email)

    # Declaring, asked in turn.
    alice.say(room, "!tocsin declare Database is down")
    stack.wait_for(
        "the question of the type", lambda: any("Which type" in b for b in _bodies(alice, room))
    )
    alice.say(room, "!tocsin -")
    stack.wait_for(
        "the question of the severity",
        lambda: any("Which severity" in b for b in _bodies(alice, room)),
    )
    alice.say(room, "!tocsin SEV1")
    stack.wait_for(
        "the question of the services",
        lambda: any("Which services" in b for b in _bodies(alice, room)),
    )
    alice.say(room, "!tocsin -")

    def declared() -> Incident | None:
        with stack.session() as db:
            return db.scalar(select(Incident).where(Incident.title == "Database is down"))

    incident = stack.wait_for("the incident to be declared", declared)
    assert incident.created_by_id == responder.id
    stack.wait_for(
        "the confirmation",
        lambda: any(f"Declared {incident.reference}" in b for b in _bodies(alice, room)),
    )

    # Its room: named from the reference and title, the responder invited, header and
    # summary pinned.
    def opened() -> ChatChannel | None:
        with stack.session() as db:
            found = db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident.id))
            return (
                found
                if found and found.state == ChannelState.open.value and found.header_message_id
                else None
            )

    channel = stack.wait_for("the incident's room", opened)
    inc_room = channel.remote_id
    assert channel.name.startswith(f"inc-{incident.number}-database-is-down")
    member = stack.bot(
        "GET", f"/rooms/{quote(inc_room)}/state/m.room.member/{quote(alice.user_id)}"
    )
    assert member["membership"] == "invite"
    alice.join(inc_room)
    pinned = alice.state(inc_room, "m.room.pinned_events")["pinned"]
    assert channel.header_message_id in pinned and channel.summary_message_id in pinned
    header = alice.ok("GET", f"/rooms/{quote(inc_room)}/event/{quote(channel.header_message_id)}")
    assert "Triggered" in header["content"]["body"] and "SEV1" in header["content"]["body"]

    # 📌 puts a message on the timeline, as its author, at its time; an edit and a
    # redaction follow it there.
    said = alice.say(inc_room, "Rolled back the deploy")
    alice.react(inc_room, said, "📌")

    def entry(text: str) -> TimelineEntry | None:
        with stack.session() as db:
            found = db.scalar(
                select(TimelineEntry).where(
                    TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "chat_message"
                )
            )
            return found if found is not None and text in (found.body + found.summary) else None

    pinned_entry = stack.wait_for(
        "the pinned message on the timeline", lambda: entry("Rolled back the deploy")
    )
    assert pinned_entry.actor_id == responder.id
    assert f"#{channel.name}" in pinned_entry.summary
    alice.edit(inc_room, said, "Rolled back deploy 42")
    stack.wait_for("the edit on the timeline", lambda: entry("Rolled back deploy 42"))

    # Acknowledging by command: paging stops, the header follows.
    alice.say(inc_room, "!tocsin ack")

    def status() -> str:
        with stack.session() as db:
            found = db.get(Incident, incident.id)
            return found.status if found else ""

    stack.wait_for("the acknowledgement", lambda: status() == "acknowledged")
    stack.wait_for(
        "the header edited in place",
        lambda: any(
            e.get("content", {}).get("m.relates_to", {}).get("event_id")
            == channel.header_message_id
            and "Acknowledged" in e["content"].get("m.new_content", {}).get("body", "")
            for e in alice.messages(inc_room)
        ),
    )
    alice.redact(inc_room, said)
    stack.wait_for("the deletion on the timeline", lambda: entry("deleted in chat"))
    assert entry("deleted in chat").body == ""


def test_an_incident_declared_in_tocsin_gets_a_room_and_is_acknowledged_by_reaction(
    stack: Stack, responder: User
) -> None:
    alice = stack.synapse.register("alice")
    with stack.session() as db:
        user = db.get(User, responder.id)
        connection = db.get(ChatConnection, stack.connection_id)
        assert user is not None and connection is not None
        people.link(db, connection, alice.user_id, user, via="link")
        sev1 = db.scalar(select(Severity).where(Severity.name == "SEV1"))
        assert sev1 is not None
        incident = incidents.declare(db, by=user, title="Checkout fails", severity_id=sev1.id)
        db.commit()
        incident_id = incident.id

    def opened() -> ChatChannel | None:
        with stack.session() as db:
            found = db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))
            return found if found and found.header_message_id else None

    channel = stack.wait_for("the incident's room", opened)
    alice.join(channel.remote_id)
    alice.react(channel.remote_id, channel.header_message_id, "✅")

    def status() -> str:
        with stack.session() as db:
            found = db.get(Incident, incident_id)
            return found.status if found else ""

    stack.wait_for("the acknowledgement by reaction", lambda: status() == "acknowledged")
    with stack.session() as db:
        found = db.get(Incident, incident_id)
        assert found is not None and found.acknowledged_at is not None


def test_a_page_in_matrix_is_acknowledged_by_its_reaction(
    stack: Stack, responder: User, admin: User
) -> None:
    """A page delivered by the bot in a direct room carries the incident; ✅ on it
    acknowledges as the person paged, like the page's link."""
    alice = stack.synapse.register("alice")
    with stack.session() as db:
        user = db.get(User, responder.id)
        boss = db.get(User, admin.id)
        connection = db.get(ChatConnection, stack.connection_id)
        assert user is not None and boss is not None and connection is not None
        people.link(db, connection, alice.user_id, user, via="link")
        method, _ = methods.create_contact_method(
            db, user, by=user, kind="chat", target=str(connection.id), settings=stack.settings
        )
        for urgency in ("high", "low"):
            methods.create_rule(db, user, by=user, urgency=urgency, contact_method_id=method.id)
        incident = incidents.declare(db, by=boss, title="Queue backlog", urgency="none")
        page_people(db, incident, by=boss, user_ids=[user.id])
        db.commit()
        incident_id, reference = incident.id, incident.reference

    def page_in_dm() -> tuple[str, str] | None:
        path = f"/user/{quote('@tocsin:tocsin.test')}/account_data/m.direct"
        try:
            direct = stack.bot("GET", path)
        except AssertionError:
            return None
        for room_id in direct.get(alice.user_id, []):
            for event in stack.bot("GET", f"/rooms/{quote(room_id)}/messages?dir=b&limit=20")[
                "chunk"
            ]:
                body = str(event.get("content", {}).get("body", ""))
                if reference in body and f"!tocsin ack {reference}" in body:
                    return room_id, str(event["event_id"])
        return None

    room_id, event_id = stack.wait_for("the page in a direct room", page_in_dm)
    alice.join(room_id)
    alice.react(room_id, event_id, "✅")

    def status() -> str:
        with stack.session() as db:
            found = db.get(Incident, incident_id)
            return found.status if found else ""

    stack.wait_for("the acknowledgement by the page's reaction", lambda: status() == "acknowledged")
    with stack.session() as db:
        entries = db.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        ).all()
        assert any(e.actor_id == responder.id and e.kind == "status_changed" for e in entries)
