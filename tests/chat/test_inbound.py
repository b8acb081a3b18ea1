"""Chat's core, without a chat server where none is needed: who may act, declaring in turn,
the one-time link, the purge, and a post retried no sooner than the service's Retry-After
(against the fake Slack)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.chat import slack_fake
from tests.chat.slack_fake import BOT_TOKEN, BOT_USER, SIGNING_SECRET, Fake
from tests.conftest import browser_login
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.chat import connections, inbound, people
from tocsin.chat.models import ChatConnection, ChatConversation, ChatDelivery, ChatLinkRequest
from tocsin.chat.ports import Command, Message
from tocsin.chat.sync import POST_JOB, queue_post
from tocsin.chat.tasks import purge
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.jobs.models import Job

ROOM = "!ops:example.org"


def _matrix(db: Session, settings: Settings) -> ChatConnection:
    connection = connections.create_connection(
        db,
        {
            "name": "Matrix",
            "vendor": "matrix",
            "base_url": "http://127.0.0.1:9",
            "team": "example.org",
            "bot_user_id": "@tocsin:example.org",
        },
        settings=settings.model_copy(update={"outbound_allow_private": True}),
    )
    db.commit()
    return connection


def _say(db: Session, connection: ChatConnection, settings: Settings, text: str) -> str:
    outcome = inbound.handle(db, connection, Command("@alice:example.org", ROOM, text), settings)
    db.commit()
    assert outcome.reply is not None
    return outcome.reply.text


def test_declaring_in_turn_takes_any_answer_even_one_that_looks_like_a_command(
    db: Session, settings: Settings, responder: User
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", responder, via="link")
    assert "title" in _say(db, connection, settings, "declare")
    assert "Which type" in _say(db, connection, settings, "page errors on checkout")
    assert "Which severity" in _say(db, connection, settings, "-")
    assert "no severity 'SEV9'" in _say(db, connection, settings, "SEV9")
    assert "Which services" in _say(db, connection, settings, "sev2")
    done = _say(db, connection, settings, "-")
    incident = db.scalar(select(Incident))
    assert incident is not None and incident.title == "page errors on checkout"
    assert done == f"Declared {incident.reference}: page errors on checkout."
    assert incident.severity is not None and incident.severity.name == "SEV2"
    assert incident.created_by_id == responder.id
    assert db.scalar(select(func.count()).select_from(ChatConversation)) == 0


def test_cancelling_a_declaration_declares_nothing(
    db: Session, settings: Settings, responder: User
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", responder, via="link")
    _say(db, connection, settings, "declare Disk full")
    assert "cancelled" in _say(db, connection, settings, "cancel")
    assert db.scalar(select(Incident)) is None


def test_a_viewer_cannot_declare_or_act_from_chat(
    db: Session, settings: Settings, viewer: User, responder: User
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", viewer, via="link")
    answer = _say(db, connection, settings, "declare Disk full")
    assert "Nothing was declared" in answer and "responder role" in answer
    assert db.scalar(select(Incident)) is None
    assert db.scalar(select(ChatConversation)) is None


def test_an_unlinked_person_gets_a_link_and_nothing_is_done(
    db: Session, settings: Settings, responder: User
) -> None:
    connection = _matrix(db, settings)
    answer = _say(db, connection, settings, "declare Disk full")
    assert "not linked" in answer and "/chat/link/" in answer
    assert db.scalar(select(Incident)) is None
    token = answer.split("/chat/link/")[1].split(" ")[0]
    people.complete_link(db, token, responder)
    db.commit()
    assert people.identity(db, connection, "@alice:example.org") is not None
    with pytest.raises(Exception, match="already used"):
        people.complete_link(db, token, responder)


def test_purge_forgets_used_and_expired_links_and_old_deliveries(
    db: Session, settings: Settings
) -> None:
    connection = _matrix(db, settings)
    people.start_link(db, connection, "@old:example.org")
    people.start_link(db, connection, "@fresh:example.org")
    old = db.scalar(
        select(ChatLinkRequest).where(ChatLinkRequest.chat_user_id == "@old:example.org")
    )
    assert old is not None
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.add(
        ChatDelivery(
            connection_id=connection.id, delivery_id="t1", received_at=utcnow() - timedelta(days=8)
        )
    )
    db.add(ChatDelivery(connection_id=connection.id, delivery_id="t2"))
    db.commit()
    purge(db, {})
    db.commit()
    assert db.scalars(select(ChatLinkRequest.chat_user_id)).all() == ["@fresh:example.org"]
    assert db.scalars(select(ChatDelivery.delivery_id)).all() == ["t2"]


@pytest.fixture
def slack() -> Iterator[Fake]:
    fake, server = slack_fake.serve()
    fake.add_user("U0ALICE", "alice", "alice@example.com")
    fake.users[BOT_USER] = {"name": "tocsin", "real_name": "Tocsin", "email": None}
    yield fake
    server.shutdown()
    server.server_close()
    assert fake.violations == []


def test_a_rate_limited_post_waits_at_least_retry_after(settings: Settings, slack: Fake) -> None:
    loose = settings.model_copy(
        update={"outbound_allow_private": True, "chat_retry_base_seconds": 1.0}
    )
    container: Container = build(loose)
    try:
        with container.sessionmaker() as db:
            connection = connections.create_connection(
                db,
                {
                    "name": "Slack", "vendor": "slack", "base_url": slack.url,
                    "team": "T0TOCSIN", "bot_user_id": BOT_USER,
                    "secrets": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET},
                },
                settings=loose,
            )  # fmt: skip
            channel = slack.add_channel("general", members=(BOT_USER,))
            queue_post(db, connection, Message(text="Hello"), channel_id=channel.id)
            db.commit()
        slack.fail(429, "ratelimited", method="chat.postMessage", **{"Retry-After": "30"})
        before = utcnow()
        container.runner(name="test").run_until_idle()
        with container.sessionmaker() as db:
            again = db.scalar(select(Job).where(Job.kind == POST_JOB, Job.state == "queued"))
            assert again is not None and again.payload["attempt"] == 2
            assert again.run_at >= before + timedelta(seconds=30)
        assert not any(m.get("text") == "Hello" for m in channel.messages.values())
        # Once the wait is over, the post goes.
        with container.sessionmaker() as db:
            again = db.scalar(select(Job).where(Job.kind == POST_JOB, Job.state == "queued"))
            assert again is not None
            again.run_at = utcnow()
            db.commit()
        container.runner(name="test").run_until_idle()
        assert [m.get("text") for m in channel.messages.values()] == ["Hello"]
    finally:
        container.close()


def test_a_matrix_transaction_is_verified_then_acted_on_once(
    db: Session, settings: Settings, responder: User, client: TestClient
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", responder, via="link")
    db.commit()
    hs_token = connections.secrets_of(connection, settings)["hs_token"]
    event = {
        "type": "m.room.message",
        "room_id": ROOM,
        "sender": "@alice:example.org",
        "event_id": "$declare",
        "content": {"msgtype": "m.text", "body": "!tocsin declare Disk full"},
    }
    url = f"/chat/{connection.id}/_matrix/app/v1/transactions/txn-1"
    forged = client.put(url, json={"events": [event]}, headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 401 and forged.json()["error"]["status"] == 401
    assert db.scalar(select(ChatConversation)) is None
    for _ in range(2):  # the homeserver sending the same transaction again
        done = client.put(
            url, json={"events": [event]}, headers={"Authorization": f"Bearer {hs_token}"}
        )
        assert done.status_code == 200 and done.json() == {}
    db.commit()  # a new transaction: see what the requests wrote
    assert db.scalar(select(func.count()).select_from(ChatConversation)) == 1
    replies = db.scalars(select(Job).where(Job.kind == POST_JOB)).all()
    assert len(replies) == 1 and "Which type" in replies[0].payload["message"]["text"]


def test_a_role_goes_to_a_person_named_by_their_chat_username(
    db: Session, settings: Settings, responder: User, admin: User
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", responder, via="link")
    people.link(db, connection, "uid-of-bob", admin, via="link", name="bob")
    incident = incidents.declare(db, by=responder, title="Disk full", urgency="none")
    db.commit()
    answer = _say(db, connection, settings, f"role {incident.reference} scribe @bob")
    assert answer == f"{admin.name} is now Scribe of {incident.reference}."
    holders = [(a.role.slug, a.user_id) for a in incident.role_assignments]
    assert ("scribe", admin.id) in holders
    assert "nobody in Tocsin is @carol" in _say(
        db, connection, settings, f"role {incident.reference} scribe @carol"
    )


def test_the_incident_page_says_where_its_chat_channel_is(
    db: Session, settings: Settings, admin: User, client: TestClient
) -> None:
    connection = _matrix(db, settings)
    connections.update_connection(
        db, connection, {"channel_severities": ["SEV1"]}, settings=settings
    )
    sev = {s.name: s.id for s in db.scalars(select(Severity))}
    big = incidents.declare(
        db, by=admin, title="Disk <full>", severity_id=sev["SEV1"], urgency="none"
    )
    small = incidents.declare(
        db, by=admin, title="Slow page", severity_id=sev["SEV3"], urgency="none"
    )
    db.commit()
    browser_login(client, admin.email)
    page = client.get(f"/incidents/{big.reference}").text
    assert "Matrix:" in page and f"#inc-{big.number}-disk-full" in page
    assert "being created" in page
    assert (
        "No chat channel: SEV3 incidents get none"
        in client.get(f"/incidents/{small.reference}").text
    )


def test_a_restricted_incident_acted_on_from_elsewhere_is_answered_privately(
    db: Session, settings: Settings, responder: User
) -> None:
    connection = _matrix(db, settings)
    people.link(db, connection, "@alice:example.org", responder, via="link")
    hidden = incidents.declare(db, by=responder, title="Leak", restricted=True, urgency="none")
    open_ = incidents.declare(db, by=responder, title="Slow", urgency="none")
    db.commit()
    for incident, private in ((hidden, True), (open_, False)):
        outcome = inbound.handle(
            db, connection,
            Command("@alice:example.org", ROOM, f"note {incident.reference} looking"), settings,
        )  # fmt: skip
        db.commit()
        assert outcome.reply is not None and outcome.reply.private is private
        assert outcome.reply.text == f"Added to {incident.reference}'s timeline."


def test_turning_a_connection_on_again_brings_its_channels_up_to_date(
    db: Session, settings: Settings, admin: User
) -> None:
    connection = _matrix(db, settings)
    loose = settings.model_copy(update={"outbound_allow_private": True})
    connections.update_connection(db, connection, {"channel_severities": ["SEV1"]}, settings=loose)
    sev1 = db.scalar(select(Severity).where(Severity.name == "SEV1"))
    assert sev1 is not None
    incidents.declare(db, by=admin, title="Disk full", severity_id=sev1.id, urgency="none")
    connections.update_connection(db, connection, {"enabled": False}, settings=loose)
    db.commit()

    def upkeeps() -> int:
        return db.scalar(select(func.count()).select_from(Job).where(Job.kind == "chat.sync")) or 0

    before = upkeeps()
    connections.update_connection(db, connection, {"enabled": True}, settings=loose)
    db.commit()
    assert upkeeps() == before + 1
