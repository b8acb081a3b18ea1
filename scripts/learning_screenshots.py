"""Take docs/img/postmortem*.png and docs/img/follow-ups.png from the demo organisation: the
postmortems list, the SEV1 failover's postmortem as pre-filled, and the follow-up list.

Run from the repository root: `python scripts/learning_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from demo_server import demo_server, shoot
from sqlalchemy import select

from tocsin.postmortems.models import Postmortem


def main() -> None:
    with demo_server() as (base, container):
        with container.sessionmaker() as session:
            first = session.scalars(select(Postmortem.id).order_by(Postmortem.id)).first()
        if first is None:
            raise SystemExit("the demo has no postmortem to show")
        shoot(
            base,
            {
                "postmortems.png": ("/postmortems", False),
                "postmortem.png": (f"/postmortems/{first}", False),
                "follow-ups.png": ("/follow-ups", False),
            },
        )


if __name__ == "__main__":
    main()
