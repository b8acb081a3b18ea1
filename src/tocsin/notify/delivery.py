"""The one delivery module: how anything Tocsin sends reaches its recipient.

Pages (notify/pages.py), shift notices (notify/shift_delivery.py), stakeholder and channel
updates (comms/delivery.py) and status page subscriber mails and webhooks
(subscribers/delivery.py) are each a `Purpose`: a kind of record (one row per delivery, with
its state, attempts, per-target results and a detail line people read) and what to do around
sending it. This module runs all of them the same way, as a job:

1. In the job's transaction: load the record (locked); if it must not go any more (the
   incident was acknowledged, the account deleted…), mark it skipped. Otherwise build the
   message and its targets (the contact methods, the channel, the webhook), count the attempt
   and mark it `sending`. The transaction commits before anything is sent.
2. Outside any transaction, in the engine's I/O threads: send to every target not yet sent to.
3. In a new transaction: record each target's result. All sent: `sent`. Some failed and
   attempts remain: back to waiting, retried after the one backoff (`RetryPolicy`). None left:
   `failed` (or `sent` if some target got it), and the purpose is told, once (a page tries the
   person's next contact method; the incident's timeline gets one entry for the outcome, never
   one per attempt).

A process that dies while sending leaves the job to run again: delivery is at least once, and
each record keeps one delivery id (email Message-ID, webhook delivery id) across attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler, Send
from tocsin.notify.channels import Channels, DeliveryFailed, Destination
from tocsin.notify.messages import PageMessage

log = structlog.get_logger("tocsin.delivery")

SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"
MAX_RETRY_AFTER = 3600.0  # a receiver's Retry-After is honoured up to an hour


class Record(Protocol):
    """The columns every delivery record has."""

    id: int
    state: str
    attempts: int
    detail: str
    results: dict[str, Any]
    sent_at: datetime | None
    updated_at: datetime


R = TypeVar("R", bound=Record)
T = TypeVar("T")  # a Purpose's record; the functions that send one require a Record


@dataclass(frozen=True)
class Answer:
    """What a receiver said, when a target can tell more than a sentence (an HTTP status)."""

    detail: str
    status: int | None = None


@dataclass(frozen=True)
class Target:
    """One place a delivery goes: `send()` performs it (no database: it runs outside any
    transaction), returns what the receiver said, and raises DeliveryFailed on failure."""

    key: str  # stable across attempts: a target that got it is not sent it again
    label: str  # what people call it ("ada@example.com", "#ops")
    channel: str  # "email", "webhook", "Slack"…
    send: Callable[[], str | Answer]


@dataclass(frozen=True)
class Refusal:
    """It cannot go anywhere: skipped (nothing went wrong: nobody to tell), or failed (it was
    owed and cannot be delivered: the purpose concludes it as failed)."""

    reason: str
    failed: bool = False


def email_to(channels: Channels, address: str, name: str, message: PageMessage) -> list[Target]:
    """The one target of an email to one person (a reminder, a notice): `message` to
    `address`, keyed by the address so that a retry never sends it twice."""
    sender = channels.for_kind("email")
    where = Destination(target=address, label=name)

    def send() -> str:
        sender.send(message, where)
        return "sent"

    return [Target("email", address, "email", send)]


@dataclass(frozen=True)
class Result:
    key: str
    label: str
    channel: str
    ok: bool
    detail: str
    # False when another attempt cannot help until someone changes the server's
    # configuration (no SMTP relay): no retry, and the channel has said so in the log.
    retryable: bool = True
    status: int | None = None  # the HTTP status, for targets that speak HTTP
    retry_after: float | None = None  # seconds the receiver asked us to wait (HTTP 429)
    seconds: float = 0.0  # how long the send took

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "channel": self.channel, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery once it is over (all targets, all attempts)."""

    sent: list[str]  # labels of the targets that got it
    failed: list[str]  # "label: reason" of the ones that never did
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    """Every delivery retries the same way: `attempts` in all, waiting base × 4ⁿ between (or
    longer when the receiver's Retry-After asks for it)."""

    attempts: int
    base_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.notify_attempts, settings.notify_retry_base_seconds)

    def delay(self, attempts: int) -> float:
        return self.base_seconds * 4 ** max(0, attempts - 1)


class Purpose(Protocol[T]):
    """One kind of delivery: its record and what happens around sending it."""

    job: str  # the job kind that sends it
    payload_key: str  # the record's id in the job's payload
    waiting: str  # the record's state while it waits for its (next) attempt

    def load(self, session: Session, ident: int) -> T | None:
        """The record, locked for this transaction (None if it is gone)."""

    def why_not(self, session: Session, record: T) -> str | None:
        """Why it must not be sent now, or None."""

    def targets(self, session: Session, record: T) -> list[Target] | Refusal:
        """Where it goes, with the message built (may write, e.g. single-use links)."""

    def attempted(self, session: Session, record: T, results: list[Result]) -> str | None:
        """After each attempt (remember each target's last result); a reason to stop
        retrying now (a webhook quarantined), or None."""

    def concluded(self, session: Session, record: T, outcome: Outcome) -> None:
        """Once it is over, sent or not: what follows (timeline, fallback, notices)."""


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


@dataclass
class _Attempt:
    targets: list[Target]
    results: list[Result] = field(default_factory=list)


def _perform(attempt: _Attempt) -> list[Result]:
    results = []
    for target in attempt.targets:
        started = time.monotonic()
        try:
            said = target.send()
        except DeliveryFailed as exc:
            failed = Result(target.key, target.label, target.channel, False, exc.reason,
                            exc.retryable, exc.status, exc.retry_after,
                            time.monotonic() - started)  # fmt: skip
            results.append(failed)
        else:
            answer = said if isinstance(said, Answer) else Answer(said)
            results.append(Result(target.key, target.label, target.channel, True,
                                  answer.detail or SENT, status=answer.status,
                                  seconds=time.monotonic() - started))  # fmt: skip
    return results


def handler(purpose: Purpose[R], policy: RetryPolicy) -> Handler:
    """The job handler that sends one record of this purpose."""

    def run(session: Session, payload: dict[str, Any]) -> Send | None:
        ident = int(payload[purpose.payload_key])
        record = purpose.load(session, ident)
        if record is None or record.state not in (purpose.waiting, SENDING):
            return None  # gone, cancelled, or handled by an earlier run of this job
        now = utcnow()
        record.updated_at = now
        reason = purpose.why_not(session, record)
        if reason is not None:
            _skip(record, reason)
            return None
        planned = purpose.targets(session, record)
        if isinstance(planned, Refusal):
            if not planned.failed:
                _skip(record, planned.reason)
                return None
            record.results = {
                **(record.results or {}),
                "refused": {
                    "label": "delivery",
                    "channel": "",
                    "ok": False,
                    "detail": planned.reason,
                },
            }
            _conclude(session, purpose, record)
            return None
        done = {key for key, result in (record.results or {}).items() if result.get("ok")}
        targets = [t for t in planned if t.key not in done]
        if not targets:
            _conclude(session, purpose, record)  # every target got it on an earlier run
            return None
        record.attempts += 1
        record.state = SENDING
        attempt = _Attempt(targets)
        return Send(
            perform=lambda: _perform(attempt),
            record=lambda s, results, error: _record(s, purpose, policy, ident, results, error),
        )

    return run


def deliver_now(session: Session, purpose: Purpose[R], policy: RetryPolicy, ident: int) -> None:
    """Run one delivery to the end inside the caller's transaction, sending while it is open
    (tools and tests; the engine never does this)."""
    send = handler(purpose, policy)(session, {purpose.payload_key: ident})
    if send is not None:
        send.record(session, send.perform(), None)


def _skip(record: Record, reason: str) -> None:
    record.state = SKIPPED
    record.detail = f"not sent: {reason}"


def _record(
    session: Session,
    purpose: Purpose[R],
    policy: RetryPolicy,
    ident: int,
    results: list[Result] | None,
    error: BaseException | None,
) -> None:
    """Record what an attempt did, then retry, or conclude."""
    if error is not None:  # a bug in a channel: recorded like a failed send
        results = [Result("error", "delivery", "", False, f"could not send: {error}")]
    record = purpose.load(session, ident)
    if record is None or record.state != SENDING:
        return  # cancelled or removed while sending: nothing left to record
    now = utcnow()
    record.updated_at = now
    merged = dict(record.results or {})
    for result in results or []:
        merged[result.key] = result.as_json()
    record.results = merged
    failures = [r for r in results or [] if not r.ok]
    stop = purpose.attempted(session, record, list(results or []))
    retryable = any(r.retryable for r in failures)
    if retryable and stop is None and record.attempts < policy.attempts:
        # The one backoff, unless a receiver asked for longer (Retry-After, capped).
        asked = [r.retry_after for r in failures if r.retry_after is not None]
        delay = max([policy.delay(record.attempts), *(min(a, MAX_RETRY_AFTER) for a in asked)])
        reasons = "; ".join(f"{r.label}: {r.detail}" for r in failures)
        record.state = purpose.waiting
        record.detail = (
            f"attempt {record.attempts} of {policy.attempts} failed ({reasons}); "
            f"retrying in {_seconds(delay)}"
        )
        enqueue(
            session,
            purpose.job,
            {purpose.payload_key: record.id},
            run_at=now + timedelta(seconds=delay),
            key=f"{purpose.job}:{record.id}:{record.attempts}",
        )
        log.warning("delivery.retry", job=purpose.job, id=record.id, error=reasons)
        return
    _conclude(session, purpose, record, stop, quiet=bool(failures) and not retryable)


def _conclude(
    session: Session,
    purpose: Purpose[R],
    record: R,
    stop: str | None = None,
    *,
    quiet: bool = False,
) -> None:
    """Say what became of it. `quiet`: its failures are the channel's configuration, which
    the channel logged once per process; not one warning per delivery."""
    results = (record.results or {}).values()
    sent = [
        r["label"] if r.get("detail") in (None, "", SENT) else f"{r['label']} ({r['detail']})"
        for r in results
        if r.get("ok")
    ]
    failed = [f"{r['label']}: {r['detail']}" for r in results if not r.get("ok")]
    if sent and record.sent_at is None:
        record.sent_at = utcnow()
    parts = [f"sent to {', '.join(sent)}" if sent else ""]
    if failed:
        tries = f"after {record.attempts} attempt{'s' if record.attempts != 1 else ''}"
        parts.append(f"failed {tries}: {'; '.join(failed)}")
    if stop:
        parts.append(stop)
    record.state = SENT if sent else FAILED
    record.detail = "; ".join(p for p in parts if p)
    if failed and not quiet:
        log.warning("delivery.failed", job=purpose.job, id=record.id, error="; ".join(failed))
    else:
        log.info("delivery.sent", job=purpose.job, id=record.id)
    purpose.concluded(session, record, Outcome(sent, failed, record.attempts))
