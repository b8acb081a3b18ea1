#!/usr/bin/env python3
"""The public status page under a crowd, against a minimal raw ASGI app on the same machine.

Target (issue 5): the page's HTML and `summary.json` at least 0.5x the requests/s of a minimal
raw ASGI app returning a fixed body, with p99 under 20 ms, also while alerts are being
ingested.

The run, in a temporary directory, on loopback only, every load bounded in time and every
process stopped on the way out (also on an error, Ctrl-C or SIGTERM):

1. `tocsin db upgrade` on a fresh SQLite database; `tocsin apply -f` of three services; a
   PagerDuty integration for the background load. `tocsin serve` (one process, as shipped:
   its background engine stores the events and runs the jobs, which render the page).
   Through the REST API: a public status page with five components in two groups, three of
   them linked to the services.
2. An incident is declared and published on the page through the REST API (a real page: an
   unresolved incident with an update, components degraded), and the run waits until the
   public page shows it.
3. The peer: `bench/fixed_app.py` under the same uvicorn, one process, answering every request
   with exactly the bytes Tocsin served for the path being measured (same size, same type).
4. For each path (the page's HTML, then `summary.json`), `--rounds` rounds of one wrk run
   (`-t2 -c64`, `--duration` s) against the peer and one against Tocsin, back to back, the
   order alternating; a path is judged on the median round's ratio and the worst p99 of all
   rounds. Then the same again while wrk sends `--ingest-rate` PagerDuty trigger events/s to
   Tocsin (over `--ingest-keys` dedup keys), from before the first of those runs to after the
   last. The measured runs start once the load's first event of every key has been applied
   (those open an alert and declare an incident each, a burst of 200 new incidents that is the
   ingestion storm's subject); from then on the load is steady ingestion: repeats of open
   alerts, stored and committed before each 202 like every event.

Prints a summary; `--json` prints the figures as JSON (what `bench/run.py` reads).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: processes, wrk, the Tocsin CLI)

RATIO_TARGET = 0.5
P99_TARGET_MS = 20.0
SLUG = "bench"


def log(message: str) -> None:
    harness.log(f"statuspage: {message}")


def api(port: int, token: str, method: str, path: str, body: dict[str, Any] | None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
    except urllib.error.HTTPError as exc:
        raise harness.BenchError(f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from None
    return json.loads(text) if text else None


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read(), answer.headers.get("content-type", "application/octet-stream")


CONFIG = """\
version: 1
users:
  - name: Bench Admin
    email: bench-admin@example.com
    role: admin
services:
  - name: Checkout
    description: Created by bench/statuspage.py
  - name: Search
    description: Created by bench/statuspage.py
  - name: Login
    description: Created by bench/statuspage.py
"""


class Peer:
    """bench/fixed_app.py under uvicorn, serving one fixed body."""

    def __init__(self, procs: harness.Processes, work: Path) -> None:
        self.procs, self.work = procs, work
        self.count = 0

    def start(self, body: bytes, content_type: str) -> tuple[subprocess.Popen[bytes], str]:
        self.count += 1
        body_path = self.work / f"fixed-{self.count}.body"
        body_path.write_bytes(body)
        port = harness.free_port()
        log_path = self.work / f"fixed-{self.count}.log"
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "--app-dir",
            str(HERE),
            "fixed_app:app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        env = {
            **os.environ,
            "BENCH_FIXED_BODY": str(body_path),
            "BENCH_FIXED_TYPE": content_type,
        }
        proc = self.procs.start("fixed-body ASGI app", argv, env=env, log_path=log_path)
        url = f"http://127.0.0.1:{port}"
        harness.wait_http_ok(url + "/", proc, log_path, timeout=30)
        return proc, url


def set_up(tocsin: harness.Tocsin, port: int) -> str:
    """The page, its components and a published incident; returns the routing key."""
    out = tocsin.cli(
        "token", "create", "--user", "bench-admin@example.com", "--name", "bench", "--json"
    )
    try:
        token = str(json.loads(out[out.find("{") : out.rfind("}") + 1])["secret"])
    except (ValueError, KeyError) as exc:
        raise harness.BenchError(f"cannot read the API token from:\n{out}") from exc
    listed = api(port, token, "GET", "/api/v1/services?limit=100", None)["items"]
    services = {s["name"]: s["id"] for s in listed}
    page = api(
        port,
        token,
        "POST",
        "/api/v1/status-pages",
        {"name": "Bench Status", "slug": SLUG, "visibility": "public", "time_zone": "UTC"},
    )
    page_id = page["id"]
    components = {}
    groups = {"Shop": ["Checkout", "Search", "Catalogue"], "Accounts": ["Login", "Profiles"]}
    for group, names in groups.items():
        created = api(
            port, token, "POST", f"/api/v1/status-pages/{page_id}/groups", {"name": group}
        )
        for name in names:
            component = api(
                port,
                token,
                "POST",
                f"/api/v1/status-pages/{page_id}/components",
                {"name": name, "group_id": created["id"], "service_id": services.get(name)},
            )
            components[name] = component["id"]
    incident = api(
        port,
        token,
        "POST",
        "/api/v1/incidents",
        {"title": "Checkout errors", "service_ids": [services["Checkout"]]},
    )
    api(
        port,
        token,
        "POST",
        f"/api/v1/status-pages/{page_id}/incidents",
        {
            "incident": incident["reference"],
            "status": "identified",
            "body": "Some card payments fail; a fix is being deployed.",
            "impact": "minor",
            "components": {str(components["Checkout"]): "partial_outage"},
            "deliver_notifications": False,
        },
    )
    out = tocsin.cli(
        "integration", "create", "--service", "Checkout", "--type", "pagerduty", "--json"
    )
    return harness.parse_integration(out)[1]


def parse_result(path: Path) -> dict[str, Any]:
    match = re.search(r"^BENCH_RESULT (\{.*\})$", path.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        raise harness.BenchError(f"the ingestion load printed no result; see {path}")
    return dict(json.loads(match.group(1)))


def wait_for(url: str, needle: bytes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body, _ = fetch(url)
            if needle in body:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise harness.BenchError(f"{url} did not show {needle!r} within {timeout:.0f} s")


def wait_first_pass(url: str, keys: int, *, timeout: float) -> float:
    """Wait (bounded) until the load's first event of every key is applied: each of those
    opens an alert and declares an incident, a burst of `keys` new incidents at once, which is
    the ingestion storm benchmark's subject, not this one's. Every later event of the load is a
    repeat of an open alert, as most alerts are. Returns the seconds it took."""
    from sqlalchemy import func, select

    db = harness.Database(url)  # puts src/ on the path for Tocsin's models
    from tocsin.alerts.models import Alert

    start = time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            with db.engine.connect() as conn:
                alerts = int(conn.execute(select(func.count(Alert.id))).scalar_one() or 0)
            if alerts >= keys and db.pending_total() == 0:
                waited = time.monotonic() - start
                log(f"the load's first {keys} events were applied {waited:.1f} s after it started")
                return round(waited, 1)
            time.sleep(0.2)
    finally:
        db.engine.dispose()
    raise harness.BenchError(
        f"the load's first {keys} events were not applied within {timeout:.0f} s"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    wrk_bin = harness.resolve(args.wrk, ["wrk"], "wrk (apt-get install wrk)")
    started = time.monotonic()
    procs = harness.Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-statuspage-"))
    wrk = harness.Wrk(wrk_bin, procs, work, args)
    url = f"sqlite:///{work / 'tocsin.db'}"
    tocsin = harness.Tocsin(procs, work, url)
    peer = Peer(procs, work)
    load: subprocess.Popen[bytes] | None = None
    runs: dict[str, dict[str, Any]] = {}
    try:
        log(f"working in {work}")
        tocsin.cli("db", "upgrade")
        (work / "bench.yaml").write_text(CONFIG)
        tocsin.cli("apply", "-f", str(work / "bench.yaml"))
        port = harness.free_port()
        tocsin.serve(port)
        routing_key = set_up(tocsin, port)
        base = f"http://127.0.0.1:{port}"
        paths = {"html": f"/status/{SLUG}/", "summary.json": f"/status/{SLUG}/api/v2/summary.json"}
        wait_for(base + paths["summary.json"], b"Checkout errors", timeout=60)
        wait_for(base + paths["html"], b"Checkout errors", timeout=60)
        bodies = {name: fetch(base + path) for name, path in paths.items()}

        def pair(label: str, name: str) -> None:
            """`--rounds` back-to-back runs of the peer and of Tocsin on one path, the order
            alternating each round; judged on the median ratio (the machine is shared and
            its noise moves single runs by a third) and on the worst p99 of all rounds."""
            body, content_type = bodies[name]
            env = {"BENCH_PATH": paths[name]}
            proc, peer_url = peer.start(body, content_type)
            rounds: list[dict[str, Any]] = []
            try:
                for n in range(args.rounds):
                    order = [("peer", peer_url), ("Tocsin", base)]
                    got = {}
                    for who, target in order if n % 2 == 0 else order[::-1]:
                        got[who] = wrk.run(
                            f"{who} {name}{label} ({n + 1}/{args.rounds})",
                            target,
                            "get.lua",
                            duration=args.duration,
                            env=env,
                        )
                    fixed, ours = got["peer"], got["Tocsin"]
                    rounds.append(
                        {
                            "peer_rate": fixed.ok_rate,
                            "peer_p99_ms": fixed.latency_ms("p99"),
                            "rate": ours.ok_rate,
                            "ratio": ours.ok_rate / fixed.ok_rate if fixed.ok_rate else 0.0,
                            "p50_ms": ours.latency_ms("p50"),
                            "p99_ms": ours.latency_ms("p99"),
                            "failed": ours.failed + ours.socket_errors,
                        }
                    )
            finally:
                procs.stop(proc)
            median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            worst_p99 = max(r["p99_ms"] for r in rounds)
            failed = sum(r["failed"] for r in rounds)
            runs[f"{name}{label}"] = {
                "bytes": len(body),
                "peer_rate": round(median["peer_rate"]),
                "peer_p99_ms": round(max(r["peer_p99_ms"] for r in rounds), 2),
                "rate": round(median["rate"]),
                "p50_ms": round(median["p50_ms"], 2),
                "p99_ms": round(worst_p99, 2),
                "failed": failed,
                "ratio": round(median["ratio"], 3),
                "ratios": [round(r["ratio"], 3) for r in rounds],
                "target_met": median["ratio"] >= RATIO_TARGET
                and worst_p99 < P99_TARGET_MS
                and failed == 0,
            }

        for name in paths:
            pair("", name)

        # The same pairs while alerts are being ingested, from start to end of the four runs.
        load_seconds = int(2 * args.rounds * 2 * (args.duration + 5) + 60)
        load_env = {
            **os.environ,
            "TOCSIN_ROUTING_KEY": routing_key,
            "BENCH_THREADS": "1",
            "BENCH_RATE": f"{args.ingest_rate:.3f}",
            "BENCH_KEYS": str(args.ingest_keys),
            "BENCH_KEY_PREFIX": "load",
        }
        load_argv = [wrk_bin, "-t1", "-c8", f"-d{load_seconds}s", "--timeout", "30s", "--latency"]
        load_argv += ["-s", str(HERE / "pd_trigger.lua"), base]
        load = procs.start(
            "wrk (ingestion load)", load_argv, env=load_env, log_path=work / "load.out"
        )
        first_pass = wait_first_pass(url, args.ingest_keys, timeout=args.first_pass_timeout)
        time.sleep(2)
        for name in paths:
            pair(" while ingesting", name)
        load.send_signal(signal.SIGINT)
        load.wait(timeout=30)
        load_result = parse_result(work / "load.out")
        procs.stop(load)
        load = None
    finally:
        if load is not None:
            procs.stop(load)
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "runs": runs,
        "ingest_rate": args.ingest_rate,
        "ingest_keys": args.ingest_keys,
        "first_pass_seconds": first_pass,
        "ingested": int(load_result.get("ok", 0)),
        "ingest_failed": int(load_result.get("failed", 0)),
        "ingest_achieved_rate": round(
            load_result.get("ok", 0) / max(load_result.get("duration_us", 1) / 1e6, 1e-9)
        ),
        "ratio_target": RATIO_TARGET,
        "p99_target_ms": P99_TARGET_MS,
        "target_met": bool(runs) and all(r["target_met"] for r in runs.values()),
        "seconds": round(time.monotonic() - started, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="peer/Tocsin rounds per path")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--ingest-rate", type=float, default=500.0, help="events/s meanwhile")
    parser.add_argument("--ingest-keys", type=int, default=200, help="the load's dedup keys")
    parser.add_argument(
        "--first-pass-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the load's first event of each key to be applied",
    )
    parser.add_argument("--wrk", help="wrk binary (default: wrk on PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


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
    target = f"target >= {RATIO_TARGET}x, p99 < {P99_TARGET_MS:g} ms"
    print(f"status page vs a fixed-body raw ASGI app ({target}):")
    for label, r in result["runs"].items():
        print(
            f"  {label}: {r['rate']:,}/s vs {r['peer_rate']:,}/s = {r['ratio']}x,"
            f" p99 {r['p99_ms']} ms ({r['bytes']:,} bytes)"
            f" {'met' if r['target_met'] else 'MISSED'}"
        )
    rate, failed = result["ingest_achieved_rate"], result["ingest_failed"]
    print(f"  ingestion meanwhile: {rate:,} events/s ({failed} failed)")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
