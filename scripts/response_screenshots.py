"""Take docs/img/workflows.png, docs/img/workflow-editor.png and docs/img/plan.png from the
demo organisation: Settings → Workflows with the seeded severity workflows, the SEV1
workflow in the editor, and the response plan.

Run from the repository root: `python scripts/response_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from demo_server import demo_server, shoot
from sqlalchemy import select

from tocsin.workflows.models import Workflow


def main() -> None:
    with demo_server() as (base, container):
        with container.sessionmaker() as session:
            first = session.scalars(
                select(Workflow.id).where(Workflow.name.startswith("SEV1")).order_by(Workflow.id)
            ).first()
        if first is None:
            raise SystemExit("the demo has no SEV1 workflow to show")
        shoot(
            base,
            {
                "workflows.png": ("/settings/workflows", False),
                # The editor is long: the whole page, its actions and runs included.
                "workflow-editor.png": (f"/settings/workflows/{first}", True),
                "plan.png": ("/plan", False),
            },
        )


if __name__ == "__main__":
    main()
