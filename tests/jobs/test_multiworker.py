"""Real `tocsin worker` processes against one PostgreSQL: wakeups through LISTEN/NOTIFY, and
three workers with one killed by SIGKILL mid-run.

The contract under test: delivery is at least once, and a job's database writes commit with
the job (exactly once in effect). A run cut short by a dead worker never commits; the job is
taken over when the lease expires and runs again, so only jobs the dead worker held can run
twice, and only their side effects outside the database could be seen twice (which is what
idempotency keys are for). `jobs.probe` records each committed run in `job_probe_runs`, a
table with no unique constraint, so a duplicate run would show as a second row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.conftest import BACKEND
from tocsin.bootstrap import Container
from tocsin.config import Settings
from tocsin.jobs.builtin import PROBE
from tocsin.jobs.models import Job, JobProbeRun
from tocsin.jobs.queue import enqueue

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="several workers need PostgreSQL")

SRC = Path(__file__).resolve().parents[2] / "src"
DEADLINE = 120.0


class Workers:
    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, poll: float, lease: int, concurrency: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "TOCSIN_DATABASE_URL": self.settings.database_url,
            "TOCSIN_ENV": "test",
            "TOCSIN_LOG_FORMAT": "json",
            "TOCSIN_WORKER_POLL_SECONDS": str(poll),
            "TOCSIN_JOB_LEASE_SECONDS": str(lease),
        }
        log = (self.logs / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(settings, tmp_path)
    yield started
    started.stop()


def _wait_for(condition, deadline: float = DEADLINE) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _listening(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query = 'LISTEN tocsin_jobs'"
                )
            )
            or 0
        )


def test_a_worker_process_wakes_on_notify_not_on_its_poll(
    container: Container, workers: Workers
) -> None:
    workers.start(poll=300, lease=30, concurrency=1)  # polling would take five minutes
    assert _wait_for(lambda: _listening(container) == 1), "the worker never listened"
    time.sleep(0.5)  # idle now, sleeping on its poll
    with container.sessionmaker.begin() as session:
        enqueue(session, PROBE, {"token": "notify"})

    def ran() -> bool:
        with container.sessionmaker() as session:
            return session.scalar(select(func.count(JobProbeRun.id))) == 1

    assert _wait_for(ran, deadline=60)


def test_three_workers_one_killed_mid_run_every_job_commits_exactly_once(
    container: Container, workers: Workers
) -> None:
    total = 240
    # A lease long enough that a live worker starved by a loaded machine (CI runs two suites on
    # two cores) still renews in time: at 3 s, two live workers' jobs were once taken over too.
    procs = [workers.start(poll=0.5, lease=10, concurrency=4) for _ in range(3)]
    assert _wait_for(lambda: _listening(container) == 3), "the workers never listened"
    with container.sessionmaker.begin() as session:
        for n in range(total):
            # Each run holds 150 ms before committing, so the victim is always mid-run.
            enqueue(session, PROBE, {"token": f"job-{n}", "hold_ms": 150}, key=f"probe:{n}")
    victim = procs[1]
    victim_name = ""

    def victim_is_mid_run() -> bool:
        nonlocal victim_name
        with container.sessionmaker() as session:
            done = session.scalar(select(func.count(JobProbeRun.id))) or 0
            held = session.scalars(
                select(Job.leased_by).where(
                    Job.kind == PROBE,
                    Job.state == "running",
                    Job.leased_by.like(f"%:{victim.pid}:%"),
                )
            ).first()
        if held and done >= total // 4:
            victim_name = held
            return True
        return False

    assert _wait_for(victim_is_mid_run), "the victim never ran a job"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    with container.sessionmaker() as session:
        # What the dead worker held: leased, not finished, never to be finished by it.
        orphaned = set(
            session.scalars(
                select(Job.id).where(Job.state == "running", Job.leased_by == victim_name)
            )
        )
    assert orphaned, "the victim held no job when it was killed"

    def all_done() -> bool:
        with container.sessionmaker() as session:
            return (
                session.scalar(
                    select(func.count(Job.id)).where(Job.kind == PROBE, Job.state == "done")
                )
                == total
            )

    if not _wait_for(all_done):  # say what is stuck, and what the workers said
        with container.sessionmaker() as session:
            for job in session.scalars(select(Job).where(Job.state != "done").limit(10)):
                print(job.id, job.kind, job.state, job.attempts, job.leased_by, job.last_error)
        for log in sorted(workers.logs.glob("worker*.log")):
            print(log, log.read_text()[-3000:])
        raise AssertionError("some jobs never finished")
    with container.sessionmaker() as session:
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.kind == PROBE))}
        runs = session.scalars(select(JobProbeRun)).all()
    runs_per_token: dict[str, int] = {}
    for run in runs:
        runs_per_token[run.token] = runs_per_token.get(run.token, 0) + 1
    # No job missing, none committed twice.
    assert runs_per_token == {f"job-{n}": 1 for n in range(total)}
    # Only the jobs the dead worker held ran more than once, and another worker finished them.
    rerun = {job_id for job_id, job in jobs.items() if job.attempts > 1}
    assert rerun == orphaned
    for run in runs:
        if run.job_id in orphaned:
            assert run.worker != victim_name and run.attempt == 2
    # The survivors did the rest, and stop cleanly.
    assert {run.worker.split(":")[1] for run in runs} >= {str(procs[0].pid), str(procs[2].pid)}
