"""Matrix: the client and the receiver against a real Synapse (tests/chat/synapse.py), and
the pure parts (registration, rendering, parsing) on their own."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.chat.synapse import Inbox, Person, Synapse, free_port
from tocsin.chat.matrix import ARCHIVED, MatrixClient, MatrixReceiver, registration
from tocsin.chat.matrix_render import render
from tocsin.chat.ports import (
    Answer,
    Button,
    ChatError,
    ChatRefused,
    Command,
    Connection,
    Field,
    Form,
    Inbound,
    Invited,
    Message,
    MessageDeleted,
    MessageEdited,
    Reaction,
    Reply,
)
from tocsin.outbound import OutboundGuard

LOOPBACK = OutboundGuard(allow_private=True)
ACK = Button(action="ack", label="Acknowledge", value="INC-12", command="ack INC-12", reaction="✅")


def connection(synapse: Synapse, *, as_token: str | None = None) -> Connection:
    return Connection(
        base_url=synapse.base_url,
        team=synapse.server_name,
        bot_user_id=synapse.bot_user_id,
        secrets={"as_token": as_token or synapse.as_token, "hs_token": synapse.hs_token},
    )


@pytest.fixture
def client(synapse: Synapse) -> MatrixClient:
    return MatrixClient(connection(synapse), guard=LOOPBACK, timeout=30)


def person(synapse: Synapse) -> Person:
    return synapse.register(f"p{secrets.token_hex(4)}")


def last_text(person: Person, room: str) -> dict[str, Any]:
    for event in person.messages(room):
        if event["type"] == "m.room.message":
            return event
    raise AssertionError("no message in the room")


# --- the client against Synapse -----------------------------------------------------------


def test_a_room_gets_its_name_topic_and_an_alias_suffixed_on_a_clash(
    client: MatrixClient, synapse: Synapse
) -> None:
    name = f"inc-{secrets.token_hex(3)} Database down"
    first = client.create_channel(name, private=True, topic="INC-1: database down")
    second = client.create_channel(name, private=False, topic="again")
    assert first.id != second.id and first.id.startswith("!")
    alias = "tocsin-" + name.lower().replace(" ", "-")
    assert first.url == f"https://matrix.to/#/%23{alias}%3A{synapse.server_name}"
    assert second.url == f"https://matrix.to/#/%23{alias}-2%3A{synapse.server_name}"
    alice = person(synapse)
    client.invite(first.id, [alice.user_id])
    alice.join(first.id)
    assert alice.state(first.id, "m.room.name")["name"] == name
    assert alice.state(first.id, "m.room.topic")["topic"] == "INC-1: database down"
    assert alice.state(first.id, "m.room.join_rules")["join_rule"] == "invite"
    # The public room is public to join but not listed in the directory.
    listed = alice.ok("GET", f"/directory/list/room/{second.id}")
    assert listed["visibility"] == "private"
    resolved = alice.ok("GET", f"/directory/room/%23{alias}-2%3A{synapse.server_name}")
    assert resolved["room_id"] == second.id


def test_invite_post_edit_pin_and_fetch(client: MatrixClient, synapse: Synapse) -> None:
    room = client.create_channel(f"post-{secrets.token_hex(3)}", private=True, topic="t").id
    alice = person(synapse)
    client.invite(room, [alice.user_id])
    client.invite(room, [alice.user_id])  # already invited: fine
    alice.join(room)
    client.invite(room, [alice.user_id])  # already joined: fine

    message = Message(
        text="Checkout <fails>",
        title="INC-12",
        link="https://tocsin.example/i/12",
        fields=(Field("Severity", "SEV1"),),
        buttons=(ACK,),
    )
    event_id = client.post(room, message)
    seen = last_text(alice, room)
    assert seen["event_id"] == event_id
    assert seen["content"]["body"] == render(message)[0]
    assert seen["content"]["format"] == "org.matrix.custom.html"
    assert "Checkout &lt;fails&gt;" in seen["content"]["formatted_body"]
    assert "React ✅ or send `!tocsin ack INC-12` to acknowledge" in seen["content"]["body"]

    client.update(room, event_id, Message(text="Checkout is back"))
    edit = last_text(alice, room)
    assert edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": event_id}
    assert edit["content"]["m.new_content"]["body"] == "Checkout is back"
    assert edit["content"]["body"] == "* Checkout is back"
    fetched = client.fetch_message(room, event_id)
    assert fetched.text == "Checkout is back"
    assert fetched.user_id == synapse.bot_user_id
    assert abs(fetched.at - time.time()) < 60

    client.pin(room, event_id)
    client.pin(room, event_id)  # already pinned: once
    other = client.post(room, Message(text="second"))
    client.pin(room, other)
    assert alice.state(room, "m.room.pinned_events")["pinned"] == [event_id, other]


def test_archive_keeps_history_and_silences_members(client: MatrixClient, synapse: Synapse) -> None:
    room = client.create_channel("to-archive", private=False, topic="t").id
    alice = person(synapse)
    client.invite(room, [alice.user_id])
    alice.join(room)
    said = alice.say(room, "before")
    client.archive(room)
    client.archive(room)  # already archived: nothing more
    assert alice.state(room, "m.room.name")["name"] == ARCHIVED + "to-archive"
    assert "Archived" in alice.state(room, "m.room.topic")["topic"]
    notices = [e for e in alice.messages(room) if e["content"].get("msgtype") == "m.notice"]
    assert len(notices) == 1
    assert said in [e["event_id"] for e in alice.messages(room)]
    refused = alice.call(
        "PUT",
        f"/rooms/{room}/send/m.room.message/{secrets.token_hex(4)}",
        {"msgtype": "m.text", "body": "after"},
    )
    assert refused.status_code == 403, refused.text
    client.post(room, Message(text="the bot still can"))


def test_direct_room_is_opened_once_and_reused(client: MatrixClient, synapse: Synapse) -> None:
    bob = person(synapse)
    room = client.direct(bob.user_id)
    assert client.direct(bob.user_id) == room
    invites = bob.ok("GET", "/sync?timeout=0")["rooms"]["invite"]
    assert room in invites
    bob.join(room)
    assert client.direct(bob.user_id) == room
    client.post_private("!elsewhere:tocsin.test", bob.user_id, Message(text="only you"))
    assert last_text(bob, room)["content"]["body"] == "only you"
    member = bob.state(room, "m.room.member", bob.user_id)
    assert member["membership"] == "join"


def test_people_forms_and_polling(client: MatrixClient, synapse: Synapse) -> None:
    carol = person(synapse)
    carol.ok("PUT", f"/profile/{carol.user_id}/displayname", {"displayname": "Carol <C>"})
    found = client.user(carol.user_id)
    assert (found.id, found.name, found.email) == (carol.user_id, "Carol <C>", None)
    assert client.find_user_by_email("carol@example.org") is None
    assert client.poll("!room:tocsin.test", 0.0) == []
    with pytest.raises(ChatError) as no_forms:
        client.open_form("t", Form(callback="c", title="T", submit="Go", fields=()))
    assert not no_forms.value.retryable


def test_errors_are_mapped(client: MatrixClient, synapse: Synapse) -> None:
    # An unknown token: not retryable, with the errcode.
    wrong = MatrixClient(connection(synapse, as_token="nope"), guard=LOOPBACK, timeout=30)
    with pytest.raises(ChatError) as unknown:
        wrong.post("!x:tocsin.test", Message(text="hi"))
    assert (unknown.value.code, unknown.value.retryable, unknown.value.status) == (
        "M_UNKNOWN_TOKEN",
        False,
        401,
    )
    assert "as_token" in unknown.value.message
    # A room the bot is not in: forbidden.
    dave = person(synapse)
    theirs = dave.ok("POST", "/createRoom", {"preset": "private_chat"})["room_id"]
    with pytest.raises(ChatError) as forbidden:
        client.post(theirs, Message(text="hi"))
    assert (forbidden.value.code, forbidden.value.retryable) == ("M_FORBIDDEN", False)
    # Nobody listening: retryable.
    gone = Connection(
        f"http://127.0.0.1:{free_port()}", "tocsin.test", synapse.bot_user_id, {"as_token": "x"}
    )
    with pytest.raises(ChatError) as unreachable:
        MatrixClient(gone, guard=LOOPBACK, timeout=5).user(dave.user_id)
    assert unreachable.value.retryable
    # The guard is asked first: loopback refused by a strict guard.
    with pytest.raises(ChatError) as refused:
        MatrixClient(connection(synapse), guard=OutboundGuard(), timeout=5).user(dave.user_id)
    assert refused.value.code == "outbound_refused" and not refused.value.retryable


def test_rate_limiting_is_retryable_with_the_wait(synapse: Synapse) -> None:
    # The appservice's own user is never rate limited: a person's token stands in for it.
    fran = person(synapse)
    as_fran = MatrixClient(
        Connection(synapse.base_url, synapse.server_name, fran.user_id, {"as_token": fran.token}),
        guard=LOOPBACK,
        timeout=30,
    )
    room = fran.ok("POST", "/createRoom", {"preset": "private_chat"})["room_id"]
    with pytest.raises(ChatError) as limit:
        for _ in range(60):
            as_fran.post(room, Message(text="spam"))
    assert limit.value.retryable and limit.value.code == "M_LIMIT_EXCEEDED"
    assert limit.value.status == 429
    assert limit.value.retry_after is not None and 0 < limit.value.retry_after < 30
    assert "rate limiting" in limit.value.message


# --- the receiver: Synapse's own transactions ------------------------------------------------


class Heard:
    """What the stand-in for Tocsin made of Synapse's transactions."""

    def __init__(self) -> None:
        self.events: list[Inbound] = []
        self.refused: list[str] = []
        self.changed = threading.Condition()

    def wait_for(self, found: Callable[[Inbound], bool], timeout: float = 30) -> Inbound:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for event in self.events:
                    if found(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not heard; heard {self.events}")
                self.changed.wait(left)


@pytest.fixture
def heard(inbox: Inbox, synapse: Synapse) -> Iterator[Heard]:
    receiver = MatrixReceiver(connection(synapse))
    box = Heard()

    def respond(
        path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, Any]]:
        if not path.startswith("/_matrix/app/v1/transactions/"):
            return 404, {"errcode": "M_UNRECOGNIZED"}
        try:
            parsed = receiver.parse("transactions", headers, body, now=time.time())
        except ChatRefused as exc:
            with box.changed:
                box.refused.append(exc.reason)
            return 401, {"errcode": "M_UNKNOWN_TOKEN"}
        with box.changed:
            box.events.extend(parsed.events)
            box.changed.notify_all()
        for event in parsed.events:
            assert receiver.answer("transactions", event, Reply(text="ok")) is None
        answer = receiver.answer("transactions", None, None)
        assert answer is not None
        return answer.status, answer.body or {}

    inbox.respond = respond
    yield box
    inbox.respond = lambda path, headers, body: (200, {})


def test_pushed_commands_reactions_edits_redactions_and_invites(
    client: MatrixClient, synapse: Synapse, heard: Heard, inbox: Inbox
) -> None:
    room = client.create_channel(f"hear-{secrets.token_hex(3)}", private=True, topic="t").id
    erin = person(synapse)
    client.invite(room, [erin.user_id])
    erin.join(room)
    posted = client.post(room, Message(text="INC-1 declared"))

    command = erin.say(room, "!tocsin ack INC-1")
    assert heard.wait_for(lambda e: isinstance(e, Command) and e.message_id == command) == Command(
        user_id=erin.user_id, channel_id=room, text="ack INC-1", message_id=command
    )

    reaction = erin.react(room, posted, "📌")
    assert heard.wait_for(lambda e: isinstance(e, Reaction)) == Reaction(
        user_id=erin.user_id, channel_id=room, message_id=posted, emoji="📌", reaction_id=reaction
    )

    note = erin.say(room, "the fix is out")
    erin.edit(room, note, "the fix is out now")
    assert heard.wait_for(lambda e: isinstance(e, MessageEdited)) == MessageEdited(
        channel_id=room, message_id=note, text="the fix is out now", user_id=erin.user_id
    )

    erin.redact(room, reaction)
    assert heard.wait_for(lambda e: isinstance(e, MessageDeleted)) == MessageDeleted(
        channel_id=room, message_id=reaction
    )

    theirs = erin.ok("POST", "/createRoom", {"preset": "private_chat"})["room_id"]
    erin.ok("POST", f"/rooms/{theirs}/invite", {"user_id": synapse.bot_user_id})
    assert heard.wait_for(lambda e: isinstance(e, Invited)) == Invited(
        channel_id=theirs, user_id=erin.user_id
    )

    # The bot's own message and plain chat were pushed too, and were not acted on.
    assert not any(
        getattr(e, "message_id", None) == posted and isinstance(e, Command) for e in heard.events
    )
    assert all(not isinstance(e, Command) or e.message_id == command for e in heard.events)
    assert heard.refused == []
    pushed = [h for p, h, _ in inbox.requests if p.startswith("/_matrix/app/v1/transactions/")]
    assert pushed and all(h["Authorization"] == f"Bearer {synapse.hs_token}" for h in pushed)


# --- the receiver on its own -------------------------------------------------------------------


BOT = "@tocsin:tocsin.test"
RECEIVER = MatrixReceiver(Connection("http://hs", "tocsin.test", BOT, {"hs_token": "hs-secret"}))
AUTH = {"Authorization": "Bearer hs-secret"}


def parse(events: list[Any], headers: Mapping[str, str] = AUTH) -> tuple[Inbound, ...]:
    body = json.dumps({"events": events}).encode()
    return RECEIVER.parse("transactions", headers, body, now=0).events


def event(kind: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "room_id": "!r:t",
        "sender": "@a:t",
        "event_id": "$e",
        "content": content,
        **extra,
    }


def test_a_wrong_or_missing_token_is_refused() -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}, {"Authorization": "hs-secret"}):
        with pytest.raises(ChatRefused):
            parse([], headers)
    assert parse([], {"authorization": "Bearer hs-secret"}) == ()  # header names: any case


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"events": {}}',
        b'{"events": [1]}',
        b'{"events": [{"type": "x"}]}',
        json.dumps({"events": [event("m.room.redaction", {})]}).encode(),
        json.dumps(
            {
                "events": [
                    event(
                        "m.reaction",
                        {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x"}},
                    )
                ]
            }
        ).encode(),
    ],
)
def test_a_malformed_transaction_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        RECEIVER.parse("transactions", AUTH, body, now=0)


def test_events_are_read_and_the_bots_own_ignored() -> None:
    got = parse(
        [
            event("m.room.message", {"msgtype": "m.text", "body": "!tocsin"}),
            event("m.room.message", {"msgtype": "m.text", "body": "!tocsinate now"}),
            event("m.room.message", {"msgtype": "m.text", "body": "hello"}),
            event("m.room.message", {"msgtype": "m.text", "body": "!tocsin ack"}, sender=BOT),
            event("m.room.redaction", {"redacts": "$v11"}),
            event("m.room.redaction", {}, redacts="$v10"),
            event("m.room.member", {"membership": "invite"}, state_key=BOT),
            event("m.room.member", {"membership": "invite"}, state_key="@z:t"),
            event("m.room.topic", {"topic": "x"}, state_key=""),
        ]
    )
    assert got == (
        Command(user_id="@a:t", channel_id="!r:t", text="", message_id="$e"),
        MessageDeleted(channel_id="!r:t", message_id="$v11"),
        MessageDeleted(channel_id="!r:t", message_id="$v10"),
        Invited(channel_id="!r:t", user_id="@a:t"),
    )
    assert RECEIVER.answer("transactions", None, None) == Answer(200, {})


# --- pure parts ----------------------------------------------------------------------------------


def test_registration_names_the_bot_alone_exclusively() -> None:
    reg = registration(
        id="tocsin",
        url="https://tocsin.example/chat/3",
        as_token="a",
        hs_token="h",
        sender_localpart="tocsin",
        server_name="example.org",
    )
    assert reg["rate_limited"] is False
    assert reg["namespaces"]["users"] == [{"exclusive": True, "regex": r"^@tocsin:example\.org$"}]
    assert reg["namespaces"]["aliases"] == [
        {"exclusive": True, "regex": r"^\#tocsin\-.*:example\.org$"}
    ]
    assert (reg["url"], reg["as_token"], reg["hs_token"], reg["sender_localpart"]) == (
        "https://tocsin.example/chat/3",
        "a",
        "h",
        "tocsin",
    )


def test_rendering_escapes_every_text_and_lists_buttons() -> None:
    evil = '<script>alert("x")</script>'
    body, html = render(
        Message(
            text=f"line {evil}\nnext",
            title=f"T {evil}",
            link='https://t.example/?a=1&b="2"',
            fields=(Field(f"F {evil}", f"V {evil}"),),
            buttons=(
                ACK,
                Button(
                    action="resolve", label="Resolve", value="INC-12", command=f"resolve {evil}"
                ),
            ),
            context=f"C {evil}",
        )
    )
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") == 6
    assert '<a href="https://t.example/?a=1&amp;b=&quot;2&quot;">' in html
    assert "line &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>next" in html
    assert "<code>!tocsin ack INC-12</code>" in html
    assert body.splitlines() == [
        f'T {evil} (https://t.example/?a=1&b="2")',
        f"line {evil}",
        "next",
        f"F {evil}: V {evil}",
        "React ✅ or send `!tocsin ack INC-12` to acknowledge",
        f"Send `!tocsin resolve {evil}` to resolve",
        f"C {evil}",
    ]


def test_only_web_links_become_links() -> None:
    _, html = render(Message(text="x", title="T", link="javascript:alert(1)"))
    assert "href" not in html and "javascript" not in html
