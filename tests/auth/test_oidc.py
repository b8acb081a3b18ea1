"""OpenID Connect sign-in against a real, certified OpenID provider (panva's oidc-provider on
Node, tests/auth/oidc/provider.mjs), through the browser: Tocsin's login page → the provider's
login and consent → back, signed in. Also refused, with nothing changed and the refusal in the
audit trail: a wrong state, an expired code, a person removed from every mapped group."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest

from tests.auth.sso_live import Live, serve
from tests.conftest import free_port, missing_service
from tocsin.auth import saml, sso
from tocsin.catalog import service as catalog
from tocsin.config import Settings

pytestmark = pytest.mark.browser

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "tocsin", "oidc-client-secret-for-tests"
USERS = {
    "alice-0001": {"email": "alice@example.com", "name": "Alice Ops", "groups": ["payments"]},
    "bob-0002": {"email": "bob@example.com", "name": "Bob Bystander", "groups": ["marketing"]},
}


@dataclass
class World:
    live: Live
    issuer: str
    provider_id: int

    def set_groups(self, subject: str, groups: list[str]) -> None:
        httpx.post(f"{self.issuer}/test/groups/{subject}", content=json.dumps(groups))

    def set_code_ttl(self, seconds: int) -> None:
        httpx.post(f"{self.issuer}/test/code-ttl", content=str(seconds))


def start_provider(port: int, redirect_uri: str) -> subprocess.Popen[str]:
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        missing_service(
            "oidc-provider is not installed (make oidc-provider: npm ci in tests/auth/oidc)"
        )
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URI": redirect_uri,
        "USERS": json.dumps(USERS),
    }
    process = subprocess.Popen(
        [str(node), "provider.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        if line.startswith("READY"):
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("oidc-provider did not start")


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with serve(settings) as live:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        with live.session() as db:
            payments = catalog.create_team(db, name="Payments")
            provider = sso.create_provider(
                db,
                {
                    "kind": "oidc",
                    "name": "Acme ID",
                    "issuer": issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "scopes": "openid email profile groups",
                    "require_group": True,
                    "rules": [
                        {"group": "payments", "role": "responder", "team_id": payments.id},
                        {"group": "readers", "role": "viewer"},
                    ],
                },
                settings=live.settings,
                check_metadata=saml.check_metadata,
            )
            db.commit()
            provider_id = provider.id
        redirect_uri = f"{live.url}/sso/{provider_id}/oidc/callback"
        process = start_provider(port, redirect_uri)
        try:
            yield World(live, issuer, provider_id)
        finally:
            process.terminate()
            process.wait(timeout=10)


def to_provider(page: Any, world: World, login: str) -> None:
    """From Tocsin's login page through the provider's login and consent pages."""
    page.goto(f"{world.live.url}/login")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.wait_for_url(f"{world.issuer}/interaction/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.get_by_role("button", name="Continue").click()


def sign_in(page: Any, world: World, login: str) -> None:
    to_provider(page, world, login)
    page.wait_for_url(f"{world.live.url}/incidents**")


def held_callback(page: Any, world: World, login: str) -> str:
    """Go through the provider, but keep the browser from coming back: the callback URL
    (with the code and state) that the provider sends it to. Playwright does not intercept
    the redirects that follow a request, so the consent's POST (to /interaction/<uid>) is
    intercepted and its redirects followed by hand, with the browser's cookies."""
    held: list[str] = []

    def hold(route: Any) -> None:
        if route.request.method != "POST" or "prompt=consent" not in (
            route.request.post_data or ""
        ):
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        held.append(response.headers["location"])
        route.fulfill(status=200, body="held by the test")

    page.route("**/interaction/*", hold)
    to_provider(page, world, login)
    page.get_by_text("held by the test").wait_for()
    assert held, "the consent was not given"
    location = urljoin(world.issuer, held[0])
    while not location.startswith(world.live.url):
        response = page.request.get(location, max_redirects=0)
        location = urljoin(location, response.headers["location"])
    page.unroute("**/interaction/*")
    return location


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_first_sign_in_creates_the_account_with_its_groups_role_and_team(
    world: World,
    new_page: Any,
) -> None:
    page = new_page()
    sign_in(page, world, "alice-0001")
    # Signed in: the page is for Alice, whose account exists from now on.
    assert page.get_by_text("Alice Ops").first.is_visible()
    assert world.live.user("alice@example.com") == {
        "id": world.live.user("alice@example.com")["id"],  # type: ignore[index]
        "name": "Alice Ops",
        "role": "responder",
        "teams": ["Payments"],
    }
    [login] = world.live.audit("sso.login")
    assert login["via"] == "sso" and login["address"] == "127.0.0.1"
    assert login["detail"]["provider"] == "Acme ID"
    assert login["detail"]["subject"] == "alice-0001"
    assert login["detail"]["created"] is True
    assert login["detail"]["teams_added"] == ["Payments"]


def test_moved_to_another_group_loses_the_team_and_role_at_next_sign_in(
    world: World,
    new_page: Any,
) -> None:
    sign_in(new_page(), world, "alice-0001")
    world.set_groups("alice-0001", ["readers"])
    sign_in(new_page(), world, "alice-0001")
    alice = world.live.user("alice@example.com")
    assert alice is not None and alice["role"] == "viewer" and alice["teams"] == []
    second = world.live.audit("sso.login")[-1]
    assert second["detail"]["created"] is False
    assert second["detail"]["teams_removed"] == ["Payments"]
    changes = world.live.audit("permission.changed")
    [role] = [c for c in changes if c["detail"]["scope"] == "org"]
    assert (role["detail"]["old_role"], role["detail"]["new_role"]) == ("responder", "viewer")
    assert (role["via"], role["address"]) == ("sso", "127.0.0.1")
    [left] = [c for c in changes if c["detail"]["scope"] == "team" and not c["detail"]["new_role"]]
    assert (left["target"], left["detail"]["old_role"], left["via"]) == (
        "Payments",
        "responder",
        "sso",
    )


def test_removed_from_every_mapped_group_is_refused(
    world: World,
    new_page: Any,
) -> None:
    sign_in(new_page(), world, "alice-0001")
    world.set_groups("alice-0001", ["marketing"])
    page = new_page()
    to_provider(page, world, "alice-0001")
    page.wait_for_url(f"{world.live.url}/sso/**")
    assert page.get_by_role("alert").inner_text().startswith("Signing in with Acme ID failed")
    assert "not in any group that gives access" in page.get_by_role("alert").inner_text()
    # Not signed in, and the account kept what it had (nothing changed).
    page.goto(f"{world.live.url}/incidents")
    assert "/login" in page.url
    alice = world.live.user("alice@example.com")
    assert alice is not None and alice["role"] == "responder" and alice["teams"] == ["Payments"]
    [refused] = world.live.audit("sso.refused")
    assert refused["outcome"] == "refused" and refused["address"] == "127.0.0.1"
    assert "not in any group" in refused["detail"]["reason"]


def test_someone_in_no_mapped_group_gets_no_account(
    world: World,
    new_page: Any,
) -> None:
    page = new_page()
    to_provider(page, world, "bob-0002")
    page.wait_for_url(f"{world.live.url}/sso/**")
    assert "not in any group that gives access" in page.get_by_role("alert").inner_text()
    assert world.live.user("bob@example.com") is None
    assert len(world.live.audit("sso.refused")) == 1


def test_a_wrong_state_is_refused(world: World, new_page: Any) -> None:
    page = new_page()
    callback = held_callback(page, world, "alice-0001")
    response = page.goto(with_query(callback, state="forged-state"))
    assert response is not None and response.status == 401
    assert "wrong state" in page.get_by_role("alert").inner_text()
    assert world.live.user("alice@example.com") is None
    [refused] = world.live.audit("sso.refused")
    assert "wrong state" in refused["detail"]["reason"]
    # The right state still works once (the code was not spent on the forged request).
    response = page.goto(callback)
    page.wait_for_url(f"{world.live.url}/incidents**")
    assert world.live.user("alice@example.com") is not None
    # …and only once: the same answer again is refused.
    response = page.goto(callback)
    assert response is not None and response.status == 401
    assert world.live.audit("sso.refused")[-1]["detail"]["stage"] == "callback"


def test_an_expired_code_is_refused(world: World, new_page: Any) -> None:
    world.set_code_ttl(1)
    page = new_page()
    callback = held_callback(page, world, "alice-0001")
    time.sleep(2.5)
    response = page.goto(callback)
    assert response is not None and response.status == 401
    assert "invalid_grant" in page.get_by_role("alert").inner_text()
    assert world.live.user("alice@example.com") is None
    [refused] = world.live.audit("sso.refused")
    assert "invalid_grant" in refused["detail"]["reason"]
