"""The inbox: accepted events on their way from the ingestion endpoints to the engine.

An endpoint turns a request into event rows and awaits `inbox.write(rows)`, which returns
once the engine has committed them (a 2xx therefore means the event is on disk) and raises
what the commit raised otherwise (the endpoint answers 503, never 2xx). The engine takes
everything waiting at once (`take`) and commits it in one transaction, so under load one
commit and one fsync carry the rows of every request that arrived meanwhile.

The inbox is bounded: past `max_waiting` rows, `submit` raises Overloaded (429 with
Retry-After), so a flood that outruns the database costs the senders a retry, never memory or
an accepted event.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]


class Overloaded(Exception):
    """Too many events are waiting to be written: the sender should retry later (429)."""


class Submission:
    """One request's rows and the future its endpoint awaits (done in its own event loop)."""

    __slots__ = ("rows", "future", "loop")

    def __init__(
        self, rows: list[Row], future: asyncio.Future[None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.rows = rows
        self.future = future
        self.loop = loop


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def settle(batch: list[Submission], error: BaseException | None = None) -> None:
    """Answer every submission of a batch: committed (error None) or failed with `error`.
    Called from the engine's thread; each event loop is woken once per batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for submission in batch:
        by_loop.setdefault(submission.loop, []).append(submission.future)
    for loop, futures in by_loop.items():
        # A loop that has closed has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, futures, error)


class Inbox:
    """A bounded, thread-safe queue of submissions between event loops and the engine."""

    def __init__(self, *, max_waiting: int = 50_000) -> None:
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._batch: list[Submission] = []
        self._closed = False
        self.waiting = 0  # rows submitted and not yet answered
        # Called (from the submitting thread) when the inbox goes from empty to non-empty.
        self.on_work: Callable[[], None] = lambda: None

    def submit(self, rows: list[Row]) -> asyncio.Future[None]:
        """Take these rows (or raise Overloaded); the future is done once they are committed.
        Called from a running event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not rows:
            future.set_result(None)
            return future
        with self._lock:
            if self._closed:
                raise Overloaded("Tocsin is shutting down")
            if self.waiting + len(rows) > self.max_waiting:
                raise Overloaded(f"{self.waiting} events are waiting to be written")
            self.waiting += len(rows)
            first = not self._batch
            self._batch.append(Submission(rows, future, loop))
        if first:
            self.on_work()
        return future

    async def write(self, rows: list[Row]) -> None:
        """Return once these rows are committed; raise Overloaded, or what the commit raised."""
        await self.submit(rows)

    def take(self, limit: int = 5_000) -> list[Submission]:
        """Everything waiting, up to about `limit` rows (always at least one submission)."""
        with self._lock:
            if not self._batch:
                return []
            size, count = 0, 0
            for submission in self._batch:
                if count and size + len(submission.rows) > limit:
                    break
                size += len(submission.rows)
                count += 1
            taken, self._batch = self._batch[:count], self._batch[count:]
        return taken

    def done(self, batch: list[Submission], error: BaseException | None = None) -> None:
        """The engine has committed (or failed) this batch: answer its submissions."""
        with self._lock:
            self.waiting -= sum(len(s.rows) for s in batch)
        settle(batch, error)

    @property
    def has_work(self) -> bool:
        return bool(self._batch)

    def close(self) -> None:
        """Refuse further submissions (those already in are still written)."""
        with self._lock:
            self._closed = True
