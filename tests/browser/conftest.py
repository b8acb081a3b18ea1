"""Helpers of the browser tests. The `chromium` and `new_page` fixtures are in tests/conftest.py,
so that every directory shares the one browser (two sync Playwright instances cannot run at
once)."""

from __future__ import annotations


def login(page, base_url: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/incidents**")
