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

The writer process also keeps the repeats it settles out of the index of alerts' events
(`ix_events_alert`): each names its alert in `repeat_of` and the alert's previous such repeat
in `previous_repeat`, a chain from the alert's newest (`Memory`; readers: chains.py).
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
PENDING = Outcome.pending.value


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
    "SELECT dedup_key, id, service_id, {head} FROM alerts WHERE integration_id = ? "
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
# The same, moving the alert's chain of repeats on to its newest (NULL: it has no new one;
# MAX(a, b) is NULL if either is).
_COUNT_CHAINED = (
    "UPDATE alerts SET event_count = event_count + ?, last_event_at = "
    "CASE WHEN last_event_at < ? THEN ? ELSE last_event_at END, "
    "last_repeat_id = COALESCE(MAX(last_repeat_id, ?), ?, last_repeat_id) WHERE id = ?"
)
# A chained repeat of an alert gets a mark (RepeatMark) at least this often.
REPEAT_MARK_EVERY = 16


# The writer starts over rather than remember more keys than this.
MEMORY_KEYS = 200_000
Key = tuple[int, str]  # (integration id, dedup key)


@dataclass(slots=True)
class Memory:
    """What the writer process knows since it last started over, so that a commit reads none
    of it again: the open alert of each key it looked up (and the newest repeat chained to
    it, Event.repeat_of, and how many followed its last mark), and whether events of a key
    wait for the processor.

    Only true while nobody else changed the database, since only another connection applies
    events, resolves alerts or deletes them: the writer starts over (after folding
    alert_tallies, so that every alert's `last_repeat_id` is its newest again) whenever
    another connection committed, and after a failed transaction; it learns what a
    transaction found only once that transaction has committed."""

    open: dict[Key, tuple[int, int]] = field(default_factory=dict)  # key → (alert, service)
    waiting: dict[Key, bool] = field(default_factory=dict)
    heads: dict[int, int] = field(default_factory=dict)  # alert → newest chained repeat or 0
    unmarked: dict[int, int] = field(default_factory=dict)

    def start_over(self) -> None:
        self.open.clear()
        self.waiting.clear()
        self.heads.clear()
        self.unmarked.clear()

    def learn(self, repeats: Repeats) -> bool:
        """Take in what a committed transaction found; False once it holds more than
        MEMORY_KEYS keys (the writer then starts over, as if another connection had
        committed)."""
        self.open.update(repeats.opened)
        self.waiting.update(repeats.waiting)
        self.heads.update(repeats.heads)
        self.unmarked.update(repeats.unmarked)
        return len(self.open) + len(self.waiting) <= MEMORY_KEYS


@dataclass(slots=True)
class Repeats:
    """What `mark_repeats` found: whether any row is left pending, and the counts it owes."""

    pending: bool
    # alert → [events, latest received at, newest chained repeat or None]
    counts: dict[int, list[Any]] = field(default_factory=dict)
    latest: dict[int, datetime] = field(default_factory=dict)  # integration → latest at
    chained: bool = False
    # For Memory.learn once committed: the open alerts and waiting keys looked up, each
    # alert's newest chained repeat (0: none yet), and the repeats since its last mark.
    opened: dict[Key, tuple[int, int]] = field(default_factory=dict)
    waiting: dict[Key, bool] = field(default_factory=dict)
    heads: dict[int, int] = field(default_factory=dict)
    unmarked: dict[int, int] = field(default_factory=dict)
    marks: list[tuple[int, int]] = field(default_factory=list)  # (alert, event) for repeat_marks

    def count(self, cursor: Any, stamp: Callable[[datetime], Any], *, tally: bool = False) -> None:
        """Count the settled repeats on their alerts and integrations, inside the caller's
        transaction. With `tally`, the alerts' counts are appended to alert_tallies instead of
        rewriting each alert's row (see `fold_tallies`)."""
        if not self.counts:
            return
        counts = self.counts.items()
        if tally:
            cursor.executemany(
                "INSERT INTO alert_tallies (alert_id, events, last_event_at, last_repeat_id) "
                "VALUES (?, ?, ?, ?)",
                [(alert_id, n, stamp(at), head) for alert_id, (n, at, head) in counts],
            )
        elif self.chained:
            cursor.executemany(
                _COUNT_CHAINED,
                [
                    (n, stamp(at), stamp(at), head, head, alert_id)
                    for alert_id, (n, at, head) in counts
                ],
            )
        else:
            cursor.executemany(
                _COUNT, [(n, stamp(at), stamp(at), alert_id) for alert_id, (n, at, _) in counts]
            )
        if self.marks:
            cursor.executemany(
                "INSERT INTO repeat_marks (alert_id, event_id) VALUES (?, ?)", self.marks
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
    cursor: Any,
    rows: list[dict[str, Any]],
    *,
    now: datetime,
    stamp: Callable[[datetime], Any],
    memory: Memory | None = None,
) -> Repeats:
    """`settle` without the counting: marks the rows (reading through `cursor`) and returns
    what is owed, for the caller to `count` when it knows how.

    With `memory` (the writer process), what it holds is not read again; each row carries
    the id it is about to be inserted with, and a settled repeat names its alert in
    `repeat_of` and the alert's previous chained repeat in `previous_repeat` (alert_id stays
    empty: it is not in ix_events_alert)."""
    candidates: dict[int, set[str]] = {}
    for row in rows:
        if row["action"] == "trigger" and row["dedup_key"] and row["integration_id"] is not None:
            candidates.setdefault(row["integration_id"], set()).add(row["dedup_key"])
    if not candidates:
        found = Repeats(False)
        for row in rows:
            if row["outcome"] == PENDING:
                found.pending = True
                if row["dedup_key"] and row["integration_id"] is not None:
                    found.waiting[(row["integration_id"], row["dedup_key"])] = True
        return found

    found = Repeats(False, chained=memory is not None)
    known = memory if memory is not None else Memory()
    open_alerts: dict[Key, tuple[int, int]] = {}
    waiting: set[Key] = set()
    sql = _OPEN_ALERTS.replace("{head}", "last_repeat_id" if memory is not None else "NULL")
    for integration_id, key_set in candidates.items():
        unknown = []
        for key in key_set:
            ref = known.open.get((integration_id, key))
            if ref is None:
                unknown.append(key)
            else:
                open_alerts[(integration_id, key)] = ref
        if unknown:
            unknown.sort()
            for key, alert_id, service_id, head in _lookup(cursor, sql, integration_id, unknown):
                open_alerts[(integration_id, key)] = found.opened[(integration_id, key)] = (
                    alert_id,
                    service_id,
                )
                if alert_id not in known.heads:
                    found.heads[alert_id] = head or 0
        unsure = []
        for key in key_set:
            if (integration_id, key) in open_alerts:
                is_waiting = known.waiting.get((integration_id, key))
                if is_waiting is None:
                    unsure.append(key)
                elif is_waiting:
                    waiting.add((integration_id, key))
        if unsure:
            unsure.sort()
            for key in unsure:
                found.waiting[(integration_id, key)] = False
            for (key,) in _lookup(cursor, _PENDING_KEYS, integration_id, unsure):
                waiting.add((integration_id, key))
                found.waiting[(integration_id, key)] = True

    counts = found.counts
    latest = found.latest
    processed = stamp(now)
    pending = False
    for row in rows:
        if row["outcome"] != PENDING:
            continue
        key = (row["integration_id"], row["dedup_key"])
        ref = open_alerts.get(key) if row["action"] == "trigger" else None
        if ref is None or key in waiting:
            pending = True
            if row["dedup_key"]:
                waiting.add(key)  # later events for this key wait behind this one
                found.waiting[key] = True
            continue
        alert_id, service_id = ref
        row["outcome"] = DEDUPLICATED
        row["outcome_detail"] = f"deduplicated into open alert {alert_id}"
        row["service_id"] = service_id
        row["processed_at"] = processed
        head = None
        if memory is None:
            row["alert_id"] = alert_id
        else:
            head = _chain(found, memory, alert_id, row)
        received = row["received_at"]
        counted = counts.get(alert_id)
        if counted is None:
            counts[alert_id] = [1, received, head]
        else:
            counted[0] += 1
            counted[1] = max(counted[1], received)
            counted[2] = head
        integration_id = row["integration_id"]
        latest[integration_id] = max(received, latest.get(integration_id, received))

    found.pending = pending
    return found


def _chain(found: Repeats, memory: Memory, alert_id: int, row: dict[str, Any]) -> int:
    """Put a settled repeat at the head of its alert's chain; returns its id (the new head)."""
    event_id: int = row["id"]
    previous = found.heads.get(alert_id)
    if previous is None:
        previous = memory.heads[alert_id]  # known since the alert was looked up
    row["repeat_of"] = alert_id
    row["previous_repeat"] = previous
    found.heads[alert_id] = event_id
    since = found.unmarked.get(alert_id, memory.unmarked.get(alert_id))
    if since is None or since + 1 >= REPEAT_MARK_EVERY:
        found.marks.append((alert_id, event_id))
        found.unmarked[alert_id] = 0
    else:
        found.unmarked[alert_id] = since + 1
    return event_id


def fold_tallies(cursor: Any) -> None:
    """Add the counts waiting in alert_tallies to their alerts and empty it, inside the
    caller's transaction (each alert's row is written once, whatever the number of commits
    that counted repeats of it)."""
    totals = cursor.execute(
        "SELECT alert_id, SUM(events), MAX(last_event_at), MAX(last_repeat_id) "
        "FROM alert_tallies GROUP BY alert_id"
    ).fetchall()
    cursor.executemany(
        _COUNT_CHAINED, [(n, at, at, head, head, alert_id) for alert_id, n, at, head in totals]
    )
    cursor.execute("DELETE FROM alert_tallies")
