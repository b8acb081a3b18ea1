"""Take docs/img/statuspage*.png: the demo's public status page on a desktop and a phone.

Run from the repository root: `python scripts/statuspage_screenshots.py` (needs Playwright
and Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
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

from tocsin.app import create_app
from tocsin.bootstrap import build
from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.demo.seed import seed_demo
from tocsin.migrate import upgrade

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


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
        seed_demo(session, "admin@example.com", "tocsin-admin")
    container.runner("shots").run_until_idle()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, container=container), port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            for name, width, height, full in (
                ("statuspage.png", 1280, 900, True),
                ("statuspage-phone.png", 390, 844, False),
            ):
                page = browser.new_page(viewport={"width": width, "height": height},
                                        device_scale_factor=1)  # fmt: skip
                page.goto(f"{settings.base_url}/status/acme/")
                page.screenshot(path=str(OUT / name), full_page=full)
                page.close()
            browser.close()
    finally:
        server.should_exit = True
        container.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print("wrote", OUT / "statuspage.png", "and", OUT / "statuspage-phone.png")


if __name__ == "__main__":
    main()
