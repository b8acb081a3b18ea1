"""Three real `tocsin worker` processes against one PostgreSQL, paging real people through a
real SMTP server; one worker is killed with SIGKILL mid-escalation. Every expected page
arrives exactly once and no escalation step is missed.

"Exactly once" is what a person sees: a delivery is at least once (a worker killed between
sending and recording a page lets another send it again), and every retry of one delivery
carries the same Message-ID, which mail systems use to drop the duplicate. So the test counts
distinct Message-IDs per (incident, person), and also checks that no two different
deliveries reached one person for one step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.conftest import BACKEND
from tests.escalation.conftest import Org
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.escalation.models import EscalationRun, EscalationStep
from tocsin.incidents import service as incidents
from tocsin.jobs.models import Job
from tocsin.schedules.oncall import on_call

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="several workers need PostgreSQL")

SRC = Path(__file__).resolve().parents[2] / "src"
INCIDENTS = 30
DEADLINE = 120.0


@pytest.fixture
def worker_env(settings: Settings, smtp: SmtpServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_ENV": "test",
        "TOCSIN_LOG_FORMAT": "json",
        "TOCSIN_SECRET_KEY": settings.secret_key,
        "TOCSIN_BASE_URL": "http://tocsin.test",
        "TOCSIN_WORKER_POLL_SECONDS": "0.3",
        "TOCSIN_JOB_LEASE_SECONDS": "3",
        "TOCSIN_SMTP_HOST": smtp.host,
        "TOCSIN_SMTP_PORT": str(smtp.port),
        "TOCSIN_SMTP_TLS": "none",
        "TOCSIN_SMTP_FROM": "tocsin@example.com",
        "TOCSIN_NOTIFY_RETRY_BASE_SECONDS": "0",
    }


@pytest.fixture
def procs(worker_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    for n in range(3):
        log = (tmp_path / f"worker{n}.log").open("wb")
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "tocsin", "worker", "--concurrency", "3"],
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(condition, deadline: float = DEADLINE) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _pages(smtp: SmtpServer) -> list[tuple[str, str, str]]:
    """(incident reference, recipient, Message-ID) of every email received."""
    return [
        (str(m["X-Tocsin-Incident"]), str(m["To"]).split("<")[-1].rstrip(">"), str(m["Message-ID"]))
        for m in list(smtp.messages)
    ]


def _time_passes(container: Container) -> None:
    """Every queued escalation timer becomes due, as if its wait were over."""
    with container.sessionmaker.begin() as session:
        session.execute(
            update(Job)
            .where(Job.state == "queued", Job.kind == "escalation.step")
            .values(run_at=utcnow())
        )


def test_three_workers_one_killed_mid_escalation_every_page_arrives_once(
    db: Session,
    container: Container,
    smtp: SmtpServer,
    org: Org,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    (shift,) = on_call(db, org.primary.id, utcnow())
    first = org.ann if shift.user_id == org.ann.id else org.bob
    refs = []
    for n in range(INCIDENTS):
        incident = incidents.declare(db, by=None, title=f"Outage {n}", service_ids=[org.service.id])
        refs.append(incident.reference)
    db.commit()

    # Kill one worker once a third of the first pages are out: it is mid-escalation.
    assert _wait_for(lambda: len(smtp.messages) >= INCIDENTS // 3), "no pages went out"
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait(timeout=10)

    def level_one_done() -> bool:
        return len({(r, to) for r, to, _ in _pages(smtp)}) >= INCIDENTS

    assert _wait_for(level_one_done), f"only {len(smtp.messages)} first pages arrived"

    def timers_queued() -> bool:
        with container.sessionmaker() as session:
            return (
                session.scalar(
                    select(func.count(EscalationStep.id)).where(EscalationStep.level == 0)
                )
                == INCIDENTS
                and session.scalar(
                    select(func.count(Job.id)).where(
                        Job.kind == "escalation.step", Job.state == "queued"
                    )
                )
                == INCIDENTS
            )

    assert _wait_for(timers_queued), "level 2 timers were not all queued"
    _time_passes(container)  # nobody acknowledged: level 2 (Carol) for every incident

    def level_two_done() -> bool:
        return sum(1 for _, to, _ in set(_pages(smtp)) if to == org.carol.email) >= INCIDENTS

    assert _wait_for(level_two_done), "Carol was not paged for every incident"

    def last_timers_queued() -> bool:
        with container.sessionmaker() as session:
            return (
                session.scalar(
                    select(func.count(Job.id)).where(
                        Job.kind == "escalation.step", Job.state == "queued"
                    )
                )
                == INCIDENTS
            )

    assert _wait_for(last_timers_queued)
    _time_passes(container)  # the last level's wait is over too: each policy is done

    def all_exhausted() -> bool:
        with container.sessionmaker() as session:
            return (
                session.scalar(
                    select(func.count(EscalationRun.id)).where(EscalationRun.state == "exhausted")
                )
                == INCIDENTS
            )

    assert _wait_for(all_exhausted), "some escalations never finished"

    pages = _pages(smtp)
    distinct = Counter((ref, to) for ref, to, _ in set(pages))
    expected = {(ref, first.email) for ref in refs} | {(ref, org.carol.email) for ref in refs}
    # Every expected page arrived, once as the person sees it, and nobody else was paged.
    assert set(distinct) == expected
    assert all(count == 1 for count in distinct.values()), distinct
    duplicates = len(pages) - len(set(pages))
    assert duplicates <= 3 * 2  # at most what the dead worker had in hand (3 runner threads)
    with container.sessionmaker() as session:
        steps = session.execute(
            select(EscalationStep.run_id, EscalationStep.level).order_by(EscalationStep.run_id)
        ).all()
        failed = session.scalar(select(func.count(Job.id)).where(Job.state == "failed"))
    # No step missed, none evaluated twice.
    assert Counter(level for _, level in steps) == {0: INCIDENTS, 1: INCIDENTS}
    assert failed == 0
