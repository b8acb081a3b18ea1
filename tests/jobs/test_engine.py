"""The worker loop: wakeups, timers, concurrency, leases, timeouts, periodic jobs, metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.conftest import BACKEND
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Integration
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.db import utcnow
from tocsin.jobs import wake
from tocsin.jobs.builtin import PURGE
from tocsin.jobs.models import Job, JobProbeRun
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind, JobRegistry, PeriodicJob, current_run
from tocsin.jobs.worker import Worker
from tocsin.observability.metrics import JobMetrics

# Far longer than any test waits: a job that runs came from a wakeup, not from polling.
NEVER_POLL = 60.0
DEADLINE = 20.0


def _registry(*kinds: JobKind) -> JobRegistry:
    registry = JobRegistry()
    for kind in kinds:
        registry.register(kind)
    return registry


def _worker(container: Container, registry: JobRegistry, **options: Any) -> Worker:
    options.setdefault("lease_seconds", 30)
    options.setdefault("poll_seconds", NEVER_POLL)
    return Worker(container.sessionmaker, registry, **options)


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    thread = worker.start_thread()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)


def _wait_for(condition: Any, deadline: float = DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _record(into: list[Any]) -> Any:
    def handler(session: Session, payload: dict[str, Any]) -> None:
        into.append((payload, time.monotonic()))

    return handler


def test_a_timer_runs_when_due_without_waiting_for_a_poll(container: Container) -> None:
    ran: list[Any] = []
    metrics = JobMetrics(CollectorRegistry())
    worker = _worker(container, _registry(JobKind("timer", _record(ran))), metrics=metrics)
    with running(worker):
        time.sleep(0.2)  # the worker is idle, sleeping up to its (long) poll
        with container.sessionmaker.begin() as session:
            enqueue(session, "timer", {"n": 1}, run_at=utcnow() + timedelta(milliseconds=300))
        assert _wait_for(lambda: ran)
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "done" and job.started_at is not None
        lateness = (job.started_at - job.run_at).total_seconds()
    # Recorded, not asserted: timing belongs to bench/timers.py.
    print(f"timer lateness: {lateness * 1000:.1f} ms")
    assert metrics.lateness.labels("timer")._sum.get() >= 0  # type: ignore[attr-defined]
    assert metrics.runs.labels("timer", "done")._value.get() == 1  # type: ignore[attr-defined]


def test_a_committed_job_wakes_this_processs_worker_and_a_rollback_does_not(
    container: Container,
) -> None:
    ran: list[Any] = []
    worker = _worker(container, _registry(JobKind("now", _record(ran))))
    with running(worker):
        with container.sessionmaker() as session:
            enqueue(session, "now", {"n": "rolled back"})
            session.rollback()
        with container.sessionmaker.begin() as session:
            enqueue(session, "now", {"n": "committed"})
        assert _wait_for(lambda: ran)
    assert [p["n"] for p, _ in ran] == ["committed"]


def test_jobs_run_concurrently_up_to_the_concurrency(container: Container) -> None:
    # Passes only if 3 run at once (on SQLite too: a run takes the write turn only from its
    # first statement).
    barrier = threading.Barrier(3, timeout=DEADLINE)

    def together(session: Session, payload: dict[str, Any]) -> None:
        barrier.wait()

    worker = _worker(container, _registry(JobKind("together", together, max_attempts=1)))
    worker.concurrency = 3
    with container.sessionmaker.begin() as session:
        for n in range(6):
            enqueue(session, "together", {"n": n})
    with running(worker):
        assert _wait_for(lambda: _states(container) == {"done": 6})


def test_a_worker_with_several_slots_runs_every_job_once(container: Container) -> None:
    ran: list[Any] = []
    worker = _worker(container, _registry(JobKind("k", _record(ran))), concurrency=4)
    with container.sessionmaker.begin() as session:
        for n in range(40):
            enqueue(session, "k", {"n": n})
    with running(worker):
        assert _wait_for(lambda: _states(container) == {"done": 40})
    assert sorted(p["n"] for p, _ in ran) == list(range(40))


def _states(container: Container) -> dict[str, int]:
    with container.sessionmaker() as session:
        rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        return {state: count for state, count in rows}


def test_one_claim_leases_several_due_jobs_in_order(container: Container) -> None:
    now = utcnow()
    with container.sessionmaker.begin() as session:
        for n, offset in enumerate([3, 1, 2, -5]):
            enqueue(session, "k", {"n": n}, run_at=now - timedelta(seconds=offset))
        enqueue(session, "k", {"n": "future"}, run_at=now + timedelta(hours=1))
    worker = _worker(container, _registry(JobKind("k", _record([]))))
    claimed = worker.claim_many(10)
    assert [c.payload["n"] for c in claimed] == [0, 2, 1]
    assert {c.attempts for c in claimed} == {1}
    assert worker.next_wakeup() is not None


def test_a_long_job_keeps_its_lease(container: Container) -> None:
    release = threading.Event()

    def long_job(session: Session, payload: dict[str, Any]) -> None:
        release.wait(DEADLINE)

    registry = _registry(JobKind("long", long_job))
    worker = _worker(container, registry, lease_seconds=2, name="busy")
    with container.sessionmaker.begin() as session:
        enqueue(session, "long", {})
    with running(worker):
        assert _wait_for(lambda: _states(container) == {"running": 1})
        time.sleep(5)  # more than twice the lease: renewed meanwhile
        other = _worker(container, registry, name="other")
        assert other.claim() is None
        release.set()
        assert _wait_for(lambda: _states(container) == {"done": 1})
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.attempts == 1 and job.leased_by == "busy"


def _probe_row(session: Session, token: str) -> None:
    run = current_run()
    assert run is not None
    session.add(
        JobProbeRun(
            token=token,
            job_id=run.job_id,
            attempt=run.attempt,
            worker=run.worker,
            queued_at=run.run_at,
        )
    )


def test_a_job_past_its_timeout_is_reported_retried_elsewhere_and_rolled_back(
    container: Container,
) -> None:
    release = threading.Event()
    started = threading.Event()

    def stuck(session: Session, payload: dict[str, Any]) -> None:
        if current_run().worker == "stuck":  # type: ignore[union-attr]
            started.set()
            release.wait(DEADLINE)
        _probe_row(session, "t")

    registry = _registry(JobKind("stuck", stuck, timeout_seconds=0.2))
    metrics = JobMetrics(CollectorRegistry())
    slow = _worker(container, registry, lease_seconds=1, name="stuck", metrics=metrics)
    with container.sessionmaker.begin() as session:
        enqueue(session, "stuck", {})
    job = slow.claim()
    assert job is not None
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(slow.run_job(job)))
    thread.start()
    assert started.wait(DEADLINE)
    time.sleep(0.3)
    assert slow.renew_leases() == 0  # past its timeout: reported, lease left to expire
    assert metrics.timeouts.labels("stuck")._value.get() == 1  # type: ignore[attr-defined]
    time.sleep(1.1)
    rescuer = _worker(container, registry, name="rescuer")
    assert rescuer.run_until_idle() == 1
    release.set()
    thread.join(timeout=DEADLINE)
    assert outcome == ["lease_lost"]
    with container.sessionmaker() as session:
        rows = session.scalars(select(JobProbeRun)).all()
        assert [(r.worker, r.attempt) for r in rows] == [("rescuer", 2)]
        assert session.scalars(select(Job)).one().state == "done"


def test_a_job_whose_runs_never_finish_fails_after_its_attempts(container: Container) -> None:
    registry = _registry(JobKind("k", _record([]), max_attempts=2))
    with container.sessionmaker.begin() as session:
        enqueue(session, "k", {})
    for n in range(2):  # two workers die holding it
        assert _worker(container, registry, name=f"dead{n}").claim() is not None
        with container.sessionmaker.begin() as session:
            session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert _worker(container, registry, name="third").run_until_idle() == 1
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "failed" and "gave up after 2 attempts" in job.last_error


def test_a_job_of_an_unknown_kind_fails_with_a_reason(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        enqueue(session, "nobody.knows", {})
    assert _worker(container, _registry()).run_until_idle() == 1
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "failed" and "unknown job kind" in job.last_error


def test_a_periodic_job_runs_once_per_slot_across_workers(container: Container) -> None:
    ran: list[Any] = []
    registry = _registry(JobKind("tick", _record(ran)))
    hour = timedelta(hours=1)
    registry.every(PeriodicJob("tick", every=hour))
    workers = [_worker(container, registry, name=f"w{n}") for n in range(3)]
    # Workers that looked hours ago: both the slot then and the next one are due now.
    then = utcnow() - 3 * hour
    slot = registry.periodic[0].slot(then)
    for worker in workers:
        assert worker.schedule_periodic(then) == 1
        assert worker.schedule_periodic(then) == 0  # remembered until the next slot
    with container.sessionmaker() as session:
        jobs = session.scalars(select(Job).order_by(Job.run_at)).all()
        assert [j.run_at for j in jobs] == [slot, slot + hour]
        assert jobs[0].key == f"periodic:tick:{slot:%Y-%m-%dT%H:%M:%S}"
    for worker in workers:
        worker.run_until_idle()
    assert sorted(p["slot"] for p, _ in ran) == [slot.isoformat(), (slot + hour).isoformat()]
    for worker in workers:  # the next slot: one more job, however many workers queue it
        assert worker.schedule_periodic(then + hour) == 1
    with container.sessionmaker() as session:
        assert session.scalar(select(func.count(Job.id))) == 3


def test_periodic_declarations_are_checked() -> None:
    registry = _registry(JobKind("tick", _record([])))
    with pytest.raises(ValueError):
        registry.every(PeriodicJob("tock", every=timedelta(seconds=5)))
    with pytest.raises(ValueError):
        registry.every(PeriodicJob("tick", every=timedelta(milliseconds=10)))
    registry.every(PeriodicJob("tick", every=timedelta(seconds=5)))
    with pytest.raises(ValueError):
        registry.every(PeriodicJob("tick", every=timedelta(seconds=6)))


def test_the_heartbeat_check_is_a_periodic_job_of_the_real_worker(
    container: Container, db: Session
) -> None:
    assert {p.kind for p in container.registry.periodic} == {
        "alerts.check_heartbeats",
        PURGE,
        "notify.shift_scan",
        "comms.scan",
        "statuspages.rerender_all",
        "subscribers.housekeeping",
    }
    svc = catalog.create_service(db, name="Backups")
    integration, _key = alerts.create_integration(
        db,
        service_id=svc.id,
        name="Nightly",
        type="heartbeat",
        config={"interval_seconds": 60, "grace_seconds": 0},
    )
    db.commit()
    with container.sessionmaker.begin() as session:
        found = session.get(Integration, integration.id)
        found.last_event_at = utcnow() - timedelta(minutes=5)  # type: ignore[union-attr]
    worker = container.worker()
    worker.schedule_periodic()
    worker.run_until_idle()
    with container.sessionmaker() as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.dedup_key == "heartbeat" and "Nightly" in alert.summary


def test_purge_deletes_old_finished_jobs_only(container: Container) -> None:
    old = utcnow() - timedelta(days=8)
    with container.sessionmaker.begin() as session:
        for state, finished in [
            ("done", old),
            ("failed", old),
            ("cancelled", old),
            ("done", utcnow()),
            ("queued", None),
        ]:
            later = utcnow() + timedelta(days=1)
            job = enqueue(session, "k", {}, run_at=later, key=f"{state}:{finished}")
            job.state, job.finished_at = state, finished
        periodic = enqueue(session, "k", {}, key="periodic:k:2020-01-01T00:00:00")
        periodic.state, periodic.finished_at = "done", utcnow() - timedelta(hours=2)
    with container.sessionmaker.begin() as session:
        enqueue(session, PURGE, {})
    container.worker().run_until_idle()
    with container.sessionmaker() as session:
        left = session.scalars(select(Job).where(Job.kind == "k")).all()
        assert sorted(j.state for j in left) == ["done", "queued"]


@pytest.mark.skipif(BACKEND != "postgres", reason="LISTEN/NOTIFY is PostgreSQL's")
def test_notify_is_delivered_at_commit_and_never_for_a_rollback(container: Container) -> None:
    heard: list[float] = []
    listener = wake.Listener(container.engine, lambda: heard.append(time.monotonic()))
    listener.start()
    try:
        assert listener.connected.wait(DEADLINE)
        assert _wait_for(lambda: heard)  # it wakes once on connecting (missed while away)
        heard.clear()
        with container.sessionmaker() as session:
            enqueue(session, "k", {"n": "rolled back"})
            session.rollback()
        with container.sessionmaker() as session:
            enqueue(session, "k", {"n": 1})
            enqueue(session, "k", {"n": 2}, key="two")
            assert heard == []  # not before commit
            session.commit()
        assert _wait_for(lambda: heard)
        time.sleep(0.3)
        assert len(heard) == 1  # the rolled-back job woke nobody; one NOTIFY per transaction
    finally:
        listener.stop()


def test_job_metrics_are_exposed(container: Container) -> None:
    from tocsin.observability.metrics import Metrics

    metrics = Metrics()
    with container.sessionmaker.begin() as session:
        enqueue(session, "k", {})
        enqueue(session, "k", {}, run_at=utcnow() + timedelta(hours=1))
    _worker(container, _registry(JobKind("k", _record([]))), metrics=metrics.job).run_until_idle()
    with container.sessionmaker() as session:
        body = metrics.render(session).body.decode()
    assert 'tocsin_jobs_queued{kind="k"} 1.0' in body
    assert 'tocsin_job_runs_total{kind="k",outcome="done"} 1.0' in body
    assert 'tocsin_job_lateness_seconds_count{kind="k"} 1.0' in body
    assert "tocsin_job_run_seconds_bucket" in generate_latest(metrics.registry).decode()
