"""Enqueueing with idempotency keys, cancelling, retrying: all in the caller's transaction."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.jobs.models import Job
from tocsin.jobs.queue import cancel, cancel_job, enqueue, retry


def _jobs(container: Container) -> list[Job]:
    with container.sessionmaker() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_rolled_back_keyed_enqueue_leaves_nothing(container: Container) -> None:
    with container.sessionmaker() as session:
        enqueue(session, "test.job", {"n": 1}, key="page:1")
        session.rollback()
    assert _jobs(container) == []
    with container.sessionmaker.begin() as session:  # the key is free again
        enqueue(session, "test.job", {"n": 2}, key="page:1")
    assert [j.payload for j in _jobs(container)] == [{"n": 2}]


def test_a_key_queues_one_job_and_returns_it_to_every_caller(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        first = enqueue(session, "test.job", {"n": 1}, key="page:42:1")
        again = enqueue(session, "test.job", {"n": 2}, key="page:42:1")  # same transaction
        assert again.id == first.id and again.payload == {"n": 1}
    with container.sessionmaker.begin() as session:  # a later transaction
        later = enqueue(session, "test.job", {"n": 3}, key="page:42:1")
        assert later.id == first.id
        enqueue(session, "test.job", {"n": 4}, key="page:42:2")
        enqueue(session, "test.job", {"n": 5})  # jobs without a key never collide
        enqueue(session, "test.job", {"n": 6})
    assert sorted(j.payload["n"] for j in _jobs(container)) == [1, 4, 5, 6]


def test_a_duplicate_key_does_not_break_the_callers_transaction(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {}, key="dup")
    with container.sessionmaker.begin() as session:
        team = catalog.create_team(session, name="Payments")
        enqueue(session, "test.job", {}, key="dup")
        team.description = "still writable after the duplicate"
    with container.sessionmaker() as session:
        saved = session.scalars(select(Team)).one()
        assert saved.description == "still writable after the duplicate"
    assert len(_jobs(container)) == 1


def test_concurrent_enqueues_of_one_key_queue_one_job(container: Container) -> None:
    """The second transaction waits for the first and then gets its job."""
    first = container.sessionmaker()
    mine = enqueue(first, "test.job", {"by": "first"}, key="race")
    seen: list[int] = []

    def other() -> None:
        with container.sessionmaker.begin() as session:
            seen.append(enqueue(session, "test.job", {"by": "second"}, key="race").id)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=0.5)  # it waits on the first transaction's row (or write lock)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert seen == [mine.id]
    assert [j.payload for j in _jobs(container)] == [{"by": "first"}]


def test_bad_keys_and_naive_times_are_refused(container: Container) -> None:
    with container.sessionmaker() as session:
        with pytest.raises(ValidationFailed) as too_long:
            enqueue(session, "test.job", {}, key="k" * 201)
        assert too_long.value.field == "key"
        with pytest.raises(ValidationFailed) as naive:
            enqueue(session, "test.job", {}, run_at=utcnow().replace(tzinfo=None))
        assert naive.value.field == "run_at"


def test_cancel_by_key_prefix_and_by_payload(container: Container) -> None:
    later = utcnow() + timedelta(minutes=5)
    with container.sessionmaker.begin() as session:
        enqueue(session, "escalation.step", {"incident_id": 42}, run_at=later, key="esc:42:1")
        enqueue(session, "escalation.step", {"incident_id": 42}, run_at=later, key="esc:42:2")
        enqueue(session, "escalation.step", {"incident_id": 420}, run_at=later, key="esc:420:1")
        enqueue(session, "notify.deliver", {"incident_id": 42, "to": "ann"}, run_at=later)
        enqueue(session, "notify.deliver", {"incident_id": 7, "to": "ann"}, run_at=later)
        enqueue(session, "other.kind", {"ref": "INC-42"}, run_at=later, key="esc_42_x")
    with container.sessionmaker.begin() as session:
        assert cancel(session, key_prefix="esc:42:", reason="acknowledged") == 2
    with container.sessionmaker.begin() as session:
        assert cancel(session, kind="notify.deliver", payload={"incident_id": 42}) == 1
        assert cancel(session, payload={"ref": "INC-42"}) == 1
        assert cancel(session, key_prefix="esc:42:") == 0  # already cancelled
    states = {(j.key, j.payload.get("incident_id")): j.state for j in _jobs(container)}
    assert states == {
        ("esc:42:1", 42): "cancelled",
        ("esc:42:2", 42): "cancelled",
        ("esc:420:1", 420): "queued",  # the prefix is literal: 42: is not 420:
        (None, 42): "cancelled",
        (None, 7): "queued",
        ("esc_42_x", None): "cancelled",  # by payload; `_` in a prefix is no wildcard
    }
    cancelled = [j for j in _jobs(container) if j.key == "esc:42:1"][0]
    assert cancelled.last_error == "acknowledged" and cancelled.finished_at is not None


def test_cancel_leaves_running_and_finished_jobs_alone(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        for state in ("running", "done", "failed", "queued"):
            job = enqueue(session, "test.job", {"incident_id": 1}, key=f"inc:1:{state}")
            job.state = state
    with container.sessionmaker.begin() as session:
        assert cancel(session, key_prefix="inc:1:") == 1
    assert {j.key: j.state for j in _jobs(container)} == {
        "inc:1:running": "running",
        "inc:1:done": "done",
        "inc:1:failed": "failed",
        "inc:1:queued": "cancelled",
    }


def test_cancel_needs_a_filter(container: Container) -> None:
    with container.sessionmaker() as session:
        with pytest.raises(ValidationFailed):
            cancel(session)
        with pytest.raises(ValidationFailed):
            cancel(session, payload={"incident_id": 1.5})  # type: ignore[dict-item]


def test_retry_and_cancel_one_job(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        job = enqueue(session, "test.job", {})
        session.flush()
        job_id = job.id
    with container.sessionmaker.begin() as session:
        with pytest.raises(Conflict):
            retry(session, job_id)  # queued: nothing to retry
        cancel_job(session, job_id, reason="not needed")
    with container.sessionmaker.begin() as session:
        with pytest.raises(Conflict):
            cancel_job(session, job_id)
        session.execute(update(Job).values(attempts=5))
        again = retry(session, job_id)
        assert again.state == "queued" and again.attempts == 0 and again.finished_at is None
        with pytest.raises(NotFound):
            retry(session, job_id + 1000)
