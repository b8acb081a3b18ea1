"""Take docs/img/insights.png, docs/img/insights-on-call.png and docs/img/response-timer.png
from the demo organisation (thirteen weeks of past incidents): the KPIs of the last quarter,
its on-call load, and the incident list with its response timers.

Run from the repository root: `python scripts/insights_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from datetime import timedelta

from demo_server import demo_server, shoot

from tocsin.db import utcnow


def main() -> None:
    with demo_server() as (base, _container):
        # The last three months, whichever quarters they fall in: the demo's past.
        today = utcnow().date()
        span = f"from={(today - timedelta(days=91)).isoformat()}&to={today.isoformat()}"
        shoot(
            base,
            {
                "insights.png": (f"/insights?{span}", True),
                "insights-on-call.png": (f"/insights/on-call?{span}", False),
                "response-timer.png": ("/incidents", False),
            },
        )


if __name__ == "__main__":
    main()
