#!/usr/bin/env python3
"""Alert to first notification: from the 202 answer to the SMTP server holding the page.

Target (issue 4): p99 under 1 s, with 200 events/s of background ingestion.

The run, in a temporary directory, on loopback only, every load bounded in count and time and
every process stopped on the way out (also on an error, Ctrl-C or SIGTERM):

1. A real SMTP server (aiosmtpd) in this process on 127.0.0.1; Tocsin is pointed at it with
   TOCSIN_SMTP_HOST/PORT/TLS=none.
2. `set_up` (also used by bench/paging.py): `tocsin db upgrade` on a fresh SQLite database,
   `tocsin apply -f` of an admin, the person on call and the services, an API token from
   `tocsin token create`; a first `tocsin serve` for `POST /api/v1/schedules` (+ a weekly
   layer with the person on call: schedules have no configuration-file section) and
   `POST /api/v1/integrations` (a PagerDuty integration per service, whose key only that
   answer shows); then `tocsin apply -f` of an escalation policy per service (level 1: the
   schedule), the services' paging and the person's email contact method with one immediate
   high-urgency rule.
3. The measured server: `tocsin serve` as shipped, one process whose background engine stores
   and applies the events and runs the jobs (on SQLite one thread; the emails go out from its
   I/O threads).
4. Background load: wrk sends `--load-rate` (200) PagerDuty trigger events/s cycling over
   `--load-keys` (50) dedup keys, opened first (their incidents page too; the run waits for
   those pages), so the load is repeats deduplicated into open alerts.
5. `--count` triggers for new dedup keys, one every `--interval` seconds over one keep-alive
   connection, each with a unique token in its summary (the incident's title, so the email
   subject). Each is timed from its 202 answer to the SMTP server holding the message with
   that token (aiosmtpd's DATA handler, same clock, same process).
6. After the last page (bounded by `--wait`), the database gives where the time went for each
   measured incident: event applied, escalation started, level paged, delivery started,
   delivery done.

Prints a summary; `--json` prints the figures as JSON (what `bench/run.py` reads). Needs wrk
(Debian: `apt-get install wrk`) and the Python environment Tocsin runs in (aiosmtpd is in the
test extra).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: processes, wrk, the Tocsin CLI)

TARGET_P99_SECONDS = 1.0
TOKEN = re.compile(r"\bBP-[0-9a-f]{12}\b")
ADMIN = "bench-admin@example.com"
ONCALL = "oncall@example.com"
SERVICE = "Bench paging"


def log(message: str) -> None:
    print(f"[notify {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- SMTP


class Mailbox:
    """aiosmtpd handler: when each message arrived (monotonic and wall clock), by token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_token: dict[str, list[float]] = {}
        self.arrived_at: dict[str, datetime] = {}
        self.total = 0
        self.other = 0  # pages without a measured token (the load's own incidents)
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.monotonic()
        wall = datetime.now(UTC)
        message = message_from_bytes(envelope.content, policy=policy.default)
        found = TOKEN.search(str(message.get("Subject", "")))
        with self.changed:
            self.total += 1
            if found:
                self.by_token.setdefault(found.group(0), []).append(now)
                self.arrived_at.setdefault(found.group(0), wall)
            else:
                self.other += 1
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout=timeout)


# --------------------------------------------------------------------------- set-up


def config_people(smtp_port: int, services: list[str]) -> str:
    return f"""\
version: 1
users:
  - {{name: Bench Admin, email: {ADMIN}, role: admin}}
  - {{name: Olive Oncall, email: {ONCALL}, role: responder}}
services:
""" + "".join(
        f"  - name: {service}\n"
        f"    description: Created by the benchmarks (SMTP on 127.0.0.1:{smtp_port})\n"
        for service in services
    )


def config_paging(smtp_port: int, schedule: str, services: list[str]) -> str:
    # Each service its own escalation policy of one level: whoever is on call in the schedule;
    # its wait is longer than any run, so the only pages are the first ones.
    policies = "".join(
        f"""\
  - name: {service} policy
    levels:
      - targets: [{{schedule: {schedule}}}]
        delay_minutes: 60
"""
        for service in services
    )
    paging = "".join(
        f"""\
  - service: {service}
    escalation_policy: {service} policy
    low_urgency: page
"""
        for service in services
    )
    return (
        config_people(smtp_port, services)
        + "escalation_policies:\n"
        + policies
        + "paging:\n"
        + paging
        + f"""\
notifications:
  - user: {ONCALL}
    contact_methods:
      - {{label: Work email, kind: email, target: {ONCALL}}}
    rules:
      - {{urgency: high, delay_minutes: 0, contact_method: Work email}}
"""
    )


def smtp_env(smtp_port: int) -> dict[str, str]:
    """Tocsin's settings for the SMTP server of this process."""
    return {
        "TOCSIN_SMTP_HOST": "127.0.0.1",
        "TOCSIN_SMTP_PORT": str(smtp_port),
        "TOCSIN_SMTP_TLS": "none",
        "TOCSIN_SMTP_FROM": "tocsin-bench@example.com",
    }


def api(port: int, token: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            method,
            path,
            json.dumps(body),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status >= 300:
        raise harness.BenchError(f"{method} {path}: HTTP {answer.status}: {data[:500]!r}")
    return json.loads(data)


def set_up(tocsin: harness.Tocsin, smtp_port: int, services: list[str]) -> list[tuple[int, str]]:
    """Everything through the CLI, and the API for what has no configuration-file section (the
    schedule) or whose answer is needed (each service's PagerDuty integration and its key).
    Returns (id, routing key) of each service's integration, in the order of `services`."""
    tocsin.cli("db", "upgrade")
    people = tocsin.work / "people.yaml"
    people.write_text(config_people(smtp_port, services))
    tocsin.cli("apply", "-f", str(people))
    token_out = tocsin.cli("token", "create", "--user", ADMIN, "--name", "bench", "--json")
    start, end = token_out.find("{"), token_out.rfind("}")
    try:
        token = str(json.loads(token_out[start : end + 1])["secret"])
    except (ValueError, KeyError) as exc:
        raise harness.BenchError(f"cannot read the API token from:\n{token_out}") from exc

    port = harness.free_port()
    server = tocsin.serve(port)
    try:
        users = api_get(port, token, "/api/v1/users?limit=100")["items"]
        oncall = next(u["id"] for u in users if u["email"] == ONCALL)
        schedule = api(
            port, token, "POST", "/api/v1/schedules", {"name": "Bench primary", "timezone": "UTC"}
        )
        api(
            port,
            token,
            "POST",
            f"/api/v1/schedules/{schedule['id']}/layers",
            {
                "name": "Weekly",
                "kind": "rotation",
                "shift_length": 1,
                "shift_unit": "weeks",
                "start_date": (date.today() - timedelta(days=3)).isoformat(),
                "member_ids": [oncall],
            },
        )
        found = api_get(port, token, "/api/v1/services?limit=200")["items"]
        service_ids = {s["name"]: s["id"] for s in found}
        integrations = []
        for service in services:
            created = api(
                port,
                token,
                "POST",
                "/api/v1/integrations",
                {"service_id": service_ids[service], "name": "Bench", "type": "pagerduty"},
            )
            integrations.append((int(created["id"]), str(created["key"])))
    finally:
        tocsin.procs.stop(server)
    paging = tocsin.work / "paging.yaml"
    paging.write_text(config_paging(smtp_port, "Bench primary", services))
    tocsin.cli("apply", "-f", str(paging))
    return integrations


def api_get(port: int, token: str, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise harness.BenchError(f"GET {path}: HTTP {answer.status}: {data[:500]!r}")
    return json.loads(data)


# --------------------------------------------------------------------------- load


class Load:
    """wrk sending PagerDuty triggers at a steady rate over the load's dedup keys."""

    def __init__(self, args: argparse.Namespace, tocsin: harness.Tocsin, wrk: str) -> None:
        self.args, self.tocsin, self.wrk = args, tocsin, wrk
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = tocsin.work / "load.out"

    def start(self, port: int, routing_key: str, duration: int) -> None:
        argv = [
            self.wrk,
            "-t1",
            f"-c{self.args.load_connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(HERE / "pd_trigger.lua"),
            f"http://127.0.0.1:{port}",
        ]
        env = {
            **os.environ,
            "TOCSIN_ROUTING_KEY": routing_key,
            "BENCH_THREADS": "1",
            "BENCH_RATE": f"{self.args.load_rate:.3f}",
            "BENCH_KEYS": str(self.args.load_keys),
            "BENCH_KEY_PREFIX": "load",
        }
        self.proc = self.tocsin.procs.start(
            "wrk (background load)", argv, env=env, log_path=self.out
        )

    def stop(self) -> dict[str, Any]:
        """Interrupt wrk (it prints its results on SIGINT) and read them."""
        if self.proc is None:
            return {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        self.tocsin.procs.stop(self.proc)
        text = self.out.read_text(errors="replace")
        match = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.MULTILINE)
        if match is None:
            raise harness.BenchError(f"the background load printed no result; see {self.out}")
        return json.loads(match.group(1))


def trigger(
    conn: http.client.HTTPConnection, routing_key: str, dedup_key: str, summary: str
) -> int:
    body = json.dumps(
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": summary, "source": "bench-notify", "severity": "critical"},
        }
    )
    conn.request("POST", "/v2/enqueue", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    return answer.status


# --------------------------------------------------------------------------- breakdown


def breakdown(url: str, tokens: dict[str, str], arrived: dict[str, datetime]) -> dict[str, Any]:
    """Per measured incident, from the database: the median and p99 of each stage, in ms."""
    from sqlalchemy import create_engine, select

    from tocsin.alerts.models import Alert, Event
    from tocsin.jobs.models import Job
    from tocsin.notify.models import Notification

    engine = create_engine(url)
    stages: dict[str, list[float]] = {
        "event received → applied (alert and incident declared)": [],
        "applied → escalation.start started": [],
        # escalation.start evaluates the policy's first level itself: no step job before
        # the first page.
        "escalation.start started → notify.deliver started": [],
        "notify.deliver started → SMTP server has it": [],
    }
    try:
        with engine.connect() as conn:
            events = {
                e.dedup_key: e
                for e in conn.execute(
                    select(
                        Event.dedup_key, Event.received_at, Event.processed_at, Event.alert_id
                    ).where(Event.dedup_key.in_(list(tokens)))
                ).all()
            }
            alerts = dict(
                conn.execute(
                    select(Alert.id, Alert.incident_id).where(
                        Alert.id.in_([e.alert_id for e in events.values() if e.alert_id])
                    )
                ).all()
            )
            jobs = conn.execute(
                select(Job.kind, Job.payload, Job.started_at, Job.finished_at).where(
                    Job.kind.in_(["escalation.start", "notify.deliver"])
                )
            ).all()
            notifications = dict(
                conn.execute(select(Notification.id, Notification.incident_id)).all()
            )
    finally:
        engine.dispose()

    # The first start of each kind of job, by the incident it worked for.
    first_starts: dict[tuple[str, int], datetime] = {}
    for job in jobs:
        if job.started_at is None:
            continue
        p = job.payload or {}
        owner = (
            p.get("incident_id")
            if job.kind == "escalation.start"
            else notifications.get(p.get("notification_id"))
        )
        if owner is None:
            continue
        known = first_starts.get((job.kind, owner))
        if known is None or job.started_at < known:
            first_starts[(job.kind, owner)] = job.started_at

    def first_start(kind: str, incident_id: int) -> datetime | None:
        return first_starts.get((kind, incident_id))

    def aware(value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    names = list(stages)
    for dedup_key, token in tokens.items():
        event = events.get(dedup_key)
        if event is None or token not in arrived:
            continue
        incident_id = alerts.get(event.alert_id)
        if incident_id is None:
            continue
        points = [
            aware(event.received_at),
            aware(event.processed_at),
            aware(first_start("escalation.start", incident_id)),
            aware(first_start("notify.deliver", incident_id)),
            arrived[token],
        ]
        for n, name in enumerate(names):
            a, b = points[n], points[n + 1]
            if a is not None and b is not None:
                stages[name].append((b - a).total_seconds() * 1000)
    out = {}
    for name, values in stages.items():
        values.sort()
        out[name] = {
            "n": len(values),
            "p50_ms": round(percentile(values, 0.5), 1) if values else None,
            "p99_ms": round(percentile(values, 0.99), 1) if values else None,
            "max_ms": round(values[-1], 1) if values else None,
        }
    return out


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    wrk = harness.resolve(args.wrk, ["wrk"], "wrk (apt-get install wrk)")
    started = time.monotonic()
    procs = harness.Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-notify-"))
    mailbox = Mailbox()
    smtp_port = harness.free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    url = f"sqlite:///{work / 'tocsin.db'}"
    tocsin = harness.Tocsin(procs, work, url)
    tocsin.env.update(smtp_env(smtp_port))
    load = Load(args, tocsin, wrk)
    sent: dict[str, float] = {}
    keys: dict[str, str] = {}
    refusals: dict[str, int] = {}
    try:
        log(f"working in {work}; SMTP server on 127.0.0.1:{smtp_port}")
        [(_, routing_key)] = set_up(tocsin, smtp_port, [SERVICE])
        port = harness.free_port()
        server = tocsin.serve(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        # The load's keys are opened first: one incident each, each paging the person on call.
        for i in range(args.load_keys):
            host = f"host-{i:04d}"
            status = trigger(
                conn,
                routing_key,
                f"load-{i:04d}",
                f"Bench alert {i:04d}: high error rate on {host}",
            )
            if status != 202:
                raise harness.BenchError(f"opening the load's alerts: HTTP {status}")
        if not mailbox.wait(lambda: mailbox.other >= args.load_keys, timeout=120):
            raise harness.BenchError(
                f"only {mailbox.other} of the {args.load_keys} pages for the load's incidents"
                f" arrived within 120 s (run with --keep to read the server log)"
            )
        log(f"the load's {args.load_keys} incidents paged; starting the load")

        measured_seconds = args.count * args.interval
        load.start(port, routing_key, int(measured_seconds + args.wait + 30))
        time.sleep(args.ramp)
        if load.proc is not None and load.proc.poll() is not None:
            raise harness.BenchError(f"the background load stopped; see {load.out}")

        conn.close()  # idle while the load's pages arrived: start afresh
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        log(f"{args.count} new incidents, one every {args.interval:g} s")
        first = time.monotonic()
        for i in range(args.count):
            delay = first + i * args.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            token = f"BP-{secrets.token_hex(6)}"
            key = f"page-{i:04d}-{token}"
            summary = f"Bench page {token}: checkout is failing"
            try:
                status = trigger(conn, routing_key, key, summary)
            except (OSError, http.client.HTTPException):
                # A keep-alive connection the server closed while idle: send again, once.
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    status = trigger(conn, routing_key, key, summary)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    refusals[type(exc).__name__] = refusals.get(type(exc).__name__, 0) + 1
                    continue
            answered = time.monotonic()
            if status != 202:
                refusals[f"HTTP {status}"] = refusals.get(f"HTTP {status}", 0) + 1
                continue
            sent[token] = answered
            keys[key] = token
        conn.close()
        mailbox.wait(lambda: all(t in mailbox.by_token for t in sent), timeout=args.wait)
        load_result = load.stop()
        if server.poll() is not None:
            raise harness.BenchError(f"the Tocsin server died ({server.returncode})")
        memory = harness.proc_status(server.pid)
        procs.stop_all()
        stages = breakdown(url, keys, dict(mailbox.arrived_at))
    finally:
        procs.stop_all()
        controller.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    latencies = sorted(
        (mailbox.by_token[t][0] - at) * 1000 for t, at in sent.items() if t in mailbox.by_token
    )
    duplicates = sum(len(v) - 1 for t, v in mailbox.by_token.items() if t in sent)
    load_seconds = load_result["duration_us"] / 1e6 if load_result else 0.0
    load_ok = int(load_result.get("ok", 0))
    result: dict[str, Any] = {
        "database": "sqlite",
        "count": args.count,
        "interval_seconds": args.interval,
        "accepted": len(sent),
        "refused": sum(refusals.values()),
        "refusals": refusals,
        "received": len(latencies),
        "missing": len(sent) - len(latencies),
        "duplicates": duplicates,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p90_ms": round(percentile(latencies, 0.90), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "load_target_rate": args.load_rate,
        "load_keys": args.load_keys,
        "load_rate": round(load_ok / load_seconds, 1) if load_seconds else 0.0,
        "load_accepted": load_ok,
        "load_non_2xx": int(load_result.get("failed", 0)),
        "load_p99_ms": round(load_result.get("latency_us", {}).get("p99", 0) / 1000, 1),
        "server_peak_mb": round(memory.get("VmHWM", 0) / 1024),
        "stages": stages,
        "seconds": round(time.monotonic() - started, 1),
        "target_p99_ms": TARGET_P99_SECONDS * 1000,
    }
    result["target_met"] = (
        result["missing"] == 0
        and result["refused"] == 0
        and bool(latencies)
        and result["p99_ms"] < TARGET_P99_SECONDS * 1000
    )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 incidents instead of 120")
    parser.add_argument("--count", type=int, help="measured new incidents (default 120)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--load-rate", type=float, default=200.0, help="background events/s")
    parser.add_argument("--load-keys", type=int, default=50, help="the load's dedup keys")
    parser.add_argument("--load-connections", type=int, default=4, help="wrk -c of the load")
    parser.add_argument("--ramp", type=float, default=3.0, help="seconds of load before")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for pages")
    parser.add_argument("--wrk", help="wrk binary (default: wrk on PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = 20 if args.quick else 120
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        result = run(args)
    except harness.BenchError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("interrupted; every process started has been stopped")
        return 130
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"alert to first notification, {result['accepted']} new incidents, "
        f"background {result['load_rate']:g} events/s:\n"
        f"  p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms; {result['received']} received, {result['missing']} "
        f"missing, {result['duplicates']} duplicates\n"
        f"  target p99 < {TARGET_P99_SECONDS:g} s: {'met' if result['target_met'] else 'MISSED'}"
    )
    for name, figures in result["stages"].items():
        print(f"    {name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
