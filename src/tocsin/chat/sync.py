"""The jobs that talk to chat services, after commit.

- `chat.sync` brings one incident channel in line with `channels`: create it (private for a
  restricted incident), invite the people who belong (linking those the service finds by a
  verified email), post and pin the summary, post or edit the live header, archive it once
  due. It runs in the runner's I/O threads (`jobs.registry.Send`); whatever it managed
  before a failure is kept, and a rate limit (waiting at least its Retry-After), a failing
  service or an unreachable one is tried again with a doubling delay, up to
  `TOCSIN_CHAT_ATTEMPTS`. Only one upkeep of a channel talks to the service at a time.
- `chat.post` posts one message (a reply on Matrix, an announcement, a page in chat).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.chat import channels, people
from tocsin.chat.connections import port
from tocsin.chat.models import ChannelState, ChatChannel, ChatConnection
from tocsin.chat.ports import Button, ChatClient, ChatError, Choice, Field, Message
from tocsin.chat.vendors import client_for
from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.db import utcnow
from tocsin.incidents.timeline import record as timeline
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler, JobKind, Send
from tocsin.outbound import OutboundGuard

POST_JOB = "chat.post"
RETRY_CAP_SECONDS = 3600.0


@dataclass(frozen=True)
class Chats:
    """What the jobs need from the settings: the guard, the vault, the timeouts."""

    settings: Settings

    def client(self, connection: ChatConnection) -> ChatClient:
        """The connection's client (Undecryptable if its credentials cannot be read)."""
        base = self.settings.public_url().rstrip("/")
        return client_for(
            connection.vendor,
            port(connection, self.settings),
            guard=OutboundGuard.from_settings(self.settings),
            timeout=self.settings.chat_timeout_seconds,
            callback_base=f"{base}/chat/{connection.id}/",
        )

    @property
    def send_timeout(self) -> float:
        # Create, a few invites, two posts, two pins, an edit, an archive.
        return self.settings.chat_timeout_seconds * 12 + 30


@dataclass(frozen=True)
class Plan:
    remote_id: str
    name: str
    private: bool
    topic: str
    invite: tuple[str, ...]
    emails: tuple[tuple[int, str], ...]  # (Tocsin user id, email) to find in the service
    header: Message | None  # None: unchanged since it was last posted
    header_id: str
    summary: Message | None  # None: posted and pinned already
    archive: bool


@dataclass
class Outcome:
    remote_id: str = ""
    url: str = ""
    name: str = ""
    invited: list[str] = field(default_factory=list)
    found: dict[int, str] = field(default_factory=dict)
    header_id: str = ""
    summary_id: str = ""
    archived: bool = False
    error: ChatError | None = None


def _perform(client: ChatClient, plan: Plan) -> Outcome:
    """Every step the plan needs, in order, stopping at the first failure (kept in the
    outcome with what was done before it)."""
    done = Outcome(remote_id=plan.remote_id, header_id=plan.header_id, name=plan.name)
    try:
        if not done.remote_id:
            made = client.create_channel(plan.name, private=plan.private, topic=plan.topic)
            done.remote_id, done.name, done.url = made.id, made.name, made.url or ""
        wanted = list(plan.invite)
        for user_id, email in plan.emails:
            found = client.find_user_by_email(email)
            if found is not None:
                done.found[user_id] = found.id
                wanted.append(found.id)
        if wanted:
            client.invite(done.remote_id, wanted)
            done.invited = wanted
        if plan.summary is not None:
            summary_id = client.post(done.remote_id, plan.summary)
            client.pin(done.remote_id, summary_id)
            done.summary_id = summary_id
        if plan.header is not None:
            if done.header_id:
                client.update(done.remote_id, done.header_id, plan.header)
            else:
                done.header_id = client.post(done.remote_id, plan.header)
                client.pin(done.remote_id, done.header_id)
        if plan.archive:
            client.archive(done.remote_id)
            done.archived = True
    except ChatError as exc:
        done.error = exc
    return done


def _plan(session: Session, channel: ChatChannel, settings: Settings) -> Plan:
    incident = channel.incident
    link = channels.incident_link(settings.public_url(), incident)
    belong = channels.members(session, incident)
    known = people.chat_ids(session, channel.connection, (u.id for u in belong))
    invited = set(channel.invited)
    invite = tuple(known[u.id] for u in belong if u.id in known and known[u.id] not in invited)
    asked = {entry[1:] for entry in invited if entry.startswith("?")}
    emails = tuple(
        (u.id, u.email) for u in belong if u.id not in known and u.email and u.email not in asked
    )
    header = channels.header(session, incident, link)
    fresh = channels.digest(header) != channel.header_digest
    due = channel.archive_due_at
    return Plan(
        remote_id=channel.remote_id,
        name=channel.name,
        private=channel.private,
        topic=channels.topic(incident, link),
        invite=invite,
        emails=emails,
        header=header if fresh else None,
        header_id=channel.header_message_id,
        summary=None if channel.summary_message_id else channels.summary(incident, link),
        archive=channel.state == ChannelState.archiving.value
        and due is not None
        and due <= utcnow(),
    )


def _record(
    session: Session, channel: ChatChannel, plan: Plan, done: Outcome, settings: Settings
) -> None:
    incident = channel.incident
    vendor = channel.connection.vendor.capitalize()
    opened = not channel.remote_id and bool(done.remote_id)
    channel.busy_until = None
    if done.remote_id:
        channel.remote_id = done.remote_id
        channel.name = done.name or channel.name
        channel.url = done.url or channel.url
        if channel.state == ChannelState.creating.value:
            channel.state = ChannelState.open.value
    for user_id, chat_id in done.found.items():
        user = session.get(User, user_id)
        if user is not None:
            people.link_by_email(session, channel.connection, chat_id, user.email)
    tried = {f"?{email}" for _, email in plan.emails} if done.error is None else set()
    channel.invited = sorted(set(channel.invited) | set(done.invited) | tried)
    if done.summary_id:
        channel.summary_message_id = done.summary_id
    if done.header_id:
        channel.header_message_id = done.header_id
        if plan.header is not None and done.error is None:
            channel.header_digest = channels.digest(plan.header)
    if done.archived:
        channel.state = ChannelState.archived.value
        channel.archived_at = utcnow()
        timeline(
            session, incident, "chat_channel",
            f"The {vendor} channel #{channel.name} was archived", by=None,
        )  # fmt: skip
    if opened:
        where = f" ({channel.url})" if channel.url else ""
        timeline(
            session, incident, "chat_channel",
            f"The {vendor} channel #{channel.name} was opened{where}", by=None,
        )  # fmt: skip
    if done.error is None:
        channel.error, channel.attempts = "", 0
        return
    _retry_or_fail(session, channel, done.error, settings)


def _retry_or_fail(
    session: Session, channel: ChatChannel, error: ChatError, settings: Settings
) -> None:
    channel.attempts += 1
    channel.error = error.message
    vendor = channel.connection.vendor.capitalize()
    if error.retryable and channel.attempts < settings.chat_attempts:
        backoff = settings.chat_retry_base_seconds * 2 ** (channel.attempts - 1)
        delay = min(max(error.retry_after or 0.0, backoff), RETRY_CAP_SECONDS)
        channels.queue_sync_at(session, channel, delay)
        return
    tried = f" (after {channel.attempts} attempts)" if channel.attempts > 1 else ""
    if not channel.remote_id:
        channel.state = ChannelState.failed.value
        what = f"The {vendor} channel could not be created"
    else:
        what = f"The {vendor} channel #{channel.name} could not be brought up to date"
    timeline(session, channel.incident, "chat_channel", f"{what}: {error.message}{tried}", by=None)
    channel.attempts = 0


def _sync_handler(chats: Chats) -> Handler:
    settings = chats.settings

    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        channel = session.get(ChatChannel, payload["channel_id"])
        if (
            channel is None
            or not channel.connection.enabled
            or channel.state in (ChannelState.archived.value, ChannelState.failed.value)
        ):
            return None
        now = utcnow()
        if channel.busy_until is not None and channel.busy_until > now:
            wait = (channel.busy_until - now).total_seconds() + 1
            channels.queue_sync_at(session, channel, wait)
            return None
        try:
            client = chats.client(channel.connection)
        except Undecryptable as exc:
            _retry_or_fail(session, channel, ChatError(str(exc)), settings)
            return None
        plan = _plan(session, channel, settings)
        nothing = (
            plan.remote_id
            and not plan.invite
            and not plan.emails
            and plan.header is None
            and plan.summary is None
            and not plan.archive
        )
        if nothing:
            return None
        channel.busy_until = now + timedelta(seconds=chats.send_timeout)
        channel_id = channel.id

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            current = session.get(ChatChannel, channel_id)
            if current is None:
                return
            done = result if isinstance(result, Outcome) else Outcome(
                remote_id=plan.remote_id, header_id=plan.header_id,
                error=ChatError(f"unexpected error: {error}", retryable=True),
            )  # fmt: skip
            _record(session, current, plan, done, settings)

        return Send(perform=lambda: _perform(client, plan), record=record)

    return run


# --- single messages ---------------------------------------------------------------------


def message_payload(message: Message) -> dict[str, Any]:
    return asdict(message)


def message_from(payload: dict[str, Any]) -> Message:
    return Message(
        text=payload["text"],
        title=payload.get("title"),
        link=payload.get("link"),
        fields=tuple(Field(**f) for f in payload.get("fields", ())),
        buttons=tuple(
            Button(**{**b, "choices": tuple(Choice(**c) for c in b.get("choices", ()))})
            for b in payload.get("buttons", ())
        ),
        context=payload.get("context"),
    )


def queue_post(
    session: Session,
    connection: ChatConnection,
    message: Message,
    *,
    channel_id: str | None = None,
    user_id: str | None = None,
    private: bool = False,
) -> None:
    """Post a message after commit: in a channel, to one person there alone (`private`),
    or in the bot's direct conversation with `user_id` (no `channel_id`)."""
    enqueue(
        session,
        POST_JOB,
        {
            "connection_id": connection.id,
            "channel_id": channel_id,
            "user_id": user_id,
            "private": private,
            "message": message_payload(message),
        },
    )


def _post_handler(chats: Chats) -> Handler:
    settings = chats.settings

    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        connection = session.get(ChatConnection, payload["connection_id"])
        if connection is None or not connection.enabled:
            return None
        try:
            client = chats.client(connection)
        except Undecryptable:
            return None
        message = message_from(payload["message"])
        target, user, private = payload["channel_id"], payload["user_id"], payload["private"]

        def perform() -> str:
            where = target or client.direct(user)
            if private and user:
                client.post_private(where, user, message)
                return ""
            return client.post(where, message)

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            if error is None:
                return
            if not isinstance(error, ChatError):
                raise error  # unexpected: the registry's retries, then the job's failure
            attempt = int(payload.get("attempt", 1))
            if not error.retryable or attempt >= settings.chat_attempts:
                raise error  # the job fails with the service's reason
            # Tried again as a new job, no sooner than the service's Retry-After.
            backoff = settings.chat_retry_base_seconds * 2 ** (attempt - 1)
            delay = min(max(error.retry_after or 0.0, backoff), RETRY_CAP_SECONDS)
            enqueue(
                session,
                POST_JOB,
                {**payload, "attempt": attempt + 1},
                run_at=utcnow() + timedelta(seconds=delay),
            )

        return Send(perform=perform, record=record)

    return run


def job_kinds(settings: Settings) -> list[JobKind]:
    """The chat jobs; the channel upkeep and a post retry on their own."""
    chats = Chats(settings)
    return [
        JobKind(
            channels.SYNC_JOB, _sync_handler(chats), max_attempts=2,
            timeout_seconds=chats.send_timeout,
        ),
        # A post retries on its own (above), never sooner than the service's Retry-After;
        # the registry's retry covers only an unexpected error.
        JobKind(
            POST_JOB, _post_handler(chats), max_attempts=2,
            timeout_seconds=settings.chat_timeout_seconds * 3 + 30,
        ),
    ]  # fmt: skip
