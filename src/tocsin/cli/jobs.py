"""`tocsin jobs`: look at the job queue, retry or cancel a job, probe the workers."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import typer

from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.db import transaction, utcnow
from tocsin.errors import DomainError
from tocsin.jobs import queries
from tocsin.jobs.builtin import PROBE
from tocsin.jobs.queue import cancel, cancel_job, enqueue, retry

jobs_app = typer.Typer(
    help="The background job queue: list, retry, cancel, probe.", invoke_without_command=True
)


@jobs_app.callback()
def jobs_default(ctx: typer.Context) -> None:
    """Without a command: list queued, running and failed jobs."""
    if ctx.invoked_subcommand is None:
        jobs_list(state=[], kind=None, limit=100, as_json=False)


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        list[str],
        typer.Option(
            "--state",
            help="queued, running, done, failed or cancelled (repeatable); "
            "default: queued, running, failed",
        ),
    ] = [],  # noqa: B006 (typer reads the default)
    kind: Annotated[str | None, typer.Option(help="Only this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, the most urgent first."""
    built = container()
    try:
        with transaction(built.sessionmaker) as session:
            found = queries.list_jobs(
                session,
                states=tuple(state) or ("queued", "running", "failed"),
                kind=kind,
                limit=limit,
            )
            rows = [queries.as_dict(job) for job in found]
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print("no jobs")
        return
    table(
        None,
        ["ID", "Kind", "State", "Run at (UTC)", "Attempts", "Worker", "Last error"],
        [
            [
                r["id"],
                r["kind"],
                r["state"],
                r["run_at"][:23],
                r["attempts"],
                r["leased_by"] or "",
                _last_line(r["last_error"]),
            ]
            for r in rows
        ],
    )


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(help="The job's id")]) -> None:
    """Queue a failed or cancelled job again, now, with fresh attempts."""
    built = container()
    try:
        with transaction(built.sessionmaker) as session:
            job = retry(session, job_id)
            kind = job.kind
    except DomainError as exc:
        fail(exc.message)
    console.print(f"job {job_id} ({kind}) queued again")


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, typer.Argument(help="The job's id")]) -> None:
    """Cancel a queued job."""
    built = container()
    try:
        with transaction(built.sessionmaker) as session:
            kind = cancel_job(session, job_id, reason="cancelled from the command line").kind
    except DomainError as exc:
        fail(exc.message)
    console.print(f"job {job_id} ({kind}) cancelled")


@jobs_app.command("probe")
def jobs_probe(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a worker")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Queue a probe job and wait for a worker to run it: proves workers are running and
    shows how soon they start a job. Exits non-zero if none ran it in time."""
    built = container()
    token = secrets.token_hex(8)
    with transaction(built.sessionmaker) as session:
        job = enqueue(session, PROBE, {"token": token}, key=f"probe:{token}")
        job_id = job.id
    queued = utcnow()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with built.sessionmaker() as session:
            runs = queries.probe_runs(session, token)
        if runs:
            run = runs[0]
            out = {
                "job_id": job_id,
                "worker": run.worker,
                "started_after_ms": round((run.ran_at - queued).total_seconds() * 1000),
            }
            if as_json:
                emit_json(out)
            else:
                console.print(
                    f"worker {out['worker']} ran the probe {out['started_after_ms']} ms "
                    "after it was queued"
                )
            return
        time.sleep(0.05)
    with transaction(built.sessionmaker) as session:
        cancel(session, key_prefix=f"probe:{token}", reason="no worker ran it in time")
    fail(f"no worker ran the probe within {timeout:g} s: is `tocsin worker` running?")


def _last_line(text: str) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:80] if lines else ""
