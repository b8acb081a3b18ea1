"""The interactive API reference renders Tocsin's OpenAPI 3.1 document in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.conftest import ADMIN_PASSWORD
from tocsin.catalog.models import User

pytestmark = pytest.mark.browser


def test_the_api_reference_lists_the_operations(live_server: str, new_page, admin: User) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = new_page()
    login(page, live_server, admin.email, ADMIN_PASSWORD)
    page.goto(f"{live_server}/api/v1/docs")
    # Swagger UI fetches the document with the session cookie and lists every operation;
    # one too old for OpenAPI 3.1 says the definition has no valid version field instead.
    paths = page.locator(".opblock-summary-path")
    # The document is large (every route): on a busy machine it takes a while to arrive.
    expect(paths.filter(has_text="/api/v1/incidents").first).to_be_visible(timeout=30_000)
    expect(paths.filter(has_text="/api/v1/alerts").first).to_be_visible()
    assert page.get_by_text("does not specify a valid version field").count() == 0
    # Nothing came from elsewhere: the page's scripts and styles are served by Tocsin.
    sources = page.evaluate(
        "[...document.querySelectorAll('script[src], link[rel=stylesheet]')]"
        ".map(e => e.src || e.href)"
    )
    assert sources and all(s.startswith(live_server) for s in sources), sources
