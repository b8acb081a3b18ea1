"""The Mattermost client against the fake server (every request checked against the
contract from Mattermost's OpenAPI description), its rendering, and the receiver, served on
loopback and called as Mattermost calls an integration."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.chat import mattermost_fake as mm
from tocsin.chat import mattermost_render as render
from tocsin.chat.mattermost import MattermostClient, MattermostReceiver
from tocsin.chat.ports import (
    Button,
    ButtonPressed,
    ChatError,
    ChatRefused,
    Choice,
    Command,
    Connection,
    Field,
    Form,
    FormField,
    FormSubmitted,
    Inbound,
    Message,
    MessageDeleted,
    MessageEdited,
    Reaction,
    Reply,
)
from tocsin.outbound import OutboundGuard

COMMAND_TOKEN = "cmd-token-abcdefghijklmnop"
ACTION_SECRET = "action-secret-0123456789"
LOOPBACK = OutboundGuard(allow_private=True)


@pytest.fixture
def fake() -> Iterator[mm.Fake]:
    server_fake, server = mm.serve()
    yield server_fake
    server.shutdown()
    server.server_close()
    assert server_fake.violations == []


def connection(url: str, **secrets: str) -> Connection:
    return Connection(
        base_url=url,
        team=mm.TEAM_ID,
        bot_user_id=mm.BOT_ID,
        secrets={
            "bot_token": mm.BOT_TOKEN,
            "command_token": COMMAND_TOKEN,
            "action_secret": ACTION_SECRET,
            **secrets,
        },
    )


class Tocsin:
    """The receiver served on loopback: each request parsed, the events kept, the reply
    given answered."""

    def __init__(self, url: str) -> None:
        self.events: list[Inbound] = []
        self.refused: list[str] = []
        self.reply: Reply | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                route = self.path.rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = outer.receiver.parse(route, dict(self.headers), body, now=time.time())
                except ChatRefused as exc:
                    outer.refused.append(exc.reason)
                    return self._send(401, None)
                except ValueError:
                    return self._send(400, None)
                outer.events.extend(parsed.events)
                event = parsed.events[0] if parsed.events else None
                answer = outer.receiver.answer(route, event, outer.reply)
                assert answer is not None
                self._send(answer.status, answer.body)

            def _send(self, status: int, body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/chat/7/"
        self.receiver = MattermostReceiver(connection(url), callback_base=self.base)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def tocsin(fake: mm.Fake) -> Iterator[Tocsin]:
    served = Tocsin(fake.url)
    yield served
    served.server.shutdown()
    served.server.server_close()


def client(
    fake: mm.Fake, callback_base: str = "https://tocsin.example/chat/7/"
) -> MattermostClient:
    return MattermostClient(
        connection(fake.url), guard=LOOPBACK, timeout=5.0, callback_base=callback_base
    )


PAGE = Message(
    text="INC-12 is triggered: payments failing for @channel",
    title="INC-12 Payments *failing*",
    link="https://tocsin.example/incidents/12",
    fields=(Field("Severity", "SEV1"), Field("Impact", "cards _declined_ @all", short=False)),
    buttons=(
        Button("ack", "Acknowledge", "INC-12", "ack INC-12", style="primary"),
        Button("page:escalate", "Escalate", "page:42", "escalate INC-12", style="danger"),
    ),
    context="Tocsin · updated 14:02 UTC",
)


# --- The client ---------------------------------------------------------------------------


def test_create_channel_posts_the_handle_type_and_topic(fake: mm.Fake) -> None:
    made = client(fake).create_channel("INC-12 Payments failing!", private=True, topic="Cards")

    stored = fake.channels[made.id]
    assert made.name == stored["name"] == "inc-12-payments-failing"
    assert stored["display_name"] == "INC-12 Payments failing!"
    assert (stored["type"], stored["purpose"], stored["header"]) == ("P", "Cards", "Cards")
    assert stored["team_id"] == mm.TEAM_ID


def test_a_name_taken_is_made_unique_with_a_suffix(fake: mm.Fake) -> None:
    first = client(fake).create_channel("inc-12", private=False, topic="")
    second = client(fake).create_channel("INC 12", private=False, topic="")
    third = client(fake).create_channel("Inc 12", private=False, topic="")

    assert [first.name, second.name, third.name] == ["inc-12", "inc-12-2", "inc-12-3"]
    assert fake.channels[third.id]["type"] == "O"


def test_invite_adds_each_person_and_a_member_again_is_fine(fake: mm.Fake) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    channel = client(fake).create_channel("inc-1", private=False, topic="")

    client(fake).invite(channel.id, [alice])
    client(fake).invite(channel.id, [alice, bob])

    assert fake.channels[channel.id]["members"] == {mm.BOT_ID, alice, bob}


def test_post_update_pin_and_fetch(fake: mm.Fake) -> None:
    channel_id = fake.add_channel("inc-2")
    chat = client(fake)

    post_id = chat.post(channel_id, PAGE)
    stored = fake.posts[post_id]
    card = stored["props"]["attachments"][0]
    assert stored["message"] == "INC-12 is triggered: payments failing for @\u200bchannel"
    assert card["title"] == "INC-12 Payments *failing*"
    assert card["title_link"] == "https://tocsin.example/incidents/12"
    assert card["footer"] == "Tocsin · updated 14:02 UTC"
    assert card["fields"][1] == {
        "title": "Impact", "value": "cards \\_declined\\_ @\u200ball", "short": False,
    }  # fmt: skip
    assert [a["integration"]["url"] for a in card["actions"]] == [
        "https://tocsin.example/chat/7/actions"
    ] * 2

    chat.update(channel_id, post_id, Message(text="INC-12 acknowledged by Alice"))
    chat.pin(channel_id, post_id)
    chat.pin(channel_id, post_id)

    assert stored["message"] == "INC-12 acknowledged by Alice"
    assert stored["props"] == {}
    assert stored["is_pinned"] is True
    fetched = chat.fetch_message(channel_id, post_id)
    assert (fetched.id, fetched.channel_id, fetched.user_id) == (post_id, channel_id, mm.BOT_ID)
    assert fetched.text == "INC-12 acknowledged by Alice"
    assert fetched.at == pytest.approx(stored["create_at"] / 1000)


def test_archive_keeps_the_channel_and_archiving_again_is_fine(fake: mm.Fake) -> None:
    channel_id = fake.add_channel("inc-3")

    client(fake).archive(channel_id)
    deleted_at = fake.channels[channel_id]["delete_at"]
    client(fake).archive(channel_id)

    assert deleted_at > 0
    assert fake.channels[channel_id]["delete_at"] == deleted_at


def test_direct_opens_one_conversation_with_the_bot(fake: mm.Fake) -> None:
    alice = fake.add_user("alice")

    first = client(fake).direct(alice)
    again = client(fake).direct(alice)

    assert first == again
    assert fake.channels[first]["members"] == {mm.BOT_ID, alice}
    assert fake.requests[-1].body == [mm.BOT_ID, alice]


def test_open_form_sends_a_dialog_whose_state_is_signed(fake: mm.Fake) -> None:
    form = Form(
        callback="declare",
        title="Declare an incident",
        submit="Declare",
        state="channel:abc",
        fields=(
            FormField("title", "Title"),
            FormField("summary", "What is happening", kind="textarea", required=False,
                      hint="Shown to responders"),
            FormField("severity", "Severity", kind="select", initial="sev2",
                      choices=(Choice("sev1", "SEV1"), Choice("sev2", "SEV2"))),
        ),
    )  # fmt: skip

    client(fake).open_form("trigger-1", form)

    opened = fake.dialogs["trigger-1"]
    assert opened["url"] == "https://tocsin.example/chat/7/dialogs"
    dialog = opened["dialog"]
    assert dialog["callback_id"] == "declare"
    assert dialog["submit_label"] == "Declare"
    assert [e["type"] for e in dialog["elements"]] == ["text", "textarea", "select"]
    assert dialog["elements"][1]["optional"] is True
    assert dialog["elements"][2]["options"] == [
        {"text": "SEV1", "value": "sev1"}, {"text": "SEV2", "value": "sev2"},
    ]  # fmt: skip
    assert dialog["elements"][2]["default"] == "sev2"
    assert render.verify_state(dialog["state"], ACTION_SECRET) == "channel:abc"


def test_user_email_only_when_verified(fake: mm.Fake) -> None:
    alice = fake.add_user("alice", email="alice@example.com", first="Alice", last="Liddell")
    bob = fake.add_user("bob", email="bob@example.com", verified=False)

    assert client(fake).user(alice).email == "alice@example.com"
    assert client(fake).user(alice).name == "Alice Liddell"
    assert client(fake).user(bob).email is None
    assert client(fake).user(bob).name == "bob"


def test_find_user_by_email(fake: mm.Fake) -> None:
    alice = fake.add_user("alice", email="alice+ops@example.com")
    fake.add_user("bob", email="bob@example.com", verified=False)

    found = client(fake).find_user_by_email("alice+ops@example.com")

    assert found is not None and found.id == alice
    assert client(fake).find_user_by_email("nobody@example.com") is None
    assert client(fake).find_user_by_email("bob@example.com") is None


def test_post_private_is_ephemeral_for_one_person(fake: mm.Fake) -> None:
    alice = fake.add_user("alice")
    channel_id = fake.add_channel("inc-4")

    client(fake).post_private(channel_id, alice, PAGE)

    [sent] = fake.ephemeral
    assert (sent["for_user_id"], sent["channel_id"]) == (alice, channel_id)
    assert sent["props"]["attachments"][0]["title"] == "INC-12 Payments *failing*"
    assert fake.posts == {}


def test_poll_turns_reactions_edits_and_deletions_into_events(fake: mm.Fake) -> None:
    alice = fake.add_user("alice")
    channel_id = fake.add_channel("inc-5")
    chat = client(fake)
    page = chat.post(channel_id, PAGE)
    note = fake.add_post(channel_id, alice, "the fix is out")
    typo = fake.add_post(channel_id, alice, "rollback startd")
    gone = fake.add_post(channel_id, alice, "wrong channel")
    fake.react(note, alice, "pushpin")  # before `since`: already seen
    since = fake.now() / 1000

    fake.react(note, alice, "thumbsup")
    fake.react(page, alice, "white_check_mark")
    fake.react(page, mm.BOT_ID, "pushpin")
    fake.edit(typo, "rollback started")
    fake.delete(gone)
    chat.update(channel_id, page, Message(text="edited by the bot"))

    events = chat.poll(channel_id, since)

    assert set(events) == {
        Reaction(user_id=alice, channel_id=channel_id, message_id=page, emoji="✅"),
        MessageEdited(
            channel_id=channel_id, message_id=typo, text="rollback started", user_id=alice
        ),
        MessageDeleted(channel_id=channel_id, message_id=gone),
    }  # fmt: skip
    assert len(events) == 3
    assert fake.requests[-1].query == {"since": str(int(since * 1000))}


def test_poll_reads_a_pushpin(fake: mm.Fake) -> None:
    alice = fake.add_user("alice")
    channel_id = fake.add_channel("inc-6")
    note = fake.add_post(channel_id, alice, "root cause: the expired certificate")
    since = fake.now() / 1000
    fake.react(note, alice, "pushpin")

    assert client(fake).poll(channel_id, since) == [
        Reaction(user_id=alice, channel_id=channel_id, message_id=note, emoji="📌")
    ]
    assert client(fake).poll(channel_id, fake.now() / 1000) == []


# --- Errors -------------------------------------------------------------------------------


def test_429_is_retryable_after_the_time_asked(fake: mm.Fake) -> None:
    fake.fail(429, **{"Retry-After": "7"})
    fake.fail(429, **{"X-Ratelimit-Reset": "12", "X-Ratelimit-Remaining": "0"})
    channel_id = fake.add_channel("inc-7")

    with pytest.raises(ChatError) as first:
        client(fake).post(channel_id, Message(text="hi"))
    with pytest.raises(ChatError) as second:
        client(fake).post(channel_id, Message(text="hi"))

    assert (first.value.retryable, first.value.retry_after, first.value.status) == (True, 7, 429)
    assert (second.value.retryable, second.value.retry_after) == (True, 12)


def test_5xx_and_unreachable_are_retryable(fake: mm.Fake) -> None:
    fake.fail(500)
    with pytest.raises(ChatError) as failed:
        client(fake).user(fake.add_user("alice"))
    assert failed.value.retryable and failed.value.status == 500

    closed = MattermostClient(
        connection("http://127.0.0.1:9"), guard=LOOPBACK, timeout=2.0, callback_base="x/"
    )
    with pytest.raises(ChatError) as unreachable:
        closed.user("x")
    assert unreachable.value.retryable


def test_401_says_to_check_the_bot_token(fake: mm.Fake) -> None:
    chat = MattermostClient(
        connection(fake.url, bot_token="wrong"), guard=LOOPBACK, timeout=5.0, callback_base="/"
    )

    with pytest.raises(ChatError) as refused:
        chat.direct(fake.add_user("alice"))

    assert not refused.value.retryable
    assert refused.value.status == 401
    assert refused.value.code == "api.context.session_expired.app_error"
    assert "bot token" in refused.value.message
    assert "Invalid or expired session" in refused.value.message


def test_403_and_404_are_not_retryable_with_mattermosts_reason(fake: mm.Fake) -> None:
    fake.fail(403, mm.app_error(403, "api.context.permissions.app_error", "No permission."))
    with pytest.raises(ChatError) as forbidden:
        client(fake).create_channel("inc-8", private=True, topic="")
    assert not forbidden.value.retryable
    assert forbidden.value.code == "api.context.permissions.app_error"
    assert "No permission." in forbidden.value.message

    with pytest.raises(ChatError) as missing:
        client(fake).fetch_message("c", mm.new_id())
    assert (missing.value.status, missing.value.retryable) == (404, False)
    assert missing.value.code == "app.post.get.app_error"


def test_the_guard_refuses_a_private_address(fake: mm.Fake) -> None:
    chat = MattermostClient(
        connection(fake.url), guard=OutboundGuard(), timeout=5.0, callback_base="/"
    )

    with pytest.raises(ChatError) as refused:
        chat.user(fake.add_user("alice"))

    assert "127.0.0.1" in refused.value.message
    assert not refused.value.retryable
    assert fake.requests == []


# --- Rendering ----------------------------------------------------------------------------


def test_channel_names() -> None:
    assert render.channel_name("INC-12: Payments / Cards!") == "inc-12-payments-cards"
    assert render.channel_name("x") == "incident-x"
    assert render.channel_name("Ünïcode 事故") == "n-code"
    long = render.channel_name("a" * 100)
    assert len(long) == 64
    assert len(render.suffixed(long, 12)) == 64 and render.suffixed(long, 12).endswith("-12")


def test_escaping_keeps_mentions_and_markup_inert() -> None:
    assert render.escape("@here *bold* [x](http://e) `c`") == (
        "@\u200bhere \\*bold\\* \\[x\\]\\(http://e\\) \\`c\\`"
    )
    assert render.escape("mail ops@example.com") == "mail ops@\u200bexample.com"


def test_action_ids_are_letters_and_digits_and_unique() -> None:
    card = render.attachment(PAGE, actions_url="u", secret="s")
    assert card is not None
    ids = [a["id"] for a in card["actions"]]
    assert ids == ["ack0", "pageescalate1"]
    assert card["actions"][1]["style"] == "danger"
    assert card["actions"][0]["integration"]["context"] == {
        "action": "ack", "value": "INC-12", "secret": "s",
    }  # fmt: skip
    assert render.attachment(Message(text="plain"), actions_url="u", secret="s") is None


# --- The receiver -------------------------------------------------------------------------


def test_a_slash_command_is_read_and_answered(fake: mm.Fake, tocsin: Tocsin) -> None:
    tocsin.reply = Reply(text="Declared INC-13", private=False, message=PAGE)

    response = mm.send_command(
        tocsin.base + "commands", COMMAND_TOKEN, " ack INC-12 ", user_id="u1", channel_id="c1"
    )

    assert response.status_code == 200
    [command] = tocsin.events
    assert isinstance(command, Command)
    assert (command.user_id, command.channel_id, command.text) == ("u1", "c1", "ack INC-12")
    assert command.trigger and command.user_name == "alice"
    body = response.json()
    assert body["response_type"] == "in_channel"
    assert body["text"] == "Declared INC-13"
    assert body["props"]["attachments"][0]["actions"][0]["integration"]["url"] == (
        tocsin.base + "actions"
    )


def test_a_slash_command_with_a_wrong_token_is_refused(tocsin: Tocsin) -> None:
    wrong = mm.send_command(
        tocsin.base + "commands", "nope", "declare", user_id="u", channel_id="c"
    )
    header_only = mm.send_command(
        tocsin.base + "commands", "nope", "declare", user_id="u", channel_id="c", header=False
    )

    assert (wrong.status_code, header_only.status_code) == (401, 401)
    assert tocsin.events == []
    assert len(tocsin.refused) == 2


def test_a_button_press_is_read_and_answered_to_the_presser(fake: mm.Fake, tocsin: Tocsin) -> None:
    alice = fake.add_user("alice")
    channel_id = fake.add_channel("inc-9")
    post_id = client(fake, tocsin.base).post(channel_id, PAGE)
    tocsin.reply = Reply(text="Acknowledged")

    response = fake.click(post_id, "ack0", alice)

    assert response.status_code == 200
    [pressed] = tocsin.events
    assert pressed == ButtonPressed(
        user_id=alice, channel_id=channel_id, message_id=post_id, action="ack", value="INC-12",
        trigger=pressed.trigger,
    )  # fmt: skip
    assert pressed.trigger
    assert response.json() == {"ephemeral_text": "Acknowledged"}


def test_a_button_with_a_wrong_secret_is_refused(fake: mm.Fake, tocsin: Tocsin) -> None:
    alice = fake.add_user("alice")
    channel_id = fake.add_channel("inc-10")
    forged = MattermostClient(
        connection(fake.url, action_secret="forged"), guard=LOOPBACK, timeout=5.0,
        callback_base=tocsin.base,
    )  # fmt: skip
    post_id = forged.post(channel_id, PAGE)

    assert fake.click(post_id, "ack0", alice).status_code == 401
    assert tocsin.events == []


def test_a_select_action_carries_the_choice() -> None:
    receiver = MattermostReceiver(connection("http://mm"), callback_base="/")
    body = {
        "user_id": "u", "channel_id": "c", "post_id": "p", "trigger_id": "t",
        "context": {"action": "severity", "value": "INC-1", "secret": ACTION_SECRET,
                    "selected_option": "sev1"},
    }  # fmt: skip

    [pressed] = receiver.parse("actions", {}, json.dumps(body).encode(), now=0).events

    assert isinstance(pressed, ButtonPressed) and pressed.selected == "sev1"


def test_a_dialog_submission_is_read_and_errors_keep_it_open(fake: mm.Fake, tocsin: Tocsin) -> None:
    alice = fake.add_user("alice")
    form = Form("declare", "Declare", "Declare", (FormField("title", "Title"),), state="s.1")
    client(fake, tocsin.base).open_form("trig", form)
    tocsin.reply = Reply(errors={"title": "A title is needed"})

    response = fake.submit("trig", alice, "c1", {"title": "Payments down"})

    assert response.json() == {"errors": {"title": "A title is needed"}}
    assert tocsin.events == [
        FormSubmitted(user_id=alice, callback="declare", values={"title": "Payments down"},
                      state="s.1", channel_id="c1")
    ]  # fmt: skip
    tocsin.reply = None
    accepted = fake.submit("trig", alice, "c1", {"title": "Payments down"})
    assert (accepted.status_code, accepted.content) == (200, b"")


def test_a_cancelled_dialog_is_nothing_and_a_tampered_state_is_refused(
    fake: mm.Fake, tocsin: Tocsin
) -> None:
    alice = fake.add_user("alice")
    form = Form("declare", "Declare", "Declare", (FormField("title", "Title"),), state="inc:1")
    client(fake, tocsin.base).open_form("trig", form)
    signed = fake.dialogs["trig"]["dialog"]["state"]

    cancelled = fake.submit("trig", alice, "c1", {}, cancelled=True)
    tampered = fake.submit("trig", alice, "c1", {"title": "x"}, state="inc:2" + signed[5:])
    unsigned = fake.submit("trig", alice, "c1", {"title": "x"}, state="inc:1")

    assert cancelled.status_code == 200
    assert (tampered.status_code, unsigned.status_code) == (401, 401)
    assert tocsin.events == []


def test_malformed_and_unknown_requests() -> None:
    receiver = MattermostReceiver(connection("http://mm"), callback_base="/")

    with pytest.raises(ValueError):
        receiver.parse("actions", {}, b"not json", now=0)
    with pytest.raises(ValueError):
        receiver.parse("dialogs", {}, b"[1]", now=0)
    with pytest.raises(ChatRefused):
        receiver.parse("events", {}, b"{}", now=0)
    assert receiver.answer("commands", None, Reply(text="@all hi")) is not None
    answer = receiver.answer("commands", None, Reply(text="@all hi"))
    assert answer is not None and answer.body == {
        "response_type": "ephemeral", "text": "@\u200ball hi",
    }  # fmt: skip


def test_the_fake_refuses_and_records_a_request_outside_the_contract(fake: mm.Fake) -> None:
    channel_id = fake.add_channel("inc-11")
    headers = {"Authorization": f"Bearer {mm.BOT_TOKEN}"}

    extra = httpx.post(
        fake.url + "/api/v4/posts",
        json={"channel_id": channel_id, "message": "hi", "color": "red"},
        headers=headers,
        timeout=30,
    )
    bad_id = httpx.post(
        fake.url + "/api/v4/posts",
        json={
            "channel_id": channel_id,
            "message": "hi",
            "props": {
                "attachments": [
                    {"actions": [{"id": "a-1", "name": "x", "integration": {"url": "u"}}]}
                ]
            },
        },  # fmt: skip
        headers=headers,
        timeout=30,
    )

    assert (extra.status_code, bad_id.status_code) == (400, 400)
    assert fake.violations == [
        "CreatePost: body.color: not a field of this request",
        "props.attachments[0].actions[0].id 'a-1': letters and digits only",
    ]
    fake.violations.clear()
