#!/usr/bin/env python3
"""The Insights pages on a long history (issue 18).

Target: on a generated history of 100,000 incidents, 2 million alerts and 500 people, the
Insights page for a quarter and all teams answers in under 1 s p95, on SQLite and on
PostgreSQL (warm), and filtered by one team in under 300 ms.

The run, for each database chosen with --db, in a temporary directory (and a scratch
PostgreSQL database, dropped afterwards), on loopback only, every process stopped on the way
out (also on an error, Ctrl-C or SIGTERM):

1. Generate: `tocsin db upgrade` on a fresh database (the schema, and the defaults a new
   install gets), then `generate` of bench/insights_history.py: a seeded-random history of
   the last two years, bulk-inserted (what it holds is described there). The same seed gives
   the same history, relative to the moment it runs.
2. Measure: `tocsin user create` of an admin, `tocsin serve` as shipped, a wait (bounded) for
   its start-up jobs (the periodic scans' first pass over the history), a login through the
   real form, then each URL of `URLS` requested `--warmup` times untimed and `--runs` times
   timed, one request at a time. An answer other than 200 is an error, never a time.

Prints a summary; `--json` prints the figures as JSON (what `bench/run.py` reads).
`--generate-only` stops after step 1 (with --keep, the database stays for a look).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import run as harness  # noqa: E402  (bench/run.py: processes, the Tocsin CLI, scratch databases)
from insights_history import SCALES, SEED, Scale, generate, log  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from tocsin.alerts.models import Alert, Event  # noqa: E402
from tocsin.catalog.models import Service, Team, User  # noqa: E402
from tocsin.db import table_of  # noqa: E402
from tocsin.incidents.models import Incident, incident_services  # noqa: E402
from tocsin.notify.models import Notification  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres:tocsin-ci@127.0.0.1:5432/postgres"
POSTGRES_DATABASE = "tocsin_bench_insights"
# One per run: a database kept by an earlier run (--existing) has that run's admin already.
ADMIN_EMAIL = f"bench-admin-{os.getpid()}@example.com"
ALL_TEAMS_TARGET_MS = 1000.0
ONE_TEAM_TARGET_MS = 300.0

# How the pages keep their figures fast and exact, for the report: say it again here when
# that changes (rollups kept as incidents change, indexes).
METHOD = (
    "How the figures stay fast and exact (docs/insights.md): nothing is pre-aggregated, so"
    " no rollup can drift from the incidents; each page reads the rows of its period through"
    " indexes and aggregates in the database or over the period's incidents in memory when"
    " it is asked for, so every figure is exact at the moment of the request, and the times"
    " below are those of computing it all."
)

# The pages measured, in order; `{team}` is the busiest team's id. The target of a URL with a
# team is ONE_TEAM_TARGET_MS, of the others ALL_TEAMS_TARGET_MS.
URLS: tuple[str, ...] = (
    "/insights?period=quarter",
    "/insights?period=quarter&team={team}",
    "/insights/on-call?period=quarter",
    "/insights/on-call?period=quarter&team={team}",
    "/insights/noise?period=quarter",
    "/insights/noise?period=quarter&team={team}",
    "/insights/learning?period=quarter",
    "/insights/learning?period=quarter&team={team}",
    "/api/v1/insights/kpis?period=quarter",
)


# --------------------------------------------------------------------------- measuring


@dataclass
class Timing:
    url: str
    target_ms: float
    n: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    error: str = ""

    @property
    def target_met(self) -> bool:
        return not self.error and self.p95_ms is not None and self.p95_ms < self.target_ms


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Browser:
    """A logged-in browser session against one server on loopback."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookie = ""

    def log_in(self, email: str, password: str) -> None:
        """Through the real login form; keeps the session cookie it sets."""
        body = urllib.parse.urlencode({"email": email, "password": password}).encode()
        request = urllib.request.Request(f"{self.base}/login", data=body, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(request, timeout=60)
        except urllib.error.HTTPError as exc:  # the 303 after a login, kept by NoRedirect
            cookies = exc.headers.get_all("Set-Cookie") or []
            if exc.code != 303 or not cookies:
                raise harness.BenchError(f"login failed: HTTP {exc.code}") from None
            self.cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
            return
        except OSError as exc:
            raise harness.BenchError(f"login: no answer ({exc})") from None
        raise harness.BenchError("login answered without a redirect")

    def get(self, path: str, timeout: float) -> tuple[int, float]:
        """One GET: its status and how long until the whole body was read (ms)."""
        request = urllib.request.Request(f"{self.base}{path}", headers={"Cookie": self.cookie})
        opener = urllib.request.build_opener(NoRedirect)
        started = time.perf_counter()
        try:
            with opener.open(request, timeout=timeout) as answer:
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as exc:
            exc.read()
            status = exc.code
        return status, (time.perf_counter() - started) * 1000


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (a login page is not the page asked for)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def measure_urls(
    browser: Browser, urls: Sequence[str], *, runs: int, warmup: int, time_limit: float
) -> list[Timing]:
    """Each URL: `warmup` untimed requests, then `runs` timed ones, one at a time, all within
    `time_limit` seconds per URL. A status other than 200 ends the URL with an error."""
    timings = []
    for url in urls:
        timing = Timing(url, ONE_TEAM_TARGET_MS if "team=" in url else ALL_TEAMS_TARGET_MS)
        timings.append(timing)
        deadline = time.monotonic() + time_limit
        samples: list[float] = []
        for n in range(warmup + runs):
            if time.monotonic() > deadline:
                timing.error = f"only {len(samples)} of {runs} runs within {time_limit:.0f} s"
                break
            try:
                status, took = browser.get(url, timeout=max(1.0, deadline - time.monotonic()))
            except OSError as exc:
                timing.error = f"no answer: {exc}"
                break
            if status != 200:
                timing.error = f"HTTP {status}"
                break
            if n >= warmup:
                samples.append(took)
        if samples and not timing.error:
            timing.n = len(samples)
            timing.p50_ms = round(statistics.median(samples), 1)
            timing.p95_ms = round(percentile(samples, 0.95), 1)
            timing.max_ms = round(max(samples), 1)
        log(
            f"{url}: "
            + (
                timing.error
                or f"p50 {timing.p50_ms} ms, p95 {timing.p95_ms} ms, max {timing.max_ms} ms"
            )
        )
    return timings


def measure(
    procs: harness.Processes,
    work: Path,
    database_url: str,
    urls: Sequence[str],
    args: argparse.Namespace,
) -> list[Timing]:
    """An admin, `tocsin serve` on a free loopback port, a login, then the URLs; the server
    is stopped before returning, whatever happens."""
    tocsin = harness.Tocsin(procs, work, database_url)
    password = secrets.token_urlsafe(16)
    tocsin.cli(
        "user", "create", "--name", "Bench Admin", "--email", ADMIN_EMAIL,
        "--role", "admin", "--password", password,
    )  # fmt: skip
    port = harness.free_port()
    server = tocsin.serve(port)
    db = harness.Database(database_url)
    try:
        # Warm means the server's start-up catch-up (periodic scans over the whole history:
        # follow-up reminders, event purge) is done; measured pages do not queue behind it.
        settled = db.wait_settled(args.settle_timeout)
        log(
            f"start-up jobs done in {settled:.1f} s"
            if settled is not None
            else f"start-up jobs not done within {args.settle_timeout} s; measuring anyway"
        )
        browser = Browser(f"http://127.0.0.1:{port}")
        browser.log_in(ADMIN_EMAIL, password)
        return measure_urls(
            browser, urls, runs=args.runs, warmup=args.warmup, time_limit=args.url_time_limit
        )
    finally:
        db.close()
        procs.stop(server)


def database_version(database_url: str) -> str:
    db = harness.Database(database_url)
    try:
        return db.version()
    finally:
        db.close()


def run_database(
    backend: str, args: argparse.Namespace, scale: Scale, procs: harness.Processes, work: Path
) -> dict[str, Any]:
    """Generate on a fresh database of `backend`, then measure (unless --generate-only)."""
    scratch = None
    if backend == "sqlite":
        database_url = f"sqlite:///{work / 'insights.db'}"
    else:
        scratch = harness.ScratchDatabase(args.postgres_url, args.postgres_database)
        database_url = scratch.create()
    try:
        log(f"{backend}: tocsin db upgrade")
        harness.Tocsin(procs, work, database_url).cli("db", "upgrade")
        log(f"{backend}: generating {scale}")
        made = generate(database_url, scale, seed=args.seed)
        log(
            f"{backend}: generated in {made.seconds:.1f} s: "
            + ", ".join(f"{name} {n:,}" for name, n in made.counts.items())
        )
        result: dict[str, Any] = {
            "database": database_version(database_url),
            "generation_seconds": round(made.seconds, 1),
            "counts": made.counts,
            "busiest_team_id": made.busiest_team_id,
            "busiest_team": made.busiest_team,
            "urls": [],
        }
        if not args.generate_only:
            urls = [u.format(team=made.busiest_team_id) for u in args.url or URLS]
            timings = measure(procs, work, database_url, urls, args)
            result["urls"] = [{**asdict(t), "target_met": t.target_met} for t in timings]
        return result
    finally:
        if scratch is not None and not args.keep:
            scratch.drop()
        elif scratch is not None:
            log(f"kept the database {scratch.name}")


def measure_existing(
    args: argparse.Namespace, procs: harness.Processes, work: Path
) -> dict[str, Any]:
    """Measure a database an earlier run generated and kept (--keep), without generating."""
    engine = create_engine(args.existing)
    try:
        with engine.connect() as conn:
            counts = {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in map(table_of, (User, Incident, Alert, Event, Notification))
            }
            team_id, team_name = conn.execute(
                select(Team.id, Team.name)
                .join(Service, Service.team_id == Team.id)
                .join(incident_services, incident_services.c.service_id == Service.id)
                .group_by(Team.id, Team.name)
                .order_by(func.count(func.distinct(incident_services.c.incident_id)).desc())
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    urls = [u.format(team=team_id) for u in args.url or URLS]
    timings = measure(procs, work, args.existing, urls, args)
    return {
        "database": database_version(args.existing),
        "generation_seconds": None,
        "counts": counts,
        "busiest_team_id": team_id,
        "busiest_team": team_name,
        "urls": [{**asdict(t), "target_met": t.target_met} for t in timings],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    parser.add_argument("--quick", action="store_true", help="the same as --scale quick")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--runs", type=int, default=30, help="timed requests per URL (30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per URL (3)")
    parser.add_argument(
        "--url-time-limit", type=float, default=120.0, help="seconds per URL at most (120)"
    )
    parser.add_argument(
        "--url",
        action="append",
        help="a path to measure instead of the default list (repeat; {team} is the busiest"
        " team's id)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the server's start-up jobs before measuring (600)",
    )
    parser.add_argument(
        "--existing",
        metavar="DATABASE_URL",
        help="measure a database an earlier run kept (--keep) instead of generating one",
    )
    parser.add_argument("--generate-only", action="store_true", help="no server, no timings")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TOCSIN_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL server on loopback (default: TOCSIN_TEST_POSTGRES_URL, else the"
        " local server)",
    )
    parser.add_argument(
        "--postgres-database",
        default=f"{POSTGRES_DATABASE}_{os.getpid()}",
        help=f"the scratch database's name (default {POSTGRES_DATABASE}_<pid>: runs at the"
        " same time do not meet)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = "quick"
    if not 1 <= args.runs <= 1000 or not 0 <= args.warmup <= 100:
        parser.error("--runs: 1 to 1000; --warmup: 0 to 100")
    for url in (args.postgres_url, args.existing or ""):
        if not harness.on_loopback(url):
            parser.error("only a database server on this machine (loopback)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    scale = SCALES[args.scale]
    backends = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    procs = harness.Processes()
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-insights-"))
    out: dict[str, Any] = {
        "scale": args.scale,
        "sizes": asdict(scale),
        "seed": args.seed,
        "runs": args.runs,
        "warmup": args.warmup,
        "all_teams_target_ms": ALL_TEAMS_TARGET_MS,
        "one_team_target_ms": ONE_TEAM_TARGET_MS,
        "method": METHOD,
        "databases": {},
    }
    if args.existing:
        backends = ("sqlite" if args.existing.startswith("sqlite") else "postgres",)
    try:
        for backend in backends:
            try:
                if args.existing:
                    out["databases"][backend] = measure_existing(args, procs, work)
                    continue
                out["databases"][backend] = run_database(backend, args, scale, procs, work)
            except harness.BenchError as exc:
                # Reported, and the other database still runs.
                log(f"{backend}: error: {exc}")
                out["databases"][backend] = {"error": str(exc)}
    except KeyboardInterrupt:
        log("interrupted; every process started has been stopped")
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(summary(out))
    return 0


def summary(out: dict[str, Any]) -> str:
    lines = []
    for backend, d in out["databases"].items():
        if "error" in d:
            lines.append(f"{backend}: could not run: {d['error']}")
            continue
        made = f"generated in {d['generation_seconds']} s" if d["generation_seconds"] else "kept"
        lines.append(f"{backend} ({d['database']}): {made}")
        lines.append("  " + ", ".join(f"{k} {v:,}" for k, v in d["counts"].items()))
        lines.append(f"  busiest team: {d['busiest_team']} (id {d['busiest_team_id']})")
        for t in d["urls"]:
            figures = (
                t["error"] or f"p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms, max {t['max_ms']} ms"
            )
            verdict = "met" if t["target_met"] else "NOT MET"
            lines.append(f"  {t['url']}: {figures} (target p95 < {t['target_ms']:g} ms: {verdict})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
