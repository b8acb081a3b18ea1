"""The one registry of background job kinds and periodic jobs, filled explicitly in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Send:
    """What a handler returns when its job must reach the outside world (an email, a webhook).

    The handler's transaction commits first, with the job still leased. Then `perform` runs
    outside any transaction, in one of the engine's I/O threads: it must not touch the
    database and must bound its own time (network timeouts shorter than the kind's timeout).
    Then `record(session, result, error)` runs in a new transaction with what `perform`
    returned (error None) or raised (result None), and the job is marked done with it. If the
    process dies in between, the lease expires and the job runs again from the start: delivery
    is at least once.
    """

    perform: Callable[[], Any]
    record: Callable[[Session, Any, BaseException | None], None]


Handler = Callable[[Session, dict[str, Any]], "Send | None"]

PERIODIC_PREFIX = "periodic:"


@dataclass(frozen=True)
class RunInfo:
    """The run a handler is part of, for handlers that record it (see `current_run`)."""

    job_id: int
    kind: str
    attempt: int
    worker: str
    run_at: datetime


CURRENT_RUN: ContextVar[RunInfo | None] = ContextVar("tocsin_job_run", default=None)


def current_run() -> RunInfo | None:
    """The job being run by this thread, or None outside a job."""
    return CURRENT_RUN.get()


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 5
    # Seconds to wait before attempt n+1 is base * 2**n, capped.
    backoff_base: float = 5.0
    backoff_cap: float = 600.0
    # How long one run may take: on PostgreSQL the statement timeout of the handler's
    # transaction; for a Send, how long the job stays leased while `perform` runs (a process
    # that dies meanwhile leaves it to be run again once that has passed). Python cannot
    # kill a thread: `perform` must bound its own I/O with shorter network timeouts.
    timeout_seconds: float = 300.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1))))


@dataclass(frozen=True)
class PeriodicJob:
    """A kind that runs once every `every`, across all workers together.

    Time is cut into slots of `every` since the Unix epoch; each worker queues the current
    and the next slot's job with the key `periodic:<kind>:<slot start>`, so a slot's job
    exists once however many workers queue it, and runs once (at least once: see queue.py).
    Slots missed while no worker ran are not made up.
    """

    kind: str
    every: timedelta
    payload: dict[str, Any] = field(default_factory=dict)

    def slot(self, now: datetime) -> datetime:
        step = self.every.total_seconds()
        start = (now.timestamp() // step) * step
        return datetime.fromtimestamp(start, UTC)

    def key(self, slot: datetime) -> str:
        return f"{PERIODIC_PREFIX}{self.kind}:{slot.strftime('%Y-%m-%dT%H:%M:%S')}"


@dataclass
class JobRegistry:
    kinds: dict[str, JobKind] = field(default_factory=dict)
    periodic: list[PeriodicJob] = field(default_factory=list)

    def register(self, kind: JobKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self.kinds[kind.name] = kind

    def every(self, periodic: PeriodicJob) -> None:
        """Run a registered kind periodically."""
        if periodic.kind not in self.kinds:
            raise ValueError(f"periodic job of unknown kind {periodic.kind!r}")
        if periodic.every < timedelta(seconds=1):
            raise ValueError("periodic jobs run at most once a second")
        if any(p.kind == periodic.kind for p in self.periodic):
            raise ValueError(f"periodic job {periodic.kind!r} declared twice")
        self.periodic.append(periodic)

    def get(self, name: str) -> JobKind | None:
        return self.kinds.get(name)
