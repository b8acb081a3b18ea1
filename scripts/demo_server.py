"""The demo organisation served on a loopback port from a throwaway SQLite database, for the
scripts that take the documentation's screenshots."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.config import Settings
from tocsin.db import transaction
from tocsin.demo.seed import seed_demo
from tocsin.migrate import upgrade

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
EMAIL, PASSWORD = "admin@example.com", "tocsin-admin"


def chromium() -> str | None:
    """Debian's chromium, which Playwright launches (it cannot download its own here)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def demo_server(**overrides: object) -> Iterator[tuple[str, Container]]:
    """The demo seeded, its jobs run, served until the block ends: (base URL, container).
    `overrides` change the server's settings (the chat screenshots reach a homeserver on
    loopback)."""
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
    settings = settings.model_copy(update=overrides)
    container = build(settings)
    upgrade(container.engine, settings)
    with transaction(container.sessionmaker) as session:
        seed_demo(session, EMAIL, PASSWORD)
    container.runner("shots").run_until_idle()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, container=container), port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield settings.base_url, container
    finally:
        server.should_exit = True
        container.close()
        shutil.rmtree(workdir, ignore_errors=True)


def shoot(
    base: str, shots: dict[str, tuple[str, bool]], *, anchors: dict[str, str] | None = None
) -> None:
    """Log in as the demo's admin in Chromium and save each path's page under docs/img:
    `shots` maps a file name to (path, whole page rather than the first screen); `anchors`
    maps a file name to a CSS selector of the part to show instead."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/incidents**")
        for name, (path, full_page) in shots.items():
            page.goto(f"{base}{path}")
            selector = (anchors or {}).get(name)
            if selector:
                page.locator(selector).first.screenshot(path=str(OUT / name))
            else:
                page.screenshot(path=str(OUT / name), full_page=full_page)
        browser.close()
    print("wrote", ", ".join(str(OUT / name) for name in shots))
