#!/usr/bin/env python3
"""Tocsin's benchmarks: `make bench` (see docs/benchmarks.md).

`--parts` chooses among: ingestion (below, in this file), then four scripts of their own run
with --json: bench/oncall.py (who is on call now for 1,000 schedules), bench/timers.py
(lateness of 10,000 escalation timers), bench/notify.py (alert to first notification) and
bench/statuspage.py (the public status page against a fixed-body raw ASGI app). The report of
all of them goes below the marker in docs/benchmarks.md with --write.

The ingestion part:

Everything happens in a temporary directory, against loopback addresses only, with every load
bounded in count and time; every process started here is stopped on the way out, whatever
happens. The phases, in one run:

1. Tocsin (`tocsin serve --no-worker` on a fresh SQLite database, or --database-url) takes
   PagerDuty Events v2 trigger events on POST /v2/enqueue over keep-alive connections, and
   Alertmanager 0.25 the same load of distinct alerts on its own POST /api/v2/alerts: each
   first gets a warm-up with one event per dedup key (1,000 keys), then wrk runs flat out
   against Tocsin, then against Alertmanager, in --rounds alternating pairs (default 5). Only
   2xx responses count. Each pair gives a ratio of the two rates; the median ratio is the
   headline number (the machines are shared and their speed drifts over minutes; two runs
   seconds apart see the same machine). Every round's rates and latencies are reported.
2. Tocsin again, paced at half its (median) rate: latency percentiles at that rate.
3. A storm on a fresh Tocsin process: 100,000 trigger events across 500 dedup keys within one
   minute, then checks through the database (alerts, events, incidents) and the server's peak
   resident memory.

It needs wrk and Alertmanager (Debian: `apt-get install wrk prometheus-alertmanager`) and the
Python environment Tocsin runs in (stdlib and SQLAlchemy; Tocsin's models for the checks).
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

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        name = next((n for n, p in self.running if p is proc), str(proc.pid))
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=15)
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
    """proc_status summed over a process and its children (tocsin serve and its event writer
    process on SQLite): the peaks of each, added, so at least the peak of the whole."""
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

    def __init__(
        self,
        procs: Processes,
        work: Path,
        database_url: str,
        with_worker: bool,
        web_processes: int = 1,
    ):
        self.procs, self.work, self.database_url = procs, work, database_url
        self.with_worker = with_worker
        self.web_processes = web_processes
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

    def prepare(self) -> dict[str, tuple[int, str]]:
        """Migrate, create one service per phase and a PagerDuty integration for each."""
        self.cli("db", "upgrade")
        config = self.work / "tocsin-bench.yaml"
        services = {"throughput": "Bench throughput", "storm": "Bench storm"}
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

    def serve(self, port: int) -> subprocess.Popen[bytes]:
        self.servers += 1
        log_path = self.work / f"tocsin-serve-{self.servers}.log"
        argv = [sys.executable, "-c", TOCSIN_CLI, "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(port)]
        if not self.with_worker:
            argv.append("--no-worker")
        if self.web_processes > 1:
            argv += ["--workers", str(self.web_processes)]
        proc = self.procs.start("tocsin serve", argv, env=self.env, log_path=log_path)
        self.log_paths[proc.pid] = log_path
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc, log_path, timeout=60)
        return proc

    def settle(self, results: Results, proc: subprocess.Popen[bytes], port: int) -> None:
        """Before a measured run: wait (bounded) until the server answers again, since wrk
        leaves requests in flight when its time is up. A long wait is reported."""
        started = time.monotonic()
        wait_http_ok(
            f"http://127.0.0.1:{port}/healthz", proc, self.log_paths[proc.pid], timeout=120
        )
        waited = time.monotonic() - started
        if waited > 2:
            results.notes.append(
                f"The server took {waited:.0f} s to answer /healthz again after a wrk run."
            )
            log(f"warning: the server took {waited:.1f} s to answer /healthz again")


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


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Results:
    args: argparse.Namespace
    info: dict[str, str] = field(default_factory=dict)
    database: str = ""
    tocsin_warmup: WrkResult | None = None
    tocsin_rounds: list[WrkResult] = field(default_factory=list)
    tocsin_outcomes: dict[str, int] = field(default_factory=dict)
    am_warmup: WrkResult | None = None
    am_rounds: list[WrkResult] = field(default_factory=list)
    paced: WrkResult | None = None
    paced_target: float = 0.0
    storm: WrkResult | None = None
    storm_counts: dict[str, int] = field(default_factory=dict)
    storm_outcomes: dict[str, int] = field(default_factory=dict)
    storm_settle_s: float | None = None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    # The other parts (bench/oncall.py, timers.py, notify.py, statuspage.py): their --json.
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    part_seconds: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0

    @property
    def round_ratios(self) -> list[float]:
        """Tocsin's rate over Alertmanager's, for each pair of runs."""
        return [
            t.ok_rate / a.ok_rate if a.ok_rate else 0.0
            for t, a in zip(self.tocsin_rounds, self.am_rounds, strict=True)
        ]

    @property
    def ratio(self) -> float:
        """The headline number: the median of the rounds' ratios."""
        return statistics.median(self.round_ratios) if self.round_ratios else 0.0

    @property
    def tocsin_rate(self) -> float:
        return statistics.median(w.ok_rate for w in self.tocsin_rounds)

    @property
    def am_rate(self) -> float:
        return statistics.median(w.ok_rate for w in self.am_rounds)

    def check(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(name, passed, detail))
        log(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")


def run(args: argparse.Namespace) -> Results:
    """Every part chosen with --parts, one after the other, in one report."""
    results = Results(args)
    wrk_bin = resolve(args.wrk, ["wrk"], "wrk (apt-get install wrk)")
    am_bin = None
    if "ingestion" in args.parts:
        am_bin = resolve(
            args.alertmanager,
            ["prometheus-alertmanager", "alertmanager"],
            "Alertmanager 0.25 (apt-get install prometheus-alertmanager)",
        )
    results.info = machine_info(wrk_bin, am_bin)
    if am_bin and "0.25" not in results.info["alertmanager"]:
        log(f"warning: the issue compares against Alertmanager 0.25; this is: {am_bin}")
    started = time.monotonic()
    try:
        if "ingestion" in args.parts:
            ingestion(args, results, wrk_bin, am_bin or "")
        for part in PARTS[1:]:
            if part in args.parts:
                run_part(args, results, part, wrk_bin)
    finally:
        results.runtime_s = time.monotonic() - started
    return results


# --------------------------------------------------------------------------- the other parts

# In the order they run. Each part after ingestion is a script of its own printing --json.
PARTS = ("ingestion", "oncall", "timers", "notify", "statuspage")
PART_TITLES = {
    "oncall": "who is on call now",
    "timers": "escalation timers",
    "notify": "alert to first notification",
    "statuspage": "the public status page",
}


def part_argv(args: argparse.Namespace, part: str, wrk_bin: str) -> tuple[list[str], int]:
    """The script's command line and its time limit in seconds."""
    quick = args.quick
    if part == "oncall":
        return [str(BENCH_DIR / "oncall.py"), "--json", "--runs", "10" if quick else "30"], 300
    if part == "timers":
        argv = [str(BENCH_DIR / "timers.py"), "--json"]
        if quick:
            argv += ["--timers", "2000", "--spread", "15", "--lead", "3"]
        if args.timers_ingest_rate:
            argv += ["--ingest-rate", f"{args.timers_ingest_rate:g}"]
        return argv, 420
    if part == "statuspage":
        argv = [str(BENCH_DIR / "statuspage.py"), "--json", "--wrk", wrk_bin]
        argv += ["--duration", "2" if quick else "6", "--rounds", "3"]
        argv += ["--threads", str(args.threads), "--connections", str(args.connections)]
        return argv, 420
    argv = [str(BENCH_DIR / "notify.py"), "--json", "--wrk", wrk_bin]
    if quick:
        argv.append("--quick")
    if args.notify_workers:
        argv += ["--workers", str(args.notify_workers)]
    return argv, 480


def run_part(args: argparse.Namespace, results: Results, part: str, wrk_bin: str) -> None:
    """Run one part's script (bounded in time; its progress goes to stderr) and check its
    figures. A part that cannot run is a failed check, and the other parts still run."""
    argv, limit = part_argv(args, part, wrk_bin)
    title = PART_TITLES[part]
    log(f"{title}: {' '.join(Path(a).name if a.endswith('.py') else a for a in argv)}")
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
        procs.running.append((f"bench/{part}.py", proc))
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            procs.stop(proc)
            raise BenchError(f"bench/{part}.py did not finish within {limit} s") from None
        if proc.returncode != 0:
            raise BenchError(f"bench/{part}.py exited with {proc.returncode}")
        data = json.loads(out_path.read_text())
    except (BenchError, ValueError) as exc:
        results.notes.append(f"The {title} benchmark could not run: {exc}.")
        results.check(f"{title}: the benchmark ran", False, str(exc))
        return
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
        results.part_seconds[part] = time.monotonic() - started
    results.parts[part] = data
    if part == "oncall":
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


def ingestion(args: argparse.Namespace, results: Results, wrk_bin: str, am_bin: str) -> None:
    """Tocsin against Alertmanager, the paced latency run and the storm."""
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'tocsin.db'}"
    db: Database | None = None
    try:
        log(f"working in {work}")
        wrk = Wrk(wrk_bin, procs, work, args)
        tocsin = Tocsin(procs, work, database_url, args.with_worker, args.web_processes)
        integrations = tocsin.prepare()
        db = Database(database_url)
        results.database = db.version()

        # 1. Tocsin flat out, after a warm-up that sends the first event of every key (each
        # creates an alert and an incident) so the measured run is the steady state.
        port = free_port()
        server = tocsin.serve(port)
        tocsin_url = f"http://127.0.0.1:{port}"
        integration_id, key = integrations["throughput"]
        pd_env = {"TOCSIN_ROUTING_KEY": key, "BENCH_KEYS": str(args.keys)}
        if args.warmup_seconds:
            results.tocsin_warmup = wrk.run(
                "Tocsin warm-up",
                tocsin_url,
                "pd_trigger.lua",
                duration=args.warmup_seconds,
                env=pd_env,
                budget=args.keys,
            )
            tocsin.settle(results, server, port)
            # The warm-up's events are answered at once and applied after: let the server
            # finish creating those alerts and incidents so the measured run is the steady
            # state (repeats of open alerts), not the tail of the warm-up.
            drain_start = time.monotonic()
            while db.pending_total() and time.monotonic() - drain_start < args.settle_timeout:
                time.sleep(0.2)
            results.notes.append(
                f"The warm-up's alerts and incidents were applied "
                f"{time.monotonic() - drain_start:.1f} s after it ended."
            )
        # 2. Alertmanager, started now and kept running beside Tocsin (both idle between runs).
        am_port = free_port()
        am_url = f"http://127.0.0.1:{am_port}"
        (work / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
        am_log = work / "alertmanager.log"
        am = procs.start(
            "alertmanager",
            [
                am_bin,
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            env=dict(os.environ),
            log_path=am_log,
        )
        wait_http_ok(f"{am_url}/-/ready", am, am_log, timeout=60)
        am_env = {"BENCH_KEYS": str(args.keys)}
        if args.warmup_seconds:
            results.am_warmup = wrk.run(
                "Alertmanager warm-up",
                am_url,
                "am_alerts.lua",
                duration=args.warmup_seconds,
                env=am_env,
                budget=args.keys,
            )

        # Flat out, in alternating rounds: Tocsin then Alertmanager, --rounds times. The
        # machines are shared and their speed drifts over minutes; a pair of runs seconds apart
        # sees the same machine, so each round gives a ratio and the median ratio is the result.
        before = db.outcomes(integration_id)
        for n in range(1, args.rounds + 1):
            suffix = f" (round {n})" if args.rounds > 1 else ""
            if n > 1:
                tocsin.settle(results, server, port)
            results.tocsin_rounds.append(
                wrk.run(
                    "Tocsin" + suffix,
                    tocsin_url,
                    "pd_trigger.lua",
                    duration=args.duration,
                    env=pd_env,
                )
            )
            results.am_rounds.append(
                wrk.run(
                    "Alertmanager" + suffix,
                    am_url,
                    "am_alerts.lua",
                    duration=args.duration,
                    env=am_env,
                )
            )
        results.memory["alertmanager"] = proc_status(am.pid)
        procs.stop(am)
        # Read after Alertmanager's last run: Tocsin has finished what was in flight by now.
        after = db.outcomes(integration_id)
        results.tocsin_outcomes = {
            name: n - before.get(name, 0) for name, n in after.items() if n - before.get(name, 0)
        }

        ratio = results.ratio
        failed = sum(w.failed for w in results.tocsin_rounds)
        tocsin_rate = results.tocsin_rate
        results.check(
            f"throughput ≥ {args.ratio_target}× Alertmanager",
            ratio >= args.ratio_target and failed == 0,
            (
                f"Tocsin {tocsin_rate:,.0f}/s vs Alertmanager {results.am_rate:,.0f}/s (medians),"
                f" ratios by round {', '.join(f'{x:.3f}' for x in results.round_ratios)}:"
                f" median {ratio:.3f}×"
                if args.rounds > 1
                else f"Tocsin {tocsin_rate:,.0f}/s vs Alertmanager {results.am_rate:,.0f}/s"
                f" = {ratio:.3f}×"
            )
            + (f"; {failed:,} non-2xx" if failed else ""),
        )

        # 3. Tocsin paced at half its own (median) rate.
        target = args.latency_rate or max(tocsin_rate / 2, 1.0)
        results.paced_target = target
        tocsin.settle(results, server, port)
        results.paced = wrk.run(
            "Tocsin paced",
            tocsin_url,
            "pd_trigger.lua",
            duration=args.duration,
            env=pd_env,
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
        results.memory["tocsin serve + event writer (phases 1-2)"] = tree_status(server.pid)
        procs.stop(server)

        # 4. The storm, on a fresh server process so its peak memory is the storm's own.
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
    # Events the earlier phases left pending are applied by this server first; let it finish
    # (bounded), so that the storm's counts and its incidents are its own.
    drain_start = time.monotonic()
    while db.pending_total() and time.monotonic() - drain_start < args.settle_timeout:
        time.sleep(0.5)
    log(f"earlier phases' backlog applied in {time.monotonic() - drain_start:.1f} s")
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
    results.memory["tocsin serve + event writer (storm)"] = memory
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
        f"{n:,} events accepted within {args.storm_seconds} s",
        sent.ok == n and elapsed is not None and elapsed <= args.storm_seconds,
        f"{sent.ok:,} accepted (2xx)"
        + (f" in {elapsed:.1f} s ({sent.ok / elapsed:,.0f}/s)" if elapsed else "")
        + (f" before the {args.storm_seconds} s limit" if elapsed is None else "")
        + f"; {sent.failed:,} non-2xx (retried), {sent.socket_errors:,} socket errors",
    )
    settle = results.storm_settle_s
    results.check(
        "no event pending",
        counts["pending"] == 0,
        f"{counts['pending']:,} pending"
        + (
            f"; all processed {settle:.1f} s after the load stopped"
            if settle is not None
            else f" after waiting {args.settle_timeout} s"
        ),
    )
    results.check(
        "no event lost",
        counts["events"] >= sent.ok and counts["alert_events"] == counts["events"],
        f"{counts['events']:,} events stored and {counts['alert_events']:,} counted on the"
        f" alerts, for {sent.ok:,} accepted",
    )
    in_flight = counts["events"] - sent.ok
    results.check(
        f"exactly {n:,} events stored",
        counts["events"] == n,
        f"{counts['events']:,} events stored for the storm's integration"
        + (
            f" ({in_flight:,} more than accepted: in flight when the time limit stopped the load)"
            if in_flight > 0 and elapsed is None
            else ""
        ),
    )
    results.check(
        f"exactly {keys} alerts",
        counts["alerts"] == keys,
        f"{counts['alerts']:,} alerts for {keys} dedup keys",
    )
    results.check(
        f"{keys} incidents (default grouping: one per dedup key)",
        counts["incidents_total"] == keys
        and counts["alert_incidents"] == keys
        and counts["alerts_without_incident"] == 0,
        f"{counts['incidents_total']:,} incidents declared, {counts['alert_incidents']:,}"
        f" linked from the alerts, {counts['alerts_without_incident']:,} alerts without one",
    )
    peak_mb = memory.get("VmHWM", 0) / 1024
    results.check(
        f"peak resident memory < {args.memory_limit_mb} MB",
        0 < peak_mb < args.memory_limit_mb,
        f"VmHWM {peak_mb:,.0f} MB, web and event writer processes"
        f" (VmRSS at the end {memory.get('VmRSS', 0) / 1024:,.0f} MB)",
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


WRK_HEADER = [
    "| Run | 2xx/s | 2xx | non-2xx | socket errors | p50 | p90 | p99 | max |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
]


def report(r: Results) -> str:
    a, info = r.args, r.info
    lines = [f"## Results of {info['date']}", ""]
    if a.note:
        lines += [a.note, ""]
    lines += [f"Note: {note}" for note in r.notes] + ([""] if r.notes else [])
    lines += [
        "| | |",
        "|---|---|",
        f"| Tocsin commit | `{info['commit']}` |",
        f"| Machine | {info['cpu']}, {info['cpus']}, {info['ram']} |",
        f"| Load average at start | {info['load']} |",
        f"| OS | {info['os']} |",
        f"| Python | {info['python']} |",
        f"| Database | {r.database or f'SQLite {sqlite3.sqlite_version}'} |",
    ]
    if "ingestion" in a.parts:
        lines += [
            f"| Alertmanager | {info['alertmanager']} |",
            f"| Load generator | {info['wrk']}: `-t{a.threads} -c{a.connections}"
            f" -d{a.duration}s --latency`, keep-alive, {a.keys:,} distinct dedup keys / alerts |",
            f"| Server | `tocsin serve{'' if a.with_worker else ' --no-worker'}"
            + (f" --workers {a.web_processes}`" if a.web_processes > 1 else "`, one process")
            + (", and its event writer process" if not r.database else "")
            + ", TOCSIN_ENV=production |",
        ]
    taken = ", ".join(f"{part} {sec:.0f} s" for part, sec in r.part_seconds.items())
    lines += [
        f"| Whole run | {r.runtime_s:.0f} s{' (`--quick`)' if a.quick else ''}"
        + (f" ({taken})" if taken else "")
        + " |",
        "",
    ]
    if r.tocsin_rounds and r.am_rounds:
        rounds = len(r.tocsin_rounds)
        lines += [
            "### Ingestion rate (same wrk settings, the two servers in alternating rounds)",
            "",
        ]
        lines += WRK_HEADER
        if r.tocsin_warmup:
            lines.append(
                wrk_row(
                    f"Tocsin warm-up: first event of each key (limit {a.warmup_seconds} s)",
                    r.tocsin_warmup,
                )
            )
        if r.am_warmup:
            lines.append(wrk_row("Alertmanager warm-up: first of each alert", r.am_warmup))
        for n, (t, m) in enumerate(zip(r.tocsin_rounds, r.am_rounds, strict=True), start=1):
            suffix = f" (round {n})" if rounds > 1 else ""
            lines.append(
                wrk_row(f"**Tocsin** `POST /v2/enqueue`, committed before the 202{suffix}", t)
            )
            lines.append(wrk_row(f"**Alertmanager** `POST /api/v2/alerts`, in memory{suffix}", m))
        ratio = r.ratio
        verdict = f"(target ≥ {a.ratio_target}×: {'met' if ratio >= a.ratio_target else 'not met'})"
        if rounds > 1:
            headline = (
                f"**Tocsin / Alertmanager = {ratio:.3f}×**, the median of the {rounds} rounds'"
                f" ratios ({', '.join(f'{x:.3f}×' for x in r.round_ratios)}) {verdict}."
            )
        else:
            headline = f"**Tocsin / Alertmanager = {ratio:.3f}×** {verdict}."
        lines += [
            "",
            headline,
            "Tocsin's events of the measured runs (with those in flight at their end), by outcome:"
            f" {outcome_text(r.tocsin_outcomes)}.",
            "",
        ]
    if r.paced:
        p = r.paced
        achieved = p.ok_rate
        lines += [
            "### Latency at half of Tocsin's rate (paced)",
            "",
            "| Target rate | Achieved | 2xx | non-2xx | p50 | p90 | p99 | p99.9 | max |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {r.paced_target:,.0f}/s | {achieved:,.0f}/s ({achieved / r.paced_target - 1:+.1%})"
            f" | {p.ok:,} | {p.failed:,} | {ms(p.latency_ms('p50'))} | {ms(p.latency_ms('p90'))}"
            f" | {ms(p.latency_ms('p99'))} | {ms(p.latency_ms('p999'))}"
            f" | {ms(p.latency_ms('max'))} |",
            "",
        ]
    if r.storm:
        w, c = r.storm, r.storm_counts
        took = w.budget_seconds
        settle = r.storm_settle_s
        lines += [
            f"### Storm: {a.storm_events:,} events across {a.storm_keys} dedup keys,"
            f" {a.storm_seconds} s window",
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
        lines += [
            f"### Escalation timers: {timers['timers']:,} pending",
            "",
            f"{timers['timers']:,} `jobs.probe` jobs queued at once, due evenly over"
            f" {timers['spread_seconds']:g} s, run by {timers['workers']} `tocsin worker`"
            f" process(es) × {timers['concurrency']} on {timers['backend']}{load}. Lateness ="
            " when the handler started − `run_at`. Target: p99 under 1 s.",
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
        workers = "the embedded worker of `tocsin serve`" if page["embedded_worker"] else ""
        if page["workers"]:
            workers += (" and " if workers else "") + f"{page['workers']} `tocsin worker`(s)"
        lines += [
            "### Alert to first notification",
            "",
            f"{page['accepted']} PagerDuty triggers for new dedup keys, one every"
            f" {page['interval_seconds']:g} s, each opening an incident that pages the person"
            " on call by email (one immediate rule); measured from the 202 answer to the SMTP"
            f" server (aiosmtpd, loopback) holding the message. Jobs run by {workers}, SQLite."
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
    return lines


def write_doc(path: Path, text: str) -> None:
    current = path.read_text() if path.exists() else "# Benchmarks\n\n"
    head = current.split(MARKER, 1)[0].rstrip("\n")
    path.write_text(f"{head}\n\n{MARKER}\n\n{text.rstrip()}\n")
    log(f"wrote the results into {path}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Alert ingestion benchmarks (docs/benchmarks.md). Loopback only.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~1 minute)")
    parser.add_argument("--write", action="store_true", help="put the results in the doc")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"default {DOC.relative_to(ROOT)}")
    parser.add_argument("--note", default="", help="a sentence to put above the results")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10)")
    parser.add_argument("--keys", type=int, default=1000, help="distinct dedup keys (1000)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="alternating Tocsin/Alertmanager pairs of flat-out runs (default 5; --quick 1)",
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
    parser.add_argument("--skip-storm", action="store_true")
    parser.add_argument(
        "--settle-timeout", type=int, default=120, help="seconds to wait for pending events"
    )
    parser.add_argument("--ratio-target", type=float, default=0.5)
    parser.add_argument("--p99-target-ms", type=float, default=20.0)
    parser.add_argument("--memory-limit-mb", type=int, default=300)
    parser.add_argument(
        "--database-url",
        help="bench on this database instead of a fresh SQLite file, e.g. "
        "postgresql+psycopg://user:pw@127.0.0.1/tocsin_bench (a throwaway database!)",
    )
    parser.add_argument("--with-worker", action="store_true", help="serve with the embedded worker")
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="tocsin serve --workers N for the ingestion runs (default 1)",
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
    parser.add_argument(
        "--notify-workers",
        type=int,
        default=0,
        help="separate `tocsin worker` processes in the alert-to-notification run (default 0)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--wrk", help="wrk binary (default: wrk on PATH)")
    parser.add_argument("--alertmanager", help="Alertmanager binary (default: on PATH)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    args.parts = [p for p in PARTS if p in parts]
    if not 1 <= args.threads <= args.connections:
        parser.error("wrk needs 1 <= --threads <= --connections")
    quick = args.quick
    if args.duration is None:
        args.duration = 3 if quick else 10
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
    if args.database_url:
        host = re.search(r"@\[?([^/:\]]+)", args.database_url)
        if (
            host
            and host.group(1) not in ("localhost", "::1")
            and not host.group(1).startswith("127.")
        ):
            parser.error("--database-url: only a database on this machine (loopback) is allowed")
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
