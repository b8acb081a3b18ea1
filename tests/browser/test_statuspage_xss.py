"""Status pages: XSS payloads published as incident names, update bodies, component and group
names and the page description stay text, on the live page and on its static export."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import login
from tests.browser.test_xss import PAYLOADS
from tests.conftest import ADMIN_PASSWORD
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents
from tocsin.statuspages import maintenance, publish, service
from tocsin.statuspages.export import export_page

pytestmark = pytest.mark.browser

EXTRA = [
    "<img src=x onerror=alert(1)>",
    "javascript:alert(document.domain)",
    "<a href=\"javascript:alert('md')\">x</a> [y](javascript:alert('md2'))",
    '<style>body{display:none}</style><b style="color:red" onclick="alert(1)">b</b>',
]
CORPUS = PAYLOADS + EXTRA


def _seed(db: Session, admin: User) -> None:
    from datetime import timedelta

    from tocsin.db import utcnow

    page = service.create_page(
        db, {"name": "Safe Status", "slug": "safe", "description": "\n\n".join(CORPUS)}
    )
    components = []
    for payload in CORPUS:
        group = service.create_group(db, page, {"name": payload[:120], "description": payload})
        components.append(
            service.create_component(
                db,
                page,
                {"name": payload[:120], "description": payload, "group_id": group.id},
            )
        )
    for i, payload in enumerate(CORPUS):
        incident = incidents.declare(db, by=admin, title=f"incident {i}")
        for phase in ("investigating", "identified"):
            draft = publish.check(
                db,
                page,
                incident,
                phase=phase,
                body=payload,
                name=payload[:255],
                components={components[i].id: "partial_outage"},
            )
            publish.publish(db, draft, by=admin)
    now = utcnow()
    maintenance.schedule(
        db,
        page,
        {
            "name": CORPUS[0],
            "scheduled_for": now + timedelta(days=1),
            "scheduled_until": now + timedelta(days=1, hours=1),
            "component_ids": [components[0].id],
        },
        body=CORPUS[1],
        by=admin,
    )
    db.commit()


def _inert(page, where: str) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("window.__xss") is None, f"payload ran on {where}"
    for selector in (
        "img[onerror]",
        "svg[onload]",
        "iframe",
        "details[ontoggle]",
        "a[href^='javascript:']",
        "script",
        "style:not([data-x])",
        "[onclick]",
        "[style]",
    ):
        assert page.locator(selector).count() == 0, f"{selector} on {where}"


def _visit_all(page, base: str, dialogs: list[str]) -> None:  # type: ignore[no-untyped-def]
    page.goto(base)
    page.wait_for_load_state("load")
    _inert(page, base)
    links = page.eval_on_selector_all(
        "a[href]", "els => els.map(e => e.href).filter(h => h.startsWith(location.origin))"
    )
    incident_pages = sorted({link for link in links if "/incidents/" in link})
    assert len(incident_pages) >= len(CORPUS)
    for url in [*incident_pages, base + "history/"]:
        page.goto(url)
        page.wait_for_load_state("load")
        _inert(page, url)
    # The payloads are shown as text.
    page.goto(base)
    assert "<script>window.__xss = 'script'</script>" in page.locator("main").inner_text()
    assert dialogs == []


def test_xss_payloads_never_run_on_status_pages(
    live_server: str,
    new_page,
    db: Session,
    admin: User,
    container: Container,
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _seed(db, admin)
    container.runner("browser-test").run_until_idle()
    base = f"{live_server}/status/safe/"
    deadline = time.monotonic() + 15
    while httpx.get(base, timeout=30).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server's cache picks the render up within its poll interval
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _visit_all(page, base, dialogs)
    # The composer's preview and the editor show the same text to staff, also inert.
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/status-pages")
    page.get_by_role("link", name="Safe Status").click()
    page.wait_for_load_state("load")
    _inert(page, "the editor")
    page.goto(f"{live_server}/status-pages/1/preview/")
    _inert(page, "the preview")
    assert dialogs == []

    # The static copy, from a plain static file server.
    out = tmp_path / "site"
    with container.sessionmaker() as session:
        export_page(session, service.get_page(session, "safe"), out, settings=settings)
        session.commit()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        static = new_page()
        static.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        _visit_all(static, f"http://127.0.0.1:{server.server_address[1]}/", dialogs)
    finally:
        server.shutdown()
        server.server_close()
