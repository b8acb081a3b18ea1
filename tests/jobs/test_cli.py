"""`tocsin jobs`: list, retry, cancel and probe, against the real database."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from tocsin.bootstrap import Container
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.models import Job
from tocsin.jobs.queue import enqueue
from tocsin.jobs.runner import JobRunner

runner = CliRunner()


def test_list_retry_and_cancel(settings: Settings, container: Container) -> None:
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    with container.sessionmaker.begin() as session:
        waiting = enqueue(session, "notify.deliver", {"n": 1}, run_at=utcnow() + timedelta(hours=1))
        broken = enqueue(session, "notify.deliver", {"n": 2}, key="page:7")
        session.flush()
        waiting_id, broken_id = waiting.id, broken.id
        session.execute(
            update(Job)
            .where(Job.id == broken_id)
            .values(
                state="failed", attempts=5, last_error="Traceback…\nSMTPError: 550 no such user"
            )
        )
    listed = runner.invoke(app, ["jobs", "--help"], env=env)
    assert listed.exit_code == 0
    shown = runner.invoke(app, ["jobs", "list", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    rows = {row["id"]: row for row in json.loads(shown.stdout)}
    assert rows[waiting_id]["state"] == "queued"
    assert rows[broken_id]["state"] == "failed" and rows[broken_id]["key"] == "page:7"
    table = runner.invoke(app, ["jobs"], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0 and "550 no such user" in table.stdout

    retried = runner.invoke(app, ["jobs", "retry", str(broken_id)], env=env)
    assert retried.exit_code == 0 and "queued again" in retried.stdout
    again = runner.invoke(app, ["jobs", "retry", str(broken_id)], env=env)
    assert again.exit_code == 1 and "only failed or cancelled" in again.output
    cancelled = runner.invoke(app, ["jobs", "cancel", str(waiting_id)], env=env)
    assert cancelled.exit_code == 0
    with container.sessionmaker() as session:
        assert session.get(Job, waiting_id).state == "cancelled"  # type: ignore[union-attr]
        assert session.get(Job, broken_id).attempts == 0  # type: ignore[union-attr]
    done = runner.invoke(app, ["jobs", "list", "--state", "cancelled", "--json"], env=env)
    assert [row["id"] for row in json.loads(done.stdout)] == [waiting_id]
    bad = runner.invoke(app, ["jobs", "list", "--state", "lost"], env=env)
    assert bad.exit_code == 1 and "unknown job state" in bad.output
    missing = runner.invoke(app, ["jobs", "retry", "99999"], env=env)
    assert missing.exit_code == 1 and "no job 99999" in missing.output


def test_probe_reports_a_running_worker_and_fails_without_one(
    settings: Settings, container: Container
) -> None:
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    nobody = runner.invoke(app, ["jobs", "probe", "--timeout", "0.3"], env=env)
    assert nobody.exit_code == 1 and "no worker ran the probe" in nobody.output
    engine = container.background(jobs=True, events=False)
    worker = engine.works[0]
    assert isinstance(worker, JobRunner)
    engine.start()
    try:
        probed = runner.invoke(app, ["jobs", "probe", "--timeout", "30", "--json"], env=env)
    finally:
        engine.stop()
    assert probed.exit_code == 0, probed.output
    # The worker thread's log lines share this process's stdout: find the JSON in it.
    text = probed.stdout
    out, _ = json.JSONDecoder().raw_decode(text[text.index('{\n  "job_id"') :])
    assert out["worker"] == worker.name and out["started_after_ms"] >= 0
    with container.sessionmaker() as session:  # the unanswered probe was cancelled, not left
        states = sorted(j.state for j in session.query(Job).filter(Job.kind == "jobs.probe"))
    assert states == ["cancelled", "done"]
