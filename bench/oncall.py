#!/usr/bin/env python3
""" "Who is on call now" for 1,000 schedules: the issue's target is under 50 ms in total.

Builds, in a temporary SQLite database (or --database-url, an empty PostgreSQL database),
1,000 schedules of 3 layers each that started a year ago (weekly, daily and a 12-hour
rotation with business-hours restrictions, in several zones), 100 people and 500 overrides
spread over that year and the next month; then times `on_call_many` for every schedule at
once, each run in a fresh session, and prints the figures (and JSON with --json).

Run from the repository root: `python bench/oncall.py` (`make bench` runs it too).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tocsin.catalog.models import User  # noqa: E402
from tocsin.config import Settings  # noqa: E402
from tocsin.db import make_engine, transaction  # noqa: E402
from tocsin.migrate import upgrade  # noqa: E402
from tocsin.schedules.models import Layer, Override, Schedule  # noqa: E402
from tocsin.schedules.oncall import on_call_many  # noqa: E402
from tocsin.wiring import session_factory  # noqa: E402

SCHEDULES = 1000
PEOPLE = 100
OVERRIDES = 500
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "UTC"]
BUSINESS_HOURS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


def build(settings: Settings, now: datetime) -> list[int]:
    engine = make_engine(settings)
    upgrade(engine, settings)
    factory = session_factory(engine)
    rng = random.Random(4)
    year_ago = (now - timedelta(days=365)).date()
    with transaction(factory) as session:
        users = [
            User(name=f"Person {i}", email=f"person{i}@example.com", role="responder")
            for i in range(PEOPLE)
        ]
        session.add_all(users)
        session.flush()
        ids = [u.id for u in users]
        schedules = [
            Schedule(name=f"Schedule {i}", timezone=rng.choice(ZONES)) for i in range(SCHEDULES)
        ]
        session.add_all(schedules)
        session.flush()
        layers = []
        for schedule in schedules:
            for position, (unit, length, restrictions) in enumerate(
                [("weeks", 1, []), ("days", 1, []), ("hours", 12, BUSINESS_HOURS)]
            ):
                layers.append(
                    Layer(
                        schedule_id=schedule.id,
                        position=position,
                        name=f"Layer {position}",
                        kind="rotation",
                        shift_length=length,
                        shift_unit=unit,
                        timezone=rng.choice(ZONES),
                        start_date=year_ago + timedelta(days=rng.randint(0, 30)),
                        member_ids=rng.sample(ids, rng.randint(2, 6)),
                        restrictions=restrictions,
                        import_report={},
                    )
                )
        session.add_all(layers)
        # 500 overrides over the past year and the next month, never overlapping per schedule.
        for n in range(OVERRIDES):
            start = now - timedelta(days=365) + timedelta(hours=rng.randint(0, 395 * 24))
            session.add(
                Override(
                    schedule_id=schedules[n % SCHEDULES].id,
                    user_id=rng.choice(ids),
                    start=start,
                    end=start + timedelta(hours=rng.randint(1, 48)),
                )
            )
        schedule_ids = [s.id for s in schedules]
    engine.dispose()
    return schedule_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-oncall-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/oncall.db"
        settings = Settings(database_url=url, env="test")
        ids = build(settings, now)
        engine = make_engine(settings)
        factory = session_factory(engine)

        def measure(runs: int, offset: int) -> tuple[list[float], int]:
            timings, covered = [], 0
            for run in range(runs):
                session = factory(bind=engine.execution_options(sqlite_begin="DEFERRED"))
                at = now + timedelta(minutes=(offset + run) * 17)
                started = time.perf_counter()
                result = on_call_many(session, ids, at)
                timings.append((time.perf_counter() - started) * 1000)
                session.close()
                covered = sum(1 for shifts in result.values() if shifts)
            return timings, covered

        # The first call builds every layer's arithmetic: what a fresh process pays once.
        (cold,), _ = measure(1, 0)
        measure(2, 1)
        timings, covered = measure(args.runs, 3)
        # Python's full garbage collections scan every object of the process (tens of
        # milliseconds for a whole Tocsin); gc.freeze() after start-up takes the objects that
        # live forever out of them. Measured both ways.
        gc.collect()
        gc.freeze()
        frozen, _ = measure(args.runs, 3 + args.runs)
        gc.unfreeze()
        engine.dispose()

    def p95(values: list[float]) -> float:
        return round(sorted(values)[max(0, int(len(values) * 0.95) - 1)], 2)

    figures = {
        "schedules": len(ids),
        "layers_per_schedule": 3,
        "overrides": OVERRIDES,
        "runs": len(timings),
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": p95(timings),
        "max_ms": round(max(timings), 2),
        "frozen_median_ms": round(statistics.median(frozen), 2),
        "frozen_p95_ms": p95(frozen),
        "frozen_max_ms": round(max(frozen), 2),
        "first_call_ms": round(cold, 2),
        "schedules_with_someone_on_call": covered,
        "target_ms": 50,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "date": date.today().isoformat(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"who is on call now: {figures['schedules']} schedules x 3 layers, {OVERRIDES} "
        f"overrides ({figures['database']}), {figures['runs']} runs, target < 50 ms\n"
        f"  median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms, "
        f"max {figures['max_ms']} ms\n"
        f"  after gc.freeze(): median {figures['frozen_median_ms']} ms, "
        f"p95 {figures['frozen_p95_ms']} ms, max {figures['frozen_max_ms']} ms\n"
        f"  first call in a fresh process: {figures['first_call_ms']} ms\n"
        f"  {covered} of {figures['schedules']} schedules have someone on call"
    )


if __name__ == "__main__":
    main()
