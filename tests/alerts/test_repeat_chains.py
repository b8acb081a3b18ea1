"""The SQLite event writer keeps the repeats it settles out of the index of alerts' events and
chains them instead (chains.py); a user listing an alert's or an incident's events still sees
every one of them, newest first, page after page, whatever happened to the writer meanwhile."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded, repeat_frame
from tests.conftest import api_as, browser_login
from tocsin.alerts import repeats
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event, RepeatMark
from tocsin.alerts.pipeline import purge
from tocsin.alerts.repeats import REPEAT_MARK_EVERY
from tocsin.alerts.writer_process import Writer
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents import service as incidents


def _second_alert(db: Session, integration_id: int, key: str = "cpu-hot") -> int:
    first = db.scalars(select(Alert)).first()
    assert first is not None
    alert = Alert(
        integration_id=integration_id,
        service_id=first.service_id,
        incident_id=first.incident_id,
        dedup_key=key,
        summary=key,
    )
    db.add(alert)
    db.commit()
    return alert.id


def _chained(db: Session) -> dict[int, list[int]]:
    """Each alert's chained repeats, newest first, read straight from the table."""
    db.rollback()
    found: dict[int, list[int]] = {}
    for event_id, alert_id in db.execute(
        select(Event.id, Event.repeat_of)
        .where(Event.repeat_of.is_not(None))
        .order_by(Event.id.desc())
    ):
        found.setdefault(alert_id, []).append(event_id)
    return found


def _listed(db: Session, page: int, **filters: int) -> list[int]:
    """Every event id the events list shows with these filters, page by page, newest first."""
    db.rollback()
    ids: list[int] = []
    before = None
    while True:
        rows = alerts.events(db, before_id=before, limit=page, **filters)
        ids += [e.id for e in rows]
        if len(rows) < page:
            return ids
        before = rows[-1].id


def test_settled_repeats_leave_the_alert_index_and_are_listed_all_the_same(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    other = _second_alert(db, integration_id)
    for n in range(5):  # deferred (frames behind) and folding commits, both alerts mixed
        writer.waiting = [repeat_frame(integration_id, 1)] if n % 2 else []
        writer._commit(
            [
                repeat_frame(integration_id, 9, start_ms=100 * n),
                repeat_frame(integration_id, 4, start_ms=100 * n + 50, key="cpu-hot"),
            ]
        )
    writer.waiting = []
    writer._fold()
    chained = _chained(db)
    assert len(chained[alert_id]) == 45 and len(chained[other]) == 20
    # Out of the index: alert_id is empty, and each names the one before it.
    for alert, ids in chained.items():
        rows = db.execute(
            select(Event.alert_id, Event.previous_repeat, Event.outcome_detail).where(
                Event.repeat_of == alert
            )
        ).all()
        assert {r.alert_id for r in rows} == {None}
        assert {r.outcome_detail for r in rows} == {f"deduplicated into open alert {alert}"}
        assert sorted(r.previous_repeat for r in rows) == [0, *sorted(ids)[:-1]]
        stored = db.get(Alert, alert)
        assert stored is not None and stored.last_repeat_id == ids[0]
        assert stored.event_count == 1 + len(ids)
    # Listed like any other events, newest first, page after page of any size.
    for page in (7, 16, 50):
        assert _listed(db, page, alert_id=alert_id) == chained[alert_id]
        assert _listed(db, page, alert_id=other) == chained[other]
    assert alerts.events(db, alert_id=alert_id, outcome="created_alert") == []
    # A mark at least every REPEAT_MARK_EVERY repeats of each alert.
    for alert, ids in chained.items():
        marks = db.scalars(
            select(RepeatMark.event_id)
            .where(RepeatMark.alert_id == alert)
            .order_by(RepeatMark.event_id.desc())
        ).all()
        positions = [ids.index(m) for m in marks]
        assert positions[-1] == len(ids) - 1  # the first repeat
        assert all(
            b - a <= REPEAT_MARK_EVERY for a, b in zip(positions, positions[1:], strict=False)
        )


def test_an_incidents_events_merge_the_chains_and_the_index(
    db: Session, container: Container, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    first = db.get(Alert, alert_id)
    assert first is not None
    # An indexed event of the first alert, as the processor stores an acknowledge.
    db.add(
        Event(
            integration_id=integration_id,
            action="acknowledge",
            dedup_key="disk-full",
            outcome="acknowledged",
            alert_id=alert_id,
            service_id=first.service_id,
            received_at=utcnow(),
        )
    )
    db.commit()
    incident = incidents.declare(db, by=None, title="Disk full")
    first.incident_id = incident.id
    db.commit()
    other = _second_alert(db, integration_id)
    unrelated = _second_alert(db, integration_id, key="unrelated")
    db.execute(text("UPDATE alerts SET incident_id = NULL WHERE id = :id"), {"id": unrelated})
    db.commit()
    for n in range(3):
        writer.waiting = [repeat_frame(integration_id, 1)]
        writer._commit(
            [
                repeat_frame(integration_id, 6, start_ms=100 * n),
                repeat_frame(integration_id, 6, start_ms=100 * n + 10, key="cpu-hot"),
                repeat_frame(integration_id, 6, start_ms=100 * n + 20, key="unrelated"),
            ]
        )
    # Not folded: the newest repeats are known only from alert_tallies.
    chained = _chained(db)
    everything = sorted(
        [
            *chained[alert_id],
            *chained[other],
            *db.scalars(select(Event.id).where(Event.alert_id == alert_id)),
        ],
        reverse=True,
    )
    for page in (5, 500):
        assert _listed(db, page, incident_id=incident.id) == everything
    # With the other filters, still exact.
    assert _listed(db, 10, incident_id=incident.id, outcome="deduplicated") == sorted(
        [*chained[alert_id], *chained[other]], reverse=True
    )
    assert _listed(db, 10, incident_id=incident.id, integration_id=integration_id + 1000) == []
    assert _listed(db, 10, service_id=first.service_id, alert_id=other) == chained[other]
    # Around a time: those received before it.
    db.rollback()
    middle = db.get(Event, chained[other][8])
    assert middle is not None
    before = alerts.events(db, alert_id=other, received_before=middle.received_at, limit=500)
    assert [e.id for e in before] == chained[other][9:]
    # Following: the repeats appear as they are written.
    follow = alerts.events(db, incident_id=incident.id, after_id=0, limit=500)
    assert [e.id for e in follow] == sorted(everything)


def test_chains_hold_when_another_connection_commits_and_when_the_writer_is_killed(
    settings: Settings,
    database: str,
    db: Session,
    open_alert: tuple[int, int],
    writer: Writer,
    tmp_path: object,
) -> None:
    integration_id, alert_id = open_alert
    writer.waiting = [repeat_frame(integration_id, 1)]
    writer._commit([repeat_frame(integration_id, 5)])  # heads only in alert_tallies
    with sqlite3.connect(database) as conn:  # someone else commits meanwhile
        conn.execute("UPDATE alerts SET summary = 'disk very full' WHERE id = ?", (alert_id,))
    writer._commit([repeat_frame(integration_id, 5, start_ms=10)])
    writer._commit([repeat_frame(integration_id, 5, start_ms=20)])
    writer._close_db()  # as if killed, with counts and heads in alert_tallies

    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{tmp_path}/second.sock")
    listener.listen()
    listener.setblocking(False)
    second = Writer(listener, database)
    try:
        second.waiting = [repeat_frame(integration_id, 1)]
        second._commit([repeat_frame(integration_id, 5, start_ms=30)])
        second.waiting = []
        second._commit([repeat_frame(integration_id, 5, start_ms=40)])
    finally:
        second.checkpointer.stop()
        second._close_db()
        listener.close()
    ids = _chained(db)[alert_id]
    assert len(ids) == 25
    assert _listed(db, 4, alert_id=alert_id) == ids
    stored = db.get(Alert, alert_id)
    assert stored is not None and stored.event_count == 26 and stored.last_repeat_id == ids[0]


def test_purged_repeats_end_the_chain_and_take_their_marks(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    for n in range(4):
        writer._commit([repeat_frame(integration_id, 10, start_ms=20 * n)])
    ids = _chained(db)[alert_id]
    old = ids[-25:]
    db.execute(
        update(Event).where(Event.id.in_(old)).values(received_at=utcnow() - timedelta(days=40))
    )
    db.commit()
    _, deleted = purge(db, now=utcnow(), raw_days=7, event_days=30)
    db.commit()
    assert deleted == 25
    assert _listed(db, 6, alert_id=alert_id) == ids[:-25]
    assert alerts.events(db, alert_id=alert_id, before_id=ids[-26], limit=50) == []
    marks = set(db.scalars(select(RepeatMark.event_id)))
    assert marks and marks <= set(ids[:-25])


def test_the_api_and_the_event_page_name_a_chained_repeats_alert(
    client: TestClient, db: Session, admin: User, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer._commit([repeat_frame(integration_id, 2)])
    ids = _chained(db)[alert_id]
    headers = api_as(client, db, admin)
    body = client.get("/api/v1/events", params={"alert_id": alert_id}, headers=headers).json()
    assert [item["id"] for item in body["items"]] == ids
    assert {item["alert_id"] for item in body["items"]} == {alert_id}
    detail = client.get(f"/api/v1/events/{ids[0]}", headers=headers).json()
    assert detail["alert_id"] == alert_id and detail["outcome"] == "deduplicated"
    browser_login(client, admin.email)
    page = client.get(f"/events/{ids[0]}")
    assert page.status_code == 200 and f"alert {alert_id} (triggered, 3 events)" in page.text
    # The incident's "why did (or didn't) this page?" list.
    incident = incidents.declare(db, by=None, title="Disk full")
    db.execute(update(Alert).where(Alert.id == alert_id).values(incident_id=incident.id))
    db.commit()
    listing = client.get(f"/incidents/{incident.reference}/alerts")
    assert listing.status_code == 200
    assert all(f"/events/{event_id}" in listing.text for event_id in ids)


def test_a_downgrade_puts_chained_repeats_back_in_the_index(
    settings: Settings,
    container: Container,
    db: Session,
    open_alert: tuple[int, int],
    writer: Writer,
) -> None:
    integration_id, alert_id = open_alert
    writer._commit([repeat_frame(integration_id, 3)])
    writer._close_db()
    ids = _chained(db)[alert_id]
    db.close()
    with downgraded(settings, container, "0016"), container.engine.connect() as conn:
        linked = conn.execute(
            text("SELECT id FROM events WHERE alert_id = :a ORDER BY id DESC"), {"a": alert_id}
        ).scalars()
        assert list(linked) == ids
    assert db.scalar(select(func.count()).select_from(RepeatMark)) == 0


def _statements(writer: Writer) -> list[str]:
    """The statements the writer's connection runs from now on."""
    seen: list[str] = []
    writer._connection().set_trace_callback(seen.append)
    return seen


def test_the_writer_reads_what_it_knows_only_once_until_another_connection_commits(
    database: str, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer._commit([repeat_frame(integration_id, 3)])
    seen = _statements(writer)
    writer._commit([repeat_frame(integration_id, 3, start_ms=10)])
    assert not [s for s in seen if "FROM alerts" in s or "FROM events" in s and "max" not in s]
    assert len(_chained(db)[alert_id]) == 6

    with sqlite3.connect(database) as conn:  # a person resolves the alert meanwhile
        conn.execute("UPDATE alerts SET status = 'resolved' WHERE id = ?", (alert_id,))
    seen.clear()
    writer._commit([repeat_frame(integration_id, 2, start_ms=20)])
    assert [s for s in seen if "FROM alerts" in s]  # looked up again: not open any more
    db.rollback()
    newest = db.scalars(select(Event).order_by(Event.id.desc()).limit(2)).all()
    assert {(e.outcome, e.repeat_of) for e in newest} == {("pending", None)}


def test_a_key_with_an_event_waiting_is_not_settled_until_the_processor_applies_it(
    database: str, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer._commit([repeat_frame(integration_id, 2)])  # learns the open alert
    writer._commit([repeat_frame(integration_id, 1, start_ms=10, action="acknowledge")])
    writer._commit([repeat_frame(integration_id, 2, start_ms=20)])  # behind the acknowledge
    db.rollback()
    newest = db.scalars(select(Event).order_by(Event.id.desc()).limit(3)).all()
    assert [(e.action, e.outcome) for e in newest] == [("trigger", "pending")] * 2 + [
        ("acknowledge", "pending")
    ]
    with sqlite3.connect(database) as conn:  # the processor applies them
        conn.execute("UPDATE events SET outcome = 'deduplicated' WHERE outcome = 'pending'")
    writer._commit([repeat_frame(integration_id, 1, start_ms=30)])
    db.rollback()
    last = db.scalars(select(Event).order_by(Event.id.desc()).limit(1)).one()
    assert (last.outcome, last.repeat_of) == ("deduplicated", alert_id)


def test_a_writer_that_knows_too_much_starts_over_and_keeps_its_chains(
    monkeypatch: pytest.MonkeyPatch, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    other = _second_alert(db, integration_id)
    monkeypatch.setattr(repeats, "MEMORY_KEYS", 1)
    for n in range(4):  # each commit defers its counts, and overflows the memory
        writer.waiting = [repeat_frame(integration_id, 1)]
        writer._commit(
            [
                repeat_frame(integration_id, 3, start_ms=10 * n),
                repeat_frame(integration_id, 3, start_ms=10 * n + 5, key="cpu-hot"),
            ]
        )
        assert writer.version is None  # it will start over
    chained = _chained(db)
    assert _listed(db, 5, alert_id=alert_id) == chained[alert_id] and len(chained[alert_id]) == 12
    assert _listed(db, 5, alert_id=other) == chained[other] and len(chained[other]) == 12
