"""The job runner: a job runs in the transaction that claims it; sends happen outside any
transaction and are recorded afterwards; retries, takeovers, one committed run per job."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import queries, service, updates
from tocsin.jobs.models import Job, JobProbeRun
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind, JobRegistry, Send, current_run
from tocsin.jobs.runner import JobRunner

DEADLINE = 20.0


def _runner(container: Container, handler: Any, name: str = "w", **kind: Any) -> JobRunner:
    registry = JobRegistry()
    registry.register(JobKind("test.job", handler, **kind))
    return JobRunner(container.sessionmaker, registry, name=name, lease_seconds=30)


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


def _job(container: Container) -> Job:
    with container.sessionmaker() as session:
        return session.scalars(select(Job)).one()


def _probes(container: Container) -> list[tuple[str, int]]:
    with container.sessionmaker() as session:
        rows = session.scalars(select(JobProbeRun).order_by(JobProbeRun.id))
        return [(r.worker, r.attempt) for r in rows]


def test_rolled_back_change_enqueues_nothing(container: Container) -> None:
    ran: list[int] = []
    with container.sessionmaker() as session:
        enqueue(session, "test.job", {"n": 1})
        session.rollback()
    assert _runner(container, lambda s, p: ran.append(p["n"])).run_until_idle() == 0
    assert ran == []


def test_committed_job_runs_once_and_is_marked_done(container: Container) -> None:
    ran: list[int] = []
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {"n": 7})
    runner = _runner(container, lambda s, p: ran.append(p["n"]))
    assert runner.run_until_idle() == 1
    assert runner.run_until_idle() == 0
    assert ran == [7]
    job = _job(container)
    assert job.state == "done" and job.attempts == 1 and job.finished_at is not None


def test_future_job_waits_for_its_time(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {}, run_at=utcnow() + timedelta(hours=1))
    assert _runner(container, lambda s, p: None).run_until_idle() == 0


def test_a_failing_job_leaves_no_writes_and_is_retried_with_backoff_then_failed(
    container: Container,
) -> None:
    def boom(session: Session, payload: dict[str, Any]) -> None:
        _probe_row(session, "half-done")
        raise RuntimeError("receiver down")

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    runner = _runner(container, boom, max_attempts=2, backoff_base=60)
    assert runner.run_until_idle() == 1
    job = _job(container)
    assert job.state == "queued" and "receiver down" in job.last_error and job.attempts == 1
    assert job.run_at > utcnow() + timedelta(seconds=50)
    assert _probes(container) == []  # its writes were rolled back with it
    with container.sessionmaker.begin() as session:
        session.execute(update(Job).values(run_at=utcnow()))
    assert runner.run_until_idle() == 1
    job = _job(container)
    assert job.state == "failed" and job.attempts == 2
    assert _probes(container) == []


def test_a_run_cut_short_before_its_commit_changes_nothing_and_runs_again(
    container: Container,
) -> None:
    """A process that dies mid-run never commits: the claim was part of the same
    transaction, so the job is still queued, with no attempt counted."""

    class Died(BaseException):
        pass

    def dies(session: Session, payload: dict[str, Any]) -> None:
        _probe_row(session, "lost")
        raise Died()

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    with pytest.raises(Died):
        _runner(container, dies, name="doomed").run_one()
    job = _job(container)
    assert job.state == "queued" and job.attempts == 0 and _probes(container) == []
    assert _runner(container, lambda s, p: _probe_row(s, "ok"), name="next").run_until_idle() == 1
    assert _probes(container) == [("next", 1)]


def test_concurrent_runners_run_each_job_exactly_once(container: Container) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def record(session: Session, payload: dict[str, Any]) -> None:
        with lock:
            ran.append(payload["n"])

    with container.sessionmaker.begin() as session:
        for n in range(60):
            enqueue(session, "test.job", {"n": n})
    runners = [_runner(container, record, name=f"w{i}") for i in range(3)]
    threads = [threading.Thread(target=r.run_until_idle) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(ran) == list(range(60))


def test_a_send_is_performed_outside_any_transaction_then_recorded(
    container: Container,
) -> None:
    seen: list[Any] = []

    def perform() -> str:
        # Nothing is held: another connection writes and commits meanwhile (on SQLite the
        # write lock is free; on PostgreSQL the job's row is not locked).
        with container.sessionmaker.begin() as other:
            other.execute(update(Job).values(last_error="touched while sending"))
        return "HTTP 200"

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        _probe_row(session, "before")
        return Send(perform=perform, record=lambda s, result, error: seen.append((result, error)))

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    assert _runner(container, handler).run_until_idle() == 1
    assert seen == [("HTTP 200", None)]
    job = _job(container)
    assert job.state == "done" and job.lease_expires_at is None
    assert [t for (t,) in _tokens(container)] == ["before"]


def _tokens(container: Container) -> list[tuple[str]]:
    with container.sessionmaker() as session:
        return [(r.token,) for r in session.scalars(select(JobProbeRun))]


def test_a_failed_send_is_recorded_and_a_failing_record_retries_the_job(
    container: Container,
) -> None:
    outcomes: list[Any] = []

    def perform() -> None:
        raise ConnectionError("mail server away")

    def record(session: Session, result: Any, error: BaseException | None) -> None:
        outcomes.append(str(error))
        if len(outcomes) == 1:
            raise RuntimeError("could not record")

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        return Send(perform=perform, record=record)

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    runner = _runner(container, handler, backoff_base=0.0)
    assert runner.run_until_idle() == 2
    assert outcomes == ["mail server away", "mail server away"]
    job = _job(container)
    assert job.state == "done" and job.attempts == 2


def test_a_send_whose_runner_died_runs_again_once_its_lease_expires(
    container: Container,
) -> None:
    """At least once: the dead runner's send may have gone, the job is run again; the late
    runner's record finds the job no longer its own and records nothing."""
    release = threading.Event()
    started = threading.Event()

    def handler(session: Session, payload: dict[str, Any]) -> Send:
        name = current_run().worker  # type: ignore[union-attr]

        def perform() -> None:
            if name == "slow":
                started.set()
                release.wait(DEADLINE)

        return Send(perform=perform, record=lambda s, r, e: _probe_row(s, name))

    registry = JobRegistry()
    registry.register(JobKind("test.job", handler))
    slow = JobRunner(container.sessionmaker, registry, name="slow", lease_seconds=30)
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    assert slow.step()  # claimed, committed as running, send under way in an I/O thread
    assert started.wait(DEADLINE)
    rescuer = JobRunner(container.sessionmaker, registry, name="rescuer", lease_seconds=30)
    assert rescuer.run_until_idle() == 0  # its lease still holds
    with container.sessionmaker.begin() as session:
        session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert rescuer.run_until_idle() == 1
    release.set()
    slow.close()  # waits for the send, then records what it can: nothing, it lost the job
    assert _probes(container) == [("rescuer", 2)]
    assert _job(container).state == "done"


def test_a_job_whose_sends_never_finish_fails_after_its_attempts(container: Container) -> None:
    def handler(session: Session, payload: dict[str, Any]) -> Send:
        return Send(perform=lambda: None, record=lambda s, r, e: None)

    registry = JobRegistry()
    registry.register(JobKind("test.job", handler, max_attempts=2))
    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    with container.sessionmaker.begin() as session:  # two runners died mid-send
        session.execute(
            update(Job).values(
                state="running",
                attempts=2,
                leased_by="dead",
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )
    third = JobRunner(container.sessionmaker, registry, name="third", lease_seconds=30)
    assert third.run_until_idle() == 1
    job = _job(container)
    assert job.state == "failed" and "gave up after 2 attempts" in job.last_error


def test_a_job_of_an_unknown_kind_fails_with_a_reason(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        enqueue(session, "nobody.knows", {})
    assert JobRunner(container.sessionmaker, JobRegistry()).run_until_idle() == 1
    job = _job(container)
    assert job.state == "failed" and "unknown job kind" in job.last_error


def test_a_postgres_run_is_bounded_by_its_kinds_timeout(container: Container) -> None:
    """On PostgreSQL the handler's statements stop at the kind's timeout (rolled back and
    retried); SQLite handlers are only database work on one file, with no such bound."""
    if container.engine.dialect.name != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's")

    def slow(session: Session, payload: dict[str, Any]) -> None:
        session.execute(text("SELECT pg_sleep(5)"))

    with container.sessionmaker.begin() as session:
        enqueue(session, "test.job", {})
    assert _runner(container, slow, timeout_seconds=0.2, backoff_base=60).run_until_idle() == 1
    job = _job(container)
    assert job.state == "queued" and "statement timeout" in job.last_error


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
    runner = container.runner()
    runner.run_until_idle()  # paging starts (the incident has no service: nobody is paged)
    assert runner.run_until_idle() == 0  # the reminder is not due yet
    with container.sessionmaker.begin() as session:
        session.execute(
            update(Job)
            .where(Job.kind == "incidents.update_due")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
    assert runner.run_until_idle() == 1
    with container.sessionmaker() as session:
        found = queries.get_incident(session, incident.reference, viewer=admin)
        last = queries.timeline(session, found)[-1]
        assert last.kind == "reminder" and "promised" in last.summary
    with container.sessionmaker() as session:
        assert session.scalar(select(func.count(Job.id)).where(Job.state != "done")) == 0


def test_a_job_committed_while_the_runner_finds_nothing_runs_at_the_next_step(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit's wake lands between the runner's look for the next due job and its note of
    when to look again: the job still runs at the next step, not after the poll interval."""
    ran: list[Any] = []
    registry = JobRegistry()
    registry.register(JobKind("test.job", lambda s, p: ran.append(p["n"])))
    runner = JobRunner(container.sessionmaker, registry, name="w", poll_seconds=60)
    look = runner._seconds_to_next_due
    committed: list[int] = []

    def look_while_a_job_commits() -> float:
        seconds = look()  # nothing queued yet: the poll interval
        if not committed:
            with container.sessionmaker.begin() as session:
                enqueue(session, "test.job", {"n": 1})  # wakes the runner on commit
            committed.append(1)
        return seconds

    monkeypatch.setattr(runner, "_seconds_to_next_due", look_while_a_job_commits)
    runner.start()
    try:
        assert not runner.step()  # found nothing; the job committed meanwhile
        assert runner.due_in() == 0.0
        assert runner.step()
        assert ran == [1]
    finally:
        runner.close()


def test_a_step_runs_due_jobs_together_and_a_failing_one_does_not_undo_the_others(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One step runs the due jobs in one transaction, each in its own savepoint: the failing
    job's writes are undone and it is queued again, the others' writes and sends stand."""
    monkeypatch.setattr("tocsin.jobs.runner.STEP_SECONDS", 60.0)  # time enough for all four
    sent: list[int] = []

    def handler(session: Session, payload: dict[str, Any]) -> Send | None:
        _probe_row(session, f"job {payload['n']}")
        if payload["n"] == 2:
            raise RuntimeError("receiver down")
        if payload["n"] == 4:
            return Send(perform=lambda: "ok", record=lambda s, r, e: sent.append(4))
        return None

    with container.sessionmaker.begin() as session:
        for n in (1, 2, 3, 4):
            enqueue(session, "test.job", {"n": n})
    runner = _runner(container, handler, backoff_base=60)
    commits: list[int] = []

    def count(conn: Any) -> None:
        commits.append(1)

    event.listen(container.engine, "commit", count)
    runner.start()
    try:
        assert runner.step()
        assert len(commits) == 1  # the four jobs of the step, one transaction
        deadline = utcnow() + timedelta(seconds=DEADLINE)
        while not sent and utcnow() < deadline:
            runner.step()  # records the send once its I/O thread is done
    finally:
        runner.close()
        event.remove(container.engine, "commit", count)
    assert sent == [4]
    assert sorted(t for (t,) in _tokens(container)) == ["job 1", "job 3", "job 4"]
    with container.sessionmaker() as session:
        states = {j.payload["n"]: (j.state, j.attempts) for j in session.scalars(select(Job))}
    assert states == {1: ("done", 1), 2: ("queued", 1), 3: ("done", 1), 4: ("done", 1)}
