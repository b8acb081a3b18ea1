"""Sign-in housekeeping: an hourly job deletes what no longer means anything. Expired browser
sessions, password reset links past their expiry (used or not), sign-ins sent to an identity
provider that never came back, SAML assertion ids past their assertion's expiry (a replay is
refused by that expiry then), and failed-login counts past their quiet window. None of it is
needed to refuse anything any more; kept, it would only grow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete
from sqlalchemy.orm import InstrumentedAttribute, Session

from tocsin.auth import throttle
from tocsin.auth.models import PasswordReset, WebSession
from tocsin.auth.sso_models import SsoPendingLogin, SsoUsedAssertion
from tocsin.db import rows_affected, utcnow
from tocsin.jobs.registry import JobKind, PeriodicJob

HOUSEKEEPING_JOB = "auth.housekeeping"

log = structlog.get_logger("tocsin.auth")

# What expires, by the column that says when.
EXPIRING: dict[str, InstrumentedAttribute[datetime]] = {
    "sessions": WebSession.expires_at,
    "password_resets": PasswordReset.expires_at,
    "sso_pending_logins": SsoPendingLogin.expires_at,
    "sso_used_assertions": SsoUsedAssertion.expires_at,
}


def tidy(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Delete what expired before `now`; returns how many rows of each kind."""
    now = now or utcnow()
    removed = {}
    for name, expires_at in EXPIRING.items():
        result = session.execute(
            delete(expires_at.class_)
            .where(expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        removed[name] = rows_affected(result)
    removed["login_throttles"] = throttle.purge(session, now=now)
    return removed


def _housekeeping(session: Session, payload: dict[str, Any]) -> None:
    removed = tidy(session)
    if any(removed.values()):
        log.info("auth.housekeeping", **removed)


def job_kinds() -> list[JobKind]:
    # A missed run is made up by the next: no retries.
    return [JobKind(HOUSEKEEPING_JOB, _housekeeping, max_attempts=1, timeout_seconds=300)]


def periodic() -> list[PeriodicJob]:
    return [PeriodicJob(HOUSEKEEPING_JOB, every=timedelta(hours=1))]
