"""Settling repeats of open alerts in the transaction that stores them (SQLite).

Under load almost every event is a trigger for an alert that is already open: Alertmanager
re-sends each firing alert, monitors repeat themselves. The processor's answer for such an
event is always the same (deduplicated into that alert, one more on its count), so the event
writer settles it while writing it: the row is stored once, with its outcome, and the processor
never has to read it back, update it, or take the write lock for it.

Only when the answer is certain to be the processor's own:
- the event is a trigger with a dedup key,
- an alert with that key is open in the database, read inside the writer's transaction, which
  on SQLite is the only writer (BEGIN IMMEDIATE), so nobody resolves it meanwhile,
- and no earlier event for that key waits to be applied, neither in the database nor earlier
  in the same batch: events for one alert still take effect in the order they were stored.

Everything else is written pending, as before, and applied by the processor in id order.
This works on the DB-API cursor of the writer's own connection (plain SQL, `?` parameters):
it runs for every batch of accepted events, where the ORM's per-row work would cost more than
the events themselves.

The writer process, while frames keep arriving, appends the counts to alert_tallies rather than
rewriting every repeated alert's row in each commit, and folds them into the alerts once
nothing waits (or a second has passed): see AlertTally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.alerts.outcomes import Outcome

# SQLite's limit on bound parameters is 32,766 (since 3.32); stay well under it.
_CHUNK = 500
DEDUPLICATED = Outcome.deduplicated.value


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _lookup(cursor: Any, sql: str, integration_id: int, keys: list[str]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for chunk in _chunks(keys):
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(sql.format(marks=marks), (integration_id, *chunk))
        found.extend(cursor.fetchall())
    return found


_OPEN_ALERTS = (
    "SELECT dedup_key, id, service_id FROM alerts WHERE integration_id = ? "
    "AND status != 'resolved' AND dedup_key IN ({marks})"
)
# Written with the literal so that SQLite uses the partial index of pending events.
_PENDING_KEYS = (
    "SELECT DISTINCT dedup_key FROM events INDEXED BY ix_events_pending_key "
    "WHERE outcome = 'pending' "
    "AND integration_id = ? AND dedup_key IN ({marks})"
)


_COUNT = (
    "UPDATE alerts SET event_count = event_count + ?, last_event_at = "
    "CASE WHEN last_event_at < ? THEN ? ELSE last_event_at END WHERE id = ?"
)


@dataclass(slots=True)
class Repeats:
    """What `mark_repeats` found: whether any row is left pending, and the counts it owes."""

    pending: bool
    counts: dict[int, list[Any]] = field(default_factory=dict)  # alert → [events, latest at]
    latest: dict[int, datetime] = field(default_factory=dict)  # integration → latest at

    def count(self, cursor: Any, stamp: Callable[[datetime], Any], *, tally: bool = False) -> None:
        """Count the settled repeats on their alerts and integrations, inside the caller's
        transaction. With `tally`, the alerts' counts are appended to alert_tallies instead of
        rewriting each alert's row (see `fold_tallies`)."""
        if not self.counts:
            return
        if tally:
            cursor.executemany(
                "INSERT INTO alert_tallies (alert_id, events, last_event_at) VALUES (?, ?, ?)",
                [(alert_id, n, stamp(at)) for alert_id, (n, at) in self.counts.items()],
            )
        else:
            cursor.executemany(
                _COUNT,
                [(n, stamp(at), stamp(at), alert_id) for alert_id, (n, at) in self.counts.items()],
            )
        cursor.executemany(
            "UPDATE integrations SET last_event_at = ? "
            "WHERE id = ? AND (last_event_at IS NULL OR last_event_at < ?)",
            [(stamp(at), integration_id, stamp(at)) for integration_id, at in self.latest.items()],
        )


def settle(
    cursor: Any, rows: list[dict[str, Any]], *, now: datetime, stamp: Callable[[datetime], Any]
) -> bool:
    """Mark the rows that repeat an open alert as applied (outcome, alert, service, time) and
    count them on their alerts and integrations, through `cursor`, inside the caller's
    transaction, before the rows are inserted. `stamp` turns a datetime into the value the
    database stores. Returns whether any row is left pending for the processor."""
    repeats = mark_repeats(cursor, rows, now=now, stamp=stamp)
    repeats.count(cursor, stamp)
    return repeats.pending


def mark_repeats(
    cursor: Any, rows: list[dict[str, Any]], *, now: datetime, stamp: Callable[[datetime], Any]
) -> Repeats:
    """`settle` without the counting: marks the rows (reading through `cursor`) and returns
    what is owed, for the caller to `count` when it knows how."""
    candidates: dict[int, set[str]] = {}
    for row in rows:
        if row["action"] == "trigger" and row["dedup_key"] and row["integration_id"] is not None:
            candidates.setdefault(row["integration_id"], set()).add(row["dedup_key"])
    if not candidates:
        return Repeats(any(row["outcome"] == Outcome.pending.value for row in rows))

    open_alerts: dict[tuple[int, str], tuple[int, int]] = {}
    waiting: set[tuple[int, str]] = set()
    for integration_id, key_set in candidates.items():
        keys = sorted(key_set)
        for dedup_key, alert_id, service_id in _lookup(cursor, _OPEN_ALERTS, integration_id, keys):
            open_alerts[(integration_id, dedup_key)] = (alert_id, service_id)
        if not any((integration_id, key) in open_alerts for key in keys):
            continue
        for (dedup_key,) in _lookup(cursor, _PENDING_KEYS, integration_id, keys):
            waiting.add((integration_id, dedup_key))

    counts: dict[int, list[Any]] = {}  # alert id → [events, latest received_at]
    latest: dict[int, datetime] = {}  # integration id → latest received_at
    processed = stamp(now)
    pending = False
    for row in rows:
        if row["outcome"] != Outcome.pending.value:
            continue
        key = (row["integration_id"], row["dedup_key"])
        ref = open_alerts.get(key) if row["action"] == "trigger" else None
        if ref is None or key in waiting:
            pending = True
            if row["dedup_key"]:
                waiting.add(key)  # later events for this key wait behind this one
            continue
        alert_id, service_id = ref
        row["outcome"] = DEDUPLICATED
        row["outcome_detail"] = f"deduplicated into open alert {alert_id}"
        row["alert_id"] = alert_id
        row["service_id"] = service_id
        row["processed_at"] = processed
        received = row["received_at"]
        counted = counts.get(alert_id)
        if counted is None:
            counts[alert_id] = [1, received]
        else:
            counted[0] += 1
            counted[1] = max(counted[1], received)
        integration_id = row["integration_id"]
        latest[integration_id] = max(received, latest.get(integration_id, received))

    return Repeats(pending, counts, latest)


def fold_tallies(cursor: Any) -> None:
    """Add the counts waiting in alert_tallies to their alerts and empty it, inside the
    caller's transaction (each alert's row is written once, whatever the number of commits
    that counted repeats of it)."""
    totals = cursor.execute(
        "SELECT alert_id, SUM(events), MAX(last_event_at) FROM alert_tallies GROUP BY alert_id"
    ).fetchall()
    cursor.executemany(_COUNT, [(n, at, at, alert_id) for alert_id, n, at in totals])
    cursor.execute("DELETE FROM alert_tallies")
