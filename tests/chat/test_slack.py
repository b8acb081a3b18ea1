"""Slack: the client against the contract-checking fake Web API on loopback, the rendering,
and the receiver with requests signed as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.chat import slack_fake
from tests.chat.slack_fake import BOT_TOKEN, BOT_USER, SIGNING_SECRET, Fake
from tocsin.chat.ports import (
    Answer,
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
    Message,
    MessageDeleted,
    MessageEdited,
    Parsed,
    Reaction,
    Reply,
)
from tocsin.chat.slack import SlackClient, SlackReceiver, channel_name
from tocsin.chat.slack_render import fallback_text, form_view, message_blocks
from tocsin.outbound import OutboundGuard

LOOPBACK = OutboundGuard(allow_private=True)
NOW = 1_700_000_000.0


@pytest.fixture
def slack() -> Iterator[Fake]:
    fake, server = slack_fake.serve()
    fake.add_user("U0ALICE", "alice", "alice@example.com")
    fake.add_user("U0BOB", "bob", "bob@example.com")
    fake.add_user("U0CAROL", "carol")
    fake.users[BOT_USER] = {"name": "tocsin", "real_name": "Tocsin", "email": None}
    yield fake
    server.shutdown()
    server.server_close()
    assert fake.violations == []


def connection(fake: Fake, token: str = BOT_TOKEN) -> Connection:
    secrets = {"bot_token": token, "signing_secret": SIGNING_SECRET}
    return Connection(base_url=fake.url, team="T0TOCSIN", bot_user_id=BOT_USER, secrets=secrets)


def client(fake: Fake, token: str = BOT_TOKEN) -> SlackClient:
    return SlackClient(connection(fake, token), guard=LOOPBACK, timeout=2.0)


MESSAGE = Message(
    text="Checkout is failing for 20% of EU customers",
    title="INC-12 · Checkout errors",
    link="https://tocsin.example/incidents/INC-12",
    fields=(Field("Severity", "SEV1"), Field("Status", "investigating")),
    buttons=(
        Button("ack", "Acknowledge", "INC-12", "ack INC-12", style="primary"),
        Button("resolve", "Resolve", "INC-12", "resolve INC-12", style="danger"),
    ),
    context="Tocsin · updated 14:02 UTC",
)


# --- The client --------------------------------------------------------------------------


def test_create_channel_names_it_as_slack_requires_and_sets_the_topic(slack: Fake) -> None:
    channel = client(slack).create_channel("INC-12: Checkout errors.", private=True, topic="SEV1")
    made = slack.channels[channel.id]
    assert (channel.name, made.name, made.private, made.topic) == (
        "inc-12-checkout-errors", "inc-12-checkout-errors", True, "SEV1"
    )  # fmt: skip
    assert channel.url == f"https://slack.com/app_redirect?channel={channel.id}&team=T0TOCSIN"


def test_a_taken_name_gets_the_next_free_suffix(slack: Fake) -> None:
    slack.add_channel("inc-12-db")
    slack.add_channel("inc-12-db-2")
    channel = client(slack).create_channel("inc 12 db", private=False, topic="")
    assert channel.name == "inc-12-db-3"
    assert not slack.channels[channel.id].private
    assert [args["name"] for name, args in slack.calls if name == "conversations.create"] == [
        "inc-12-db", "inc-12-db-2", "inc-12-db-3"
    ]  # fmt: skip


def test_channel_name() -> None:
    assert channel_name("Café: DB Outage v2.1 !!") == "cafe-db-outage-v2-1"
    assert channel_name("???") == "incident"
    long = channel_name("x" * 200)
    assert len(long) == 80 and long == long.lower()


def test_invite_skips_people_already_in_and_the_bot(slack: Fake) -> None:
    tocsin = client(slack)
    channel = tocsin.create_channel("inc-1", private=False, topic="")
    tocsin.invite(channel.id, ["U0ALICE"])
    tocsin.invite(channel.id, ["U0ALICE", "U0BOB", BOT_USER, "U0BOB"])
    assert slack.channels[channel.id].members == {BOT_USER, "U0ALICE", "U0BOB"}
    tocsin.invite(channel.id, [])


def test_invite_sends_at_most_a_thousand_people_a_call(slack: Fake) -> None:
    people = [f"U{n:05d}" for n in range(1_500)]
    for person in people:
        slack.add_user(person, person.lower())
    tocsin = client(slack)
    channel = tocsin.create_channel("big", private=False, topic="")
    tocsin.invite(channel.id, people)
    sizes = [len(a["users"].split(",")) for n, a in slack.calls if n == "conversations.invite"]
    assert sizes == [1_000, 500]
    assert len(slack.channels[channel.id].members) == 1_501


def test_post_update_pin_fetch_and_archive(slack: Fake) -> None:
    tocsin = client(slack)
    channel = tocsin.create_channel("inc-2", private=False, topic="")
    ts = tocsin.post(channel.id, MESSAGE)
    stored = slack.channels[channel.id].messages[ts]
    assert stored["blocks"] == message_blocks(MESSAGE)
    assert stored["text"] == fallback_text(MESSAGE)

    tocsin.update(channel.id, ts, Message(text="Resolved <for now> & done"))
    assert slack.channels[channel.id].messages[ts]["text"] == "Resolved &lt;for now&gt; &amp; done"
    fetched = tocsin.fetch_message(channel.id, ts)
    assert (fetched.id, fetched.user_id, fetched.at) == (ts, BOT_USER, float(ts))
    assert fetched.text == "Resolved &lt;for now&gt; &amp; done"

    tocsin.pin(channel.id, ts)
    tocsin.pin(channel.id, ts)
    assert slack.channels[channel.id].pins == {ts}

    tocsin.archive(channel.id)
    tocsin.archive(channel.id)
    assert slack.channels[channel.id].archived


def test_fetching_a_deleted_message_is_an_error(slack: Fake) -> None:
    channel = slack.add_channel("c", members=(BOT_USER,))
    with pytest.raises(ChatError) as raised:
        client(slack).fetch_message(channel.id, "1700000000.000001")
    assert raised.value.code == "message_not_found" and not raised.value.retryable


def test_direct_opens_one_conversation_per_person(slack: Fake) -> None:
    tocsin = client(slack)
    first = tocsin.direct("U0ALICE")
    assert first.startswith("D") and tocsin.direct("U0ALICE") == first
    assert slack.channels[first].members == {BOT_USER, "U0ALICE"}


def test_open_form_shows_a_modal(slack: Fake) -> None:
    form = Form(
        callback="declare",
        title="Declare an incident",
        submit="Declare",
        state='{"channel": "C1"}',
        fields=(
            FormField("title", "Title"),
            FormField("summary", "What is happening?", kind="textarea", required=False),
            FormField("severity", "Severity", kind="select", initial="sev2",
                      choices=(Choice("sev1", "SEV1"), Choice("sev2", "SEV2"))),
            FormField("services", "Services", kind="multiselect", initial="api,web",
                      choices=(Choice("api", "API"), Choice("web", "Web"), Choice("db", "DB"))),
        ),
    )  # fmt: skip
    client(slack).open_form("trigger-123", form)
    (view,) = slack.views
    assert (view["callback_id"], view["private_metadata"]) == ("declare", '{"channel": "C1"}')
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert elements["title"]["type"] == "plain_text_input"
    assert elements["summary"]["multiline"] is True
    assert elements["severity"]["initial_option"]["value"] == "sev2"
    assert [o["value"] for o in elements["services"]["initial_options"]] == ["api", "web"]
    assert view["title"]["text"] == "Declare an incident"


def test_users_and_their_verified_email(slack: Fake) -> None:
    tocsin = client(slack)
    alice = tocsin.user("U0ALICE")
    assert (alice.id, alice.name, alice.email) == ("U0ALICE", "alice", "alice@example.com")
    assert tocsin.user("U0CAROL").email is None
    found = tocsin.find_user_by_email("BOB@example.com")
    assert found is not None and found.id == "U0BOB"
    assert tocsin.find_user_by_email("nobody@example.com") is None
    with pytest.raises(ChatError) as raised:
        tocsin.user("U0NOBODY")
    assert raised.value.code == "user_not_found"


def test_post_private_is_ephemeral(slack: Fake) -> None:
    channel = slack.add_channel("c", members=(BOT_USER, "U0ALICE"))
    client(slack).post_private(channel.id, "U0ALICE", Message(text="Only you"))
    (sent,) = slack.channels[channel.id].ephemeral
    assert (sent["user"], sent["text"]) == ("U0ALICE", "Only you")
    assert client(slack).poll(channel.id, 0.0) == []


def test_rate_limit_is_retryable_after_slacks_wait(slack: Fake) -> None:
    slack.fail(429, "ratelimited", Retry_After="30")
    channel = slack.add_channel("c", members=(BOT_USER,))
    with pytest.raises(ChatError) as raised:
        client(slack).post(channel.id, MESSAGE)
    error = raised.value
    assert (error.retryable, error.retry_after, error.status) == (True, 30.0, 429)
    assert len(slack.calls) == 1, "slack_sdk must not retry by itself"
    assert slack.channels[channel.id].messages == {}


def test_server_errors_and_unreachable_slack_are_retryable(slack: Fake) -> None:
    slack.fail(500)
    channel = slack.add_channel("c", members=(BOT_USER,))
    with pytest.raises(ChatError) as raised:
        client(slack).post(channel.id, MESSAGE)
    assert raised.value.retryable and raised.value.status == 500
    assert len(slack.calls) == 1
    gone = Connection("http://127.0.0.1:9/api/", None, BOT_USER, {"bot_token": BOT_TOKEN})
    with pytest.raises(ChatError) as raised:
        SlackClient(gone, guard=LOOPBACK, timeout=2.0).post(channel.id, MESSAGE)
    assert raised.value.retryable and "could not reach Slack" in raised.value.message


def test_a_dropped_connection_is_retryable_and_not_retried_by_the_sdk(slack: Fake) -> None:
    slack.fail(0)
    channel = slack.add_channel("c", members=(BOT_USER,))
    with pytest.raises(ChatError) as raised:
        client(slack).pin(channel.id, "1.1")
    assert raised.value.retryable
    assert [name for name, _ in slack.calls] == ["pins.add"]


def test_a_slow_slack_times_out_retryably(slack: Fake) -> None:
    slack.delay = 1.5
    channel = slack.add_channel("c", members=(BOT_USER,))
    with pytest.raises(ChatError) as raised:
        SlackClient(connection(slack), guard=LOOPBACK, timeout=0.5).archive(channel.id)
    assert raised.value.retryable and "did not answer" in raised.value.message
    slack.delay = 0.0


def test_a_refused_token_is_not_retryable_and_says_what_to_do(slack: Fake) -> None:
    with pytest.raises(ChatError) as raised:
        client(slack, token="xoxb-revoked").direct("U0ALICE")
    error = raised.value
    assert (error.retryable, error.code) == (False, "invalid_auth")
    assert "bot token" in error.message and "reinstall" in error.message


def test_a_missing_scope_is_named(slack: Fake) -> None:
    slack.fail(error="missing_scope", body={
        "ok": False, "error": "missing_scope", "needed": "groups:write", "provided": "chat:write"
    })  # fmt: skip
    with pytest.raises(ChatError) as raised:
        client(slack).create_channel("x", private=True, topic="")
    assert raised.value.code == "missing_scope" and not raised.value.retryable
    assert "groups:write" in raised.value.message


def test_not_in_channel_is_not_retryable(slack: Fake) -> None:
    channel = slack.add_channel("theirs")
    with pytest.raises(ChatError) as raised:
        client(slack).post(channel.id, MESSAGE)
    assert (raised.value.code, raised.value.retryable) == ("not_in_channel", False)
    assert "invite it" in raised.value.message


def test_the_guard_refuses_a_private_address(slack: Fake) -> None:
    strict = SlackClient(connection(slack), guard=OutboundGuard(), timeout=2.0)
    with pytest.raises(ChatError) as raised:
        strict.post("C1", MESSAGE)
    assert "127.0.0.1" in raised.value.message and not raised.value.retryable
    assert slack.calls == []


# --- Rendering ---------------------------------------------------------------------------


def test_message_blocks() -> None:
    blocks = message_blocks(MESSAGE)
    assert blocks[0]["text"]["text"] == (
        "*<https://tocsin.example/incidents/INC-12|INC-12 · Checkout errors>*\n"
        "Checkout is failing for 20% of EU customers"
    )
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Severity*\nSEV1", "*Status*\ninvestigating"
    ]  # fmt: skip
    buttons = blocks[2]["elements"]
    assert [(b["action_id"], b["value"], b["style"]) for b in buttons] == [
        ("tocsin:ack", "INC-12", "primary"), ("tocsin:resolve", "INC-12", "danger")
    ]  # fmt: skip
    assert blocks[3] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Tocsin · updated 14:02 UTC"}],
    }


def test_user_text_is_escaped() -> None:
    evil = Message(
        text="<!channel> a & b",
        title="<https://evil.example|click>",
        link="https://x.example/a?b=1&c=<2>|3",
        fields=(Field("<@U1>", "1 > 0"),),
    )
    blocks = message_blocks(evil)
    head = blocks[0]["text"]["text"]
    assert "<!channel>" not in head and "&lt;!channel&gt; a &amp; b" in head
    assert head.startswith(
        "*<https://x.example/a?b=1&amp;c=%3C2%3E%7C3|&lt;https://evil.example|click&gt;>*"
    )
    assert blocks[1]["fields"][0]["text"] == "*&lt;@U1&gt;*\n1 &gt; 0"
    assert "<" not in fallback_text(evil)


def test_many_fields_and_repeated_actions_stay_within_slacks_limits() -> None:
    many = Message(
        text="t",
        fields=tuple(Field(f"f{n}", "v") for n in range(12)) + (Field("Notes", "x", False),),
        buttons=tuple(Button("severity", f"SEV{n}", f"sev{n}", "") for n in range(3)),
    )
    blocks = message_blocks(many)
    assert [len(b.get("fields", [])) for b in blocks[1:4]] == [10, 2, 0]
    assert blocks[3]["text"]["text"] == "*Notes*\nx"
    ids = [e["action_id"] for e in blocks[4]["elements"]]
    assert ids == ["tocsin:severity", "tocsin:severity#2", "tocsin:severity#3"]


def test_form_state_too_long_for_slack_is_refused() -> None:
    with pytest.raises(ValueError):
        form_view(Form("c", "t", "s", (), state="x" * 3_001))


# --- The receiver ------------------------------------------------------------------------


@pytest.fixture
def receiver() -> SlackReceiver:
    secrets = {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}
    return SlackReceiver(Connection("https://slack.com/api/", "T0TOCSIN", BOT_USER, secrets))


def parse(receiver: SlackReceiver, route: str, body: bytes, **headers: str) -> Parsed:
    signed = slack_fake.signed(body, now=NOW) | headers
    return receiver.parse(route, signed, body, now=NOW)


def test_the_signature_is_slacks_v0_hmac(receiver: SlackReceiver) -> None:
    body = b"token=x&user_id=U0ALICE&channel_id=C1&text=ack"
    base = f"v0:{int(NOW)}:".encode() + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": str(int(NOW)), "x-slack-signature": f"v0={digest}"}
    parsed = receiver.parse("commands", headers, body, now=NOW + 299)
    assert parsed.events == (Command(user_id="U0ALICE", channel_id="C1", text="ack"),)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Slack-Signature": "v0=" + "0" * 64}, "does not match"),
        ({"X-Slack-Request-Timestamp": str(int(NOW) - 301)}, "five minutes"),
        ({"X-Slack-Request-Timestamp": "soon"}, "not a Unix time"),
    ],
)
def test_bad_requests_are_refused(
    receiver: SlackReceiver, change: dict[str, str], reason: str
) -> None:
    with pytest.raises(ChatRefused) as raised:
        parse(receiver, "commands", slack_fake.slash_command("ack"), **change)
    assert reason in raised.value.reason


def test_unsigned_and_tampered_requests_are_refused(receiver: SlackReceiver) -> None:
    body = slack_fake.slash_command("ack")
    with pytest.raises(ChatRefused, match="no Slack signature"):
        receiver.parse("commands", {"Content-Type": "x"}, body, now=NOW)
    headers = slack_fake.signed(body, now=NOW)
    with pytest.raises(ChatRefused):
        receiver.parse("commands", headers, body + b"&text=resolve", now=NOW)
    stale = slack_fake.signed(body, now=NOW - 600)
    with pytest.raises(ChatRefused, match="five minutes"):
        receiver.parse("commands", stale, body, now=NOW)


def test_slash_command(receiver: SlackReceiver) -> None:
    parsed = parse(receiver, "commands", slack_fake.slash_command("note the fix is out "))
    assert parsed.events == (
        Command(
            user_id="U0ALICE", channel_id="C0INCIDENT", text="note the fix is out",
            trigger="trigger-13345224609.738474920.8088930838d88f008e0", user_name="alice",
        ),
    )  # fmt: skip


def block_actions(action: dict[str, Any]) -> bytes:
    return slack_fake.interaction({
        "type": "block_actions", "user": {"id": "U0BOB", "username": "bob"},
        "trigger_id": "trigger-9", "container": {"type": "message", "message_ts": "170.01",
        "channel_id": "C0INCIDENT"}, "channel": {"id": "C0INCIDENT"},
        "message": {"ts": "170.01", "text": "x"}, "actions": [action],
    })  # fmt: skip


def test_button_and_select_presses(receiver: SlackReceiver) -> None:
    button = {"type": "button", "action_id": "tocsin:ack", "value": "INC-12"}
    assert parse(receiver, "interactivity", block_actions(button)).events == (
        ButtonPressed("U0BOB", "C0INCIDENT", "170.01", "ack", "INC-12", trigger="trigger-9"),
    )
    option = {"value": "sev1", "text": {"type": "plain_text", "text": "SEV1"}}
    select = {"type": "static_select", "action_id": "tocsin:severity#2", "selected_option": option}
    (pressed,) = parse(receiver, "interactivity", block_actions(select)).events
    assert isinstance(pressed, ButtonPressed)
    assert (pressed.action, pressed.selected) == ("severity", "sev1")
    foreign = {"type": "button", "action_id": "other-app", "value": "x"}
    assert parse(receiver, "interactivity", block_actions(foreign)) == Parsed()


def test_view_submission(receiver: SlackReceiver) -> None:
    values = {
        "title": {"title": {"type": "plain_text_input", "value": "DB down"}},
        "summary": {"summary": {"type": "plain_text_input", "value": None}},
        "severity": {"severity": {"type": "static_select", "selected_option": {"value": "sev1"}}},
        "services": {"services": {"type": "multi_static_select",
                                  "selected_options": [{"value": "api"}, {"value": "db"}]}},
    }  # fmt: skip
    body = slack_fake.interaction({
        "type": "view_submission", "user": {"id": "U0ALICE"},
        "view": {"callback_id": "declare", "private_metadata": "ctx", "state": {"values": values}},
    })  # fmt: skip
    assert parse(receiver, "interactivity", body).events == (
        FormSubmitted(
            user_id="U0ALICE", callback="declare", state="ctx",
            values={"title": "DB down", "summary": "", "severity": "sev1",
                    "services": ["api", "db"]},
        ),
    )  # fmt: skip


def test_url_verification(receiver: SlackReceiver) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2"}).encode()
    assert parse(receiver, "events", body) == Parsed(answer={"challenge": "3eZbrw1aBm2"})


def test_reactions_edits_and_deletions(receiver: SlackReceiver) -> None:
    item = {"type": "message", "channel": "C0INCIDENT", "ts": "170.02"}
    added = slack_fake.event({"type": "reaction_added", "user": "U0ALICE",
                              "reaction": "pushpin", "item": item})  # fmt: skip
    assert parse(receiver, "events", added).events == (
        Reaction("U0ALICE", "C0INCIDENT", "170.02", "📌"),
    )
    removed = slack_fake.event({"type": "reaction_removed", "user": "U0ALICE",
                                "reaction": "tada", "item": item})  # fmt: skip
    assert parse(receiver, "events", removed).events == (
        Reaction("U0ALICE", "C0INCIDENT", "170.02", ":tada:", added=False),
    )
    mine = slack_fake.event({"type": "reaction_added", "user": BOT_USER,
                             "reaction": "eyes", "item": item})  # fmt: skip
    assert parse(receiver, "events", mine) == Parsed()
    edited = slack_fake.event({
        "type": "message", "subtype": "message_changed", "channel": "C0INCIDENT",
        "message": {"type": "message", "user": "U0BOB", "text": "fixed", "ts": "170.03"},
        "previous_message": {"type": "message", "user": "U0BOB", "text": "fxed", "ts": "170.03"},
    })  # fmt: skip
    assert parse(receiver, "events", edited).events == (
        MessageEdited("C0INCIDENT", "170.03", "fixed", "U0BOB"),
    )
    deleted = slack_fake.event({"type": "message", "subtype": "message_deleted",
                                "channel": "C0INCIDENT", "deleted_ts": "170.04"})  # fmt: skip
    assert parse(receiver, "events", deleted).events == (MessageDeleted("C0INCIDENT", "170.04"),)
    plain = slack_fake.event({"type": "message", "channel": "C0INCIDENT", "text": "hi"})
    assert parse(receiver, "events", plain) == Parsed()


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("events", b"not json"),
        ("events", b"[1, 2]"),
        ("interactivity", b"payload=%7Bnot"),
        ("interactivity", b"nothing=here"),
        ("commands", b"text=ack"),
        ("events", json.dumps({"type": "event_callback", "event": {
            "type": "message", "subtype": "message_deleted", "channel": "C1"}}).encode()),
    ],
)  # fmt: skip
def test_malformed_bodies_are_value_errors(
    receiver: SlackReceiver, route: str, body: bytes
) -> None:
    with pytest.raises(ValueError):
        parse(receiver, route, body)


def test_answers(receiver: SlackReceiver) -> None:
    command = Command("U0ALICE", "C1", "status")
    assert receiver.answer("commands", command, Reply(text="Done", private=True)) == Answer(
        body={"response_type": "ephemeral", "text": "Done"}
    )
    shown = receiver.answer("commands", command, Reply(private=False, message=MESSAGE))
    assert shown is not None and shown.body is not None
    assert shown.body["response_type"] == "in_channel"
    assert shown.body["blocks"] == message_blocks(MESSAGE)
    form = FormSubmitted("U0ALICE", "declare", {})
    refused = receiver.answer("interactivity", form, Reply(errors={"title": "Required"}))
    assert refused == Answer(body={"response_action": "errors", "errors": {"title": "Required"}})
    assert receiver.answer("interactivity", form, Reply()) == Answer()
    # A confirmation cannot be shown in the answer to a submission: None has it posted.
    assert receiver.answer("interactivity", form, Reply(text="Declared INC-1")) is None
    pressed = ButtonPressed("U0ALICE", "C1", "1.2", "ack", "INC-1")
    assert receiver.answer("interactivity", pressed, Reply(text="ok")) is None
    assert receiver.answer("events", None, None) == Answer()


def test_the_signing_helper_matches_the_receiver(receiver: SlackReceiver) -> None:
    body = slack_fake.event({"type": "app_mention", "user": "U0ALICE", "text": "hi"})
    headers = slack_fake.signed(body)
    assert receiver.parse("events", headers, body, now=time.time()) == Parsed()


def test_the_fake_records_requests_off_the_contract(slack: Fake) -> None:
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    httpx.post(slack.url + "chat.postMessage", data={"channel": "C1", "text": "x"}, headers=auth)
    httpx.post(slack.url + "pins.add", data={"channel": "C1", "colour": "red"}, headers=auth)
    httpx.post(slack.url + "views.open", json={"trigger_id": "t"}, headers=auth)
    assert slack.violations == [
        "chat.postMessage: content type 'application/x-www-form-urlencoded', expected "
        "application/json",
        "pins.add: unknown argument colour",
        "views.open: view is required",
    ]
    slack.violations.clear()
