"""A failing request logs a bounded traceback, and logging never holds up serving: `tocsin
serve` in its development format, writing to a stderr that nobody reads for a while."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tocsin.config import Settings
from tocsin.observability.logging import MAX_LINES, format_traceback

ROOT = Path(__file__).resolve().parents[2]
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")  # how each console record starts


def _serve(settings: Settings, url: str) -> subprocess.Popen[bytes]:
    """The server, its stderr a pipe of one page that this test leaves unread until the end:
    a few tracebacks fill it."""
    env = {
        **os.environ,
        "TOCSIN_DATABASE_URL": settings.database_url,
        "TOCSIN_SECRET_KEY": "test-secret",
        "TOCSIN_ENV": "development",
        "TOCSIN_LOG_FORMAT": "console",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.observability.raising_server", "serve",
         "--port", url.rsplit(":", 1)[1], "--no-worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    fcntl.fcntl(proc.stderr.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the server did not start: {proc.communicate()[1].decode()[-2000:]}")


def _records(log: str) -> list[list[str]]:
    records: list[list[str]] = []
    for line in log.splitlines():
        if RECORD.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    return records


def test_a_failing_request_logs_a_bounded_traceback_and_serving_goes_on(
    settings: Settings,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = _serve(settings, url)
    try:
        # Each traceback is larger than the pipe: from the second on, stderr is stalled.
        # (A connection each: uvicorn closes the one an application error went through.)
        for _ in range(5):
            failed = httpx.get(f"{url}/boom", timeout=60)
            assert failed.status_code == 500 and "internal error" in failed.text
        # Still serving, stderr still stalled: the records wait in memory.
        assert httpx.get(f"{url}/healthz", timeout=60).json()["status"] == "ok"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    log = err.decode()
    failures = [r for r in _records(log) if "http.unhandled" in r[0]]
    assert len(failures) == 5, log[-3000:]
    for record in failures + [r for r in _records(log) if "Exception in ASGI" in r[0]]:
        assert len(record) < 200, "\n".join(record[:300])
        text = "\n".join(record)
        assert "RuntimeError: boom" in text and "ValueError: the bottom xxx" in text
        assert "item 1item 1" not in text  # no local variables
        assert max(map(len, record)) < 1000
    assert "path=/healthz" in log  # answered while the tracebacks waited


def _recurse(depth: int) -> None:
    _recurse(depth + 1)


def test_tracebacks_are_bounded_whatever_the_exception() -> None:
    try:
        _recurse(0)
    except RecursionError as exc:
        deep = (type(exc), exc, exc.__traceback__)
    text = format_traceback(deep)
    assert len(text.splitlines()) <= MAX_LINES and text.endswith("maximum recursion depth exceeded")
    try:
        try:
            raise ValueError("\n".join(["line"] * 10_000))
        except ValueError as exc:
            raise ExceptionGroup("many", [KeyError(n) for n in range(1000)]) from exc
    except ExceptionGroup as group:
        text = format_traceback((type(group), group, group.__traceback__))
    assert len(text.splitlines()) <= MAX_LINES and "many (1000 sub-exceptions)" in text
