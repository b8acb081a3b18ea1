"""Incidents run from Mattermost, end to end: the contract-checking fake Mattermost server
(tests/chat/mattermost_fake.py, which fails the test on any request outside Mattermost's
published API) calling a real Tocsin server on loopback, as Mattermost calls an
integration, and people acting as Mattermost users would.

Linking (one-time link, verified email), declaring through the interactive dialog, the
incident's channel (named, people invited, summary and header pinned, the header edited in
place), buttons and commands, 📌 found by the poll, Mattermost's rate limit and outages,
refused forgeries, archiving, and restricted incidents' private channels.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.chat import mattermost_fake as mm
from tests.chat.live import Live, serve
from tocsin.auth import service as auth_service
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.chat import channels, people, tasks
from tocsin.chat.models import (
    ChannelState,
    ChatChannel,
    ChatIdentity,
    ChatLinkRequest,
)
from tocsin.comms import stakeholders
from tocsin.config import Settings
from tocsin.definitions import service as definitions
from tocsin.definitions.models import Severity
from tocsin.escalation.engine import page_people
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, StatusUpdate, TimelineEntry
from tocsin.notify import methods

COMMAND_TOKEN = "cmd-token-abcdefghijklmnop"
LINK = re.compile(r"/chat/link/([\w-]+)")


@dataclass
class Stack(Live):
    fake: mm.Fake

    def command(self, text: str, user_id: str, channel_id: str, **kw: Any) -> httpx.Response:
        """`/tocsin <text>` typed by a Mattermost user, as Mattermost sends it to Tocsin."""
        return mm.send_command(
            self.route("commands"), kw.pop("token", COMMAND_TOKEN),
            text, user_id=user_id, channel_id=channel_id, **kw,
        )  # fmt: skip

    def poll(self) -> None:
        """The periodic poll's run (Mattermost pushes no reactions, edits or deletions)."""
        with self.session() as db:
            tasks.poll(db, {"slot": f"test-{time.monotonic_ns()}"})
            db.commit()

    def channel_of(self, incident_id: int) -> ChatChannel | None:
        """The incident's channel once open with its header posted."""
        with self.session() as db:
            found = db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))
            return found if found and found.remote_id and found.header_message_id else None

    def declare(self, by_id: int, title: str, **kw: Any) -> int:
        """Declare an incident in Tocsin, as the web page does (SEV1: it gets a channel)."""
        with self.session() as db:
            user = db.get(User, by_id)
            sev1 = db.scalar(select(Severity).where(Severity.name == "SEV1"))
            assert user is not None and sev1 is not None
            incident = incidents.declare(db, by=user, title=title, severity_id=sev1.id, **kw)
            db.commit()
            return incident.id


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    fake, fake_server = mm.serve()
    connection = {
        "name": "Mattermost",
        "vendor": "mattermost",
        "base_url": fake.url,
        "team": mm.TEAM_ID,
        "bot_user_id": mm.BOT_ID,
        "channel_severities": ["SEV1", "SEV2"],
        "archive_after_minutes": 0,
        "secrets": {"bot_token": mm.BOT_TOKEN, "command_token": COMMAND_TOKEN},
    }
    try:
        with serve(settings, connection) as live:
            yield Stack(live.container, live.settings, live.url, live.connection_id, fake)
    finally:
        fake_server.shutdown()
        fake_server.server_close()
    assert fake.violations == []


def _status(stack: Stack, incident_id: int) -> str:
    return stack.incident(incident_id).status


def _entries(stack: Stack, incident_id: int, kind: str | None = None) -> list[TimelineEntry]:
    with stack.session() as db:
        query = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        if kind is not None:
            query = query.where(TimelineEntry.kind == kind)
        found = list(db.scalars(query.order_by(TimelineEntry.id)))
        for entry in found:
            db.expunge(entry)
        return found


def _unescaped(markdown: str) -> str:
    """Text as Mattermost shows Tocsin's escaped Markdown."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _posts_in(stack: Stack, channel_id: str) -> list[dict[str, Any]]:
    return sorted(
        (p for p in stack.fake.posts.values() if p["channel_id"] == channel_id),
        key=lambda p: p["create_at"],
    )


def _card(post: dict[str, Any]) -> dict[str, Any]:
    cards: list[dict[str, Any]] = post["props"].get("attachments", [])
    return cards[0] if cards else {}


def _identity(stack: Stack, chat_user_id: str) -> int | None:
    with stack.session() as db:
        found = db.scalar(
            select(ChatIdentity).where(
                ChatIdentity.connection_id == stack.connection_id,
                ChatIdentity.chat_user_id == chat_user_id,
            )
        )
        return found.user_id if found else None


def test_an_unlinked_person_is_refused_with_a_link_or_linked_by_verified_email(
    stack: Stack, responder: User, admin: User
) -> None:
    fake = stack.fake
    town = fake.add_channel("town-square")
    # Alice's Mattermost email is not verified: only the one-time link can link her.
    alice = fake.add_user("alice", email=responder.email, verified=False)
    incident_id = stack.declare(admin.id, "Search is slow")
    ref = stack.incident(incident_id).reference

    answer = stack.command(f"ack {ref}", alice, town)

    assert answer.status_code == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"  # the link is for her eyes only
    shown = _unescaped(body["text"])
    assert "not linked" in shown and "nothing was done" in shown
    token = LINK.search(shown)
    assert token is not None and shown.startswith("Your chat account")
    assert f"{stack.url}/chat/link/" in shown
    stack.run_jobs()
    assert _status(stack, incident_id) == "triggered"
    assert _identity(stack, alice) is None  # her unverified email links nobody

    with stack.session() as db:
        user = db.get(User, responder.id)
        assert user is not None
        people.complete_link(db, token.group(1), user)
        db.commit()
    assert _identity(stack, alice) == responder.id
    again = stack.command(f"ack {ref}", alice, town)
    assert "acknowledged" in _unescaped(again.json()["text"])
    assert _status(stack, incident_id) == "acknowledged"

    # Bob's verified Mattermost email is his Tocsin email: refused once, then linked.
    bob = fake.add_user("bob", email=admin.email.upper(), verified=True)
    first = stack.command(f"status {ref}", bob, town)
    assert "not linked" in first.json()["text"]
    stack.wait_for("bob linked by his verified email", lambda: _identity(stack, bob) == admin.id)
    direct = next(c["id"] for c in fake.channels.values() if c["members"] == {mm.BOT_ID, bob})
    stack.wait_for(
        "the message telling him so",
        lambda: any("now linked to Ada Admin" in p["message"] for p in _posts_in(stack, direct)),
    )
    status = stack.command(f"status {ref}", bob, town)
    assert "acknowledged" in status.json()["text"]


def test_declare_with_the_dialog_then_run_the_incident_from_its_channel(
    stack: Stack, responder: User, admin: User
) -> None:
    fake = stack.fake
    town = fake.add_channel("town-square")
    alice = fake.add_user("alice", first="Alice", last="Liddell")
    bob = fake.add_user("bob", email=admin.email, verified=True)  # found by email later
    stack.link(alice, responder.id)
    with stack.session() as db:
        definitions.create_incident_type(
            db,
            {"name": "Breach", "fields": [{"key": "cve", "label": "CVE", "required": True}]},
        )
        db.commit()

    # `/tocsin declare Breach`: the dialog asks for the type's required field; left out, the
    # dialog answers with that field's error and nothing is declared.
    assert stack.command("declare Breach", alice, town).status_code == 200
    trigger = stack.wait_for("the Breach dialog", lambda: next(iter(fake.dialogs), None))
    dialog = fake.dialogs[trigger]["dialog"]
    assert [e["name"] for e in dialog["elements"]] == ["title", "severity", "services", "field:cve"]
    refused = fake.submit(trigger, alice, town, {"title": "Leaked key", "field:cve": ""})
    del fake.dialogs[trigger]
    assert refused.status_code == 200
    assert list(refused.json()["errors"]) == ["field:cve"]
    assert "CVE" in refused.json()["errors"]["field:cve"]
    with stack.session() as db:
        assert db.scalar(select(Incident)) is None

    # `/tocsin declare`: the dialog; submitted, the incident is declared as Alice's Tocsin user.
    stack.command("declare", alice, town)
    trigger = stack.wait_for("the dialog", lambda: next(iter(fake.dialogs), None))
    dialog = fake.dialogs[trigger]["dialog"]
    assert dialog["title"] == "Declare an incident"
    severity = next(e for e in dialog["elements"] if e["name"] == "severity")
    sev1 = next(o["value"] for o in severity["options"] if o["text"].startswith("SEV1"))
    submitted = fake.submit(trigger, alice, town, {"title": "Database is down", "severity": sev1})
    assert submitted.status_code == 200
    assert not submitted.content or "errors" not in submitted.json()
    with stack.session() as db:
        incident = db.scalar(select(Incident).where(Incident.title == "Database is down"))
        assert incident is not None
        incident_id, number, ref = incident.id, incident.number, incident.reference
        assert incident.created_by_id == responder.id
        assert incident.severity is not None and incident.severity.name == "SEV1"
        expected_name = channels.channel_name("inc-{number}-{title}", incident)
    stack.wait_for(
        "the confirmation in the channel",
        lambda: any(f"Declared {ref}" in p["message"] for p in _posts_in(stack, town)),
    )

    # Its channel: named by the scheme, Alice invited, the summary and the header pinned.
    channel = stack.wait_for("the incident's channel", lambda: stack.channel_of(incident_id))
    made = fake.channels[channel.remote_id]
    assert made["name"] == expected_name == f"inc-{number}-database-is-down"
    assert made["type"] == "O" and made["members"] == {mm.BOT_ID, alice}
    header = fake.posts[channel.header_message_id]
    summary = fake.posts[channel.summary_message_id]
    assert header["is_pinned"] and summary["is_pinned"]
    assert _card(summary)["title"] == f"Summary of {ref}: Database is down"
    assert _card(header)["title"] == f"{ref}: Database is down"
    assert {"title": "Status", "value": "Triggered", "short": True} in _card(header)["fields"]
    assert [(a["name"], a.get("type")) for a in _card(header)["actions"]] == [
        ("Acknowledge", "button"), ("Change severity", "select"), ("Post an update", "button"),
        ("Resolve", "button"),
    ]  # fmt: skip

    # Acknowledge on the header: done as Alice's Tocsin user; the header is edited in place.
    pressed = fake.click(channel.header_message_id, "ack0", alice)
    assert pressed.status_code == 200
    assert "Rita Responder acknowledged" in _unescaped(pressed.json()["ephemeral_text"])
    assert _status(stack, incident_id) == "acknowledged"
    stack.wait_for(
        "the header edited in place",
        lambda: (
            {"title": "Status", "value": "Acknowledged", "short": True}
            in _card(fake.posts[channel.header_message_id])["fields"]
        ),
    )
    assert fake.posts[channel.header_message_id]["edit_at"] > 0
    titles = [_card(p).get("title") for p in _posts_in(stack, channel.remote_id)]
    assert titles.count(f"{ref}: Database is down") == 1  # edited, never posted again
    assert "Acknowledge" not in [a["name"] for a in _card(header).get("actions", [])]
    acked = [e for e in _entries(stack, incident_id, "status_changed")]
    assert acked and acked[-1].actor_id == responder.id

    # Commands in the incident's channel, each on the incident as Alice's Tocsin user.
    here = channel.remote_id
    said = stack.command("sev SEV2", alice, here).json()["text"]
    assert "severity to SEV2" in said
    said = _unescaped(stack.command(f"role scribe {admin.email}", alice, here).json()["text"])
    assert said == f"Ada Admin is now Scribe of {ref}."
    said = _unescaped(stack.command("note Failover started", alice, here).json()["text"])
    assert said == f"Added to {ref}'s timeline."
    said = _unescaped(stack.command("update", alice, here).json()["text"])
    assert said == f"Rita Responder posted an internal investigating update on {ref}."
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        assert incident is not None and incident.severity is not None
        assert incident.severity.name == "SEV2"
        assert [(a.role.slug, a.user_id) for a in incident.role_assignments if
                a.role.slug == "scribe"] == [("scribe", admin.id)]  # fmt: skip
        update = db.scalar(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id))
        assert update is not None and update.author_id == responder.id
        assert update.phase == "investigating" and update.body.strip()
        template_body = update.body
    notes = [e for e in _entries(stack, incident_id) if "Failover started" in e.body + e.summary]
    assert notes and notes[0].actor_id == responder.id
    # The update is posted in the channel; Bob (the scribe, found by his verified email) is
    # invited and linked; the header shows it all.
    stack.wait_for(
        "the update in the channel",
        lambda: any(template_body[:40] in _unescaped(p["message"]) + str(_card(p))
                    for p in _posts_in(stack, here)),
    )  # fmt: skip
    stack.wait_for("Bob invited", lambda: bob in fake.channels[here]["members"])
    assert _identity(stack, bob) == admin.id
    stack.wait_for(
        "the header's severity and roles",
        lambda: (
            {"title": "Roles", "value": "Scribe: Ada Admin", "short": False}
            in _card(fake.posts[channel.header_message_id])["fields"]
            and any(
                "SEV2" in f["value"] for f in _card(fake.posts[channel.header_message_id])["fields"]
            )
        ),
    )

    said = _unescaped(
        stack.command("resolve Failed over to the replica", alice, here).json()["text"]
    )
    assert said == f"Rita Responder resolved {ref}."
    assert _status(stack, incident_id) == "resolved"
    stack.wait_for(
        "the header showing it resolved",
        lambda: (
            {"title": "Status", "value": "Resolved", "short": True}
            in _card(fake.posts[channel.header_message_id])["fields"]
        ),
    )
    # Each command is on the timeline, done by Alice's Tocsin user.
    by_alice = {e.kind for e in _entries(stack, incident_id) if e.actor_id == responder.id}
    assert {
        "created", "status_changed", "field_changed", "role_assigned", "note", "update_posted",
    } <= by_alice, by_alice  # fmt: skip
    resolved = _entries(stack, incident_id, "status_changed")[-1]
    assert "resolved" in resolved.summary.lower() and resolved.actor_id == responder.id
    assert any(
        "Failed over to the replica" in e.body + e.summary
        for e in _entries(stack, incident_id, "resolution_note")
    )
    assert [_card(p).get("title") for p in _posts_in(stack, here)].count(
        f"{ref}: Database is down"
    ) == 1


def test_an_incident_declared_in_tocsin_gets_its_channel_and_pins_follow_the_poll(
    stack: Stack, responder: User
) -> None:
    fake = stack.fake
    alice = fake.add_user("alice", first="Alice", last="Liddell")
    stack.link(alice, responder.id)
    incident_id = stack.declare(responder.id, "Checkout fails")

    channel = stack.wait_for("the incident's channel", lambda: stack.channel_of(incident_id))
    assert fake.channels[channel.remote_id]["members"] == {mm.BOT_ID, alice}
    assert fake.posts[channel.header_message_id]["is_pinned"]

    # 📌 on Alice's message: the poll finds it, and it goes on the timeline as hers.
    said = fake.add_post(channel.remote_id, alice, "Rolled back the deploy")
    fake.react(said, alice, "pushpin")
    fake.react(said, alice, "smile")  # other reactions are nothing to Tocsin

    def entry(words: str) -> TimelineEntry | None:
        found = _entries(stack, incident_id, "chat_message")
        return found[0] if len(found) == 1 and words in found[0].body + found[0].summary else None

    def polled(what: str, check: Callable[[], Any]) -> Any:
        def again() -> Any:
            stack.poll()
            return check()

        return stack.wait_for(what, again)

    pinned = polled("the pinned message on the timeline", lambda: entry("Rolled back the deploy"))
    assert pinned.actor_id == responder.id
    assert f"#{channel.name}" in pinned.summary
    assert pinned.occurred_at.timestamp() == pytest.approx(
        fake.posts[said]["create_at"] / 1000, abs=1
    )

    fake.edit(said, "Rolled back deploy 42")
    polled("the edit on the timeline", lambda: entry("Rolled back deploy 42"))
    fake.delete(said)
    deleted = polled("the deletion on the timeline", lambda: entry("deleted in chat"))
    assert deleted.body == ""
    assert len(_entries(stack, incident_id, "chat_message")) == 1


def test_buttons_act_as_the_presser_and_a_viewer_changes_nothing(
    stack: Stack, responder: User, admin: User, viewer: User
) -> None:
    fake = stack.fake
    alice = fake.add_user("alice")
    vic = fake.add_user("vic")
    stack.link(alice, responder.id)
    stack.link(vic, viewer.id)
    incident_id = stack.declare(admin.id, "Login fails")
    channel = stack.wait_for("the incident's channel", lambda: stack.channel_of(incident_id))

    pressed = fake.click(channel.header_message_id, "ack0", vic)
    assert pressed.status_code == 200
    assert "needs the responder role" in _unescaped(pressed.json()["ephemeral_text"])
    stack.run_jobs()
    assert _status(stack, incident_id) == "triggered"
    assert {"title": "Status", "value": "Triggered", "short": True} in _card(
        fake.posts[channel.header_message_id]
    )["fields"]

    # The header's severity menu: choosing changes the severity as the chooser.
    ref = stack.incident(incident_id).reference
    chosen = fake.click(channel.header_message_id, "sev1", alice, choose=f"{ref} SEV2")
    assert chosen.status_code == 200
    assert "severity to SEV2" in _unescaped(chosen.json()["ephemeral_text"])
    changed = [e for e in _entries(stack, incident_id) if e.field == "severity"]
    assert changed and changed[-1].actor_id == responder.id

    # A page in chat: a direct message from the bot with the page's buttons; Acknowledge
    # acknowledges as the person paged.
    with stack.session() as db:
        user = db.get(User, responder.id)
        boss = db.get(User, admin.id)
        assert user is not None and boss is not None
        method, _ = methods.create_contact_method(
            db, user, by=user, kind="chat", target=str(stack.connection_id),
            settings=stack.settings,
        )  # fmt: skip
        for urgency in ("high", "low"):
            methods.create_rule(db, user, by=user, urgency=urgency, contact_method_id=method.id)
        paged = incidents.declare(db, by=boss, title="Queue backlog", urgency="none")
        page_people(db, paged, by=boss, user_ids=[user.id])
        db.commit()
        paged_id, paged_ref = paged.id, paged.reference

    def page() -> dict[str, Any] | None:
        for post in fake.posts.values():
            where = fake.channels[post["channel_id"]]
            if where["type"] == "D" and alice in where["members"] and paged_ref in post["message"]:
                return post
        return None

    found = stack.wait_for("the page in a direct message", page)
    assert [a["name"] for a in _card(found)["actions"]] == ["Acknowledge", "Resolve"]
    pressed = fake.click(found["id"], "ack0", alice)
    assert pressed.status_code == 200
    assert "Rita Responder acknowledged" in _unescaped(pressed.json()["ephemeral_text"])
    assert _status(stack, paged_id) == "acknowledged"
    entries = _entries(stack, paged_id, "status_changed")
    assert entries and entries[-1].actor_id == responder.id


def test_a_rate_limited_channel_is_created_after_the_wait_the_incident_unharmed(
    stack: Stack, responder: User
) -> None:
    fake = stack.fake
    fake.fail(429, None, 1, **{"Retry-After": "1"})

    started = time.monotonic()
    incident_id = stack.declare(responder.id, "Payments slow")
    stack.run_jobs()

    assert [r.path for r in fake.requests] == ["/api/v4/channels"]
    assert fake.channels == {}
    with stack.session() as db:
        row = db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))
        assert row is not None and row.state == ChannelState.creating.value
        assert "HTTP 429" in row.error and "wait 1 s" in row.error
    assert _status(stack, incident_id) == "triggered"
    stack.run_jobs()
    assert len(fake.requests) == 1  # not before the wait Mattermost asked for

    channel = stack.wait_for("the channel after the wait", lambda: stack.channel_of(incident_id))
    assert time.monotonic() - started >= 1.0
    assert fake.channels[channel.remote_id]["name"].startswith("inc-")
    with stack.session() as db:
        row = db.get(ChatChannel, channel.id)
        assert row is not None and row.error == "" and row.state == ChannelState.open.value


def test_a_mattermost_outage_never_blocks_tocsin_and_the_channel_catches_up(
    stack: Stack, responder: User, admin: User
) -> None:
    fake = stack.fake
    fake.fail(500, None, 10_000)
    token = _api_token(stack, responder)

    incident_id = stack.declare(responder.id, "Disk full")
    stack.run_jobs()
    assert fake.requests  # the outage has begun: Mattermost answered 500
    ack = httpx.post(
        f"{stack.url}/api/v1/incidents/{stack.incident(incident_id).reference}/acknowledge",
        headers={"Authorization": f"Bearer {token}"}, timeout=30,
    )  # fmt: skip
    assert ack.status_code == 200, ack.text  # Mattermost's 500s are not the request's
    stack.run_jobs()
    assert _status(stack, incident_id) == "acknowledged"
    assert fake.channels == {} and len(fake.requests) >= 1
    with stack.session() as db:
        row = db.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))
        assert row is not None and row.state == ChannelState.creating.value
        assert "HTTP 500" in row.error

    with fake.lock:
        fake.failures.clear()  # Mattermost is back
    channel = stack.wait_for("the channel after the outage", lambda: stack.channel_of(incident_id))
    assert {"title": "Status", "value": "Acknowledged", "short": True} in _card(
        fake.posts[channel.header_message_id]
    )["fields"]
    assert fake.posts[channel.summary_message_id]["is_pinned"]


def _api_token(stack: Stack, user: User) -> str:
    with stack.session() as db:
        found = db.get(User, user.id)
        assert found is not None
        _, secret = auth_service.create_api_token(db, found, "test")
        db.commit()
    return secret


def test_forged_requests_are_refused_and_act_on_nothing(
    stack: Stack, responder: User, admin: User
) -> None:
    fake = stack.fake
    town = fake.add_channel("town-square")
    alice = fake.add_user("alice")
    stack.link(alice, responder.id)
    incident_id = stack.declare(admin.id, "Forged")
    channel = stack.wait_for("the incident's channel", lambda: stack.channel_of(incident_id))
    ref = stack.incident(incident_id).reference
    route = f"{stack.url}/chat/{stack.connection_id}"

    # A slash command with another token.
    assert stack.command(f"ack {ref}", alice, town, token="not-the-token").status_code == 401
    # A button press whose context lacks the connection's action secret.
    header = fake.posts[channel.header_message_id]
    body = {
        "user_id": alice, "channel_id": channel.remote_id, "post_id": header["id"],
        "context": {"action": "ack", "value": ref, "secret": "guessed"},
    }  # fmt: skip
    assert httpx.post(f"{route}/actions", json=body, timeout=30).status_code == 401
    # A dialog submission whose state's signature is not Tocsin's.
    stack.command("declare", alice, town)
    trigger = stack.wait_for("the dialog", lambda: next(iter(fake.dialogs), None))
    forged = fake.submit(trigger, alice, town, {"title": "Forged declare"}, state="1.deadbeef")
    assert forged.status_code == 401
    # A command with a token but none in the body.
    no_body_token = httpx.post(
        f"{route}/commands", content=f"user_id={alice}&channel_id={town}&text=ack+{ref}",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": f"Token {COMMAND_TOKEN}"}, timeout=30,
    )  # fmt: skip
    assert no_body_token.status_code == 401

    stack.run_jobs()
    assert _status(stack, incident_id) == "triggered"
    with stack.session() as db:
        assert db.scalar(select(Incident).where(Incident.title == "Forged declare")) is None
        assert db.scalar(select(func.count()).select_from(ChatLinkRequest)) == 0

    # The control: the same press and command, genuine, act (the token in the body alone
    # is how older Mattermost servers send it).
    assert fake.click(header["id"], "ack0", alice).status_code == 200
    assert _status(stack, incident_id) == "acknowledged"
    genuine = mm.send_command(
        f"{route}/commands", COMMAND_TOKEN, f"status {ref}", user_id=alice, channel_id=town,
        header=False,
    )  # fmt: skip
    assert genuine.status_code == 200 and "acknowledged" in genuine.json()["text"]


def test_closing_archives_the_channel_without_deleting_it(stack: Stack, responder: User) -> None:
    fake = stack.fake
    alice = fake.add_user("alice")
    stack.link(alice, responder.id)
    incident_id = stack.declare(responder.id, "Cache stampede")
    channel = stack.wait_for("the incident's channel", lambda: stack.channel_of(incident_id))
    with stack.session() as db:
        user = db.get(User, responder.id)
        incident = db.get(Incident, incident_id)
        assert user is not None and incident is not None
        incidents.resolve(db, incident, by=user, summary="Warmed the cache")
        db.commit()
    stack.run_jobs()
    assert fake.channels[channel.remote_id]["delete_at"] == 0  # resolved is not closed

    with stack.session() as db:
        user = db.get(User, responder.id)
        incident = db.get(Incident, incident_id)
        assert user is not None and incident is not None
        incidents.close(db, incident, by=user)
        db.commit()

    def archived() -> ChatChannel | None:
        with stack.session() as db:
            found = db.get(ChatChannel, channel.id)
            return found if found and found.state == ChannelState.archived.value else None

    done = stack.wait_for("the channel archived", archived)
    assert done.archived_at is not None
    kept = fake.channels[channel.remote_id]
    assert kept["delete_at"] > 0  # Mattermost's archive: the channel and its posts stay
    assert channel.header_message_id in fake.posts and channel.summary_message_id in fake.posts
    assert not any(r.method == "DELETE" and "permanent" in r.query for r in fake.requests)
    assert {"title": "Status", "value": "Closed", "short": True} in _card(
        fake.posts[channel.header_message_id]
    )["fields"]
    assert any("was archived" in e.summary for e in _entries(stack, incident_id, "chat_channel"))


def test_a_restricted_incident_gets_a_private_channel_with_only_those_allowed(
    stack: Stack, responder: User, admin: User, viewer: User
) -> None:
    fake = stack.fake
    alice = fake.add_user("alice")  # the commander
    rob = fake.add_user("rob")  # a responder not involved
    ada = fake.add_user("ada")  # an admin, who declares it
    vic = fake.add_user("vic")  # a viewer in a team that follows it: may not see it
    with stack.session() as db:
        other = catalog.create_user(
            db, name="Rob Other", email="rob@example.com", role="responder", password="x" * 12
        )
        team = catalog.create_team(db, name="Security", member_ids=[viewer.id, responder.id])
        db.commit()
        other_id, team_id = other.id, team.id
    stack.link(alice, responder.id)
    stack.link(rob, other_id)
    stack.link(ada, admin.id)
    stack.link(vic, viewer.id)
    incident_id = stack.declare(
        admin.id, "Leaked credentials", restricted=True, commander_id=responder.id
    )
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        boss = db.get(User, admin.id)
        assert incident is not None and boss is not None
        stakeholders.add(db, incident, by=boss, team_id=team_id)
        db.commit()
    channel = stack.wait_for("the private channel", lambda: stack.channel_of(incident_id))

    made = fake.channels[channel.remote_id]
    assert made["type"] == "P"
    assert made["members"] == {mm.BOT_ID, alice, ada}
    assert rob not in made["members"] and vic not in made["members"]
    # The same after a change of roles: Rob and Vic are still left out.
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        boss = db.get(User, admin.id)
        assert incident is not None and boss is not None
        scribe = next(r for r in definitions.roles(db) if r.slug == "scribe")
        incident_roles.assign_role(db, incident, role_id=scribe.id, user_id=admin.id, by=boss)
        db.commit()
    stack.run_jobs()
    assert fake.channels[channel.remote_id]["members"] == {mm.BOT_ID, alice, ada}
    assert len([c for c in fake.channels.values() if c["type"] in ("O", "P")]) == 1
