"""Incidents run from Slack, end to end: Slack's signed requests sent to a real Tocsin server
on loopback, and Tocsin's jobs calling the contract-checking fake of Slack's Web API
(slack_fake.py), people acting as Slack users would.

Linking (one-time link, verified email), declaring with the modal, the incident's channel
(named, people invited, summary and header pinned, the header edited in place), buttons and
commands, 📌 to the timeline with its edit and deletion, a rate limit and an outage that
never hold up an incident, signatures, archiving, and a restricted incident's private
channel. Every test ends with no request off the Web API's contract.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.chat import slack_fake
from tests.chat.live import Live, serve
from tests.chat.slack_fake import BOT_TOKEN, BOT_USER, SIGNING_SECRET, TEAM, Fake, SlackChannel
from tests.conftest import token_for
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.chat import connections, people
from tocsin.chat.models import ChannelState, ChatChannel, ChatConnection, ChatIdentity
from tocsin.comms import stakeholders
from tocsin.config import Settings
from tocsin.definitions.models import IncidentRole, IncidentType, Severity
from tocsin.escalation.engine import page_people
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, RoleAssignment, StatusUpdate, TimelineEntry
from tocsin.notify import methods

FORM = "application/x-www-form-urlencoded"
ALICE, BOB, SAM, VIC = "U0ALICE", "U0BOB", "U0SAM", "U0VIC"


@dataclass
class Stack(Live):
    fake: Fake

    def diagnose(self) -> str:
        return f"; calls: {[name for name, _ in self.fake.calls]}"

    def command(self, words: str, *, user: str = ALICE, channel: str = "C0OPS") -> httpx.Response:
        """`/tocsin <words>` typed by `user` in `channel`, as Slack posts it."""
        body = slack_fake.slash_command(words, user=user, channel=channel)
        return slack_fake.send(self.route("commands"), body, content_type=FORM)

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = slack_fake.interaction(payload)
        return slack_fake.send(self.route("interactivity"), body, content_type=FORM)

    def event(self, inner: dict[str, Any]) -> httpx.Response:
        body = slack_fake.event(inner)
        return slack_fake.send(self.route("events"), body, content_type="application/json")

    def press(self, user: str, channel: str, ts: str, action: str, value: str) -> httpx.Response:
        """`user` presses the button `action` on the message `ts`."""
        return self.interact(
            {
                "type": "block_actions", "user": {"id": user, "name": user.lower()},
                "team": {"id": TEAM}, "api_app_id": "A0TOCSIN",
                "trigger_id": "trigger-1.2.3", "container": {
                    "type": "message", "message_ts": ts, "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel}, "message": {"ts": ts, "type": "message"},
                "actions": [{"type": "button", "action_id": f"tocsin:{action}",
                             "block_id": "b1", "value": value, "action_ts": "1.2"}],
            }
        )  # fmt: skip

    def choose(self, user: str, channel: str, ts: str, action: str, value: str) -> httpx.Response:
        """`user` picks the option `value` of the menu `action` on the message `ts`."""
        header = self.fake.channels[channel].messages[ts]
        options = [
            option["value"]
            for block in header.get("blocks", [])
            if block.get("type") == "actions"
            for element in block["elements"]
            if element.get("action_id") == f"tocsin:{action}"
            for option in element.get("options", [])
        ]
        assert value in options, f"{value!r} is not among the menu's options {options}"
        return self.interact(
            {
                "type": "block_actions", "user": {"id": user, "name": user.lower()},
                "team": {"id": TEAM}, "api_app_id": "A0TOCSIN",
                "trigger_id": "trigger-1.2.4", "container": {
                    "type": "message", "message_ts": ts, "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel}, "message": {"ts": ts, "type": "message"},
                "actions": [{"type": "static_select", "action_id": f"tocsin:{action}",
                             "block_id": "b1", "action_ts": "1.3",
                             "selected_option": {"text": {"type": "plain_text", "text": value},
                                                 "value": value}}],
            }
        )  # fmt: skip

    def opened(self, incident_id: int) -> ChatChannel:
        """The incident's channel once made, with its header pinned."""

        def ready() -> ChatChannel | None:
            found = self.channel_row(incident_id)
            return (
                found
                if found is not None
                and found.state == ChannelState.open.value
                and found.header_message_id
                and found.summary_message_id
                else None
            )

        found: ChatChannel = self.wait_for("the incident's channel", ready)
        return found

    def entries(self, incident_id: int) -> list[TimelineEntry]:
        with self.session() as db:
            return list(
                db.scalars(
                    select(TimelineEntry)
                    .where(TimelineEntry.incident_id == incident_id)
                    .order_by(TimelineEntry.id)
                )
            )


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    fake, server = slack_fake.serve()
    connection = {
        "name": "Slack",
        "vendor": "slack",
        "base_url": fake.url,
        "team": TEAM,
        "bot_user_id": BOT_USER,
        "secrets": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET},
        "channel_severities": ["SEV1", "SEV2"],
    }
    try:
        with serve(settings, connection) as live:
            yield Stack(live.container, live.settings, live.url, live.connection_id, fake)
    finally:
        server.shutdown()
        server.server_close()
    assert fake.violations == []


def _link(stack: Stack, chat_user: str, user: User) -> None:
    with stack.session() as db:
        found = db.get(User, user.id)
        connection = db.get(ChatConnection, stack.connection_id)
        assert found is not None and connection is not None
        people.link(db, connection, chat_user, found, via="link")
        db.commit()


def _user(stack: Stack, name: str, email: str, role: str = "responder") -> User:
    with stack.session() as db:
        user = catalog.create_user(db, name=name, email=email, role=role, password="x" * 16)
        db.commit()
        db.expunge(user)
        return user


def _severity(stack: Stack, name: str) -> int:
    with stack.session() as db:
        found = db.scalar(select(Severity.id).where(Severity.name == name))
        assert found is not None
        return found


def _declare(stack: Stack, by: User, title: str, **options: Any) -> int:
    """An incident declared in Tocsin (the web page's service function)."""
    options.setdefault("severity_id", _severity(stack, "SEV1"))
    with stack.session() as db:
        user = db.get(User, by.id)
        assert user is not None
        incident = incidents.declare(db, by=user, title=title, **options)
        db.commit()
        return incident.id


def _shown(message: dict[str, Any]) -> str:
    """What Slack shows of a message: its text and its blocks' texts."""
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


def _said_by(channel: SlackChannel, user: str, words: str) -> str:
    """A person's message in a channel, as Slack keeps it; its ts."""
    ts = f"{int(time.time())}.{900000 + len(channel.messages):06d}"
    channel.messages[ts] = {"type": "message", "ts": ts, "user": user, "text": words}
    return ts


def _status(stack: Stack, incident_id: int) -> str:
    return stack.incident(incident_id).status


# --- linking ----------------------------------------------------------------------------


def test_an_unlinked_command_is_refused_with_a_one_time_link(stack: Stack, responder: User) -> None:
    stack.fake.add_user(ALICE, "alice")  # no email Slack could vouch for
    answer = stack.command("declare Database is down")
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert "not linked" in body["text"] and f"{stack.url}/chat/link/" in body["text"]
    token = body["text"].split("/chat/link/")[1].split()[0]
    stack.run_jobs()
    assert stack.fake.views == []
    # The link is shown to the person alone, never posted where others would read it.
    assert not any(c.messages or c.ephemeral for c in stack.fake.channels.values())
    with stack.session() as db:
        assert db.scalar(select(Incident)) is None
        assert db.scalar(select(ChatIdentity)) is None
    # Opening the link signed in links the person: the next command is theirs.
    with stack.session() as db:
        user = db.get(User, responder.id)
        assert user is not None
        people.complete_link(db, token, user)
        db.commit()
    answer = stack.command("declare")
    assert answer.status_code == 200 and "not linked" not in answer.text
    stack.wait_for("the declaration modal", lambda: stack.fake.views)


def test_a_person_whose_verified_email_is_a_tocsins_is_linked(
    stack: Stack, responder: User
) -> None:
    stack.fake.add_user(BOB, "rita", email="RITA@example.com")
    answer = stack.command("ack INC-1", user=BOB)
    assert "not linked" in answer.json()["text"]

    def linked() -> ChatIdentity | None:
        with stack.session() as db:
            return db.scalar(select(ChatIdentity).where(ChatIdentity.chat_user_id == BOB))

    identity = stack.wait_for("the link by email", linked)
    assert identity.user_id == responder.id and identity.via == "email"
    direct = stack.wait_for(
        "the direct message saying so",
        lambda: [c for c in stack.fake.channels.values() if c.is_im and BOB in c.members],
    )
    assert any("now linked to Rita Responder" in m["text"] for m in direct[0].messages.values())


# --- declaring --------------------------------------------------------------------------


def _form_values(view: dict[str, Any], given: dict[str, str | list[str]]) -> dict[str, Any]:
    """The modal's state.values as Slack submits them: every input block, `given` filled."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block["element"]
        value = given.get(block["block_id"])
        kind = element["type"]
        if kind == "plain_text_input":
            state: dict[str, Any] = {"type": kind, "value": value}
        elif kind == "static_select":
            state = {"type": kind, "selected_option": {"value": value} if value else None}
        else:
            state = {"type": kind, "selected_options": [{"value": v} for v in value or []]}
        values[block["block_id"]] = {element["action_id"]: state}
    return values


def _submit(
    stack: Stack, view: dict[str, Any], given: dict[str, str | list[str]], user: str = ALICE
) -> httpx.Response:
    return stack.interact(
        {
            "type": "view_submission", "team": {"id": TEAM}, "user": {"id": user},
            "api_app_id": "A0TOCSIN", "trigger_id": "trigger-4.5.6",
            "view": {
                "id": "V0FORM", "type": "modal", "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"], "blocks": view["blocks"],
                "state": {"values": _form_values(view, given)},
            },
        }
    )  # fmt: skip


def test_declare_with_the_modal_opens_the_channel_and_ack_edits_the_header(
    stack: Stack, responder: User
) -> None:
    fake = stack.fake
    fake.add_user(ALICE, "alice", email="alice@elsewhere.example")
    fake.add_user(SAM, "sam", email="sam@example.com")
    sam = _user(stack, "Sam Support", "sam@example.com")
    _link(stack, ALICE, responder)

    assert stack.command("declare").status_code == 200
    views = stack.wait_for("the declaration modal", lambda: fake.views)
    view = views[0]
    assert view["trigger_id"].startswith("trigger-") and view["callback_id"] == "declare"
    assert [b["block_id"] for b in view["blocks"]][:2] == ["title", "type"]

    # Nothing chosen but the title and the severity: declared as the linked person.
    sev1 = str(_severity(stack, "SEV1"))
    answer = _submit(stack, view, {"title": "Database is down", "severity": sev1})
    assert answer.status_code == 200 and answer.content in (b"", b"null", b"{}")
    with stack.session() as db:
        incident = db.scalar(select(Incident).where(Incident.title == "Database is down"))
        assert incident is not None and incident.created_by_id == responder.id
        commander = db.scalar(
            select(IncidentRole.id).where(IncidentRole.slug == "incident_commander")
        )
        assert commander is not None
        incident_roles.assign_role(db, incident, role_id=commander, user_id=sam.id, by=None)
        db.commit()
        incident_id, number, ref = incident.id, incident.number, incident.reference
    # The modal closes; the confirmation comes in a direct message.
    direct = stack.wait_for(
        "the confirmation",
        lambda: [
            c for c in fake.channels.values()
            if c.is_im and any(f"Declared {ref}" in m["text"] for m in c.messages.values())
        ],
    )  # fmt: skip
    assert direct[0].members == {BOT_USER, ALICE}

    # Its channel: named by the scheme, the linked person and the one found by email
    # invited, the summary and the header posted and pinned.
    row = stack.opened(incident_id)
    channel = fake.channels[row.remote_id]
    assert channel.name == row.name == f"inc-{number}-database-is-down"
    assert not channel.private and ref in channel.topic
    stack.wait_for("both people invited", lambda: {BOT_USER, ALICE, SAM} <= channel.members)
    with stack.session() as db:
        found = db.scalar(select(ChatIdentity).where(ChatIdentity.chat_user_id == SAM))
        assert found is not None and found.user_id == sam.id and found.via == "email"
    assert channel.pins == {row.header_message_id, row.summary_message_id}
    header = channel.messages[row.header_message_id]
    assert "Triggered" in _shown(header) and "SEV1" in _shown(header)
    assert "Summary of" in _shown(channel.messages[row.summary_message_id])
    assert any(f"#{row.name} was opened" in e.summary for e in stack.entries(incident_id))

    # Acknowledged with the header's button: the header is edited, not posted again.
    posted = len(channel.messages)
    stack.press(ALICE, channel.id, row.header_message_id, "ack", ref)
    stack.wait_for("the acknowledgement", lambda: _status(stack, incident_id) == "acknowledged")
    stack.wait_for(
        "the header edited in place",
        lambda: "Acknowledged" in _shown(channel.messages[row.header_message_id]),
    )
    # The Acknowledge button is gone from it.
    assert 'Acknowledge"' not in _shown(channel.messages[row.header_message_id])
    assert not [m for ts, m in channel.messages.items() if ts != row.header_message_id
                and "Tocsin keeps this message" in _shown(m)]  # fmt: skip
    assert len([m for m in channel.messages.values() if m["user"] == BOT_USER]) == posted
    updates = [args for name, args in fake.calls if name == "chat.update"]
    assert updates and all(a["ts"] == row.header_message_id for a in updates)
    acked = [e for e in stack.entries(incident_id) if e.kind == "status_changed"]
    assert acked and acked[-1].actor_id == responder.id


def test_a_missing_required_field_answers_with_the_fields_error(
    stack: Stack, responder: User
) -> None:
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    _link(stack, ALICE, responder)
    stack.command("declare Security incident")
    view = stack.wait_for("the declaration modal", lambda: fake.views)[0]
    blocks = [b["block_id"] for b in view["blocks"]]
    assert "field:security_lead" in blocks and "type" not in blocks

    answer = _submit(stack, view, {"title": "Leaked keys"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    # Slack shows an error under the input block it names: it must be one of the modal's.
    assert set(body["errors"]) <= set(blocks) and body["errors"]
    assert "Security lead" in " ".join(body["errors"].values())
    stack.run_jobs()
    with stack.session() as db:
        assert db.scalar(select(Incident)) is None


# --- an incident declared in Tocsin, pages and buttons ----------------------------------


def test_an_incident_declared_in_tocsin_gets_its_channel_and_a_viewer_cannot_act(
    stack: Stack, responder: User, viewer: User
) -> None:
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    fake.add_user(VIC, "vic")
    _link(stack, ALICE, responder)
    _link(stack, VIC, viewer)
    incident_id = _declare(stack, responder, "Checkout fails")
    ref = stack.incident(incident_id).reference
    row = stack.opened(incident_id)
    channel = fake.channels[row.remote_id]
    assert channel.members == {BOT_USER, ALICE}
    channel.members.add(VIC)  # a public channel: the viewer joins it

    stack.press(VIC, channel.id, row.header_message_id, "ack", ref)
    said = stack.wait_for(
        "the viewer's private answer", lambda: [e for e in channel.ephemeral if e["user"] == VIC]
    )
    assert "needs the responder role" in said[0]["text"]
    assert _status(stack, incident_id) == "triggered"
    assert "Triggered" in _shown(channel.messages[row.header_message_id])

    stack.press(ALICE, channel.id, row.header_message_id, "ack", ref)
    stack.wait_for("the acknowledgement", lambda: _status(stack, incident_id) == "acknowledged")
    answers = stack.wait_for(
        "the presser's private answer",
        lambda: [e for e in channel.ephemeral if e["user"] == ALICE],
    )
    assert "Rita Responder acknowledged" in answers[0]["text"]

    # The header's severity menu: choosing changes the severity as the chooser.
    stack.choose(ALICE, channel.id, row.header_message_id, "sev", f"{ref} SEV2")

    def severity() -> str | None:
        with stack.session() as db:
            found = db.get(Incident, incident_id)
            return found.severity.name if found and found.severity else None

    stack.wait_for("the severity chosen in the menu", lambda: severity() == "SEV2")
    # The header follows: SEV2 shown, and no longer offered in its menu.
    stack.wait_for(
        "the header showing SEV2",
        lambda: (
            "*Severity*\\nSEV2" in _shown(channel.messages[row.header_message_id])
            and f'"{ref} SEV2"' not in _shown(channel.messages[row.header_message_id])
        ),
    )
    changed = [e for e in stack.entries(incident_id) if e.field == "severity"]
    assert changed and changed[-1].actor_id == responder.id


def test_a_page_in_slack_is_acknowledged_with_its_button(
    stack: Stack, responder: User, admin: User
) -> None:
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    _link(stack, ALICE, responder)
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
        incident = incidents.declare(db, by=boss, title="Queue backlog", urgency="none")
        page_people(db, incident, by=boss, user_ids=[user.id])
        db.commit()
        incident_id, ref = incident.id, incident.reference

    def page() -> tuple[SlackChannel, str] | None:
        for channel in list(fake.channels.values()):
            if channel.is_im and ALICE in channel.members:
                for ts, message in channel.messages.items():
                    if ref in _shown(message) and "tocsin:ack" in _shown(message):
                        return channel, ts
        return None

    direct, ts = stack.wait_for("the page in a direct message", page)
    stack.press(ALICE, direct.id, ts, "ack", ref)
    stack.wait_for("the acknowledgement", lambda: _status(stack, incident_id) == "acknowledged")
    assert any(
        e.actor_id == responder.id and e.kind == "status_changed"
        for e in stack.entries(incident_id)
    )


# --- commands and the timeline ----------------------------------------------------------


def test_commands_and_the_update_form_in_the_channel_change_the_incident(
    stack: Stack, responder: User
) -> None:
    """sev, role, note, update (the phase's template), resolve: each answered in the
    channel, each on the timeline as the linked person; the header follows."""
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    fake.add_user(SAM, "sam")
    sam = _user(stack, "Sam Scribe", "sam@example.com")
    _link(stack, ALICE, responder)
    _link(stack, SAM, sam)
    incident_id = _declare(stack, responder, "Payments slow")
    row = stack.opened(incident_id)
    here = row.remote_id
    channel = fake.channels[here]

    def say(words: str) -> str:
        answer = stack.command(words, channel=here)
        assert answer.status_code == 200
        body = answer.json()
        assert body["response_type"] == "in_channel", body
        return str(body["text"])

    def entry(kind: str, words: str) -> TimelineEntry:
        found = [
            e for e in stack.entries(incident_id)
            if e.kind == kind and words in e.summary + e.body
        ]  # fmt: skip
        assert found, (kind, words, [(e.kind, e.summary) for e in stack.entries(incident_id)])
        assert found[0].actor_id == responder.id, [(e.summary, e.actor_id) for e in found]
        return found[0]

    assert "severity to SEV2" in say("sev SEV2")
    entry("field_changed", "Rita Responder changed the severity from SEV1 to SEV2")
    assert "Sam Scribe is now Scribe" in say(f"role scribe <@{SAM}|sam>")
    entry("role_assigned", "Sam Scribe")
    assert "Added to" in say("note Failed over to the replica")
    entry("note", "Failed over to the replica")
    assert "investigating update" in say("update")
    entry("update_posted", "We are investigating reports of problems")
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        assert incident is not None and incident.severity is not None
        assert incident.severity.name == "SEV2"
        holders = list(
            db.scalars(
                select(RoleAssignment.user_id).where(RoleAssignment.incident_id == incident_id)
            )
        )
        assert sam.id in holders
        update = db.scalar(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id))
        assert update is not None and update.author_id == responder.id
        assert update.body.startswith("We are investigating reports of problems")
    # The update is posted in the channel, Sam invited, and the header follows.
    stack.wait_for(
        "the update in the channel",
        lambda: any(update.body[:40] in _shown(m) for m in channel.messages.values()),
    )
    stack.wait_for("the scribe invited", lambda: SAM in channel.members)
    stack.wait_for(
        "the header's severity and roles",
        lambda: (
            "SEV2" in (shown := _shown(channel.messages[row.header_message_id]))
            and "Sam Scribe" in shown
        ),
    )

    # The header's "Post an update" button opens the update form; left empty, the
    # template of the phase chosen is posted.
    ref = stack.incident(incident_id).reference
    stack.press(ALICE, here, row.header_message_id, "update", ref)
    view = stack.wait_for(
        "the update form", lambda: [v for v in fake.views if v["callback_id"] == "update"]
    )[0]
    answer = _submit(stack, view, {"visibility": "internal", "phase": "identified"})
    assert answer.status_code == 200 and not answer.content.strip(b"{}")
    entry("update_posted", "We have identified the cause")

    assert "resolved" in say("resolve Failed over for good")
    assert _status(stack, incident_id) == "resolved"
    entry("status_changed", "resolved")
    stack.wait_for(
        "the header resolved",
        lambda: "Resolved" in _shown(channel.messages[row.header_message_id]),
    )


def test_a_pushpin_puts_a_message_on_the_timeline_and_its_edit_and_deletion_follow(
    stack: Stack, responder: User
) -> None:
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    _link(stack, ALICE, responder)
    incident_id = _declare(stack, responder, "Cache stampede")
    row = stack.opened(incident_id)
    channel = fake.channels[row.remote_id]
    ts = _said_by(channel, ALICE, "Rolled back the deploy")

    def entry(words: str) -> TimelineEntry | None:
        for found in stack.entries(incident_id):
            if found.kind == "chat_message" and words in found.body + found.summary:
                return found
        return None

    answer = stack.event(
        {"type": "reaction_added", "user": ALICE, "reaction": "pushpin", "item_user": ALICE,
         "item": {"type": "message", "channel": channel.id, "ts": ts}, "event_ts": "1.1"}
    )  # fmt: skip
    assert answer.status_code == 200
    pinned = stack.wait_for("the message on the timeline", lambda: entry("Rolled back the deploy"))
    assert pinned.actor_id == responder.id and f"#{channel.name}" in pinned.summary
    assert int(pinned.occurred_at.timestamp()) == int(float(ts))

    channel.messages[ts]["text"] = "Rolled back deploy 42"
    stack.event(
        {"type": "message", "subtype": "message_changed", "channel": channel.id, "hidden": True,
         "message": {"type": "message", "user": ALICE, "text": "Rolled back deploy 42",
                     "ts": ts, "edited": {"user": ALICE, "ts": "2.2"}},
         "previous_message": {"type": "message", "user": ALICE, "ts": ts,
                              "text": "Rolled back the deploy"},
         "event_ts": "2.2", "ts": "2.2"}
    )  # fmt: skip
    edited = stack.wait_for("the edit on the timeline", lambda: entry("Rolled back deploy 42"))
    assert edited.id == pinned.id

    del channel.messages[ts]
    stack.event(
        {"type": "message", "subtype": "message_deleted", "channel": channel.id, "hidden": True,
         "deleted_ts": ts, "event_ts": "3.3", "ts": "3.3",
         "previous_message": {"type": "message", "user": ALICE, "ts": ts,
                              "text": "Rolled back deploy 42"}}
    )  # fmt: skip
    deleted = stack.wait_for("the deletion on the timeline", lambda: entry("deleted in chat"))
    assert deleted.id == pinned.id and deleted.body == ""


# --- Slack's trouble --------------------------------------------------------------------


def test_a_rate_limit_on_creating_the_channel_is_waited_out(stack: Stack, responder: User) -> None:
    fake = stack.fake
    fake.fail(429, "ratelimited", method="conversations.create", Retry_After="1")
    incident_id = _declare(stack, responder, "Rate limited")
    stack.run_jobs()
    # The incident is declared; the channel is not made yet, and is tried after the wait.
    assert _status(stack, incident_id) == "triggered"
    row = stack.channel_row(incident_id)
    assert row is not None and not row.remote_id and "rate limiting" in row.error
    assert [n for n, _ in fake.calls] == ["conversations.create"]
    failed_at = time.monotonic()
    row = stack.opened(incident_id)
    assert time.monotonic() - failed_at >= 0.9  # Slack's Retry-After, not the 0.2 s backoff
    assert [n for n, _ in fake.calls].count("conversations.create") == 2
    assert row.error == "" and fake.channels[row.remote_id].name == row.name


def test_an_outage_never_holds_up_the_incident_and_the_channel_catches_up(
    stack: Stack, responder: User
) -> None:
    """Slack answers every request with 500: declaring, acknowledging and a note through
    Tocsin's API succeed at once; the channel is made once Slack is back."""
    fake = stack.fake
    fake.add_user(ALICE, "alice")
    _link(stack, ALICE, responder)
    with stack.session() as db:
        user = db.get(User, responder.id)
        assert user is not None
        token = token_for(db, user)
    api = httpx.Client(
        base_url=f"{stack.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    sev1 = _severity(stack, "SEV1")
    fake.fail(500, times=10_000)  # every request, until cleared
    made = api.post("/incidents", json={"title": "Slack is down too", "severity_id": sev1})
    assert made.status_code == 201, made.text
    ref = made.json()["reference"]
    stack.run_jobs()  # the channel's upkeep fails against Slack
    acked = api.post(f"/incidents/{ref}/status", json={"status": "acknowledged"})
    assert acked.status_code == 200, acked.text
    stack.run_jobs()
    noted = api.post(f"/incidents/{ref}/notes", json={"body": "Slack is failing as well"})
    assert noted.status_code == 201, noted.text
    with stack.session() as db:
        incident_id = db.scalar(select(Incident.id).where(Incident.title == "Slack is down too"))
        assert incident_id is not None
    stack.wait_for(
        "two failed tries",
        lambda: (row := stack.channel_row(incident_id)) is not None and row.attempts >= 2,
    )
    assert _status(stack, incident_id) == "acknowledged"
    row = stack.channel_row(incident_id)
    assert row is not None and row.state == ChannelState.creating.value and not row.remote_id
    assert fake.channels == {} and "HTTP 500" in row.error
    api.close()

    with fake.lock:
        fake.failures.clear()
    row = stack.opened(incident_id)
    header = fake.channels[row.remote_id].messages[row.header_message_id]
    assert "Acknowledged" in _shown(header)
    assert ALICE in fake.channels[row.remote_id].members


def test_a_request_without_slacks_signature_is_refused_and_does_nothing(
    stack: Stack, responder: User
) -> None:
    stack.fake.add_user(ALICE, "alice")
    _link(stack, ALICE, responder)
    incident_id = _declare(stack, responder, "Forged")
    row = stack.opened(incident_id)
    ref = stack.incident(incident_id).reference
    body = slack_fake.slash_command(f"resolve {ref}", channel=row.remote_id)
    forged = slack_fake.signed(body, secret="not-the-signing-secret", content_type=FORM)
    stale = slack_fake.signed(body, now=time.time() - 600, content_type=FORM)
    unsigned = {"Content-Type": FORM}
    for headers in (forged, stale, unsigned):
        answer = httpx.post(stack.route("commands"), content=body, headers=headers, timeout=30)
        assert answer.status_code == 401, answer.text
    tampered = slack_fake.signed(b"", content_type=FORM)
    answer = httpx.post(stack.route("commands"), content=body, headers=tampered, timeout=30)
    assert answer.status_code == 401
    stack.run_jobs()
    assert _status(stack, incident_id) == "triggered"
    # The same request signed by Slack is acted on.
    assert slack_fake.send(stack.route("commands"), body, content_type=FORM).status_code == 200
    assert _status(stack, incident_id) == "resolved"


# --- the channel's end, and a restricted incident ---------------------------------------


def test_closing_the_incident_archives_its_channel(stack: Stack, responder: User) -> None:
    with stack.session() as db:
        connection = db.get(ChatConnection, stack.connection_id)
        assert connection is not None
        connections.update_connection(
            db, connection, {"archive_after_minutes": 0}, settings=stack.settings
        )
        db.commit()
    incident_id = _declare(stack, responder, "Disk full")
    row = stack.opened(incident_id)
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        user = db.get(User, responder.id)
        assert incident is not None and user is not None
        incidents.resolve(db, incident, by=user, summary="Cleaned up")
        db.commit()
    stack.run_jobs()
    assert not stack.fake.channels[row.remote_id].archived  # resolved is not closed
    with stack.session() as db:
        incident = db.get(Incident, incident_id)
        user = db.get(User, responder.id)
        assert incident is not None and user is not None
        incidents.close(db, incident, by=user)
        db.commit()
    stack.wait_for("the channel archived", lambda: stack.fake.channels[row.remote_id].archived)
    assert row.remote_id in stack.fake.channels  # archived, not deleted
    stack.wait_for(
        "the archive recorded",
        lambda: (
            (found := stack.channel_row(incident_id)) is not None
            and found.state == ChannelState.archived.value
        ),
    )
    assert any("was archived" in e.summary for e in stack.entries(incident_id))
    assert "Closed" in _shown(stack.fake.channels[row.remote_id].messages[row.header_message_id])


def test_a_restricted_incident_gets_a_private_channel_with_only_its_people(
    stack: Stack, responder: User, viewer: User
) -> None:
    """Bob, a linked responder not involved, is left out; so is Vic, a viewer on a team
    following the incident (he would be invited to an incident that is not restricted)."""
    fake = stack.fake
    for chat_id, name in ((ALICE, "alice"), (BOB, "bob"), (SAM, "sam"), (VIC, "vic")):
        fake.add_user(chat_id, name)
    bob = _user(stack, "Bob Bystander", "bob@example.com")
    sam = _user(stack, "Sam Scribe", "sam@example.com")
    _link(stack, ALICE, responder)
    _link(stack, BOB, bob)
    _link(stack, SAM, sam)
    _link(stack, VIC, viewer)
    with stack.session() as db:
        team = catalog.create_team(db, name="Support", member_ids=[viewer.id, sam.id])
        db.commit()
        team_id = team.id
    sev1 = _severity(stack, "SEV1")
    with stack.session() as db:
        user = db.get(User, responder.id)
        kind = db.scalar(select(IncidentType.id).where(IncidentType.name == "Security incident"))
        scribe = db.scalar(select(IncidentRole.id).where(IncidentRole.slug == "scribe"))
        assert user is not None and kind is not None and scribe is not None
        incident = incidents.declare(
            db, by=user, title="Leaked keys", type_id=kind, restricted=True,
            severity_id=sev1,
            custom_fields={"security_lead": str(responder.id)},
        )  # fmt: skip
        incident_roles.assign_role(db, incident, role_id=scribe, user_id=sam.id, by=user)
        stakeholders.add(db, incident, by=user, team_id=team_id)
        db.commit()
        incident_id = incident.id
    row = stack.opened(incident_id)
    channel = fake.channels[row.remote_id]
    assert channel.private and row.private
    stack.wait_for("the scribe invited", lambda: SAM in channel.members)
    stack.run_jobs()  # whatever upkeep is still due
    assert channel.members == {BOT_USER, ALICE, SAM}
    created = [args for name, args in fake.calls if name == "conversations.create"]
    assert created[0]["is_private"] in ("1", "true")
