"""Take docs/img/postmortem*.png and docs/img/follow-ups.png from the demo organisation: the
postmortems list, the SEV1 failover's postmortem as pre-filled, and the follow-up list.

Run from the repository root: `python scripts/learning_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from demo_server import EMAIL, OUT, PASSWORD, chromium, demo_server
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from tocsin.postmortems.models import Postmortem

SHOTS = ("postmortems.png", "postmortem.png", "follow-ups.png")


def main() -> None:
    with demo_server() as (base, container), sync_playwright() as playwright:
        with container.sessionmaker() as session:
            first = session.scalars(select(Postmortem.id).order_by(Postmortem.id)).first()
        if first is None:
            raise SystemExit("the demo has no postmortem to show")
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/incidents**")
        paths = ("/postmortems", f"/postmortems/{first}", "/follow-ups")
        for name, path in zip(SHOTS, paths, strict=True):
            page.goto(f"{base}{path}")
            page.screenshot(path=str(OUT / name))
        browser.close()
    print("wrote", ", ".join(str(OUT / name) for name in SHOTS))


if __name__ == "__main__":
    main()
