#!/usr/bin/env python3
"""Tocsin's benchmarks: `make bench` (see docs/benchmarks.md).

`--parts` chooses among, in this order: ingestion and postgres (in this file), and scripts of
their own run with --json: bench/paging.py (an alert storm that pages, run for the paging
part and again on PostgreSQL for the postgres part), bench/oncall.py (who is on call now for
1,000 schedules), bench/timers.py (lateness of 10,000 escalation timers), bench/notify.py
(alert to first notification), bench/statuspage.py (the public status page against a
fixed-body raw ASGI app) and bench/insights.py (the Insights pages on a generated history of
100,000 incidents and 2 million alerts, SQLite and PostgreSQL). The report of all of them goes
below the marker in docs/benchmarks.md with --write.

Everything happens in temporary directories (and scratch PostgreSQL databases, dropped
afterwards), against loopback addresses only, with every load bounded in count and time;
every process started is stopped on the way out, whatever happens. Tocsin is measured as
shipped: `tocsin serve`, whose background engine stores and applies the accepted events and
runs the jobs (TOCSIN_ENV=production).

The ingestion part (SQLite), in one run:

1. Steady repeats: Tocsin takes PagerDuty Events v2 trigger events on POST /v2/enqueue over
   keep-alive connections, and Alertmanager 0.25 the same load of distinct alerts on its own
   POST /api/v2/alerts: each first gets a warm-up with one event per dedup key (1,000 keys),
   then wrk runs flat out against Tocsin, then against Alertmanager, in --rounds alternating
   pairs (default 5). Only 2xx responses count. Each pair gives a ratio of the two rates; the
   median ratio is the headline number (the machines are shared and their speed drifts over
   minutes; two runs seconds apart see the same machine).
2. Tocsin again, paced at half its (median) rate: latency percentiles at that rate.
3. A storm on a fresh Tocsin process: 100,000 trigger events across 500 dedup keys within one
   minute, then checks through the database (alerts, events, incidents) and the server's peak
   resident memory.

The postgres part: the same steady repeats on a scratch PostgreSQL database with
`tocsin serve` (one process) and `tocsin serve --workers 2` against Alertmanager, in
alternating rounds; then bench/paging.py on PostgreSQL.

It needs wrk and Alertmanager (Debian: `apt-get install wrk prometheus-alertmanager`) and the
Python environment Tocsin runs in (stdlib and SQLAlchemy; Tocsin's models for the checks;
aiosmtpd from the test extra for the parts that page).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
MARKER = "<!-- bench:results: everything below this line is replaced by `make bench` -->"
TOCSIN_CLI = "from tocsin.cli.main import main; main()"

ALERTMANAGER_CONFIG = """\
# Written by bench/run.py: every alert goes to a receiver that sends nothing.
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""


# --------------------------------------------------------------------------- processes


class Processes:
    """Every child process of the run, each in its own process group, stopped in `stop_all`."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path
    ) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append((name, proc))
        log(f"started {name} (pid {proc.pid})")
        return proc

    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15
    ) -> None:
        """Signal the process's group, wait up to `timeout` s, then kill the group."""
        name = next((n for n, p in self.running if p is proc), str(proc.pid))
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
            log(f"stopped {name} (pid {proc.pid})")
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.running)):
            self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{url}: the process exited ({proc.returncode}); see {tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise BenchError(f"{url} was not ready within {timeout:.0f} s; see {tail(log_path)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"{path} (unreadable)"
    return f"{path}:\n    " + "\n    ".join(text)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in kB."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found


def tree_status(pid: int) -> dict[str, int]:
    """proc_status summed over a process and its children (`tocsin serve --workers N`: the
    supervisor and its web processes): the peaks of each, added, so at least the peak of the
    whole."""
    total: dict[str, int] = {}
    pids, seen = [pid], set()
    while pids:
        current = pids.pop()
        if current in seen:
            continue
        seen.add(current)
        for key, value in proc_status(current).items():
            total[key] = total.get(key, 0) + value
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                pids.extend(int(child) for child in children.read_text().split())
    return total


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    label: str
    data: dict[str, Any]

    @property
    def seconds(self) -> float:
        return self.data["duration_us"] / 1e6

    @property
    def ok(self) -> int:
        return int(self.data["ok"])

    @property
    def failed(self) -> int:
        return int(self.data["failed"])

    @property
    def ok_rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def socket_errors(self) -> int:
        errors = self.data["errors"]
        return sum(int(errors[k]) for k in ("connect", "read", "write", "timeout"))

    def latency_ms(self, name: str) -> float:
        value = self.data["latency_us"].get(name)
        return float(value) / 1000 if value is not None else float("nan")

    @property
    def budget_seconds(self) -> float | None:
        value = self.data.get("budget_ms")
        return float(value) / 1000 if value is not None else None


class Wrk:
    def __init__(self, binary: str, procs: Processes, work: Path, args: argparse.Namespace):
        self.binary, self.procs, self.work, self.args = binary, procs, work, args
        self.runs = 0

    def run(
        self,
        label: str,
        url: str,
        script: str,
        *,
        duration: int,
        env: dict[str, str],
        budget: int = 0,
        rate: float = 0.0,
    ) -> WrkResult:
        """One bounded wrk run (-d is the hard time limit). With a budget, wrk is interrupted
        (SIGINT: it prints its results at once) as soon as every thread has its share."""
        self.runs += 1
        done_dir = self.work / f"wrk-{self.runs}-done"
        done_dir.mkdir()
        argv = [
            self.binary,
            f"-t{self.args.threads}",
            f"-c{self.args.connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(BENCH_DIR / script),
            url,
        ]
        run_env = {
            **os.environ,
            **env,
            "BENCH_THREADS": str(self.args.threads),
            "BENCH_BUDGET": str(budget),
            "BENCH_RATE": f"{rate:.3f}",
            "BENCH_DONE_DIR": str(done_dir),
        }
        out_path = self.work / f"wrk-{self.runs}.out"
        described = f"wrk -t{self.args.threads} -c{self.args.connections} -d{duration}s"
        log(f"{label}: {described} {script} {url}" + (f" rate {rate:.0f}/s" if rate else ""))
        started = time.monotonic()
        proc = self.procs.start(f"wrk ({label})", argv, env=run_env, log_path=out_path)
        try:
            deadline = started + duration + 30
            while proc.poll() is None:
                if budget and len(list(done_dir.iterdir())) >= self.args.threads:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(timeout=30)
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"wrk ({label}) did not finish; see {tail(out_path)}")
                time.sleep(0.02)
        finally:
            self.procs.stop(proc)
        output = out_path.read_text(errors="replace")
        match = re.search(r"^BENCH_RESULT (\{.*\})$", output, re.MULTILINE)
        if proc.returncode not in (0, -signal.SIGINT) or match is None:
            raise BenchError(f"wrk ({label}) failed ({proc.returncode}); see {tail(out_path)}")
        data = json.loads(match.group(1))
        result = WrkResult(label, data)
        log(
            f"{label}: {result.ok} ok, {result.failed} non-2xx, {result.socket_errors} socket"
            f" errors in {result.seconds:.2f} s = {result.ok_rate:,.0f} ok/s;"
            f" p50 {result.latency_ms('p50'):.2f} ms, p99 {result.latency_ms('p99'):.2f} ms"
        )
        return result


# --------------------------------------------------------------------------- Tocsin


class Tocsin:
    """The Tocsin under test, driven through its command line only."""

    def __init__(self, procs: Processes, work: Path, database_url: str):
        self.procs, self.work, self.database_url = procs, work, database_url
        python_path = [str(ROOT / "src")]
        if os.environ.get("PYTHONPATH"):
            python_path.append(os.environ["PYTHONPATH"])
        # Run as in production (JSON logs, one line per request at INFO): the development
        # console renderer draws rich tracebacks on the event loop, far too slow to bench.
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(python_path),
            "TOCSIN_DATABASE_URL": database_url,
            "TOCSIN_ENV": "production",
            "TOCSIN_SECRET_KEY": secrets.token_hex(32),
        }
        self.servers = 0
        self.log_paths: dict[int, Path] = {}

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", TOCSIN_CLI, *args],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise BenchError(
                f"tocsin {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def prepare(self, services: dict[str, str]) -> dict[str, tuple[int, str]]:
        """Migrate, create the services (phase -> name) and a PagerDuty integration for each."""
        self.cli("db", "upgrade")
        config = self.work / "tocsin-bench.yaml"
        config.write_text(
            "version: 1\nservices:\n"
            + "".join(
                f"  - name: {name}\n    description: Created by bench/run.py\n"
                for name in services.values()
            )
        )
        self.cli("apply", "-f", str(config))
        integrations = {}
        for phase, service in services.items():
            out = self.cli(
                "integration", "create", "--service", service, "--type", "pagerduty", "--json"
            )
            integrations[phase] = parse_integration(out)
        return integrations

    def serve(self, port: int, processes: int = 1) -> subprocess.Popen[bytes]:
        """`tocsin serve` as shipped (its engine runs the jobs); `--workers N` if processes > 1
        (PostgreSQL only)."""
        self.servers += 1
        log_path = self.work / f"tocsin-serve-{self.servers}.log"
        argv = [sys.executable, "-c", TOCSIN_CLI, "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(port)]
        if processes > 1:
            argv += ["--workers", str(processes)]
        proc = self.procs.start(server_label(processes), argv, env=self.env, log_path=log_path)
        self.log_paths[proc.pid] = log_path
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc, log_path, timeout=90)
        return proc

    def settle(self, notes: list[str], proc: subprocess.Popen[bytes], port: int) -> None:
        """Before a measured run: wait (bounded) until the server answers again, since wrk
        leaves requests in flight when its time is up. A long wait is reported."""
        started = time.monotonic()
        wait_http_ok(
            f"http://127.0.0.1:{port}/healthz", proc, self.log_paths[proc.pid], timeout=120
        )
        waited = time.monotonic() - started
        if waited > 2:
            notes.append(
                f"The server took {waited:.0f} s to answer /healthz again after a wrk run."
            )
            log(f"warning: the server took {waited:.1f} s to answer /healthz again")


def server_label(processes: int) -> str:
    return "tocsin serve" + (f" --workers {processes}" if processes > 1 else "")


def start_alertmanager(
    procs: Processes, work: Path, binary: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Alertmanager on a free loopback port (one null receiver, clustering off, storage in
    `work`); returns the process and its base URL once it is ready."""
    port = free_port()
    (work / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
    log_path = work / "alertmanager.log"
    proc = procs.start(
        "alertmanager",
        [
            binary,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        env=dict(os.environ),
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/-/ready", proc, log_path, timeout=60)
    return proc, url


def on_loopback(url: str) -> bool:
    """Whether a database URL names this machine (or no host: a file or a local socket)."""
    host = re.search(r"@\[?([^/:\]]+)", url)
    return host is None or host.group(1) in ("localhost", "::1") or host.group(1).startswith("127.")


class ScratchDatabase:
    """A database of its own on a PostgreSQL server, created fresh and dropped afterwards."""

    def __init__(self, server_url: str, name: str) -> None:
        from sqlalchemy.engine import make_url

        self.name = name
        self.url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        self.admin_url = make_url(server_url).set(database="postgres")
        self.created = False

    def create(self) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # the server is not there, refuses us, ...
            raise BenchError(f"cannot create the database {self.name}: {exc}") from exc
        finally:
            admin.dispose()
        self.created = True
        log(f"created the PostgreSQL database {self.name}")
        return self.url

    def drop(self) -> None:
        if not self.created:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.created = False
            log(f"dropped the PostgreSQL database {self.name}")
        except Exception as exc:  # reported, never hiding the run's own outcome
            log(f"warning: could not drop the database {self.name}: {exc}")
        finally:
            admin.dispose()


def parse_integration(output: str) -> tuple[int, str]:
    """(id, key) from `tocsin integration create --json`; tolerant of text around the JSON."""
    start, end = output.find("{"), output.rfind("}")
    if start != -1 and end > start:
        try:
            data = json.loads(output[start : end + 1])
            return int(data["id"]), str(data["key"])
        except (ValueError, KeyError, TypeError):
            pass
    key = re.search(r"\b[0-9a-f]{32}\b", output)
    ident = re.search(r"Integration (\d+)", output)
    if key and ident:
        return int(ident.group(1)), key.group(0)
    raise BenchError(f"cannot read the integration id and key from:\n{output}")


class Database:
    """Read-only checks through SQLAlchemy and Tocsin's models."""

    def __init__(self, url: str) -> None:
        if str(ROOT / "src") not in sys.path:
            sys.path.insert(0, str(ROOT / "src"))
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def counts(self, integration_id: int) -> dict[str, int]:
        from sqlalchemy import func, select

        from tocsin.alerts.models import Alert, Event
        from tocsin.incidents.models import Incident

        with self.engine.connect() as conn:

            def scalar(query: Any) -> int:
                return int(conn.execute(query).scalar_one() or 0)

            return {
                "events": scalar(
                    select(func.count(Event.id)).where(Event.integration_id == integration_id)
                ),
                # "pending" = stored, not yet processed (if ingestion is asynchronous); a plain
                # string so the check works whether or not Outcome has such a value.
                "pending": scalar(
                    select(func.count(Event.id)).where(
                        Event.integration_id == integration_id, Event.outcome == "pending"
                    )
                ),
                "alerts": scalar(
                    select(func.count(Alert.id)).where(Alert.integration_id == integration_id)
                ),
                "alert_events": scalar(
                    select(func.coalesce(func.sum(Alert.event_count), 0)).where(
                        Alert.integration_id == integration_id
                    )
                ),
                "alerts_without_incident": scalar(
                    select(func.count(Alert.id)).where(
                        Alert.integration_id == integration_id, Alert.incident_id.is_(None)
                    )
                ),
                "alert_incidents": scalar(
                    select(func.count(func.distinct(Alert.incident_id))).where(
                        Alert.integration_id == integration_id
                    )
                ),
                "incidents_total": scalar(select(func.count(Incident.id))),
            }

    def pending_total(self) -> int:
        """Events of any integration stored but not applied yet."""
        from sqlalchemy import func, select

        from tocsin.alerts.models import Event

        with self.engine.connect() as conn:
            query = select(func.count(Event.id)).where(Event.outcome == "pending")
            return int(conn.execute(query).scalar_one() or 0)

    def jobs_due(self) -> int:
        """Jobs queued and due, or running (claimed, or leased while their send is under
        way): work the engine has not finished yet."""
        from sqlalchemy import func, or_, select

        from tocsin.jobs.models import QUEUED, RUNNING, Job

        with self.engine.connect() as conn:
            query = select(func.count(Job.id)).where(
                or_(
                    Job.state == RUNNING,
                    (Job.state == QUEUED) & (Job.run_at <= datetime.now(UTC)),
                )
            )
            return int(conn.execute(query).scalar_one() or 0)

    def jobs_by_state(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from tocsin.jobs.models import Job

        with self.engine.connect() as conn:
            rows = conn.execute(select(Job.state, func.count(Job.id)).group_by(Job.state)).all()
        return {str(state): int(n) for state, n in rows}

    def max_event_id(self) -> int:
        from sqlalchemy import func, select

        from tocsin.alerts.models import Event

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(Event.id))).scalar_one() or 0)

    def wait_settled(self, timeout: float) -> float | None:
        """Wait (bounded) until no event is pending and no job is due or running; returns the
        seconds that took, or None if it did not happen within `timeout`."""
        started = time.monotonic()
        while True:
            if self.pending_total() == 0 and self.jobs_due() == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                return None
            time.sleep(0.2)

    def outcomes(self, integration_id: int) -> dict[str, int]:
        """How many of the integration's events ended how (created_alert, deduplicated, ...)."""
        from sqlalchemy import func, select

        from tocsin.alerts.models import Event

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Event.outcome, func.count(Event.id))
                .where(Event.integration_id == integration_id)
                .group_by(Event.outcome)
            ).all()
        return {str(outcome): int(n) for outcome, n in rows}

    def version(self) -> str:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                mode = conn.execute(text("PRAGMA journal_mode")).scalar_one()
                return f"SQLite {sqlite3.sqlite_version} (journal_mode={mode})"
            version = str(conn.execute(text("SELECT version()")).scalar_one())
            return version.split(" on ")[0].split(",")[0]

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- environment


def read_first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":" if ":" in line else "=")
            if name.strip() == key:
                return value.strip().strip('"')
    except OSError:
        pass
    return "unknown"


def command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def machine_info(wrk: str, alertmanager: str | None) -> dict[str, str]:
    mem_kb = read_first("/proc/meminfo", "MemTotal").split()[0]
    try:
        ram = f"{int(mem_kb) / 1024 / 1024:.1f} GiB RAM"
    except ValueError:
        ram = "RAM unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    am_version = command_output([alertmanager, "--version"]).splitlines() if alertmanager else []
    wrk_version = command_output([wrk, "-v"]).splitlines()
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"])
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": read_first("/proc/cpuinfo", "model name"),
        "cpus": f"{cpus} CPUs",
        "ram": ram,
        "os": f"{read_first('/etc/os-release', 'PRETTY_NAME')}, Linux {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "alertmanager": am_version[0] if am_version else ("unknown" if alertmanager else ""),
        "wrk": wrk_version[0].split(" Copyright")[0] if wrk_version else "unknown",
        "commit": (commit or "unknown") + (" (with uncommitted changes in src/)" if dirty else ""),
        "load": " ".join(load) or "unknown",
    }


# --------------------------------------------------------------------------- the run

ALERTMANAGER = "alertmanager"


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Comparison:
    """Steady repeats on one database: Tocsin's servers and Alertmanager in alternating rounds,
    every run with the same wrk settings."""

    backend: str  # "SQLite" or "PostgreSQL"
    database: str  # the database's version
    servers: list[str]  # Tocsin's servers, in the order each round runs them
    warmup: WrkResult | None = None
    warmup_settle_s: float | None = None
    am_warmup: WrkResult | None = None
    # One run per round for each server label, and for ALERTMANAGER.
    runs: dict[str, list[WrkResult]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    # Events answered 2xx but not applied yet right after each of a server's runs (by label,
    # one per round), and how long the engines took to apply what was left once the rounds
    # were over (None: not within --settle-timeout).
    pending_after: dict[str, list[int]] = field(default_factory=dict)
    drained_s: float | None = None

    @property
    def rounds(self) -> int:
        return len(self.runs.get(ALERTMANAGER, []))

    def ratios(self, label: str, over: str = ALERTMANAGER) -> list[float]:
        """`label`'s rate over `over`'s, for each round."""
        return [
            a.ok_rate / b.ok_rate if b.ok_rate else 0.0
            for a, b in zip(self.runs.get(label, []), self.runs.get(over, []), strict=True)
        ]

    def ratio(self, label: str, over: str = ALERTMANAGER) -> float:
        """The median of the rounds' ratios (the headline number)."""
        ratios = self.ratios(label, over)
        return statistics.median(ratios) if ratios else 0.0

    def rate(self, label: str) -> float:
        runs = self.runs.get(label, [])
        return statistics.median(w.ok_rate for w in runs) if runs else 0.0

    def failed(self, label: str) -> int:
        return sum(w.failed for w in self.runs.get(label, []))


@dataclass
class Results:
    args: argparse.Namespace
    info: dict[str, str] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # by part
    paced: WrkResult | None = None
    paced_target: float = 0.0
    storm: WrkResult | None = None
    storm_counts: dict[str, int] = field(default_factory=dict)
    storm_outcomes: dict[str, int] = field(default_factory=dict)
    storm_settle_s: float | None = None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    # The parts run as scripts of their own (bench/paging.py, oncall.py, ...): their --json.
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    part_seconds: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0
    # PostgreSQL databases made for the run, dropped at its end (see drop_all).
    scratch: list[ScratchDatabase] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(name, passed, detail))
        log(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")


# In the order they run. ingestion and postgres are in this file; the others (and the storm
# with paging on PostgreSQL, "paging-postgres", inside the postgres part) are scripts of
# their own printing --json.
PARTS = (
    "ingestion",
    "paging",
    "postgres",
    "oncall",
    "timers",
    "notify",
    "statuspage",
    "insights",
)
NEEDS_ALERTMANAGER = ("ingestion", "paging", "postgres")
PART_TITLES = {
    "paging": "storm with paging (SQLite)",
    "paging-postgres": "storm with paging (PostgreSQL)",
    "oncall": "who is on call now",
    "timers": "escalation timers",
    "notify": "alert to first notification",
    "statuspage": "the public status page",
    "insights": "the Insights pages on a long history",
}


def run(args: argparse.Namespace) -> Results:
    """Every part chosen with --parts, one after the other, in one report."""
    results = Results(args)
    wrk_bin = resolve(args.wrk, ["wrk"], "wrk (apt-get install wrk)")
    am_bin = ""
    if any(part in args.parts for part in NEEDS_ALERTMANAGER):
        am_bin = resolve(
            args.alertmanager,
            ["prometheus-alertmanager", "alertmanager"],
            "Alertmanager 0.25 (apt-get install prometheus-alertmanager)",
        )
    results.info = machine_info(wrk_bin, am_bin or None)
    if am_bin and "0.25" not in results.info["alertmanager"]:
        log(f"warning: the issue compares against Alertmanager 0.25; this is: {am_bin}")
    started = time.monotonic()
    try:
        for part in args.parts:
            if part == "ingestion":
                ingestion(args, results, wrk_bin, am_bin)
            elif part == "postgres":
                postgres(args, results, wrk_bin, am_bin)
            else:
                run_part(args, results, part, wrk_bin, am_bin)
    finally:
        if args.keep:
            for database in results.scratch:
                if database.created:
                    log(f"kept the database {database.name}")
        else:
            drop_all(results.scratch)
        results.runtime_s = time.monotonic() - started
    return results


def drop_all(databases: list[ScratchDatabase]) -> None:
    """Drop the run's scratch databases, at the end of the run and together: PostgreSQL 15's
    DROP DATABASE waits for a checkpoint, which can take minutes on a busy server (so never
    between two measurements), and drops that run at once share one."""
    threads = [threading.Thread(target=d.drop) for d in databases if d.created]
    if threads:
        log(f"dropping {len(threads)} scratch database(s) (each waits for a checkpoint)")
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --------------------------------------------------------------------------- steady repeats


def steady(
    args: argparse.Namespace,
    results: Results,
    comparison: Comparison,
    *,
    tocsin: Tocsin,
    db: Database,
    wrk: Wrk,
    am_bin: str,
    servers: list[tuple[str, subprocess.Popen[bytes], int]],
    integration: tuple[int, str],
) -> None:
    """The warm-up (through the first server: one event per key, each creating an alert and an
    incident), then Alertmanager started and warmed up alike; then `--rounds` rounds, each
    running every server of `servers` (label, process, port) flat out in turn, then
    Alertmanager. Both (all) servers stay up throughout, idle between their runs."""
    integration_id, key = integration
    pd_env = {"TOCSIN_ROUTING_KEY": key, "BENCH_KEYS": str(args.keys)}
    backend = comparison.backend
    _, first, first_port = servers[0]
    if args.warmup_seconds:
        comparison.warmup = wrk.run(
            f"Tocsin warm-up ({backend})",
            f"http://127.0.0.1:{first_port}",
            "pd_trigger.lua",
            duration=args.warmup_seconds,
            env=pd_env,
            budget=args.keys,
        )
        tocsin.settle(results.notes, first, first_port)
        # The warm-up's events are answered once stored and applied; their incidents' jobs run
        # after. Let the server finish those so the measured runs are the steady state
        # (repeats of open alerts), not the tail of the warm-up.
        comparison.warmup_settle_s = db.wait_settled(args.settle_timeout)
        if comparison.warmup_settle_s is None:
            results.notes.append(
                f"{backend}: the warm-up's events and jobs were not all done within"
                f" {args.settle_timeout} s; the measured runs started anyway."
            )
    am, am_url = start_alertmanager(tocsin.procs, tocsin.work, am_bin)
    am_env = {"BENCH_KEYS": str(args.keys)}
    if args.warmup_seconds:
        comparison.am_warmup = wrk.run(
            f"Alertmanager warm-up ({backend})",
            am_url,
            "am_alerts.lua",
            duration=args.warmup_seconds,
            env=am_env,
            budget=args.keys,
        )
    # The machines are shared and their speed drifts over minutes; runs seconds apart see the
    # same machine, so each round gives a ratio and the median ratio is the result.
    before = db.outcomes(integration_id)
    for n in range(1, args.rounds + 1):
        suffix = f" (round {n})" if args.rounds > 1 else ""
        for label, proc, port in servers:
            tocsin.settle(results.notes, proc, port)
            comparison.runs.setdefault(label, []).append(
                wrk.run(
                    f"{label} ({backend}){suffix}",
                    f"http://127.0.0.1:{port}",
                    "pd_trigger.lua",
                    duration=args.duration,
                    env=pd_env,
                )
            )
            # Answered once stored; applying may lag behind (on PostgreSQL a process that does
            # not get the apply lock stores its events pending): what was left is part of the
            # result.
            comparison.pending_after.setdefault(label, []).append(db.pending_total())
        comparison.runs.setdefault(ALERTMANAGER, []).append(
            wrk.run(
                f"Alertmanager ({backend}){suffix}",
                am_url,
                "am_alerts.lua",
                duration=args.duration,
                env=am_env,
            )
        )
    results.memory[f"alertmanager ({backend})"] = proc_status(am.pid)
    tocsin.procs.stop(am)
    comparison.drained_s = db.wait_settled(args.settle_timeout)
    after = db.outcomes(integration_id)
    comparison.outcomes = {
        name: n - before.get(name, 0) for name, n in after.items() if n - before.get(name, 0)
    }


def ratio_detail(comparison: Comparison, label: str, over: str = ALERTMANAGER) -> str:
    over_name = "Alertmanager" if over == ALERTMANAGER else over
    ratios = comparison.ratios(label, over)
    text = f"{label} {comparison.rate(label):,.0f}/s vs {over_name} {comparison.rate(over):,.0f}/s"
    if len(ratios) > 1:
        text += (
            f" (medians), ratios by round {', '.join(f'{x:.3f}' for x in ratios)}:"
            f" median {comparison.ratio(label, over):.3f}×"
        )
    else:
        text += f" = {comparison.ratio(label, over):.3f}×"
    failed = comparison.failed(label)
    return text + (f"; {failed:,} non-2xx" if failed else "")


def ingestion(args: argparse.Namespace, results: Results, wrk_bin: str, am_bin: str) -> None:
    """SQLite: Tocsin against Alertmanager under steady repeats, the paced latency run and the
    storm."""
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    database_url = f"sqlite:///{work / 'tocsin.db'}"
    db: Database | None = None
    try:
        log(f"working in {work}")
        wrk = Wrk(wrk_bin, procs, work, args)
        tocsin = Tocsin(procs, work, database_url)
        integrations = tocsin.prepare({"throughput": "Bench throughput", "storm": "Bench storm"})
        db = Database(database_url)
        label = server_label(1)
        comparison = Comparison("SQLite", db.version(), [label])
        results.comparisons["ingestion"] = comparison

        # 1. Steady repeats, Tocsin and Alertmanager in alternating rounds.
        port = free_port()
        server = tocsin.serve(port)
        steady(
            args,
            results,
            comparison,
            tocsin=tocsin,
            db=db,
            wrk=wrk,
            am_bin=am_bin,
            servers=[(label, server, port)],
            integration=integrations["throughput"],
        )
        ratio = comparison.ratio(label)
        results.check(
            f"SQLite steady repeats: ≥ {args.ratio_target}× Alertmanager",
            ratio >= args.ratio_target and comparison.failed(label) == 0,
            ratio_detail(comparison, label),
        )

        # 2. Tocsin paced at half its own (median) rate.
        target = args.latency_rate or max(comparison.rate(label) / 2, 1.0)
        results.paced_target = target
        tocsin.settle(results.notes, server, port)
        results.paced = wrk.run(
            "Tocsin paced (SQLite)",
            f"http://127.0.0.1:{port}",
            "pd_trigger.lua",
            duration=args.duration,
            env={"TOCSIN_ROUTING_KEY": integrations["throughput"][1], "BENCH_KEYS": str(args.keys)},
            rate=target,
        )
        achieved = results.paced.ok_rate
        within = abs(achieved - target) <= 0.15 * target
        results.check(
            "paced rate within ±15% of the target",
            within,
            f"target {target:,.0f}/s, achieved {achieved:,.0f}/s ({achieved / target - 1:+.1%})",
        )
        p99 = results.paced.latency_ms("p99")
        results.check(
            f"p99 < {args.p99_target_ms:g} ms at {target:,.0f}/s",
            p99 < args.p99_target_ms and results.paced.failed == 0,
            f"p99 {p99:.2f} ms"
            + (f"; {results.paced.failed:,} non-2xx" if results.paced.failed else ""),
        )
        results.memory[f"{label} (SQLite: steady repeats, paced)"] = tree_status(server.pid)
        procs.stop(server)

        # 3. The storm, on a fresh server process so its peak memory is the storm's own.
        if not args.skip_storm:
            storm(args, results, tocsin, wrk, db, integrations["storm"])
    finally:
        procs.stop_all()
        if db is not None:
            db.close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def storm(
    args: argparse.Namespace,
    results: Results,
    tocsin: Tocsin,
    wrk: Wrk,
    db: Database,
    integration: tuple[int, str],
) -> None:
    integration_id, key = integration
    port = free_port()
    server = tocsin.serve(port)
    # Events or jobs the earlier phases left are done by this server first; let it finish
    # (bounded), so that the storm's counts and its incidents are its own.
    waited = db.wait_settled(args.settle_timeout)
    log(
        "earlier phases' backlog "
        + (f"done in {waited:.1f} s" if waited is not None else "not done; storming anyway")
    )
    before = db.counts(integration_id)
    # Paced to send the events in 90% of the window; a server slower than that simply gets
    # them as fast as it answers. wrk's -d is the window: a hard stop.
    results.storm = wrk.run(
        "Storm",
        f"http://127.0.0.1:{port}",
        "pd_trigger.lua",
        duration=args.storm_seconds,
        env={
            "TOCSIN_ROUTING_KEY": key,
            "BENCH_KEYS": str(args.storm_keys),
            "BENCH_KEY_PREFIX": "storm",
        },
        budget=args.storm_events,
        rate=args.storm_events / (0.9 * args.storm_seconds),
    )
    # Wait (bounded) until every accepted event is stored, none is pending and nothing changes
    # any more: requests still queued in the server when the load stopped are finished too.
    settle_start = time.monotonic()
    previous: dict[str, int] | None = None
    previous_at = settle_start
    while time.monotonic() - settle_start < args.settle_timeout:
        now = time.monotonic()
        counts = db.counts(integration_id)
        if counts != previous:
            previous, previous_at = counts, now
        elif counts["pending"] == 0 and counts["events"] >= results.storm.ok:
            results.storm_settle_s = previous_at - settle_start
            break
        time.sleep(0.5)
    if server.poll() is not None:
        raise BenchError(f"the Tocsin server died during the storm ({server.returncode})")
    memory = tree_status(server.pid)
    results.memory["tocsin serve (SQLite: storm)"] = memory
    tocsin.procs.stop(server)

    # Counted with the server stopped: nothing can change under the checks.
    counts = db.counts(integration_id)
    counts["incidents_total"] -= before["incidents_total"]
    results.storm_counts = counts
    results.storm_outcomes = db.outcomes(integration_id)
    sent = results.storm
    n, keys = args.storm_events, args.storm_keys
    elapsed = sent.budget_seconds
    results.check(
        f"storm: {n:,} events accepted within {args.storm_seconds} s",
        sent.ok == n and elapsed is not None and elapsed <= args.storm_seconds,
        f"{sent.ok:,} accepted (2xx)"
        + (f" in {elapsed:.1f} s ({sent.ok / elapsed:,.0f}/s)" if elapsed else "")
        + (f" before the {args.storm_seconds} s limit" if elapsed is None else "")
        + f"; {sent.failed:,} non-2xx (retried), {sent.socket_errors:,} socket errors",
    )
    settle = results.storm_settle_s
    results.check(
        "storm: no event pending",
        counts["pending"] == 0,
        f"{counts['pending']:,} pending"
        + (
            f"; all processed {settle:.1f} s after the load stopped"
            if settle is not None
            else f" after waiting {args.settle_timeout} s"
        ),
    )
    results.check(
        "storm: no event lost",
        counts["events"] >= sent.ok and counts["alert_events"] == counts["events"],
        f"{counts['events']:,} events stored and {counts['alert_events']:,} counted on the"
        f" alerts, for {sent.ok:,} accepted",
    )
    in_flight = counts["events"] - sent.ok
    results.check(
        f"storm: exactly {n:,} events stored",
        counts["events"] == n,
        f"{counts['events']:,} events stored for the storm's integration"
        + (
            f" ({in_flight:,} more than accepted: in flight when the time limit stopped the load)"
            if in_flight > 0 and elapsed is None
            else ""
        ),
    )
    results.check(
        f"storm: exactly {keys} alerts",
        counts["alerts"] == keys,
        f"{counts['alerts']:,} alerts for {keys} dedup keys",
    )
    results.check(
        f"storm: {keys} incidents (default grouping: one per dedup key)",
        counts["incidents_total"] == keys
        and counts["alert_incidents"] == keys
        and counts["alerts_without_incident"] == 0,
        f"{counts['incidents_total']:,} incidents declared, {counts['alert_incidents']:,}"
        f" linked from the alerts, {counts['alerts_without_incident']:,} alerts without one",
    )
    peak_mb = memory.get("VmHWM", 0) / 1024
    results.check(
        f"storm: peak resident memory < {args.memory_limit_mb} MB",
        0 < peak_mb < args.memory_limit_mb,
        f"VmHWM {peak_mb:,.0f} MB, the server process (VmRSS at the end"
        f" {memory.get('VmRSS', 0) / 1024:,.0f} MB)",
    )


def postgres(args: argparse.Namespace, results: Results, wrk_bin: str, am_bin: str) -> None:
    """PostgreSQL, the scale-out path: steady repeats with one `tocsin serve` process and with
    `--workers N` against Alertmanager, then the storm with paging (bench/paging.py)."""
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-postgres-"))
    scratch = ScratchDatabase(args.postgres_url, f"tocsin_bench_{os.getpid()}")
    results.scratch.append(scratch)
    db: Database | None = None
    reachable = False
    started = time.monotonic()
    try:
        log(f"working in {work}")
        database_url = scratch.create()
        reachable = True
        wrk = Wrk(wrk_bin, procs, work, args)
        tocsin = Tocsin(procs, work, database_url)
        integrations = tocsin.prepare({"throughput": "Bench throughput"})
        db = Database(database_url)
        one, many = server_label(1), server_label(args.postgres_processes)
        comparison = Comparison("PostgreSQL", db.version(), [one, many])
        results.comparisons["postgres"] = comparison
        # Both servers on the same database and the same integration: the same open alerts,
        # the same repeats.
        servers = []
        for processes in (1, args.postgres_processes):
            port = free_port()
            servers.append((server_label(processes), tocsin.serve(port, processes), port))
        steady(
            args,
            results,
            comparison,
            tocsin=tocsin,
            db=db,
            wrk=wrk,
            am_bin=am_bin,
            servers=servers,
            integration=integrations["throughput"],
        )
        ratio = comparison.ratio(one)
        results.check(
            f"PostgreSQL steady repeats: {one} ≥ {args.postgres_ratio_target}× Alertmanager",
            ratio >= args.postgres_ratio_target and comparison.failed(one) == 0,
            ratio_detail(comparison, one),
        )
        speedup = comparison.ratio(many, over=one)
        results.check(
            f"PostgreSQL steady repeats: {many} faster than one process",
            speedup > 1.0 and comparison.failed(many) == 0,
            ratio_detail(comparison, many, over=one),
        )
        for label, proc, _ in servers:
            results.memory[f"{label} (PostgreSQL: steady repeats)"] = tree_status(proc.pid)
    except BenchError as exc:
        results.notes.append(f"The PostgreSQL steady-repeats benchmark could not run: {exc}.")
        results.check("PostgreSQL steady repeats: the benchmark ran", False, str(exc))
    finally:
        procs.stop_all()
        if db is not None:
            db.close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        results.part_seconds["postgres"] = time.monotonic() - started
    if not reachable:
        return
    paging_db = ScratchDatabase(args.postgres_url, f"tocsin_bench_paging_{os.getpid()}")
    results.scratch.append(paging_db)
    try:
        paging_url = paging_db.create()
    except BenchError as exc:
        results.check(f"{PART_TITLES['paging-postgres']}: the benchmark ran", False, str(exc))
        return
    run_part(
        args, results, "paging-postgres", wrk_bin, am_bin, ["--empty-database-url", paging_url]
    )


# --------------------------------------------------------------------------- the other parts


def part_argv(
    args: argparse.Namespace, part: str, wrk_bin: str, am_bin: str
) -> tuple[list[str], int]:
    """The script's command line and its time limit in seconds."""
    quick = args.quick
    if part in ("paging", "paging-postgres"):
        argv = [str(BENCH_DIR / "paging.py"), "--json", "--wrk", wrk_bin, "--alertmanager", am_bin]
        argv += ["--threads", str(args.threads), "--connections", str(args.connections)]
        argv += ["--services", str(args.paging_services), "--rate", f"{args.paging_rate:g}"]
        argv += ["--p99-target-s", f"{args.paging_p99_target_s:g}"]
        if args.paging_alerts:
            argv += ["--alerts", str(args.paging_alerts)]
        if args.paging_keys:
            argv += ["--keys", str(args.paging_keys)]
        if quick:
            argv.append("--quick")
        if part == "paging":
            argv += ["--ratio-target", f"{args.paging_ratio_target:g}"]
        else:
            argv += ["--ratio-target", "0"]
            argv += ["--web-processes", str(args.postgres_paging_processes)]
        return argv, 900
    if part == "oncall":
        return [str(BENCH_DIR / "oncall.py"), "--json", "--runs", "10" if quick else "30"], 300
    if part == "timers":
        argv = [str(BENCH_DIR / "timers.py"), "--json"]
        if quick:
            argv += ["--timers", "2000", "--spread", "15", "--lead", "3"]
        if args.timers_ingest_rate:
            argv += ["--ingest-rate", f"{args.timers_ingest_rate:g}"]
        return argv, 420
    if part == "insights":
        argv = [str(BENCH_DIR / "insights.py"), "--json", "--postgres-url", args.postgres_url]
        argv += ["--db", "sqlite" if args.skip_postgres else "both"]
        if quick:
            argv += ["--scale", "quick", "--runs", "10"]
        # Full: about 4 minutes of generation per database, then 7 URLs x 33 requests each.
        return argv, 600 if quick else 3000
    if part == "statuspage":
        argv = [str(BENCH_DIR / "statuspage.py"), "--json", "--wrk", wrk_bin]
        argv += ["--duration", "2" if quick else "6", "--rounds", "3"]
        argv += ["--threads", str(args.threads), "--connections", str(args.connections)]
        return argv, 420
    argv = [str(BENCH_DIR / "notify.py"), "--json", "--wrk", wrk_bin]
    if quick:
        argv.append("--quick")
    return argv, 480


def run_part(
    args: argparse.Namespace,
    results: Results,
    part: str,
    wrk_bin: str,
    am_bin: str,
    extra: list[str] | None = None,
) -> None:
    """Run one part's script (bounded in time; its progress goes to stderr) and check its
    figures. A part that cannot run is a failed check, and the other parts still run."""
    argv, limit = part_argv(args, part, wrk_bin, am_bin)
    argv += extra or []
    title = PART_TITLES[part]
    shown = [
        Path(a).name if a.endswith(".py") else "<database>" if a.startswith("postgres") else a
        for a in argv
    ]
    log(f"{title}: {' '.join(shown)}")
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix=f"tocsin-bench-{part}-"))
    out_path = work / "stdout.json"
    started = time.monotonic()
    try:
        with out_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, *argv],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                start_new_session=True,
            )
        procs.running.append((f"bench/{Path(argv[0]).name}", proc))
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"bench/{Path(argv[0]).name} did not finish within {limit} s"
            ) from None
        if proc.returncode != 0:
            raise BenchError(f"bench/{Path(argv[0]).name} exited with {proc.returncode}")
        data = json.loads(out_path.read_text())
    except (BenchError, ValueError) as exc:
        results.notes.append(f"The {title} benchmark could not run: {exc}.")
        results.check(f"{title}: the benchmark ran", False, str(exc))
        return
    finally:
        # The script stops its own children on SIGTERM (servers, a scratch database): give it
        # the time to.
        for _, child in list(procs.running):
            procs.stop(child, timeout=90)
        shutil.rmtree(work, ignore_errors=True)
        results.part_seconds[part] = time.monotonic() - started
    results.parts[part] = data
    check_part(results, part, data)


def check_part(results: Results, part: str, data: dict[str, Any]) -> None:
    if part in ("paging", "paging-postgres"):
        where = "SQLite" if part == "paging" else "PostgreSQL"
        for note in data.get("notes", []):
            results.notes.append(f"Storm with paging ({where}): {note}")
        for c in data["checks"]:
            results.check(f"{where} storm with paging: {c['name']}", c["passed"], c["detail"])
        results.memory[f"{data['server']} ({where}: storm with paging)"] = {
            "VmHWM": data["server_peak_mb"] * 1024,
            "VmRSS": data["server_end_mb"] * 1024,
        }
    elif part == "oncall":
        results.check(
            f"who is on call now: {data['schedules']:,} schedules < {data['target_ms']} ms",
            # `tocsin serve` and `tocsin worker` freeze start-up's objects (gc.freeze), so the
            # frozen figures are how they run; the unfrozen ones are reported alongside.
            data["frozen_p95_ms"] < data["target_ms"],
            f"p95 {data['frozen_p95_ms']} ms over {data['runs']} calls as the server runs"
            f" (after gc.freeze(); median {data['frozen_median_ms']} ms, max"
            f" {data['frozen_max_ms']} ms); without freezing p95 {data['p95_ms']} ms; first call"
            f" in a fresh process {data['first_call_ms']} ms",
        )
    elif part == "timers":
        results.check(
            f"timers: p99 lateness < 1 s with {data['timers']:,} pending",
            bool(data["target_met"]),
            f"p99 {data['p99_ms']:,.0f} ms, max {data['max_ms']:,.0f} ms;"
            f" {data['late_over_1s']:,} over 1 s, {data['not_run']:,} not run",
        )
    elif part == "insights":
        for backend, d in data["databases"].items():
            if "error" in d:
                results.check(f"insights ({backend}): the benchmark ran", False, d["error"])
                continue
            for t in d["urls"]:
                results.check(
                    f"insights ({backend}): {t['url']} p95 < {t['target_ms']:g} ms",
                    bool(t["target_met"]),
                    t["error"]
                    or f"p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms, max {t['max_ms']} ms"
                    f" over {t['n']} requests",
                )
    elif part == "statuspage":
        for label, run in data["runs"].items():
            results.check(
                f"status page {label}: ≥ {data['ratio_target']}× the fixed-body app,"
                f" p99 < {data['p99_target_ms']:g} ms",
                bool(run["target_met"]),
                f"{run['rate']:,}/s vs {run['peer_rate']:,}/s = {run['ratio']}×,"
                f" p99 {run['p99_ms']} ms, {run['failed']} failed",
            )
    else:
        results.check(
            "alert to first notification: p99 < 1 s",
            bool(data["target_met"]),
            f"p99 {data['p99_ms']:,.0f} ms over {data['received']} pages"
            f" (max {data['max_ms']:,.0f} ms); {data['missing']} missing,"
            f" {data['refused']} triggers refused; background {data['load_rate']:,.0f} events/s",
        )


def resolve(explicit: str | None, names: list[str], what: str) -> str:
    for candidate in [explicit] if explicit else names:
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    raise BenchError(f"{what} not found" + (f" at {explicit}" if explicit else ""))


# --------------------------------------------------------------------------- report


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value == value else "n/a"


def outcome_text(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(outcomes.items())) or "none"


def wrk_row(name: str, w: WrkResult) -> str:
    return (
        f"| {name} | {w.ok_rate:,.0f} | {w.ok:,} | {w.failed:,} | {w.socket_errors:,}"
        f" | {ms(w.latency_ms('p50'))} | {ms(w.latency_ms('p90'))}"
        f" | {ms(w.latency_ms('p99'))} | {ms(w.latency_ms('max'))} |"
    )


def figures_row(name: str, f: dict[str, Any] | None) -> str:
    """A row like wrk_row's, from bench/paging.py's figures of a wrk run."""
    if not f:
        return f"| {name} | | | | | | | | |"
    return (
        f"| {name} | {f['rate']:,.0f} | {f['ok']:,} | {f['failed']:,} | {f['socket_errors']:,}"
        f" | {ms(f['p50_ms'])} | {ms(f['p90_ms'])} | {ms(f['p99_ms'])} | {ms(f['max_ms'])} |"
    )


WRK_HEADER = [
    "| Run | 2xx/s | 2xx | non-2xx | socket errors | p50 | p90 | p99 | max |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
]


def met(passed: bool) -> str:
    return "met" if passed else "**not met**"


def report(r: Results) -> str:
    a, info = r.args, r.info
    lines = [f"## Results of {info['date']}", ""]
    if a.note:
        lines += [a.note, ""]
    lines += [f"Note: {note}" for note in r.notes] + ([""] if r.notes else [])
    databases = [f"SQLite {sqlite3.sqlite_version}"]
    sqlite_run = r.comparisons.get("ingestion")
    if sqlite_run:
        databases = [sqlite_run.database]
    postgres_run = r.comparisons.get("postgres")
    pg_version = (
        postgres_run.database
        if postgres_run
        else r.parts.get("paging-postgres", {}).get("database")
    )
    insights_databases = r.parts.get("insights", {}).get("databases", {})
    if not pg_version and "postgres" in insights_databases:
        pg_version = insights_databases["postgres"]["database"]
    if pg_version:
        databases.append(f"{pg_version} (127.0.0.1, a scratch database per part)")
    lines += [
        "| | |",
        "|---|---|",
        f"| Tocsin commit | `{info['commit']}` |",
        f"| Machine | {info['cpu']}, {info['cpus']}, {info['ram']} |",
        f"| Load average at start | {info['load']} |",
        f"| OS | {info['os']} |",
        f"| Python | {info['python']} |",
        f"| Database | {'; '.join(databases)} |",
    ]
    if any(part in a.parts for part in NEEDS_ALERTMANAGER):
        servers = "`tocsin serve` as shipped, one process (its engine stores and applies the"
        servers += " events and runs the jobs; emails from its I/O threads)"
        if "postgres" in a.parts:
            servers += (
                f"; on PostgreSQL also `{server_label(a.postgres_processes)}`"
                f" (storm with paging: `{server_label(a.postgres_paging_processes)}`)"
            )
        lines += [
            f"| Alertmanager | {info['alertmanager']} |",
            f"| Load generator | {info['wrk']}: `-t{a.threads} -c{a.connections}"
            f" --latency`, keep-alive, the same for Tocsin and Alertmanager |",
            f"| Server | {servers}, TOCSIN_ENV=production |",
        ]
    taken = ", ".join(f"{part} {sec:.0f} s" for part, sec in r.part_seconds.items())
    lines += [
        f"| Whole run | {r.runtime_s:.0f} s{' (`--quick`)' if a.quick else ''}"
        + (f" ({taken})" if taken else "")
        + " |",
        "",
    ]
    if sqlite_run and sqlite_run.rounds:
        lines += comparison_report(
            r, sqlite_run, "Steady repeats on SQLite", [(sqlite_run.servers[0], a.ratio_target)]
        )
    if r.paced:
        p = r.paced
        achieved = p.ok_rate
        lines += [
            "### Latency at half of Tocsin's rate (paced, SQLite)",
            "",
            "| Target rate | Achieved | 2xx | non-2xx | p50 | p90 | p99 | p99.9 | max |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {r.paced_target:,.0f}/s | {achieved:,.0f}/s ({achieved / r.paced_target - 1:+.1%})"
            f" | {p.ok:,} | {p.failed:,} | {ms(p.latency_ms('p50'))} | {ms(p.latency_ms('p90'))}"
            f" | {ms(p.latency_ms('p99'))} | {ms(p.latency_ms('p999'))}"
            f" | {ms(p.latency_ms('max'))} |",
            "",
            f"Target: p99 under {a.p99_target_ms:g} ms"
            f" ({met(p.latency_ms('p99') < a.p99_target_ms and p.failed == 0)}).",
            "",
        ]
    if r.storm:
        w, c = r.storm, r.storm_counts
        took = w.budget_seconds
        settle = r.storm_settle_s
        lines += [
            f"### Storm: {a.storm_events:,} events across {a.storm_keys} dedup keys,"
            f" {a.storm_seconds} s window (SQLite, no paging)",
            "",
            "| | |",
            "|---|---|",
            f"| Accepted (2xx) | {w.ok:,} of {a.storm_events:,}"
            + (
                f" in {took:.1f} s ({w.ok / took:,.0f}/s)"
                if took
                else f", when the {a.storm_seconds} s limit stopped the load ({w.ok_rate:,.0f}/s)"
            )
            + " |",
            f"| Refused (non-2xx, retried) / socket errors | {w.failed:,} / {w.socket_errors:,} |",
            f"| Latency p50 / p99 / max | {ms(w.latency_ms('p50'))} / {ms(w.latency_ms('p99'))}"
            f" / {ms(w.latency_ms('max'))} |",
            f"| Stored | {c.get('events', 0):,} events, {c.get('alerts', 0):,} alerts,"
            f" {c.get('incidents_total', 0):,} incidents |",
            f"| Events by outcome | {outcome_text(r.storm_outcomes)} |",
            "| Processed after the load stopped | "
            + (f"{settle:.1f} s |" if settle is not None else f"not within {a.settle_timeout} s |"),
            "",
        ]
    if "paging" in r.parts:
        lines += paging_report(r.parts["paging"], "SQLite")
    if postgres_run and postgres_run.rounds:
        one, many = postgres_run.servers
        lines += comparison_report(
            r,
            postgres_run,
            "Steady repeats on PostgreSQL",
            [(one, a.postgres_ratio_target), (many, None)],
            speedup=(many, one),
        )
    if "paging-postgres" in r.parts:
        lines += paging_report(r.parts["paging-postgres"], "PostgreSQL")
    lines += part_reports(r)
    if r.checks:
        lines += ["### Checks", "", "| Check | Result | Measured |", "|---|---|---|"]
        for ch in r.checks:
            lines.append(f"| {ch.name} | {'PASS' if ch.passed else '**FAIL**'} | {ch.detail} |")
        lines.append("")
    if r.memory:
        lines += [
            "### Memory of the servers",
            "",
            "| Process | Peak (VmHWM) | At the end (VmRSS) |",
        ]
        lines.append("|---|--:|--:|")
        for name, mem in r.memory.items():
            lines.append(
                f"| {name} | {mem.get('VmHWM', 0) / 1024:,.0f} MB"
                f" | {mem.get('VmRSS', 0) / 1024:,.0f} MB |"
            )
        lines.append("")
    return "\n".join(lines)


def comparison_report(
    r: Results,
    c: Comparison,
    title: str,
    targets: list[tuple[str, float | None]],
    speedup: tuple[str, str] | None = None,
) -> list[str]:
    """A steady-repeats comparison: every run, then each server's ratio to Alertmanager (the
    median of the rounds' ratios) against its target."""
    a = r.args
    lines = [
        f"### {title}: Tocsin and Alertmanager in alternating rounds",
        "",
        f"Every run: wrk `-t{a.threads} -c{a.connections} -d{a.duration}s`, keep-alive,"
        f" {a.keys:,} distinct dedup keys (Alertmanager: alerts) whose alerts are open, so"
        " every Tocsin event is a repeat, stored and committed before its 202. Each round runs"
        " " + ", then ".join(f"`{s}`" for s in c.servers) + ", then Alertmanager, all kept up.",
        "",
    ]
    lines += WRK_HEADER
    if c.warmup:
        lines.append(
            wrk_row(
                f"Tocsin warm-up: first event of each key (limit {a.warmup_seconds} s)", c.warmup
            )
        )
    if c.am_warmup:
        lines.append(wrk_row("Alertmanager warm-up: first of each alert", c.am_warmup))
    for n in range(c.rounds):
        suffix = f" (round {n + 1})" if c.rounds > 1 else ""
        for label in c.servers:
            lines.append(
                wrk_row(f"**Tocsin** `{label}`, `POST /v2/enqueue`{suffix}", c.runs[label][n])
            )
        lines.append(
            wrk_row(
                f"**Alertmanager** `POST /api/v2/alerts`, in memory{suffix}",
                c.runs[ALERTMANAGER][n],
            )
        )
    lines.append("")
    for label, target in targets:
        ratio = c.ratio(label)
        ratios = c.ratios(label)
        text = f"**`{label}` / Alertmanager = {ratio:.3f}×**"
        if len(ratios) > 1:
            text += (
                f", the median of the {len(ratios)} rounds' ratios"
                f" ({', '.join(f'{x:.3f}×' for x in ratios)})"
            )
        if target is not None:
            text += f" (target ≥ {target}×: {met(ratio >= target and c.failed(label) == 0)})"
        lines.append(text + ".")
    if speedup:
        many, one = speedup
        ratios = c.ratios(many, over=one)
        lines.append(
            f"**`{many}` / `{one}` = {c.ratio(many, over=one):.3f}×**"
            + (f" (rounds: {', '.join(f'{x:.3f}×' for x in ratios)})" if len(ratios) > 1 else "")
            + f" (target: faster than one process, {met(c.ratio(many, over=one) > 1)})."
        )
    if c.warmup_settle_s is not None:
        lines.append(
            f"The warm-up's alerts, incidents and their jobs were done {c.warmup_settle_s:.1f} s"
            " after it ended."
        )
    for label in c.servers:
        left = c.pending_after.get(label, [])
        if any(left):
            lines.append(
                f"Events answered 2xx but not yet applied right after each `{label}` run:"
                f" {', '.join(f'{n:,}' for n in left)}."
            )
        elif left:
            lines.append(f"Right after each `{label}` run, every event answered 2xx was applied.")
    if any(n for left in c.pending_after.values() for n in left):
        lines.append(
            f"After the last round everything was applied {c.drained_s:.1f} s later."
            if c.drained_s is not None
            else f"After the last round, events were still pending {a.settle_timeout} s later."
        )
    lines += [
        "Tocsin's events of the measured runs (with those in flight at their end), by outcome"
        " once applied:"
        f" {outcome_text(c.outcomes)}.",
        "",
    ]
    return lines


def paging_report(d: dict[str, Any], where: str) -> list[str]:
    """The section of one bench/paging.py run."""
    storm, alertmanager = d["storm"], d["alertmanager"]
    target = d.get("ratio_target") or 0
    rate_verdict = (
        f" (target ≥ {target}×: {met(d['ratio'] >= target)})"
        if target
        else " (no target on PostgreSQL: reported)"
    )
    lines = [
        f"### Storm with paging ({where}): {d['alerts']:,} new alerts while repeats flood in",
        "",
        f"`{d['server']}` as shipped on {d['database']}. {d['services']} services, each with an"
        " escalation policy whose one level is the schedule of the person on call, who has one"
        " immediate email rule; the SMTP server is aiosmtpd in the bench process, on loopback."
        f" Before the storm a warm-up opened {d['warmup_opened']:,} alerts (one per dedup key,"
        f" spread over the services), which paged {d['warmup_pages']:,} times; the run went on"
        f" once all that was done ({d['warmup_settle_seconds']:.1f} s). The storm: wrk flat out"
        f" (`-t{d['threads']} -c{d['connections']} -d{d['window_seconds']}s`) with repeats of"
        f" those open alerts, while a separate client sent {d['alerts']:,} triggers for new dedup"
        f" keys, spread over the {d['services']} services, due at {d['rate']:g}/s from"
        f" {d['ramp_seconds']:g} s into the flood ({d['senders']} keep-alive connections),"
        " each with a token in its summary that becomes the email's subject. Alertmanager took"
        " the same repeat load with the same wrk settings right after.",
        "",
    ]
    lines += WRK_HEADER
    lines += [
        figures_row("Tocsin warm-up: open the repeat alerts", d["warmup"]),
        figures_row("Alertmanager warm-up", d["am_warmup"]),
        figures_row("**Tocsin** storm: repeats of open alerts (wrk)", storm),
        figures_row("**Alertmanager**: the same repeat load", alertmanager),
        "",
        f"**Accepted during the storm: {d['storm_rate']:,.0f} events/s** ({storm['ok']:,} repeats"
        f" and {d['new_in_window']:,} new alerts in {storm['seconds']:.1f} s) against"
        f" Alertmanager's {d['alertmanager_rate']:,.0f}/s: **{d['ratio']:.3f}×**{rate_verdict}.",
        "",
        "| New alerts accepted | at | refusals sent again | their 202: p50 / p99 | emails"
        " | missing | duplicates | p50 | p90 | p99 | max |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {d['new_accepted']:,} of {d['alerts']:,} | {d['new_achieved_rate']:,.0f}/s"
        f" | {d['new_retries']:,} | {d['new_answer_p50_ms']:,.0f} ms /"
        f" {d['new_answer_p99_ms']:,.0f} ms | {d['pages_received']:,} | {d['pages_missing']:,}"
        f" | {d['pages_duplicates']:,} | {d['p50_ms']:,.0f} ms | {d['p90_ms']:,.0f} ms"
        f" | **{d['p99_ms']:,.0f} ms** | {(d['max_ms'] or 0):,.0f} ms |",
        "",
        f"From each new alert's 202 to the SMTP server holding its email (target: p99 under"
        f" {d['p99_target_ms'] / 1000:g} s, each incident paged exactly once). Where the time"
        " goes (database timestamps of each incident; the last stage ends at the SMTP"
        " server's clock, the same machine):",
        "",
        "| Stage | p50 | p99 | max |",
        "|---|--:|--:|--:|",
    ]
    for name, f in d["stages"].items():
        if f["n"]:
            lines.append(
                f"| {name} | {f['p50_ms']:,.0f} ms | {f['p99_ms']:,.0f} ms"
                f" | {f['max_ms']:,.0f} ms |"
            )
    counts = d["counts"]
    settle = d["settle_seconds"]
    jobs = ", ".join(f"{state} {n:,}" for state, n in sorted(d["jobs_by_state"].items()))
    lines += [
        "",
        "| | |",
        "|---|---|",
        f"| Stored during the storm | {counts['storm_events']:,} events for"
        f" {storm['ok'] + d['new_accepted']:,} accepted; {counts['new_alerts']:,} new alerts,"
        f" {counts['new_incidents']:,} new incidents |",
        f"| Other emails during the storm | {d['pages_other']:,} |",
        f"| At the end | {d['end_pending_events']:,} events pending, {d['end_jobs_due']:,} jobs"
        " due or running"
        + (f" (all done {settle:.1f} s after the flood stopped)" if settle is not None else "")
        + f"; jobs by state: {jobs} |",
        f"| Server memory | peak {d['server_peak_mb']:,} MB,"
        f" at the end {d['server_end_mb']:,} MB |",
        "",
    ]
    return lines


def part_reports(r: Results) -> list[str]:
    """The sections of bench/oncall.py, timers.py, notify.py and statuspage.py."""
    lines: list[str] = []
    oncall = r.parts.get("oncall")
    if oncall:
        lines += [
            f"### Who is on call now: {oncall['schedules']:,} schedules at once",
            "",
            f"`on_call_many` for {oncall['schedules']:,} schedules of"
            f" {oncall['layers_per_schedule']} layers (a year of history) and"
            f" {oncall['overrides']} overrides, {oncall['database']}, each call in a fresh"
            f" session at a different time; {oncall['schedules_with_someone_on_call']:,}"
            f" schedules had someone on call. Target: under {oncall['target_ms']} ms.",
            "",
            "| | Calls | median | p95 | max |",
            "|---|--:|--:|--:|--:|",
            f"| **As the server runs** (after `gc.freeze()`) | {oncall['runs']}"
            f" | {oncall['frozen_median_ms']} ms | {oncall['frozen_p95_ms']} ms"
            f" | {oncall['frozen_max_ms']} ms |",
            f"| Warm process, collector not frozen | {oncall['runs']} | {oncall['median_ms']} ms"
            f" | {oncall['p95_ms']} ms | {oncall['max_ms']} ms |",
            f"| First call in a fresh process | 1 | {oncall['first_call_ms']} ms | | |",
            "",
        ]
    timers = r.parts.get("timers")
    if timers:
        load = (
            f", {timers['ingest_rate']:g} events/s of ingestion meanwhile"
            f" ({timers['ingest_accepted']:,} accepted)"
            if timers["ingest_rate"]
            else ", no other load"
        )
        runner = (
            f"{timers['workers']} `tocsin worker` process(es) × {timers['concurrency']}"
            if timers["workers"]
            else "the engine of `tocsin serve`"
        )
        lines += [
            f"### Escalation timers: {timers['timers']:,} pending",
            "",
            f"{timers['timers']:,} `jobs.probe` jobs queued at once, due evenly over"
            f" {timers['spread_seconds']:g} s, run by {runner} on {timers['backend']}{load}."
            " Lateness = when the handler started − `run_at`. Target: p99 under 1 s.",
            "",
            "| Ran | Not run | p50 | p90 | p99 | max | over 1 s |",
            "|--:|--:|--:|--:|--:|--:|--:|",
            f"| {timers['ran']:,} | {timers['not_run']:,} | {timers['p50_ms']:,.0f} ms"
            f" | {timers['p90_ms']:,.0f} ms | **{timers['p99_ms']:,.0f} ms**"
            f" | {timers['max_ms']:,.0f} ms | {timers['late_over_1s']:,} |",
            "",
        ]
    page = r.parts.get("notify")
    if page:
        lines += [
            "### Alert to first notification",
            "",
            f"{page['accepted']} PagerDuty triggers for new dedup keys, one every"
            f" {page['interval_seconds']:g} s, each opening an incident that pages the person"
            " on call by email (one immediate rule); measured from the 202 answer to the SMTP"
            " server (aiosmtpd, loopback) holding the message. Jobs run by the engine of"
            " `tocsin serve`, SQLite."
            f" Background: {page['load_rate']:,.0f} events/s (target {page['load_target_rate']:g})"
            f" of repeats over {page['load_keys']} open alerts, {page['load_accepted']:,}"
            f" accepted, {page['load_non_2xx']} non-2xx, their p99 {page['load_p99_ms']:,.0f} ms."
            " Target: p99 under 1 s.",
            "",
            "| Pages | missing | duplicates | p50 | p90 | p99 | max |",
            "|--:|--:|--:|--:|--:|--:|--:|",
            f"| {page['received']} of {page['accepted']} | {page['missing']}"
            f" | {page['duplicates']} | {page['p50_ms']:,.0f} ms | {page['p90_ms']:,.0f} ms"
            f" | **{page['p99_ms']:,.0f} ms** | {page['max_ms']:,.0f} ms |",
            "",
            "Where the time goes (database timestamps of each incident; the last stage ends at"
            " the SMTP server's clock, the same machine):",
            "",
            "| Stage | p50 | p99 | max |",
            "|---|--:|--:|--:|",
        ]
        for name, f in page["stages"].items():
            if f["n"]:
                lines.append(
                    f"| {name} | {f['p50_ms']:,.0f} ms | {f['p99_ms']:,.0f} ms"
                    f" | {f['max_ms']:,.0f} ms |"
                )
        lines.append("")
    status = r.parts.get("statuspage")
    if status:
        lines += [
            "### The public status page",
            "",
            "A public page of 5 components in 2 groups with an unresolved incident, served by"
            " one `tocsin serve` process from its in-memory render, against"
            " `bench/fixed_app.py` (a raw ASGI app answering every request with the same bytes"
            " Tocsin served for that path) under the same uvicorn, one process; same wrk"
            f" (`-t{r.args.threads} -c{r.args.connections}`, GET). Each path: three rounds of"
            " one run against each, back to back, the order alternating; the table shows the"
            " round with the median ratio (all three ratios in brackets) and the worst p99 of"
            " the three, for each (the fixed-body app's p99 shows what the machine allowed)."
            f" The last two paths ran while wrk sent {status['ingest_rate']:g} PagerDuty events/s"
            f" to Tocsin ({status['ingest_achieved_rate']:,}/s achieved,"
            f" {status['ingest_failed']} failed), measured from the moment the load's first"
            f" event of each of its {status.get('ingest_keys', 200)} keys had been applied"
            f" ({status.get('first_pass_seconds', '?')} s after it started: each opened an alert"
            " and declared an incident, a burst the ingestion storm measures; then steady"
            " ingestion, repeats of open alerts, each committed before its 202)."
            f" Target: at least {status['ratio_target']}× the"
            f" fixed-body app, p99 under {status['p99_target_ms']:g} ms.",
            "",
            "| Path | Bytes | Fixed-body app | Tocsin | Ratio | Tocsin p50 | Tocsin p99"
            " | Fixed-body app p99 | Target |",
            "|---|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for label, run in status["runs"].items():
            lines.append(
                f"| {label} | {run['bytes']:,} | {run['peer_rate']:,}/s | {run['rate']:,}/s"
                f" | **{run['ratio']}×** ({', '.join(str(x) for x in run.get('ratios', []))})"
                f" | {run['p50_ms']} ms | **{run['p99_ms']} ms** | {run.get('peer_p99_ms', '–')} ms"
                f" | {'met' if run['target_met'] else 'missed'} |"
            )
        lines.append("")
    insights = r.parts.get("insights")
    if insights:
        lines += insights_report(insights)
    return lines


def insights_report(d: dict[str, Any]) -> list[str]:
    """The section of bench/insights.py: the history, then each URL's times per database."""
    sizes, names = d["sizes"], {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    # A database whose run failed is a failed check (check_part), not a column here.
    databases = {b: v for b, v in d["databases"].items() if "error" not in v}
    lines = [
        f"### The Insights pages on a long history ({d['scale']} scale)",
        "",
        f"A history of the last two years, generated with a fixed seed ({d['seed']}) into a fresh"
        f" database of each kind (`tocsin db upgrade`, then bulk inserts): {sizes['people']:,}"
        f" people in {sizes['teams']} teams, {sizes['services']} services,"
        f" {sizes['incidents']:,} incidents, {sizes['alerts']:,} alerts and {sizes['events']:,}"
        " suppressed or held events, with their pages, postmortems and action items. Then"
        " `tocsin serve` as shipped, an admin logged in through the form, and each URL"
        f" requested {d['warmup']} times untimed (warm) and {d['runs']} times timed, one at a"
        " time; the time is until the whole body was read. `{team}` is the team with most"
        " incidents. Targets: p95 under"
        f" {d['all_teams_target_ms']:g} ms for all teams, under {d['one_team_target_ms']:g} ms"
        " filtered by one team.",
        "",
        d.get("method", ""),
        "",
        "| | " + " | ".join(names.get(b, b) for b in databases) + " |",
        "|---|" + "--:|" * len(databases),
        "| Database | " + " | ".join(v["database"] for v in databases.values()) + " |",
        "| Generation | "
        + " | ".join(f"{v['generation_seconds']:,.0f} s" for v in databases.values())
        + " |",
        "| Busiest team | "
        + " | ".join(f"{v['busiest_team']} (id {v['busiest_team_id']})" for v in databases.values())
        + " |",
    ]
    tables = list(next(iter(databases.values()))["counts"]) if databases else []
    for table in tables:
        lines.append(
            f"| `{table}` rows | "
            + " | ".join(f"{v['counts'].get(table, 0):,}" for v in databases.values())
            + " |"
        )
    lines += [
        "",
        "| URL | Target p95 | "
        + " | ".join(f"{names.get(b, b)} p50 | {names.get(b, b)} p95" for b in databases)
        + " |",
        "|---|--:|" + "--:|--:|" * len(databases),
    ]
    urls = list(next(iter(databases.values()))["urls"]) if databases else []
    for n, first in enumerate(urls):
        cells = []
        for v in databases.values():
            t = v["urls"][n] if n < len(v["urls"]) else None
            if t is None or t["error"]:
                cells += [f"**{t['error'] if t else 'not run'}**", ""]
            else:
                verdict = "" if t["target_met"] else " (**not met**)"
                cells += [f"{t['p50_ms']:,.0f} ms", f"**{t['p95_ms']:,.0f} ms**{verdict}"]
        lines.append(
            f"| `{first['url']}` | {first['target_ms']:,.0f} ms | " + " | ".join(cells) + " |"
        )
    lines.append("")
    return lines


def write_doc(path: Path, text: str) -> None:
    current = path.read_text() if path.exists() else "# Benchmarks\n\n"
    head = current.split(MARKER, 1)[0].rstrip("\n")
    path.write_text(f"{head}\n\n{MARKER}\n\n{text.rstrip()}\n")
    log(f"wrote the results into {path}")


# --------------------------------------------------------------------------- main

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres:tocsin-ci@127.0.0.1:5432/postgres"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tocsin's benchmarks (docs/benchmarks.md). Loopback only.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run of every part")
    parser.add_argument("--write", action="store_true", help="put the results in the doc")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"default {DOC.relative_to(ROOT)}")
    parser.add_argument("--note", default="", help="a sentence to put above the results")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10)")
    parser.add_argument(
        "--keys", type=int, help="distinct dedup keys of the steady repeats (1000; --quick 200)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="alternating Tocsin/Alertmanager rounds of flat-out runs (default 5; --quick 1)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        help="time limit of the warm-up that sends one event per key (default 60; 0: none)",
    )
    parser.add_argument(
        "--latency-rate", type=float, help="paced rate (default: half Tocsin's measured rate)"
    )
    parser.add_argument("--storm-events", type=int, help="default 100000")
    parser.add_argument("--storm-keys", type=int, default=500, help="default 500")
    parser.add_argument("--storm-seconds", type=int, help="the storm's window (default 60)")
    parser.add_argument("--skip-storm", action="store_true", help="no 100k storm")
    parser.add_argument(
        "--settle-timeout", type=int, default=120, help="seconds to wait for pending work"
    )
    parser.add_argument("--ratio-target", type=float, default=0.3, help="SQLite steady repeats")
    parser.add_argument("--p99-target-ms", type=float, default=20.0)
    parser.add_argument("--memory-limit-mb", type=int, default=300)
    parser.add_argument(
        "--paging-alerts", type=int, help="new alerts of the storm with paging (1000)"
    )
    parser.add_argument(
        "--paging-rate", type=float, default=100.0, help="their arrival rate per second (100)"
    )
    parser.add_argument("--paging-services", type=int, default=10, help="services (10)")
    parser.add_argument(
        "--paging-keys", type=int, help="open alerts whose repeats flood meanwhile (1000)"
    )
    parser.add_argument("--paging-ratio-target", type=float, default=0.25)
    parser.add_argument("--paging-p99-target-s", type=float, default=2.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TOCSIN_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL server on loopback; each part makes a scratch database on it and"
        " drops it (default: TOCSIN_BENCH_POSTGRES_URL, else the local server)",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL part")
    parser.add_argument("--postgres-ratio-target", type=float, default=0.15)
    parser.add_argument(
        "--postgres-processes",
        type=int,
        default=2,
        help="tocsin serve --workers N compared with one process on PostgreSQL (2)",
    )
    parser.add_argument(
        "--postgres-paging-processes",
        type=int,
        default=2,
        help="tocsin serve --workers N of the storm with paging on PostgreSQL (2)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, run in this order: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--timers-ingest-rate",
        type=float,
        default=0.0,
        help="events/s of background ingestion during the timer benchmark (default 0)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--wrk", help="wrk binary (default: wrk on PATH)")
    parser.add_argument("--alertmanager", help="Alertmanager binary (default: on PATH)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    args.parts = [p for p in PARTS if p in parts and not (p == "postgres" and args.skip_postgres)]
    if not args.parts:
        parser.error("nothing to run")
    if not 1 <= args.threads <= args.connections:
        parser.error("wrk needs 1 <= --threads <= --connections")
    quick = args.quick
    if args.duration is None:
        args.duration = 3 if quick else 10
    if args.keys is None:
        args.keys = 200 if quick else 1000
    if args.warmup_seconds is None:
        args.warmup_seconds = 20 if quick else 60
    if args.rounds is None:
        args.rounds = 1 if quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.storm_events is None:
        args.storm_events = 5_000 if quick else 100_000
    if args.storm_seconds is None:
        args.storm_seconds = 30 if quick else 60
    if args.postgres_processes < 2 or args.postgres_paging_processes < 1:
        parser.error(
            "--postgres-processes must be 2 or more, --postgres-paging-processes 1 or more"
        )
    if not args.postgres_url.startswith("postgresql"):
        parser.error("--postgres-url: a postgresql:// or postgresql+psycopg:// URL")
    if not on_loopback(args.postgres_url):
        parser.error("--postgres-url: only a database server on this machine (loopback)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        results = run(args)
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("interrupted; every process started has been stopped")
        return 130
    text = report(results)
    print(text)
    if args.write:
        write_doc(args.doc, text)
    failed = [c.name for c in results.checks if not c.passed]
    log(f"done in {results.runtime_s:.0f} s; {len(failed)} check(s) failed")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
