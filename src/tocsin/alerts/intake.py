"""Admission for ingestion endpoints: which integration a key names, per-key limits, overload.

Keys are looked up by their SHA-256 and cached for a few seconds, so the hot path does not
query the database for every event. Disabling an integration clears this process's cache at
once; other processes notice within `KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts import generic
from tocsin.alerts.models import Integration, Outcome
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import EventProcessor, event_row, purge
from tocsin.alerts.writing import EventWriter, Overloaded, ProcessEventWriter, WriteTurn
from tocsin.db import rebind, utcnow

KEY_CACHE_SECONDS = 5.0
# Under a trickle of events the processor waits this long between batches so that each one
# applies many (measured: about 20% more events accepted per second on SQLite).
GATHER_SECONDS = 0.02
log = structlog.get_logger("tocsin.ingest")


@dataclass(frozen=True)
class KeyInfo:
    integration_id: int
    type: str
    name: str


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after} s")
        self.retry_after = retry_after


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class _Bucket:
    """A token bucket: `rate` events per minute, bursts up to one minute's worth."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, capacity: float) -> None:
        self.tokens = capacity
        self.stamp = time.monotonic()


# Retention needs no more than hourly.
HOUSEKEEPING_SECONDS = 3600.0


class Intake:
    """Per-process ingestion state: the key cache, the limits, the writer and the processor."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        rate_per_minute: int = 0,
        max_waiting: int = 50_000,
        housekeeping: Any = None,
        writer_process: Path | None = None,
    ) -> None:
        """`writer_process`: an SQLite file whose accepted events a writer process commits
        (writing.ProcessEventWriter); None: a writer thread of this process (EventWriter)."""
        self.factory = factory
        engine = factory.kw["bind"]
        turn = WriteTurn(enabled=engine.dialect.name == "sqlite")
        self.turn = turn  # the embedded job worker takes its turns here too
        # On SQLite the processor's commits skip their own fsync: the WAL is one append-only
        # file, so the event writer's next fsync makes them durable too; and if a machine
        # crash lost one first, it would vanish whole, leaving its events pending to be
        # applied again. The accepted events themselves are always fsynced before the 2xx.
        applying = rebind(factory, engine.execution_options(sqlite_synchronous="NORMAL"))
        self.processor = EventProcessor(
            applying,
            housekeeping=housekeeping,
            housekeeping_seconds=HOUSEKEEPING_SECONDS,
            turn=turn,
            gather_seconds=GATHER_SECONDS,
        )
        process_writer = None
        if writer_process is not None:
            try:
                process_writer = ProcessEventWriter(
                    writer_process, max_waiting=max_waiting, turn=turn
                )
            except OSError as exc:  # no private place for its socket: the thread will do
                log.warning("ingest.writer_process_unavailable", error=str(exc))
        self.writer: EventWriter | ProcessEventWriter = process_writer or EventWriter(
            engine, max_waiting=max_waiting, turn=turn
        )
        self.writer.on_commit = self.processor.wake
        self.rate_per_minute = rate_per_minute
        self._keys: dict[str, tuple[float, KeyInfo | None]] = {}
        self._mappings: dict[int, tuple[float, Any]] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    # -- keys --------------------------------------------------------------------------------

    def cached(self, key: str) -> tuple[bool, KeyInfo | None]:
        """(known, info) from the cache alone; known is False when the database must be asked."""
        hit = self._keys.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def lookup(self, key: str) -> KeyInfo | None:
        """The enabled integration this key names (blocking: may query the database)."""
        known, info = self.cached(key)
        if known:
            return info
        info = None
        if key and len(key) <= 128:
            with self.factory() as session:
                found = session.scalar(
                    select(Integration).where(Integration.key_hash == key_digest(key))
                )
                if found is not None and found.disabled_at is None:
                    info = KeyInfo(found.id, found.type, found.name)
        if len(self._keys) > 10_000:  # never let random keys grow the cache without bound
            self._keys.clear()
        self._keys[key] = (time.monotonic() + KEY_CACHE_SECONDS, info)
        return info

    def forget_keys(self) -> None:
        self._keys.clear()
        self._mappings.clear()

    def mapping(self, info: KeyInfo) -> Any:
        """A generic webhook's JMESPath mapping (blocking: may query the database)."""
        hit = self._mappings.get(info.integration_id)
        if hit is not None and hit[0] >= time.monotonic():
            return hit[1]
        with self.factory() as session:
            integration = session.get(Integration, info.integration_id)
            raw = (integration.config or {}).get("mapping") if integration else None
        mapping = generic.DEFAULT_MAPPING if raw is None else generic.Mapping.model_validate(raw)
        self._mappings[info.integration_id] = (time.monotonic() + KEY_CACHE_SECONDS, mapping)
        return mapping

    # -- limits ------------------------------------------------------------------------------

    def admit(self, info: KeyInfo, count: int = 1) -> None:
        """Raise RateLimited when this integration is over its per-minute limit (if any), and
        Overloaded when too many events already wait to be written."""
        if self.writer.waiting + count > self.writer.max_waiting:
            raise Overloaded(f"{self.writer.waiting} events are waiting to be written")
        rate = self.rate_per_minute
        if rate <= 0:
            return
        with self._lock:
            bucket = self._buckets.get(info.integration_id)
            if bucket is None:
                bucket = self._buckets[info.integration_id] = _Bucket(float(rate))
            now = time.monotonic()
            bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.stamp) * rate / 60.0)
            bucket.stamp = now
            if bucket.tokens < count:
                missing = count - bucket.tokens
                raise RateLimited(max(1, int(missing * 60.0 / rate + 0.999)))
            bucket.tokens -= count

    # -- writing -----------------------------------------------------------------------------

    def rows(
        self,
        info: KeyInfo,
        events: list[tuple[ParsedEvent, str | None]],
        *,
        received_at: datetime,
        request_id: str | None = None,
    ) -> list[dict[str, Any]]:
        return [
            event_row(
                info.integration_id, event, raw=raw, received_at=received_at, request_id=request_id
            )
            for event, raw in events
        ]

    async def reject(self, info: KeyInfo, raw: bytes, errors: list[str]) -> None:
        """Keep a refused body of a known integration, so "why didn't this page?" has an
        answer: the event is stored as `rejected` with the reasons (best effort: the sender
        gets its 4xx either way)."""
        text = raw[:65536].decode("utf-8", "replace").replace("\x00", "\ufffd")
        row = {
            "integration_id": info.integration_id,
            "received_at": utcnow(),
            "action": "rejected",
            "dedup_key": None,
            "summary": "",
            "data": "{}",
            "raw": text,
            "request_id": None,
            "outcome": Outcome.rejected.value,
            "outcome_detail": ("rejected: " + "; ".join(errors))[:4000],
            "alert_id": None,
            "service_id": None,
            "processed_at": None,
        }
        try:
            self.admit(info)
            await self.writer.write([row])
        except Exception as exc:  # rate-limited, overloaded or no database: say so, go on
            log.info("ingest.rejection_not_kept", error=str(exc))

    def start(self) -> None:
        if isinstance(self.writer, ProcessEventWriter):
            self.writer.start()
        self.processor.start()

    async def aclose(self) -> None:
        """Shut down: write what was accepted, then stop applying."""
        await self.writer.aclose()
        self.stop()

    def stop(self) -> None:
        self.writer.stop()
        self.processor.stop()


def housekeeping_for(raw_days: int, event_days: int) -> Any:
    """The processor's periodic work (hourly): retention. Missed heartbeats are checked by
    the periodic job `alerts.check_heartbeats` (registered in bootstrap)."""

    def run(session: Session) -> None:
        purge(session, now=utcnow(), raw_days=raw_days, event_days=event_days)

    return run
