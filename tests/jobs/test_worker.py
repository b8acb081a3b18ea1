"""The job runner: after-commit delivery, retries, lease takeover, one run per job."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import queries, service, updates
from tocsin.jobs.models import Job
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind, JobRegistry
from tocsin.jobs.worker import Worker


def _worker(container: Container, handler: Any, name: str = "w", **kind: Any) -> Worker:
    registry = JobRegistry()
    registry.register(JobKind("test.job", handler, **kind))
    return Worker(container.sessionmaker, registry, lease_seconds=30, name=name)


def test_rolled_back_change_enqueues_nothing(container: Container) -> None:
    ran: list[int] = []
    with container.sessionmaker() as session:
        enqueue(session, "test.job", {"n": 1})
        session.rollback()
    assert _worker(container, lambda s, p: ran.append(p["n"])).run_until_idle() == 0
    assert ran == []


def test_committed_job_runs_once_and_is_marked_done(container: Container) -> None:
    ran: list[int] = []
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {"n": 7})
    worker = _worker(container, lambda s, p: ran.append(p["n"]))
    assert worker.run_until_idle() == 1
    assert worker.run_until_idle() == 0
    assert ran == [7]
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "done" and job.attempts == 1 and job.finished_at is not None


def test_future_job_waits_for_its_time(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {}, run_at=utcnow() + timedelta(hours=1))
    assert _worker(container, lambda s, p: None).run_until_idle() == 0


def test_failing_job_is_retried_with_backoff_then_failed(container: Container) -> None:
    def boom(session: Session, payload: dict[str, Any]) -> None:
        raise RuntimeError("receiver down")

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    worker = _worker(container, boom, max_attempts=2, backoff_base=60)
    assert worker.run_until_idle() == 1
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "queued" and "receiver down" in job.last_error
        assert job.run_at > utcnow() + timedelta(seconds=50)
        session.execute(update(Job).values(run_at=utcnow()))
        session.commit()
    assert worker.run_until_idle() == 1
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "failed" and job.attempts == 2


def test_job_of_a_dead_worker_is_taken_over_after_its_lease(container: Container) -> None:
    ran: list[str] = []
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    dead = _worker(container, lambda s, p: ran.append("dead"), name="dead")
    assert dead.claim() is not None  # leased, then the process "dies" without running it
    alive = _worker(container, lambda s, p: ran.append("alive"), name="alive")
    assert alive.run_until_idle() == 0  # lease still valid
    with container.sessionmaker.begin() as session:
        session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert alive.run_until_idle() == 1
    assert ran == ["alive"]


def test_concurrent_workers_run_each_job_exactly_once(container: Container) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def record(session: Session, payload: dict[str, Any]) -> None:
        with lock:
            ran.append(payload["n"])

    with container.sessionmaker.begin() as session:
        for n in range(60):
            enqueue(session, "test.job", {"n": n})
    workers = [_worker(container, record, name=f"w{i}") for i in range(3)]
    threads = [threading.Thread(target=w.run_until_idle) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(ran) == list(range(60))


def test_overdue_update_reminder_lands_on_the_timeline(
    container: Container, db: Session, admin: User
) -> None:
    incident = service.declare(db, by=admin, title="Queue backlog")
    updates.post_update(
        db,
        incident,
        phase="investigating",
        body="Looking into it",
        next_update_at=utcnow() + timedelta(minutes=30),
        by=admin,
    )
    db.commit()
    worker = container.worker()
    worker.run_until_idle()  # paging starts (the incident has no service: nobody is paged)
    assert worker.run_until_idle() == 0  # the reminder is not due yet
    with container.sessionmaker.begin() as session:
        session.execute(
            update(Job)
            .where(Job.kind == "incidents.update_due")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
    assert worker.run_until_idle() == 1
    with container.sessionmaker() as session:
        found = queries.get_incident(session, incident.reference, viewer=admin)
        last = queries.timeline(session, found)[-1]
        assert last.kind == "reminder" and "promised" in last.summary
