"""Take docs/img/postmortem*.png and docs/img/follow-ups.png from the demo organisation: the
postmortems list, the SEV1 failover's postmortem as pre-filled, and the follow-up list.

Run from the repository root: `python scripts/learning_screenshots.py` (needs Playwright and
Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from tocsin.app import create_app
from tocsin.bootstrap import build
from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.demo.seed import seed_demo
from tocsin.migrate import upgrade
from tocsin.postmortems.models import Postmortem

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
EMAIL, PASSWORD = "admin@example.com", "tocsin-admin"


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tocsin-shots-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'tocsin.db'}",
        base_url=f"http://127.0.0.1:{port}",
        embedded_worker=False,
        env="test",
        log_level="WARNING",
    )
    container = build(settings)
    upgrade(container.engine, settings)
    with transaction(container.sessionmaker) as session:
        seed_demo(session, EMAIL, PASSWORD)
    container.runner("shots").run_until_idle()
    with container.sessionmaker() as session:
        first = session.scalars(select(Postmortem.id).order_by(Postmortem.id)).first()
    if first is None:
        raise SystemExit("the demo has no postmortem to show")
    server = uvicorn.Server(uvicorn.Config(create_app(settings, container=container), port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = settings.base_url
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/incidents**")
            for name, path, full in (
                ("postmortems.png", "/postmortems", False),
                ("postmortem.png", f"/postmortems/{first}", False),
                ("follow-ups.png", "/follow-ups", False),
            ):
                page.goto(f"{base}{path}")
                page.screenshot(path=str(OUT / name), full_page=full)
            browser.close()
    finally:
        server.should_exit = True
        container.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print("wrote", ", ".join(str(OUT / n) for n in ("postmortems.png", "postmortem.png",
                                                    "follow-ups.png")))  # fmt: skip


if __name__ == "__main__":
    main()
