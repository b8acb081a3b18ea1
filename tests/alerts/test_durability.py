"""A 2xx means the event is on disk: a Tocsin process killed with SIGKILL while events pour
in loses none it answered for, and a restarted process applies every one of them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import free_port, settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.config import Settings


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_SECRET_KEY": "test-secret",
        "TOCSIN_ENV": "test",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90  # a bound on start-up on a loaded machine, not a target
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"tocsin serve did not start: {log.read_text()}")


async def _flood(url: str, key: str, total: int, kill_after: int, pid: int) -> set[str]:
    """Send `total` triggers 32 at a time; SIGKILL the server once `kill_after` have been
    answered, with the rest still in flight. Returns the dedup keys answered 202."""
    accepted: set[str] = set()
    gate = asyncio.Semaphore(32)
    killed = False

    async def one(client: httpx.AsyncClient, n: int) -> None:
        nonlocal killed
        body = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": f"k-{n}",
            "payload": {"summary": f"event {n}", "source": "test", "severity": "error"},
        }
        async with gate:
            try:
                response = await client.post(f"{url}/v2/enqueue", json=body, timeout=5)
            except httpx.HTTPError:
                return  # in flight when the process died: the sender would retry
            if response.status_code == 202:
                accepted.add(body["dedup_key"])
            if len(accepted) >= kill_after and not killed:
                killed = True
                os.kill(pid, signal.SIGKILL)

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(one(client, n) for n in range(total)))
    assert killed, "the server was never killed"
    return accepted


def test_sigkill_loses_no_acknowledged_event(
    settings: Settings, db: Session, container: Container, tmp_path: Path
) -> None:
    svc = catalog.create_service(db, name="Durable")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    port = free_port()
    proc = _serve(settings, port, tmp_path / "first.log")
    accepted = asyncio.run(_flood(f"http://127.0.0.1:{port}", key, 3000, 600, proc.pid))
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(accepted) >= 600
    with container.sessionmaker() as s:
        stored = set(s.scalars(select(Event.dedup_key)))
    missing = accepted - stored
    assert not missing, f"{len(missing)} events answered 202 were lost"
    # A new process applies what the dead one stored but had not applied yet.
    second = _serve(settings, free_port(), tmp_path / "second.log")
    try:
        settle(container)
    finally:
        second.terminate()
        second.wait(timeout=15)
    with container.sessionmaker() as s:
        alerted = set(s.scalars(select(Alert.dedup_key)))
        assert accepted <= alerted
        assert set(s.scalars(select(Event.outcome))) <= {"created_alert", "deduplicated"}


def test_several_web_processes_share_the_ingestion(
    settings: Settings, db: Session, container: Container, tmp_path: Path
) -> None:
    """`tocsin serve --workers 2` on PostgreSQL: each process accepts events and they are
    applied once. On SQLite one process owns every write: the option is refused, saying so."""
    svc = catalog.create_service(db, name="Workers")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    port = free_port()
    env = {
        **os.environ,
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_SECRET_KEY": "test-secret",
        "TOCSIN_ENV": "test",
    }
    command = [sys.executable, "-m", "tocsin", "serve", "--port", str(port), "--workers", "2"]
    if settings.is_sqlite:
        refused = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
        assert refused.returncode != 0
        assert b"PostgreSQL" in refused.stdout + refused.stderr
        return
    log = tmp_path / "workers.log"
    proc = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=url) as client:
            for n in range(40):
                body = {
                    "routing_key": key,
                    "event_action": "trigger",
                    "dedup_key": f"w-{n % 4}",
                    "payload": {"summary": f"w {n}", "source": "t", "severity": "error"},
                }
                # A new connection each time, so both processes take some.
                response = client.post("/v2/enqueue", json=body, headers={"Connection": "close"})
                assert response.status_code == 202
        settle(container)
        with container.sessionmaker() as s:
            alerts_made = list(s.scalars(select(Alert)))
            assert sorted(a.dedup_key for a in alerts_made) == ["w-0", "w-1", "w-2", "w-3"]
            assert sum(a.event_count for a in alerts_made) == 40
    finally:
        proc.terminate()
        proc.wait(timeout=30)
