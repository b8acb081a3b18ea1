"""Sign-in housekeeping: the hourly job deletes expired browser sessions, reset links, SSO
sign-ins that never came back, used SAML assertion ids and forgotten failed-login counts, and
leaves everything still live alone (a live session keeps working)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.auth import reset, saml, sso
from tocsin.auth.models import LoginThrottle, PasswordReset, WebSession
from tocsin.auth.service import start_web_session
from tocsin.auth.sso_models import SsoPendingLogin, SsoUsedAssertion
from tocsin.auth.tasks import HOUSEKEEPING_JOB
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import transaction, utcnow
from tocsin.jobs.queue import enqueue

PAST, FUTURE = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)


def _seed(db: Session, settings: Settings, person: User) -> None:
    """One expired and one live row of each kind."""
    start_web_session(db, person, max_age=timedelta(hours=-1), address="192.0.2.1")
    for email in (person.email, person.email):
        reset.request_reset(db, settings, email=email, network="192.0.2.0/24")
    first = db.scalars(select(PasswordReset).order_by(PasswordReset.id)).first()
    assert first is not None
    first.expires_at = PAST
    provider = sso.create_provider(
        db,
        {"kind": "oidc", "name": "Okta", "issuer": "https://93.184.216.34/oauth2",
         "client_id": "tocsin", "client_secret": "s3cret-value"},
        settings=settings, check_metadata=saml.check_metadata,
    )  # fmt: skip
    for n, when in enumerate((PAST, FUTURE)):
        db.add(SsoPendingLogin(state_hash=f"{n:064d}", provider_id=provider.id, expires_at=when))
        db.add(SsoUsedAssertion(provider_id=provider.id, assertion_id=f"_a{n}", expires_at=when))
        db.add(LoginThrottle(key=f"address:192.0.2.{n}", failures=3, forget_at=when))
    db.commit()


def _counts(db: Session) -> dict[str, int]:
    db.commit()
    return {
        model.__tablename__: int(db.scalar(select(func.count()).select_from(model)) or 0)
        for model in (WebSession, PasswordReset, SsoPendingLogin, SsoUsedAssertion, LoginThrottle)
    }


def test_the_hourly_job_deletes_only_what_expired(
    client: TestClient, db: Session, settings: Settings, container: Container, admin: User
) -> None:
    browser_login(client, admin.email)  # a live session, used below
    _seed(db, settings, admin)
    before = _counts(db)
    assert before["web_sessions"] == 2 and before["password_resets"] == 2
    assert before["sso_pending_logins"] == before["sso_used_assertions"] == 2
    assert before["login_throttles"] >= 2

    with transaction(container.sessionmaker) as session:
        enqueue(session, HOUSEKEEPING_JOB, {})
    container.runner(name="test").run_until_idle()

    after = _counts(db)
    assert after["web_sessions"] == 1 and after["password_resets"] == 1
    assert after["sso_pending_logins"] == after["sso_used_assertions"] == 1
    assert after["login_throttles"] == before["login_throttles"] - 1
    left = db.scalars(select(WebSession)).one()
    assert left.expires_at > utcnow()
    assert db.scalars(select(SsoPendingLogin.expires_at)).one() > utcnow()
    assert client.get("/incidents").status_code == 200  # the live session still signs in


def test_the_job_runs_every_hour(container: Container) -> None:
    periodic = {p.kind: p.every for p in container.registry.periodic}
    assert periodic[HOUSEKEEPING_JOB] == timedelta(hours=1)
