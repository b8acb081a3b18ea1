"""The background engine: one loop that does every piece of background work in turn.

The engine owns a process's background writes: storing accepted events and applying them
(the alerts' `EventWriter`), claiming and running jobs and recording what their sends did
(`JobRunner`). Each is a `Work`; each round of the loop gives every work that has something
to do one bounded step (about 20 ms), in priority order, so storing events comes first and
no work waits for more than one step of each other: a flood of events never starves paging.

On SQLite the engine runs one thread: it is the only background writer, so nothing has to
arbitrate between background loops. On PostgreSQL it runs several threads (the same loop
each): they claim jobs with `SKIP LOCKED`, and one at a time applies events (an advisory
lock). Blocking I/O (emails, webhooks) never runs on these threads: a job hands it back as a
`Send`, which the runner performs in its own I/O threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

log = structlog.get_logger("tocsin.engine")

# After a step raised (the database is restarting, say), the thread waits this long.
ERROR_PAUSE_SECONDS = 1.0
# About how long one step of a work may take before the next work gets its turn.
STEP_SECONDS = 0.02


class Work(Protocol):
    """One kind of background work the engine does."""

    def start(self) -> None:
        """Before the first step (may start helper threads)."""

    def step(self) -> bool:
        """Do one bounded piece of work (about STEP_SECONDS) if some is ready; whether it
        did any."""

    def due_in(self) -> float | None:
        """Seconds until this work may next have something to do without being woken
        (None: only when woken)."""

    def close(self) -> None:
        """After the last step: finish what was accepted (called once, on one thread)."""


class Engine:
    def __init__(
        self,
        works: Sequence[Work],
        *,
        threads: int = 1,
        idle_seconds: float = 1.0,
        name: str = "tocsin-engine",
    ) -> None:
        self.works = list(works)
        self.threads = max(1, threads)
        self.idle_seconds = idle_seconds
        self.name = name
        self._stop = threading.Event()
        self._wakes = [threading.Event() for _ in range(self.threads)]
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        """Something may be ready: every thread looks again at once. Safe from any thread."""
        for event in self._wakes:
            event.set()

    def start(self) -> None:
        for work in self.works:
            work.start()
        for index in range(self.threads):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"{self.name}-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        log.info("engine.started", threads=self.threads)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the steps under way, then let each work finish what it accepted."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        for work in self.works:
            try:
                work.close()
            except Exception as exc:  # shutting down: say so, and close the others
                log.error("engine.close_failed", work=type(work).__name__, error=str(exc))
        log.info("engine.stopped")

    def run_once(self) -> bool:
        """One round: a step of every work that has something to do, in priority order;
        whether any did something."""
        did = False
        for work in self.works:
            did = work.step() or did
        return did

    def _run(self, index: int) -> None:
        wake = self._wakes[index]
        while not self._stop.is_set():
            wake.clear()
            try:
                if self.run_once():
                    continue
            except Exception as exc:  # a step failed: the works retry it; keep the loop
                log.error("engine.step_failed", error=str(exc))
                wake.wait(ERROR_PAUSE_SECONDS)
                continue
            waits = [w for w in (work.due_in() for work in self.works) if w is not None]
            wake.wait(max(0.0, min([self.idle_seconds, *waits])))
