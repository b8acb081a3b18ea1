"""Take docs/img/workflows.png, docs/img/workflow-editor.png and docs/img/plan.png from the
demo organisation: Settings → Workflows with the seeded severity workflows, the SEV1
workflow in the editor, and the response plan.

Run from the repository root: `python scripts/response_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from demo_server import EMAIL, OUT, PASSWORD, chromium, demo_server
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from tocsin.workflows.models import Workflow

SHOTS = ("workflows.png", "workflow-editor.png", "plan.png")


def main() -> None:
    with demo_server() as (base, container), sync_playwright() as playwright:
        with container.sessionmaker() as session:
            first = session.scalars(
                select(Workflow.id).where(Workflow.name.startswith("SEV1")).order_by(Workflow.id)
            ).first()
        if first is None:
            raise SystemExit("the demo has no SEV1 workflow to show")
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/incidents**")
        paths = ("/settings/workflows", f"/settings/workflows/{first}", "/plan")
        for name, path in zip(SHOTS, paths, strict=True):
            page.goto(f"{base}{path}")
            # The editor is long: the whole page, its actions and runs included.
            page.screenshot(path=str(OUT / name), full_page=name == "workflow-editor.png")
        browser.close()
    print("wrote", ", ".join(str(OUT / name) for name in SHOTS))


if __name__ == "__main__":
    main()
