"""Contact methods and rules through the API and the notifications page: bad input is
refused with the field named and changes nothing; people manage only their own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.notify.conftest import Receiver, SmtpServer, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.notify.models import ContactMethod, NotificationRule


def _add(client: TestClient, headers: dict[str, str], user: User, **body: object):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/users/{user.id}/contact-methods", json=body, headers=headers)


def test_bad_contact_methods_are_refused_naming_the_field(
    client: TestClient, db: Session, responder: User
) -> None:
    me = api_as(client, db, responder)
    cases = [
        ({"kind": "email", "target": "not-an-address"}, "not a valid email address"),
        ({"kind": "apprise", "target": "nope://what"}, "Apprise does not understand"),
        ({"kind": "apprise", "target": "mailto://u:p@example.com"}, "kind email"),
        ({"kind": "webhook", "target": "ftp://example.com/x"}, "http(s) URL"),
    ]
    for body, message in cases:
        answer = _add(client, me, responder, **body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["field"] == "target" and message in error["message"], error
    assert db.scalar(select(func.count()).select_from(ContactMethod)) == 0


def test_webhooks_to_private_addresses_are_refused_unless_allowed(
    client: TestClient, db: Session, responder: User, receiver: Receiver, app
) -> None:  # type: ignore[no-untyped-def]
    me = api_as(client, db, responder)
    app.state.settings = app.state.settings.model_copy(update={"outbound_allow_private": False})
    refused = _add(client, me, responder, kind="webhook", target=receiver.url)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "target"
    assert "loopback" in refused.json()["error"]["message"]
    refused = _add(
        client, me, responder, kind="apprise", target=f"json://127.0.0.1:{receiver.port}"
    )
    assert refused.status_code == 422 and "loopback" in refused.text
    for target in (
        "http://100.100.100.200/latest/meta-data/",  # shared address space: cloud metadata
        "http://[2002:7f00:1::1]/hook",  # 6to4 carrying 127.0.0.1
        "http://[::ffff:169.254.169.254]/",
        "json://100.64.0.1/hook",
    ):
        kind = "apprise" if target.startswith("json") else "webhook"
        refused = _add(client, me, responder, kind=kind, target=target)
        assert refused.status_code == 422, target
        assert "not a public internet address" in refused.json()["error"]["message"], target
    app.state.settings = app.state.settings.model_copy(update={"outbound_allow_private": True})
    assert _add(client, me, responder, kind="webhook", target=receiver.url).status_code == 201


def test_apprise_secrets_are_not_shown_back_and_webhook_secret_only_once(
    client: TestClient, db: Session, responder: User, receiver: Receiver
) -> None:
    me = api_as(client, db, responder)
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    created = _add(client, me, responder, kind="apprise", target=slack, label="Slack DM")
    assert created.status_code == 201
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in created.text
    assert created.json()["target"].startswith("slack://")
    hook = _add(client, me, responder, kind="webhook", target=receiver.url).json()
    assert hook["signing_secret"].startswith("whsec_")
    listed = client.get(f"/api/v1/users/{responder.id}/contact-methods", headers=me)
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in listed.text
    assert hook["signing_secret"] not in listed.text
    assert all(m.get("signing_secret") is None for m in listed.json())
    rotated = client.post(f"/api/v1/contact-methods/{hook['id']}/rotate-secret", headers=me)
    assert rotated.json()["signing_secret"] not in ("", hook["signing_secret"])


def test_bad_rules_are_refused_naming_the_field(
    client: TestClient, db: Session, responder: User, admin: User
) -> None:
    me = api_as(client, db, responder)
    mine = _add(client, me, responder, kind="email", target="rita@example.com").json()
    theirs = _add(client, api_as(client, db, admin), admin, kind="email", target="a@example.com")
    url = f"/api/v1/users/{responder.id}/notification-rules"
    first = client.post(url, json={"urgency": "high", "contact_method_id": mine["id"]}, headers=me)
    assert first.status_code == 201 and first.json()["position"] == 1
    cases = [
        ({"contact_method_id": theirs.json()["id"]}, "contact_method_id"),
        ({"contact_method_id": mine["id"], "delay_minutes": -5}, "delay_minutes"),
        ({"contact_method_id": mine["id"], "position": 1}, "position"),
    ]
    for body, field in cases:
        answer = client.post(url, json={"urgency": "high", **body}, headers=me)
        # Someone else's contact method is none of yours: 404, as an unknown one.
        assert answer.status_code in (404, 422), answer.text
        assert answer.json()["error"]["field"] == field
    assert len(client.get(url, headers=me).json()) == 1


def test_only_admins_manage_other_peoples_methods(
    client: TestClient, db: Session, responder: User, admin: User, viewer: User
) -> None:
    as_viewer = api_as(client, db, viewer)
    refused = _add(client, as_viewer, responder, kind="email", target="x@example.com")
    assert refused.status_code == 403
    assert (
        client.get(f"/api/v1/users/{responder.id}/contact-methods", headers=as_viewer).status_code
        == 403
    )
    as_admin = api_as(client, db, admin)
    assert (
        _add(client, as_admin, responder, kind="email", target="x@example.com").status_code == 201
    )


def test_a_viewer_is_refused_anothers_settings_with_403_and_keeps_their_own(
    client: TestClient, db: Session, responder: User, viewer: User
) -> None:
    """Every form and API route that changes someone's contact methods, rules or shift
    notices: 403 with the reason (not a failed page) and nothing changed."""
    rita = api_as(client, db, responder)
    method = _add(client, rita, responder, kind="email", target="rita@example.com").json()
    rule = client.post(
        f"/api/v1/users/{responder.id}/notification-rules",
        json={"urgency": "high", "contact_method_id": method["id"]},
        headers=rita,
    ).json()
    mine, theirs = f"/users/{viewer.id}", f"/users/{responder.id}"
    m, r = method["id"], rule["id"]
    reason = "only admins can change another person&#39;s notification settings"

    as_viewer = api_as(client, db, viewer)
    for verb, path, body in [
        ("post", f"/api/v1{theirs}/contact-methods", {"kind": "email", "target": "v@e.com"}),
        ("patch", f"/api/v1/contact-methods/{m}", {"label": "Mine now"}),
        ("delete", f"/api/v1/contact-methods/{m}", None),
        ("post", f"/api/v1/contact-methods/{m}/test", None),
        ("post", f"/api/v1/contact-methods/{m}/rotate-secret", None),
        ("post", f"/api/v1{theirs}/notification-rules", {"urgency": "low", "contact_method_id": m}),
        ("patch", f"/api/v1/notification-rules/{r}", {"delay_minutes": 5}),
        ("delete", f"/api/v1/notification-rules/{r}", None),
        ("patch", f"/api/v1{theirs}/shift-notifications", {"shift_notifications": False}),
    ]:
        refused = client.request(verb, path, json=body, headers=as_viewer)
        assert refused.status_code == 403, (verb, path, refused.text)
        assert "another person's notification settings" in refused.json()["error"]["message"]

    browser = TestClient(client.app)
    csrf = browser_login(browser, viewer.email)
    for path, form in [
        (f"{theirs}/contact-methods", {"kind": "email", "target": "v@example.com"}),
        (f"{theirs}/contact-methods/{m}", {"label": "Mine now", "target": "v@example.com"}),
        (f"{theirs}/contact-methods/{m}/delete", {}),
        (f"{theirs}/contact-methods/{m}/test", {}),
        (f"{theirs}/contact-methods/{m}/rotate-secret", {}),
        (f"{theirs}/rules", {"urgency": "low", "contact_method_id": str(m)}),
        (f"{theirs}/rules/{r}", {"urgency": "high", "contact_method_id": str(m)}),
        (f"{theirs}/rules/{r}/delete", {}),
        (f"{theirs}/shift-notifications", {"lead_minutes": "30"}),
    ]:
        refused = browser.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert refused.status_code == 403, (path, refused.status_code)
        assert reason in refused.text and "Vic Viewer" in refused.text, path
    db.rollback()
    assert db.get(ContactMethod, m).label == "rita@example.com"  # type: ignore[union-attr]
    assert db.get(NotificationRule, r).delay_minutes == 0  # type: ignore[union-attr]
    assert db.scalar(select(func.count()).select_from(ContactMethod)) == 1

    # Their own settings are theirs to manage (docs/notifications.md: people manage their own).
    added = browser.post(
        f"{mine}/contact-methods",
        data={"kind": "email", "target": "vic@example.com", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert added.status_code == 303
    db.rollback()
    own = db.scalar(select(ContactMethod).where(ContactMethod.user_id == viewer.id))
    assert own is not None
    ruled = browser.post(
        f"{mine}/rules",
        data={"urgency": "high", "contact_method_id": str(own.id), "csrf_token": csrf},
    )
    assert ruled.status_code == 200 and "Rule added." in ruled.text
    shift = browser.post(
        f"{mine}/shift-notifications",
        data={"shift_notifications": "on", "lead_minutes": "30", "csrf_token": csrf},
    )
    assert shift.status_code == 200 and "Shift notifications saved." in shift.text


def test_the_notifications_page_adds_tests_and_shows_results(
    client: TestClient,
    db: Session,
    container: Container,
    smtp: SmtpServer,
    responder: User,
) -> None:
    csrf = browser_login(client, responder.email)
    page = client.get("/me/notifications")
    assert page.status_code == 200 and "No contact methods yet" in page.text
    no_csrf = client.post(
        f"/users/{responder.id}/contact-methods", data={"kind": "email", "target": "a@b.co"}
    )
    assert no_csrf.status_code == 403
    bad = client.post(
        f"/users/{responder.id}/contact-methods",
        data={"kind": "email", "target": "nope", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "not a valid email address" in bad.text
    added = client.post(
        f"/users/{responder.id}/contact-methods",
        data={"kind": "email", "target": "rita@example.com", "label": "Work", "csrf_token": csrf},
    )
    assert added.status_code == 200  # redirected back to the page
    method = db.scalars(select(ContactMethod)).one()
    rule = client.post(
        f"/users/{responder.id}/rules",
        data={"urgency": "high", "contact_method_id": method.id, "delay_minutes": "-1",
              "csrf_token": csrf},
    )  # fmt: skip
    assert "delay_minutes must be between 0 and 1440" in rule.text
    client.post(
        f"/users/{responder.id}/contact-methods/{method.id}/test", data={"csrf_token": csrf}
    )
    run_jobs(container)
    assert [m["Subject"] for m in smtp.messages] == ["[Tocsin] Test notification"]
    page = client.get(f"/users/{responder.id}/notifications")
    assert "test sent" in page.text


def test_a_failed_test_shows_why(
    client: TestClient, db: Session, container: Container, responder: User
) -> None:
    from tests.conftest import free_port

    me = api_as(client, db, responder)
    hook = _add(client, me, responder, kind="webhook", target=f"http://127.0.0.1:{free_port()}/")
    client.post(f"/api/v1/contact-methods/{hook.json()['id']}/test", headers=me)
    run_jobs(container)
    method = client.get(f"/api/v1/contact-methods/{hook.json()['id']}", headers=me).json()
    assert method["last_ok"] is False and method["last_result"].startswith("test failed: ")
