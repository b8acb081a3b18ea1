"""Reading the chains of repeats the SQLite event writer settled (Event.repeat_of).

Such a repeat is not in the index of alerts' events: it names its alert in `repeat_of` and the
alert's previous chained repeat in `previous_repeat`; the alert's newest is its
`last_repeat_id`, or a later one still waiting in alert_tallies. So an alert's chained repeats,
newest first, are a walk down that chain, one lookup by id per event, and those of several
alerts (an incident's) are the walks merged by id. A RepeatMark at least every
REPEAT_MARK_EVERY repeats of an alert lets a walk that only wants events before some id start
at most that many events above it.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, AlertTally, Event, RepeatMark

# Event ids follow the time events were received, give or take how long one waited for its
# commit (a frame that waits 30 s for the write lock fails instead). A walk that wants events
# received before some time starts at the first event received this long after it.
RECEIVED_SLACK = timedelta(minutes=2)


def heads(session: Session, alerts: Select[Any]) -> dict[int, int]:
    """The newest chained repeat of each of these alerts (a `select(Alert.id)...`) that has
    one: the alert's own last_repeat_id, or one counted in alert_tallies and not added up yet."""
    found: dict[int, int] = {}
    for alert_id, head in session.execute(
        select(Alert.id, Alert.last_repeat_id).where(
            Alert.id.in_(alerts), Alert.last_repeat_id.is_not(None)
        )
    ):
        found[alert_id] = head
    waiting = (
        select(AlertTally.alert_id, func.max(AlertTally.last_repeat_id))
        .where(AlertTally.alert_id.in_(alerts), AlertTally.last_repeat_id.is_not(None))
        .group_by(AlertTally.alert_id)
    )
    for alert_id, head in session.execute(waiting):
        found[alert_id] = max(head, found.get(alert_id, 0))
    return found


def chained_repeats(
    session: Session,
    alerts: Select[Any],
    *,
    before_id: int | None = None,
    received_before: datetime | None = None,
    limit: int = 50,
) -> list[Event]:
    """The newest `limit` chained repeats of these alerts, newest first, with an id below
    `before_id` and received before `received_before` when given."""
    bound = before_id
    if received_before is not None:
        later = session.scalar(
            select(Event.id)
            .where(Event.received_at >= received_before + RECEIVED_SLACK)
            .order_by(Event.received_at)
            .limit(1)
        )
        if later is not None:
            bound = later if bound is None else min(bound, later)
    walks: list[tuple[int, int]] = []  # (-event id, alert id): a heap, newest first
    for alert_id, head in heads(session, alerts).items():
        start = head
        if bound is not None and head >= bound:
            mark = session.scalar(
                select(func.min(RepeatMark.event_id)).where(
                    RepeatMark.alert_id == alert_id, RepeatMark.event_id >= bound
                )
            )
            start = head if mark is None else mark
        walks.append((-start, alert_id))
    heapq.heapify(walks)
    step = select(Event.previous_repeat, Event.repeat_of, Event.received_at)
    wanted: list[int] = []
    while walks and len(wanted) < limit:
        event_id, alert_id = heapq.heappop(walks)
        event_id = -event_id
        row = session.execute(step.where(Event.id == event_id)).first()
        if row is None or row.repeat_of != alert_id:
            continue  # the chain ends here: older events were purged
        if (before_id is None or event_id < before_id) and (
            received_before is None or row.received_at < received_before
        ):
            wanted.append(event_id)
        if row.previous_repeat:
            heapq.heappush(walks, (-row.previous_repeat, alert_id))
    if not wanted:
        return []
    found = session.scalars(select(Event).where(Event.id.in_(wanted)).order_by(Event.id.desc()))
    return list(found)
