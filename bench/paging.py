#!/usr/bin/env python3
"""An alert storm that pages: events accepted per second, and each new alert to its email.

Targets (the issue): while repeats of open alerts arrive flat out, 1,000 new alerts spread
over 10 services each page a person by email exactly once, within 2 s at p99 from the 202
answer to the email in the SMTP server; Tocsin accepts at least 0.25x the events/s that
Alertmanager 0.25 takes for the same repeat load in the same run (on SQLite); no accepted
event is lost and nothing is left pending.

The run, in a temporary directory, on loopback only, every load bounded in count and time and
every process stopped on the way out (also on an error, Ctrl-C or SIGTERM):

1. An SMTP server (aiosmtpd, bench/notify.py's Mailbox) in this process on 127.0.0.1. The
   set-up of bench/notify.py (`notify.set_up`) for `--services` services, each with an
   escalation policy of its own whose one level is the schedule of the person on call, who has
   one immediate high-urgency email rule. A fresh SQLite database; or with --database-url a
   scratch database on that PostgreSQL server (`tocsin_bench_paging_<pid>`, dropped after);
   or with --empty-database-url an empty database its maker (bench/run.py) drops.
2. The measured server: `tocsin serve` as shipped, whose background engine stores and applies
   the events and runs the jobs; the emails go out from its I/O threads. With
   `--web-processes N`: `tocsin serve --workers N` (PostgreSQL only).
3. Warm-up: wrk sends one trigger per dedup key (`--keys`, spread over the services'
   integrations in turn); each opens an alert and an incident, which pages once. The run waits
   for those pages, then until no event is pending and no job is due or running.
4. Alertmanager 0.25 (one null receiver), warmed up with the same number of alerts.
5. The storm: wrk runs flat out (the same `-t`/`-c` as every run, `-d` the window) with
   repeats of the open alerts, and from `--ramp` seconds into it a separate client in this
   process sends `--alerts` triggers for new dedup keys, due at a steady `--rate` per second,
   spread over the services in turn, from `--senders` keep-alive connections (so one slow
   answer does not hold up the schedule). Each carries a token in its summary: the incident's
   title, so the email's subject. A refused trigger (429, 503, a broken connection) is sent
   again after 0.25 s, as a real sender retries, for up to 30 s.
6. The run waits (bounded, `--wait`) for the email of every accepted new alert, then
   (bounded, `--settle-timeout`) until no event is pending and no job is due or running; it
   then stops the server.
7. Alertmanager gets the same repeat load, with the same wrk settings.
8. Checks through the database (the server stopped, so nothing changes under them), and
   where the time of each page went (`notify.breakdown`).

Prints a summary; `--json` prints the figures and checks as JSON (what `bench/run.py` reads).
Needs wrk and Alertmanager (Debian: `apt-get install wrk prometheus-alertmanager`) and the
Python environment Tocsin runs in (aiosmtpd is in the test extra).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: processes, wrk, Alertmanager, the CLI)

import notify  # noqa: E402  (bench/notify.py: the SMTP mailbox, the set-up, the breakdown)

RETRY_SECONDS = 0.25  # a refused new alert is sent again after this long
GIVE_UP_SECONDS = 30.0  # ... until this long after it was due


def log(message: str) -> None:
    print(f"[paging {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the new alerts


class NewAlerts:
    """The storm's new alerts: `count` PagerDuty triggers for new dedup keys, due at a steady
    `rate` from `start`'s moment on, spread over the routing keys in turn, each sent by the
    first of `senders` threads (one keep-alive connection each) that is free."""

    def __init__(
        self, port: int, routing_keys: list[str], *, count: int, rate: float, senders: int
    ) -> None:
        self.port, self.routing_keys = port, routing_keys
        self.count, self.rate, self.senders = count, rate, senders
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.next_index = 0
        self.first_at = 0.0
        self.threads: list[threading.Thread] = []
        # token -> monotonic time of its 202; dedup key -> token; token -> seconds from its
        # first attempt to the 202; when each first attempt went out.
        self.answered: dict[str, float] = {}
        self.keys: dict[str, str] = {}
        self.answer_seconds: dict[str, float] = {}
        self.sent_at: list[float] = []
        self.retries = 0
        self.refusals: dict[str, int] = {}
        self.given_up = 0

    def start(self, delay: float) -> None:
        self.first_at = time.monotonic() + delay
        for n in range(self.senders):
            thread = threading.Thread(target=self._send_all, name=f"new-alerts-{n}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for every sender; whether they all finished."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def stop(self) -> None:
        self.stopping.set()

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _send_all(self) -> None:
        conn = self._connection()
        try:
            while not self.stopping.is_set():
                with self.lock:
                    index = self.next_index
                    self.next_index += 1
                if index >= self.count:
                    return
                due = self.first_at + index / self.rate
                wait = due - time.monotonic()
                if wait > 0 and self.stopping.wait(wait):
                    return
                conn = self._send_one(conn, index, due)
        finally:
            conn.close()

    def _send_one(
        self, conn: http.client.HTTPConnection, index: int, due: float
    ) -> http.client.HTTPConnection:
        token = f"BP-{secrets.token_hex(6)}"
        key = f"storm-{index:04d}-{token}"
        routing_key = self.routing_keys[index % len(self.routing_keys)]
        summary = f"Bench storm {token}: checkout is failing on host-{index:04d}"
        first = time.monotonic()
        with self.lock:
            self.sent_at.append(first)
        while True:
            try:
                status = notify.trigger(conn, routing_key, key, summary)
                reason = f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                # A keep-alive connection the server closed, a time-out: a fresh connection.
                conn.close()
                conn = self._connection()
                status, reason = 0, type(exc).__name__
            if status == 202:
                now = time.monotonic()
                with self.lock:
                    self.answered[token] = now
                    self.keys[key] = token
                    self.answer_seconds[token] = now - first
                return conn
            with self.lock:
                self.refusals[reason] = self.refusals.get(reason, 0) + 1
                if time.monotonic() > due + GIVE_UP_SECONDS or self.stopping.is_set():
                    self.given_up += 1
                    return conn
                self.retries += 1
            if self.stopping.wait(RETRY_SECONDS):
                return conn

    def answered_by(self, moment: float) -> int:
        with self.lock:
            return sum(1 for at in self.answered.values() if at <= moment)

    @property
    def achieved_rate(self) -> float:
        """First attempts per second, from the first to the last."""
        with self.lock:
            times = sorted(self.sent_at)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


# --------------------------------------------------------------------------- database checks


def new_alert_counts(url: str, keys: list[str], first_event_id: int) -> dict[str, int]:
    """What the database holds for the storm's new dedup keys, and for the whole storm (events
    after `first_event_id`)."""
    from sqlalchemy import create_engine, func, select

    from tocsin.alerts.models import Alert, Event

    engine = create_engine(url)
    try:
        with engine.connect() as conn:

            def scalar(query: Any) -> int:
                return int(conn.execute(query).scalar_one() or 0)

            def in_chunks(build: Any) -> int:
                # SQLite and drivers limit the parameters of one statement: 500 at a time.
                return sum(scalar(build(keys[n : n + 500])) for n in range(0, len(keys), 500))

            return {
                "new_events": in_chunks(
                    lambda chunk: select(func.count(Event.id)).where(Event.dedup_key.in_(chunk))
                ),
                "new_alerts": in_chunks(
                    lambda chunk: select(func.count(Alert.id)).where(Alert.dedup_key.in_(chunk))
                ),
                "new_alerts_without_incident": in_chunks(
                    lambda chunk: select(func.count(Alert.id)).where(
                        Alert.dedup_key.in_(chunk), Alert.incident_id.is_(None)
                    )
                ),
                "new_incidents": in_chunks(
                    lambda chunk: select(func.count(func.distinct(Alert.incident_id))).where(
                        Alert.dedup_key.in_(chunk)
                    )
                ),
                "storm_events": scalar(
                    select(func.count(Event.id)).where(Event.id > first_event_id)
                ),
                "storm_pending": scalar(
                    select(func.count(Event.id)).where(
                        Event.id > first_event_id, Event.outcome == "pending"
                    )
                ),
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the run


def wrk_figures(result: harness.WrkResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "rate": round(result.ok_rate, 1),
        "ok": result.ok,
        "failed": result.failed,
        "socket_errors": result.socket_errors,
        "seconds": round(result.seconds, 2),
        "p50_ms": round(result.latency_ms("p50"), 2),
        "p90_ms": round(result.latency_ms("p90"), 2),
        "p99_ms": round(result.latency_ms("p99"), 2),
        "max_ms": round(result.latency_ms("max"), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    wrk_bin = harness.resolve(args.wrk, ["wrk"], "wrk (apt-get install wrk)")
    am_bin = harness.resolve(
        args.alertmanager,
        ["prometheus-alertmanager", "alertmanager"],
        "Alertmanager 0.25 (apt-get install prometheus-alertmanager)",
    )
    started = time.monotonic()
    procs = harness.Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-paging-"))
    mailbox = notify.Mailbox()
    smtp_port = harness.free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    scratch: harness.ScratchDatabase | None = None
    db: harness.Database | None = None
    senders: NewAlerts | None = None
    notes: list[str] = []
    try:
        log(f"working in {work}; SMTP server on 127.0.0.1:{smtp_port}")
        if args.empty_database_url:
            url = args.empty_database_url
        elif args.database_url:
            scratch = harness.ScratchDatabase(
                args.database_url, f"tocsin_bench_paging_{os.getpid()}"
            )
            url = scratch.create()
        else:
            url = f"sqlite:///{work / 'tocsin.db'}"
        tocsin = harness.Tocsin(procs, work, url)
        tocsin.env.update(notify.smtp_env(smtp_port))
        services = [f"Bench storm {n:02d}" for n in range(1, args.services + 1)]
        integrations = notify.set_up(tocsin, smtp_port, services)
        routing_keys = [key for _, key in integrations]
        db = harness.Database(url)
        database = db.version()
        wrk = harness.Wrk(wrk_bin, procs, work, args)
        port = harness.free_port()
        server = tocsin.serve(port, args.web_processes)
        base = f"http://127.0.0.1:{port}"
        server_label = harness.server_label(args.web_processes)

        # 1. The alerts whose repeats make the storm, opened (and paged) beforehand.
        repeat_env = {
            "TOCSIN_ROUTING_KEYS": ",".join(routing_keys),
            "BENCH_KEYS": str(args.keys),
            "BENCH_KEY_PREFIX": "repeat",
        }
        warmup = wrk.run(
            "Tocsin warm-up: open the repeat alerts",
            base,
            "pd_trigger.lua",
            duration=args.warmup_seconds,
            env=repeat_env,
            budget=args.keys,
        )
        tocsin.settle(notes, server, port)
        waited = time.monotonic()
        opened = 0
        while time.monotonic() - waited < args.settle_timeout:
            if db.pending_total() == 0:
                opened = sum(db.counts(i)["alerts"] for i, _ in integrations)
                if mailbox.other >= opened:
                    break
            time.sleep(0.2)
        settled = db.wait_settled(max(1.0, args.settle_timeout - (time.monotonic() - waited)))
        warmup_pages = mailbox.other
        warmup_seconds = time.monotonic() - waited
        if warmup_pages < opened or settled is None:
            raise harness.BenchError(
                f"the warm-up's {opened} incidents sent {warmup_pages} pages and"
                f" {'settled' if settled is not None else 'had not settled'} within"
                f" {args.settle_timeout} s (run with --keep to read the server log)"
            )
        log(f"warm-up: {opened} repeat alerts open, {warmup_pages} pages in {warmup_seconds:.1f} s")
        if opened < args.keys:
            notes.append(
                f"The warm-up opened {opened:,} of the {args.keys:,} repeat alerts within its"
                f" {args.warmup_seconds} s; the others opened during the storm."
            )

        # 2. Alertmanager, up and warmed up before the storm, measured right after it.
        am, am_url = harness.start_alertmanager(procs, work, am_bin)
        am_env = {"BENCH_KEYS": str(args.keys), "BENCH_KEY_PREFIX": "repeat"}
        am_warmup = wrk.run(
            "Alertmanager warm-up",
            am_url,
            "am_alerts.lua",
            duration=args.warmup_seconds,
            env=am_env,
            budget=args.keys,
        )

        # 3. The storm.
        first_event_id = db.max_event_id()
        other_before = mailbox.other
        senders = NewAlerts(
            port, routing_keys, count=args.alerts, rate=args.rate, senders=args.senders
        )
        log(
            f"storm: repeats flat out for {args.window} s; {args.alerts} new alerts at"
            f" {args.rate:g}/s from {args.ramp:g} s in, over {len(routing_keys)} services"
        )
        senders.start(delay=args.ramp)
        storm = wrk.run(
            "Tocsin storm: repeats of the open alerts",
            base,
            "pd_trigger.lua",
            duration=args.window,
            env=repeat_env,
        )
        storm_end = time.monotonic()
        if not senders.join(timeout=GIVE_UP_SECONDS + 60):
            senders.stop()
            senders.join(timeout=35)
            raise harness.BenchError("the new alerts' senders did not finish")
        new_in_window = senders.answered_by(storm_end)
        accepted = dict(senders.answered)
        log(
            f"{len(accepted)} of {args.alerts} new alerts accepted ({new_in_window} within wrk's"
            f" run), {senders.retries} retries; waiting for their pages"
        )
        mailbox.wait(lambda: all(t in mailbox.by_token for t in accepted), timeout=args.wait)
        pages_waited = time.monotonic() - storm_end
        settled = db.wait_settled(args.settle_timeout)
        settle_s = time.monotonic() - storm_end if settled is not None else None
        end_pending, end_jobs_due = db.pending_total(), db.jobs_due()
        jobs = db.jobs_by_state()
        if server.poll() is not None:
            raise harness.BenchError(
                f"the Tocsin server died during the storm ({server.returncode})"
            )
        memory = harness.tree_status(server.pid)
        procs.stop(server)

        # 4. Alertmanager, the same repeat load and wrk settings.
        am_run = wrk.run(
            "Alertmanager: the same repeat load",
            am_url,
            "am_alerts.lua",
            duration=args.window,
            env=am_env,
        )
        am_memory = harness.proc_status(am.pid)
        procs.stop(am)

        # 5. The database, with nothing running.
        counts = new_alert_counts(url, list(senders.keys), first_event_id)
        per_integration = [db.counts(i) for i, _ in integrations]
        stages = notify.breakdown(url, dict(senders.keys), dict(mailbox.arrived_at))
    finally:
        if senders is not None:
            senders.stop()
        procs.stop_all()
        controller.stop()
        if db is not None:
            db.close()
        if scratch is not None and not args.keep:
            scratch.drop()
        if args.keep:
            log(f"kept {work}" + (f" and the database {scratch.name}" if scratch else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)

    # --- figures
    latencies = sorted(
        (mailbox.by_token[t][0] - at) * 1000 for t, at in accepted.items() if t in mailbox.by_token
    )
    emails = {t: len(mailbox.by_token.get(t, [])) for t in accepted}
    duplicates = sum(n - 1 for n in emails.values() if n > 1)
    missing = sum(1 for n in emails.values() if n == 0)
    answer_ms = sorted(s * 1000 for s in senders.answer_seconds.values())
    storm_rate = (storm.ok + new_in_window) / storm.seconds if storm.seconds else 0.0
    ratio = storm_rate / am_run.ok_rate if am_run.ok_rate else 0.0
    events_total = sum(c["events"] for c in per_integration)
    alert_events = sum(c["alert_events"] for c in per_integration)
    p99 = notify.percentile(latencies, 0.99)
    result: dict[str, Any] = {
        "database": database,
        "backend": "sqlite" if url.startswith("sqlite") else "postgresql",
        "server": server_label,
        "services": args.services,
        "keys": args.keys,
        "alerts": args.alerts,
        "rate": args.rate,
        "ramp_seconds": args.ramp,
        "window_seconds": args.window,
        "senders": args.senders,
        "threads": args.threads,
        "connections": args.connections,
        "warmup": wrk_figures(warmup),
        "warmup_opened": opened,
        "warmup_pages": warmup_pages,
        "warmup_settle_seconds": round(warmup_seconds, 1),
        "am_warmup": wrk_figures(am_warmup),
        "storm": wrk_figures(storm),
        "storm_non_2xx_statuses": {
            k: v for k, v in storm.data.get("statuses", {}).items() if not str(k).startswith("2")
        },
        "alertmanager": wrk_figures(am_run),
        "storm_rate": round(storm_rate, 1),
        "alertmanager_rate": round(am_run.ok_rate, 1),
        "ratio": round(ratio, 3),
        "ratio_target": args.ratio_target,
        "new_in_window": new_in_window,
        "new_accepted": len(accepted),
        "new_given_up": senders.given_up,
        "new_retries": senders.retries,
        "new_refusals": senders.refusals,
        "new_achieved_rate": round(senders.achieved_rate, 1),
        "new_answer_p50_ms": round(notify.percentile(answer_ms, 0.5), 1),
        "new_answer_p99_ms": round(notify.percentile(answer_ms, 0.99), 1),
        "pages_received": len(latencies),
        "pages_missing": missing,
        "pages_duplicates": duplicates,
        "pages_other": mailbox.other - other_before,
        "pages_waited_seconds": round(pages_waited, 1),
        "p50_ms": round(notify.percentile(latencies, 0.50), 1),
        "p90_ms": round(notify.percentile(latencies, 0.90), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "p99_target_ms": args.p99_target_s * 1000,
        "stages": stages,
        "counts": counts,
        "events_total": events_total,
        "alert_events_total": alert_events,
        "settle_seconds": round(settle_s, 1) if settle_s is not None else None,
        "end_pending_events": end_pending,
        "end_jobs_due": end_jobs_due,
        "jobs_by_state": jobs,
        "server_peak_mb": round(memory.get("VmHWM", 0) / 1024),
        "server_end_mb": round(memory.get("VmRSS", 0) / 1024),
        "alertmanager_peak_mb": round(am_memory.get("VmHWM", 0) / 1024),
        "notes": notes,
        "seconds": round(time.monotonic() - started, 1),
    }
    result["checks"] = checks(args, result, storm.ok)
    result["target_met"] = all(c["passed"] for c in result["checks"])
    return result


def checks(args: argparse.Namespace, r: dict[str, Any], repeats_ok: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        found.append({"name": name, "passed": bool(passed), "detail": detail})
        log(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")

    storm, counts = r["storm"], r["counts"]
    if args.ratio_target:
        check(
            f"accepted events/s during the storm ≥ {args.ratio_target}× Alertmanager",
            r["ratio"] >= args.ratio_target,
            f"{r['storm_rate']:,.0f}/s ({storm['ok']:,} repeats + {r['new_in_window']:,} new"
            f" alerts in {storm['seconds']:.1f} s; {storm['failed']:,} non-2xx) vs Alertmanager"
            f" {r['alertmanager_rate']:,.0f}/s = {r['ratio']:.3f}×",
        )
    achieved = r["new_achieved_rate"]
    check(
        f"new alerts sent at {args.rate:g}/s (±15%)",
        abs(achieved - args.rate) <= 0.15 * args.rate,
        f"{achieved:,.1f}/s from the first to the last first attempt ({args.senders} connections;"
        f" their 202 took p50 {r['new_answer_p50_ms']:,.0f} ms, p99"
        f" {r['new_answer_p99_ms']:,.0f} ms)",
    )
    check(
        f"all {args.alerts:,} new alerts accepted",
        r["new_accepted"] == args.alerts,
        f"{r['new_accepted']:,} accepted (202), {r['new_retries']:,} refusals sent again,"
        f" {r['new_given_up']:,} given up",
    )
    paged_once = (
        r["pages_missing"] == 0
        and r["pages_duplicates"] == 0
        and counts["new_incidents"] == r["new_accepted"]
        and counts["new_alerts"] == r["new_accepted"]
        and counts["new_alerts_without_incident"] == 0
    )
    check(
        "every new incident paged exactly once",
        paged_once and r["new_accepted"] > 0,
        f"{r['new_accepted'] - r['pages_missing']:,} of {r['new_accepted']:,} new alerts paged,"
        f" {r['pages_missing']:,} missing, {r['pages_duplicates']:,} duplicate emails;"
        f" {counts['new_alerts']:,} alerts, {counts['new_incidents']:,} incidents",
    )
    check(
        f"alert (202) → email p99 < {args.p99_target_s:g} s",
        r["pages_received"] > 0 and r["p99_ms"] < args.p99_target_s * 1000,
        f"p99 {r['p99_ms']:,.0f} ms over {r['pages_received']:,} pages (p50 {r['p50_ms']:,.0f}"
        f" ms, max {r['max_ms'] or 0:,.0f} ms)",
    )
    stored_enough = counts["storm_events"] >= repeats_ok + r["new_accepted"]
    counted = r["alert_events_total"] == r["events_total"]
    check(
        "nothing lost: every 202-answered event stored",
        stored_enough and counted,
        f"{counts['storm_events']:,} events stored during the storm for"
        f" {repeats_ok + r['new_accepted']:,} accepted; every stored event counted on its alert:"
        f" {'yes' if counted else 'no'} ({r['alert_events_total']:,} of {r['events_total']:,})",
    )
    settle = r["settle_seconds"]
    check(
        "nothing pending at the end",
        r["end_pending_events"] == 0 and r["end_jobs_due"] == 0 and settle is not None,
        f"{r['end_pending_events']:,} events pending, {r['end_jobs_due']:,} jobs due or running"
        + (f"; all done {settle:.1f} s after the flood stopped" if settle is not None else "")
        + f"; jobs failed: {r['jobs_by_state'].get('failed', 0):,}",
    )
    return found


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server on loopback: a scratch database is made on it"
    )
    parser.add_argument(
        "--empty-database-url",
        help="an empty PostgreSQL database made for this run (bench/run.py), left for its maker"
        " to drop",
    )
    parser.add_argument(
        "--web-processes", type=int, default=1, help="tocsin serve --workers N (PostgreSQL)"
    )
    parser.add_argument("--services", type=int, default=10, help="services that page (10)")
    parser.add_argument("--keys", type=int, help="open alerts whose repeats flood (1000)")
    parser.add_argument("--alerts", type=int, help="new alerts during the storm (1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="new alerts per second (100)")
    parser.add_argument(
        "--senders", type=int, default=32, help="connections the new alerts are sent from (32)"
    )
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds of flood before them")
    parser.add_argument(
        "--window",
        type=int,
        help="wrk -d of the storm and of Alertmanager (default: ramp + alerts/rate + 1 s)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--warmup-seconds", type=int, help="warm-up limit (default 60)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for pages")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the warm-up's pages, and for nothing pending after the storm",
    )
    parser.add_argument("--ratio-target", type=float, default=0.25, help="0: report only")
    parser.add_argument("--p99-target-s", type=float, default=2.0)
    parser.add_argument("--wrk", help="wrk binary (default: wrk on PATH)")
    parser.add_argument("--alertmanager", help="Alertmanager binary (default: on PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.keys is None:
        args.keys = 200 if args.quick else 1000
    if args.alerts is None:
        args.alerts = 200 if args.quick else 1000
    if args.warmup_seconds is None:
        args.warmup_seconds = 30 if args.quick else 60
    if args.rate <= 0 or args.alerts < 1 or args.services < 1 or args.senders < 1:
        parser.error("--rate, --alerts, --services and --senders must be positive")
    if args.window is None:
        args.window = math.ceil(args.ramp + args.alerts / args.rate + 1)
    if not 1 <= args.threads <= args.connections:
        parser.error("wrk needs 1 <= --threads <= --connections")
    for given in (args.database_url, args.empty_database_url):
        if given and not (given.startswith("postgresql") and harness.on_loopback(given)):
            parser.error("only PostgreSQL on this machine (loopback); SQLite is the default")
    if args.database_url and args.empty_database_url:
        parser.error("--database-url or --empty-database-url, not both")
    if args.web_processes > 1 and not (args.database_url or args.empty_database_url):
        parser.error("--web-processes needs PostgreSQL (tocsin serve --workers refuses SQLite)")
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
        f"storm with paging on {result['database']} ({result['server']}):"
        f" {result['storm_rate']:,.0f} events/s accepted vs Alertmanager"
        f" {result['alertmanager_rate']:,.0f}/s = {result['ratio']}x;"
        f" {result['new_accepted']} new alerts at {result['new_achieved_rate']:g}/s,"
        f" pages p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms,"
        f" {result['pages_missing']} missing, {result['pages_duplicates']} duplicates"
    )
    for c in result["checks"]:
        print(f"  {'PASS' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
