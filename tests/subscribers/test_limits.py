"""Rate limits per client and per address, kept in the database (shared by every process),
and bad input refused with a clear message, changing nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer
from tests.subscribers.conftest import Acme, form_token, fresh, run_jobs, subscribe
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.subscribers.limits import client_key
from tocsin.subscribers.models import Delivery, Subscriber


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"subscribe_limit_per_ip": 6, "subscribe_limit_per_address": 2}
    )


def _counts(db: Session) -> tuple[int, int, int]:
    fresh(db)
    return (
        int(db.scalar(select(func.count(Subscriber.id))) or 0),
        int(db.scalar(select(func.count(Delivery.id))) or 0),
        int(db.scalar(select(func.count(Job.id))) or 0),
    )


def test_one_address_is_limited_whatever_client_asks(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme
) -> None:
    for n in range(2):
        client.headers["X-Forwarded-For"] = f"192.0.2.{n}"  # not trusted: same client
        assert subscribe(client, email="IVY@example.com").status_code == 200
    limited = subscribe(client, email="ivy@example.com")
    assert limited.status_code == 429
    assert "for this address" in limited.text and "at most 2 an hour" in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 3601
    assert "Nothing was changed and nothing was sent." in limited.text
    # Other addresses still go through (the client's own limit is higher).
    assert subscribe(client, email="joe@example.com").status_code == 200
    db.rollback()
    run_jobs(container)
    assert sorted(str(m["To"]) for m in smtp.messages) == ["ivy@example.com", "joe@example.com"]


def test_one_client_is_limited_across_processes(
    client: TestClient, db: Session, settings: Settings, container: Container, acme: Acme
) -> None:
    other: Container = build(settings)  # a second web process on the same database
    try:
        with TestClient(create_app(settings, container=other)) as second:
            for n in range(3):
                assert subscribe(client, email=f"p{n}@example.com").status_code == 200
                assert subscribe(second, email=f"q{n}@example.com").status_code == 200
            for app_client in (client, second):
                limited = subscribe(app_client, email="late@example.com")
                assert limited.status_code == 429
                assert "from your network" in limited.text
                assert int(limited.headers["retry-after"]) > 0
    finally:
        other.close()
    assert _counts(db)[0] == 6


def test_client_keys_group_ipv6_networks() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "ip:2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "ip:192.0.2.7"
    assert client_key(None) == "ip:unknown"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-address"}, "email is not a valid address"),
        ({"email": "a@b"}, "email is not a valid address"),
        ({"email": "x" * 250 + "@example.com"}, "email is too long"),
        ({"email": ""}, "give an email address or a webhook URL"),
        ({"mode": "webhook", "endpoint": "ftp://example.com/x"}, "must be an http(s) URL"),
        ({"mode": "webhook", "endpoint": "http://10.0.0.5/hook"}, "private, loopback"),
        ({"mode": "webhook", "endpoint": "http://169.254.169.254/"}, "private, loopback"),
        # Shared address space (a cloud metadata address) and IPv6 forms of inside addresses.
        ({"mode": "webhook", "endpoint": "http://100.100.100.200/"}, "not a public"),
        ({"mode": "webhook", "endpoint": "http://[2002:7f00:1::1]:8080/"}, "6to4, embedding"),
        ({"mode": "webhook", "endpoint": "http://[::ffff:10.0.0.5]/"}, "not a public"),
        ({"mode": "webhook", "endpoint": "http://[64:ff9b::a9fe:a9fe]/"}, "NAT64, embedding"),
        ({"mode": "webhook", "endpoint": "http://[::1/"}, "not a valid URL"),
        ({"mode": "webhook", "endpoint": "http://example.com:99999/"}, "not a valid URL"),
        ({"mode": "webhook", "endpoint": "https://" + "a" * 2100 + ".com/"}, "too long"),
        ({"email": "ok@example.com", "components": ["nope12345678"]}, "has no component"),
    ],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    client: TestClient,
    db: Session,
    acme: Acme,
    settings: Settings,
    fields: dict[str, object],
    message: str,
) -> None:
    # Private addresses are refused here as in production (the fixture allows loopback for
    # the receivers of other tests).
    client.app.state.settings = settings.model_copy(update={"outbound_allow_private": False})
    before = _counts(db)
    response = subscribe(client, **{"mode": "email", **fields})
    assert response.status_code == 422, response.text
    assert message in response.text.replace("&#39;", "'").replace("&amp;", "&")
    assert 'role="alert"' in response.text  # said on the form, which is shown again
    assert _counts(db) == before


def test_a_stale_or_missing_form_token_is_refused(
    client: TestClient, db: Session, acme: Acme
) -> None:
    before = _counts(db)
    for token in ["", "123.abc", form_token(client).replace(".", ".x")]:
        response = client.post(
            "/status/acme/subscribe", data={"form_token": token, "email": "k@example.com"}
        )
        assert response.status_code == 400 and "This form has expired" in response.text
        assert 'value="k@example.com"' in response.text  # the form keeps what was typed
    assert _counts(db) == before


def test_a_cross_site_post_is_refused(client: TestClient, db: Session, acme: Acme) -> None:
    response = client.post(
        "/status/acme/subscribe",
        data={"form_token": form_token(client), "email": "l@example.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert _counts(db) == (0, 0, 0)


def test_pages_that_do_not_take_subscribers_or_do_not_exist(
    client: TestClient, db: Session, acme: Acme
) -> None:
    assert client.get("/status/nope/subscribe").status_code == 404
    acme.page.allow_subscribers = False
    db.commit()
    assert client.get("/status/acme/subscribe").status_code == 404
    response = client.post("/status/acme/subscribe", data={"email": "m@example.com"})
    assert response.status_code == 404
    assert _counts(db) == (0, 0, 0)
