"""The background engine: wakeups, timers, threads, sends off the engine's thread, periodic
jobs, metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import BACKEND
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Integration
from tocsin.bootstrap import PURGE_EVENTS_JOB, Container
from tocsin.catalog import service as catalog
from tocsin.db import utcnow
from tocsin.jobs import wake
from tocsin.jobs.builtin import PURGE
from tocsin.jobs.engine import Engine
from tocsin.jobs.models import Job
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind, JobRegistry, PeriodicJob, Send
from tocsin.jobs.runner import JobRunner
from tocsin.observability.metrics import JobMetrics, Metrics

# Far longer than any test waits: a job that runs came from a wakeup, not from polling.
NEVER_POLL = 60.0
DEADLINE = 20.0


def _registry(*kinds: JobKind) -> JobRegistry:
    registry = JobRegistry()
    for kind in kinds:
        registry.register(kind)
    return registry


def _runner(container: Container, registry: JobRegistry, **options: Any) -> JobRunner:
    options.setdefault("lease_seconds", 30)
    options.setdefault("poll_seconds", NEVER_POLL)
    return JobRunner(container.sessionmaker, registry, **options)


@contextmanager
def running(runner: JobRunner, threads: int = 1) -> Iterator[Engine]:
    engine = Engine([runner], threads=threads, idle_seconds=NEVER_POLL)
    runner.on_ready = engine.wake
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


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
    runner = _runner(container, _registry(JobKind("timer", _record(ran))), metrics=metrics)
    with running(runner):
        time.sleep(0.2)  # the engine is idle, sleeping up to its (long) poll
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


def test_a_committed_job_wakes_this_processs_engine_and_a_rollback_does_not(
    container: Container,
) -> None:
    ran: list[Any] = []
    runner = _runner(container, _registry(JobKind("now", _record(ran))))
    with running(runner):
        with container.sessionmaker() as session:
            enqueue(session, "now", {"n": "rolled back"})
            session.rollback()
        with container.sessionmaker.begin() as session:
            enqueue(session, "now", {"n": "committed"})
        assert _wait_for(lambda: ran)
    assert [p["n"] for p, _ in ran] == ["committed"]


def test_on_postgresql_the_engine_runs_jobs_on_several_threads(container: Container) -> None:
    if BACKEND != "postgres":
        pytest.skip("SQLite's engine has one thread: the only writer")
    barrier = threading.Barrier(3, timeout=DEADLINE)

    def together(session: Session, payload: dict[str, Any]) -> None:
        barrier.wait()

    runner = _runner(container, _registry(JobKind("together", together, max_attempts=1)))
    with container.sessionmaker.begin() as session:
        for n in range(6):
            enqueue(session, "together", {"n": n})
    with running(runner, threads=3):
        assert _wait_for(lambda: _states(container) == {"done": 6})


def test_a_slow_send_never_holds_up_the_engine(container: Container) -> None:
    """Sends run in the runner's I/O threads: while one waits on a slow receiver, the engine
    (the only writer on SQLite) goes on running other jobs and recording other sends."""
    release = threading.Event()
    ran: list[str] = []

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        name = payload["n"]

        def perform() -> str:
            if name == "slow":
                release.wait(DEADLINE)
            return name

        return Send(perform=perform, record=lambda s, result, error: ran.append(result))

    runner = _runner(container, _registry(JobKind("send", handler)))
    with container.sessionmaker.begin() as session:
        enqueue(session, "send", {"n": "slow"})
        for n in range(5):
            enqueue(session, "send", {"n": f"quick-{n}"})
    with running(runner):
        assert _wait_for(lambda: len(ran) == 5)
        assert "slow" not in ran and _states(container) == {"done": 5, "running": 1}
        release.set()
        assert _wait_for(lambda: _states(container) == {"done": 6})
    assert ran[-1] == "slow"


def test_stopping_the_engine_finishes_the_sends_under_way(container: Container) -> None:
    started = threading.Event()

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        def perform() -> None:
            started.set()
            time.sleep(0.3)

        return Send(perform=perform, record=lambda s, r, e: None)

    runner = _runner(container, _registry(JobKind("send", handler)))
    with container.sessionmaker.begin() as session:
        enqueue(session, "send", {})
    with running(runner):
        assert started.wait(DEADLINE)
    assert _states(container) == {"done": 1}


def test_a_send_past_its_timeout_is_reported_and_the_job_runs_again(
    container: Container,
) -> None:
    """Python cannot stop a thread: a send past its kind's timeout is reported, its lease is
    no longer renewed, and once it expires the job is claimed again as a new attempt."""
    release = threading.Event()

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        return Send(perform=lambda: release.wait(DEADLINE), record=lambda s, r, e: None)

    metrics = JobMetrics(CollectorRegistry())
    runner = _runner(
        container,
        _registry(JobKind("stuck", handler, timeout_seconds=0.2, max_attempts=50)),
        lease_seconds=0.6,
        metrics=metrics,
    )
    with container.sessionmaker.begin() as session:
        enqueue(session, "stuck", {})
    try:
        with running(runner):
            timeouts = metrics.timeouts.labels("stuck")
            assert _wait_for(lambda: timeouts._value.get() >= 1)  # type: ignore[attr-defined]

            def attempts() -> int:
                with container.sessionmaker() as session:
                    return session.scalars(select(Job)).one().attempts

            assert _wait_for(lambda: attempts() >= 2)
            release.set()
    finally:
        release.set()


def test_a_long_send_keeps_its_lease(container: Container) -> None:
    release = threading.Event()

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        return Send(perform=lambda: release.wait(DEADLINE), record=lambda s, r, e: None)

    registry = _registry(JobKind("long", handler))
    runner = _runner(container, registry, lease_seconds=1, name="busy")
    with container.sessionmaker.begin() as session:
        enqueue(session, "long", {})
    with running(runner):
        assert _wait_for(lambda: _states(container) == {"running": 1})
        time.sleep(2.5)  # more than twice the lease: renewed meanwhile
        assert _runner(container, registry, name="other").run_until_idle() == 0
        release.set()
        assert _wait_for(lambda: _states(container) == {"done": 1})
    with container.sessionmaker() as session:
        job = session.scalars(select(Job)).one()
        assert job.attempts == 1 and job.leased_by == "busy"


def _states(container: Container) -> dict[str, int]:
    with container.sessionmaker() as session:
        rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        return {state: count for state, count in rows}


def test_a_periodic_job_runs_once_per_slot_across_runners(container: Container) -> None:
    ran: list[Any] = []
    registry = _registry(JobKind("tick", _record(ran)))
    hour = timedelta(hours=1)
    registry.every(PeriodicJob("tick", every=hour))
    workers = [_runner(container, registry, name=f"w{n}") for n in range(3)]
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


def test_the_heartbeat_check_is_a_periodic_job_of_the_real_registry(
    container: Container, db: Session
) -> None:
    assert {p.kind for p in container.registry.periodic} == {
        "alerts.check_heartbeats",
        PURGE_EVENTS_JOB,
        PURGE,
        "notify.shift_scan",
        "comms.scan",
        "statuspages.rerender_all",
        "subscribers.housekeeping",
        "followups.scan",
        "insights.weekly_report",
        "trackers.poll",
        "chat.poll",
        "chat.purge",
        "audit.purge",
        "auth.housekeeping",
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
    worker = container.runner()
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
    container.runner().run_until_idle()
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
    metrics = Metrics()
    with container.sessionmaker.begin() as session:
        enqueue(session, "k", {})
        enqueue(session, "k", {}, run_at=utcnow() + timedelta(hours=1))
    _runner(container, _registry(JobKind("k", _record([]))), metrics=metrics.job).run_until_idle()
    with container.sessionmaker() as session:
        body = metrics.render(session).body.decode()
    assert 'tocsin_jobs_queued{kind="k"} 1.0' in body
    assert 'tocsin_job_runs_total{kind="k",outcome="done"} 1.0' in body
    assert 'tocsin_job_lateness_seconds_count{kind="k"} 1.0' in body
    assert "tocsin_job_run_seconds_bucket" in generate_latest(metrics.registry).decode()
