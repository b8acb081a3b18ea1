"""The jobs that talk to trackers, after commit: create or look up an issue, poll its state.

- `trackers.push` creates the follow-up's issue or looks up the one given to link, in the
  runner's I/O threads (`jobs.registry.Send`), and records the outcome. A rate limit (429,
  waiting at least its Retry-After), a failing tracker (5xx) or an unreachable one is tried
  again with a doubling delay, up to `TOCSIN_TRACKER_ATTEMPTS`; refused credentials (401), a
  missing project or issue (404) and other refusals fail at once with the tracker's reason.
  A create that times out is not repeated (the tracker may have created the issue): it fails
  saying so. Each try is its own job under a key naming the link's generation and attempt,
  so a link that was unlinked or started again in the meantime is left alone.
- `trackers.poll` (every `TOCSIN_TRACKER_POLL_MINUTES`) queues a `trackers.sync` per linked
  issue, which reads its state and applies it (`service.apply_remote`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.db import utcnow
from tocsin.incidents.models import ActionItem
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler, JobKind, PeriodicJob, Send
from tocsin.outbound import OutboundGuard
from tocsin.trackers import service
from tocsin.trackers.models import LinkState, TrackerConnection, TrackerLink
from tocsin.trackers.ports import RemoteIssue, TrackerClient, TrackerError
from tocsin.trackers.service import PUSH_JOB
from tocsin.trackers.vendors import Access, client_for

SYNC_JOB = "trackers.sync"
POLL_JOB = "trackers.poll"
POLL_BATCH = 2000
RETRY_AFTER_CAP_SECONDS = 6 * 3600
PENDING = (LinkState.creating.value, LinkState.linking.value)


@dataclass(frozen=True)
class Trackers:
    """What the jobs need from the settings: the guard, the vault, the timeouts."""

    settings: Settings

    def client(self, connection: TrackerConnection) -> TrackerClient:
        """The connection's client, with its credential decrypted (Undecryptable if it
        cannot be)."""
        access = Access(
            base_url=connection.base_url,
            project=connection.project,
            account=connection.account,
            issue_type=connection.issue_type,
            credential=service.vault(self.settings).decrypt(connection.credential_encrypted),
        )
        guard = OutboundGuard.from_settings(self.settings)
        return client_for(
            connection.kind, access, guard=guard, timeout=self.settings.tracker_timeout_seconds
        )


def description(item: ActionItem, settings: Settings) -> str:
    """The issue's text: the follow-up's description and where it came from."""
    incident = item.incident
    origin = (
        f"Follow-up of {incident.reference} “{incident.title}” in Tocsin: "
        f"{settings.base_url.rstrip('/')}/incidents/{incident.reference}"
    )
    return f"{item.description.strip()}\n\n{origin}" if item.description.strip() else origin


def _as_error(error: BaseException) -> TrackerError:
    if isinstance(error, TrackerError):
        return error
    return TrackerError(f"unexpected error: {error}", retryable=True)


def _push_handler(trackers: Trackers) -> Handler:
    settings = trackers.settings

    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        link = session.get(TrackerLink, payload["link_id"])
        generation = payload["generation"]
        if link is None or link.generation != generation or link.state not in PENDING:
            return None
        try:
            client = trackers.client(link.connection)
        except Undecryptable as exc:
            service.failed(session, link, str(exc))
            return None
        creating = link.state == LinkState.creating.value
        if creating:
            item = link.action_item
            perform = partial(client.create, item.title, description(item, settings))
        else:
            perform = partial(client.fetch, link.key)
        service.attempting(session, link)

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            current = session.get(TrackerLink, payload["link_id"])
            if current is None or current.generation != generation or current.state not in PENDING:
                return
            if error is None:
                service.linked(session, current, result)
                return
            _retry_or_fail(session, current, _as_error(error), creating=creating, settings=settings)

        return Send(perform=perform, record=record)

    return run


def _retry_or_fail(
    session: Session, link: TrackerLink, error: TrackerError, *, creating: bool,
    settings: Settings,
) -> None:  # fmt: skip
    attempts, allowed = link.attempts, settings.tracker_attempts
    if creating and error.timed_out:
        service.failed(
            session,
            link,
            f"{error.message}; it may have created the issue all the same: look in the "
            "tracker, then link that issue or create it again",
        )
        return
    if not error.retryable or attempts >= allowed:
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        service.failed(session, link, error.message + tried)
        return
    backoff = settings.tracker_retry_base_seconds * 2 ** (attempts - 1)
    delay = min(max(error.retry_after or 0.0, backoff), RETRY_AFTER_CAP_SECONDS)
    when = utcnow() + timedelta(seconds=delay)
    service.retrying(session, link, f"{error.message}; attempt {attempts} of {allowed}", when)


def _sync_handler(trackers: Trackers) -> Handler:
    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        link = session.get(TrackerLink, payload["link_id"])
        if link is None or link.state != LinkState.linked.value:
            return None
        key = link.key
        try:
            client = trackers.client(link.connection)
        except Undecryptable as exc:
            service.sync_failed(session, link, str(exc))
            return None

        def record(session: Session, result: Any, error: BaseException | None) -> None:
            current = session.get(TrackerLink, payload["link_id"])
            if current is None or current.state != LinkState.linked.value or current.key != key:
                return
            if error is not None:
                service.sync_failed(session, current, _as_error(error).message)
            elif isinstance(result, RemoteIssue):
                service.apply_remote(session, current, result, via="polling")

        return Send(perform=partial(client.fetch, key), record=record)

    return run


def poll(session: Session, payload: dict[str, Any]) -> None:
    """Queue a read of every linked issue, least recently read first."""
    slot = payload.get("slot") or utcnow().isoformat()
    ids = session.scalars(
        select(TrackerLink.id)
        .where(TrackerLink.state == LinkState.linked.value)
        .order_by(TrackerLink.synced_at.is_not(None), TrackerLink.synced_at, TrackerLink.id)
        .limit(POLL_BATCH)
    ).all()
    for link_id in ids:
        enqueue(session, SYNC_JOB, {"link_id": link_id}, key=f"{SYNC_JOB}:{link_id}:{slot}")


def job_kinds(settings: Settings) -> list[JobKind]:
    """The trackers' job kinds; a push or sync does at most two requests."""
    trackers = Trackers(settings)
    send_timeout = settings.tracker_timeout_seconds * 2 + 30
    return [
        # Retries are the link's own (above); the registry's cover only an unexpected error.
        JobKind(PUSH_JOB, _push_handler(trackers), max_attempts=2, timeout_seconds=send_timeout),
        JobKind(SYNC_JOB, _sync_handler(trackers), max_attempts=1, timeout_seconds=send_timeout),
        JobKind(POLL_JOB, poll, max_attempts=1, timeout_seconds=60),
    ]


def periodic(settings: Settings) -> PeriodicJob:
    return PeriodicJob(POLL_JOB, every=timedelta(minutes=settings.tracker_poll_minutes))
