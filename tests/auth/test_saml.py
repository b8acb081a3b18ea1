"""SAML 2.0 sign-in against a pysaml2 identity provider on loopback (tests/auth/saml_idp.py):
Tocsin's start → the IdP's AuthnRequest (HTTP-Redirect) → its response POSTed to the ACS
(HTTP-POST binding) → signed in. Unsigned, tampered, foreign-signed and replayed responses are
refused with 401, change nothing, and are recorded as `sso.refused`."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.saml_idp import IdP, key_and_certificate, running_idp
from tests.auth.sso_live import Live, serve
from tocsin.auth import saml, sso
from tocsin.auth.sso_models import SsoProvider
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow

ALICE = {
    "subject": "a1b2c3-alice",
    "email": "alice@example.com",
    "name": "Alice Ops",
    "groups": ["oncall"],
}


@dataclass
class World:
    live: Live
    idp: IdP
    provider_id: int

    def start(self, http: httpx.Client) -> dict[str, str]:
        """Start signing in and let the IdP answer: the form it has the browser POST."""
        started = http.get(f"/sso/{self.provider_id}/start", follow_redirects=False)
        assert started.status_code == 303, started.text
        assert started.headers["location"].startswith(f"{self.idp.url}/sso?SAMLRequest=")
        page = httpx.get(started.headers["location"], timeout=20).text
        fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', page))
        return {name: html.unescape(value) for name, value in fields.items()}

    def post(self, http: httpx.Client, fields: dict[str, str]) -> httpx.Response:
        return http.post(f"/sso/{self.provider_id}/saml/acs", data=fields, follow_redirects=False)


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    with serve(settings) as live, running_idp(tmp_path) as idp:
        with live.session() as db:
            sre = catalog.create_team(db, name="SRE")
            provider = sso.create_provider(
                db,
                {
                    "kind": "saml",
                    "name": "Corp SAML",
                    "idp_metadata": idp.metadata(),
                    "require_group": True,
                    "rules": [
                        {"group": "oncall", "role": "responder", "team_id": sre.id},
                        {"group": "admins", "role": "admin"},
                    ],
                },
                settings=live.settings,
                check_metadata=saml.check_metadata,
            )
            db.commit()
            provider_id = provider.id
        idp.trust(saml.sp_metadata(provider_id, live.url))
        idp.person = dict(ALICE)
        yield World(live, idp, provider_id)


def browser(world: World) -> httpx.Client:
    return httpx.Client(base_url=world.live.url, timeout=30)


def test_post_binding_signs_in_and_creates_the_account(world: World) -> None:
    with browser(world) as http:
        answer = world.post(http, world.start(http))
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/incidents"
        page = http.get("/incidents")
        assert page.status_code == 200 and "Alice Ops" in page.text
    alice = world.live.user("alice@example.com")
    assert alice is not None
    assert (alice["role"], alice["teams"]) == ("responder", ["SRE"])
    [login] = world.live.audit("sso.login")
    assert login["detail"]["kind"] == "saml"
    assert login["detail"]["subject"] == ALICE["subject"]
    assert login["address"] == "127.0.0.1"


def test_in_chromium_the_idp_s_form_posts_back_and_signs_in_where_asked(
    world: World, new_page: Any
) -> None:
    """The real browser flow: the login page's button, the IdP's redirect binding, its
    self-submitting form POSTed to the ACS, signed in on the page first asked for."""
    page = new_page()
    page.goto(f"{world.live.url}/schedules")
    page.wait_for_url(f"{world.live.url}/login**")  # not signed in: the login page, with next
    page.get_by_role("link", name="Sign in with Corp SAML").click()
    page.wait_for_url(f"{world.live.url}/schedules**")
    assert page.get_by_text("Alice Ops").first.is_visible()
    page.goto(f"{world.live.url}/incidents")
    assert "/login" not in page.url  # the session holds
    [login] = world.live.audit("sso.login")
    assert login["detail"]["kind"] == "saml"


def refused(world: World, answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text
    assert words in html.unescape(answer.text)
    assert "tocsin_session" not in answer.cookies
    assert world.live.user("alice@example.com") is None
    last = world.live.audit("sso.refused")[-1]
    assert last["outcome"] == "refused" and last["target"] == "Corp SAML"
    assert words in last["detail"]["reason"]


def test_an_unsigned_assertion_is_refused(world: World) -> None:
    world.idp.sign = False
    with browser(world) as http:
        refused(world, world.post(http, world.start(http)), "SAML response was refused")


def test_a_tampered_assertion_is_refused(world: World) -> None:
    with browser(world) as http:
        fields = world.start(http)
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        assert ">oncall<" in xml
        forged = xml.replace(">oncall<", ">admins<")
        fields["SAMLResponse"] = base64.b64encode(forged.encode()).decode()
        refused(world, world.post(http, fields), "SAML response was refused")
    assert world.live.audit("sso.login") == []


def test_an_assertion_signed_by_another_key_is_refused(world: World, tmp_path: Path) -> None:
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    world.idp.key_file, world.idp.cert_file = key_and_certificate(impostor_dir, "impostor")
    world.idp.trust(saml.sp_metadata(world.provider_id, world.live.url))
    with browser(world) as http:
        refused(world, world.post(http, world.start(http)), "SAML response was refused")


def test_a_replayed_response_is_refused(world: World) -> None:
    with browser(world) as http:
        fields = world.start(http)
        assert world.post(http, fields).status_code == 303
    with browser(world) as attacker:
        again = world.post(attacker, fields)
    assert again.status_code == 401
    assert "tocsin_session" not in again.cookies
    assert len(world.live.audit("sso.login")) == 1
    assert "already used" in world.live.audit("sso.refused")[-1]["detail"]["reason"]


def test_a_used_assertion_id_is_refused_until_it_expires(world: World) -> None:
    """The replay check itself: the same assertion id twice is refused; once it expired
    it is forgotten."""
    with world.live.session() as db:
        provider = db.get(SsoProvider, world.provider_id)
        assert provider is not None
        soon = (utcnow() + timedelta(minutes=5)).timestamp()
        saml.remember_assertion(db, provider, "_assertion-1", soon)
        with pytest.raises(sso.SsoRefused, match="used already"):
            saml.remember_assertion(db, provider, "_assertion-1", soon)
        saml.remember_assertion(db, provider, "_assertion-2", soon)
        db.commit()


def test_removed_from_the_group_is_refused_and_keeps_nothing_new(world: World) -> None:
    with browser(world) as http:
        assert world.post(http, world.start(http)).status_code == 303
    world.idp.person = {**ALICE, "groups": ["contractors"]}
    with browser(world) as http:
        answer = world.post(http, world.start(http))
    assert answer.status_code == 403
    assert "not in any group" in html.unescape(answer.text)
    alice = world.live.user("alice@example.com")
    assert alice is not None and alice["teams"] == ["SRE"]


def test_the_sp_metadata_names_the_acs(world: World) -> None:
    with browser(world) as http:
        metadata = http.get(f"/sso/{world.provider_id}/saml/metadata.xml")
    assert metadata.status_code == 200
    assert f'Location="{world.live.url}/sso/{world.provider_id}/saml/acs"' in metadata.text
    assert 'WantAssertionsSigned="true"' in metadata.text
