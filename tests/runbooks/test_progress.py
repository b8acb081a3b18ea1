"""Ticking and unticking steps: the timeline, idempotence, and ticks made at the same time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.runbooks.conftest import incident, runbook, timeline_kinds
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.errors import NotFound
from tocsin.incidents.models import Incident
from tocsin.runbooks import progress, service
from tocsin.runbooks.models import IncidentRunbook, StepTick


def test_tick_and_untick_are_on_the_timeline_and_idempotent(
    db: Session, admin: User, responder: User
) -> None:
    inc = incident(db, admin)
    held = service.attach(db, inc, runbook(db, admin), by=admin)
    assert progress.tick(db, inc, held, 2, by=responder) is True
    assert progress.tick(db, inc, held, 2, by=admin) is False  # already done: nothing
    (step,) = [p for p in progress.progress(held) if p.tick]
    assert step.number == 2 and step.tick is not None
    assert step.tick.ticked_by_id == responder.id
    assert progress.untick(db, inc, held, 2, by=admin) is True
    assert progress.untick(db, inc, held, 2, by=admin) is False
    assert timeline_kinds(db, inc, "runbook_step") == [
        "Rita Responder ticked step 2 of “Checkout”: Assign a scribe",
        "Ada Admin unticked step 2 of “Checkout”: Assign a scribe",
    ]


def test_unknown_step_or_attachment(db: Session, admin: User) -> None:
    inc = incident(db, admin)
    held = service.attach(db, inc, runbook(db, admin), by=admin)
    with pytest.raises(NotFound, match="has no step 4 \\(it has 3\\)"):
        progress.tick(db, inc, held, 4, by=admin)
    other = incident(db, admin, "Other")
    with pytest.raises(NotFound):
        progress.get_attachment(db, other, held.id)
    assert db.scalar(select(func.count(StepTick.id))) == 0


def _tick_in_thread(
    container: Container,
    incident_id: int,
    attachment_id: int,
    user_id: int,
    steps: list[int],
    barrier: threading.Barrier,
    failures: list[BaseException],
) -> None:
    try:
        barrier.wait(timeout=10)
        with container.sessionmaker.begin() as session:
            inc = session.get(Incident, incident_id)
            held = session.get(IncidentRunbook, attachment_id)
            user = session.get(User, user_id)
            assert inc is not None and held is not None and user is not None
            for number in steps:
                progress.tick(session, inc, held, number, by=user)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        failures.append(exc)


def test_two_people_ticking_at_once_lose_nothing(
    container: Container, db: Session, admin: User, responder: User
) -> None:
    inc = incident(db, admin)
    held = service.attach(db, inc, runbook(db, admin), by=admin)
    db.commit()
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []
    # Both tick step 2; each ticks one step of its own.
    threads = [
        threading.Thread(
            target=_tick_in_thread,
            args=(container, inc.id, held.id, who.id, steps, barrier, failures),
        )
        for who, steps in ((admin, [1, 2]), (responder, [2, 3]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    db.expire_all()
    ticks = db.scalars(select(StepTick).where(StepTick.attachment_id == held.id)).all()
    assert sorted(t.step for t in ticks) == [1, 2, 3]
    # Step 2 was ticked once, by whoever came first, and is on the timeline once.
    assert len([s for s in timeline_kinds(db, inc, "runbook_step") if "step 2" in s]) == 1
