"""Login throttling: failed logins counted per client network and per account, in the
database so that every process shares them and a restart forgets nothing.

Once a key has `limit` failures, it is locked out for `lockout`, doubling with each further
failure up to `max_lockout`. Attempts during a lockout are refused (429, with the time to wait)
before the password is looked at, a correct one included, and count nothing: hammering does
not lengthen a lockout. A key's failures are forgotten once it has gone `window` without one,
counted from the end of its lockout; a successful login forgets the account's.

Throttling must not become a way to keep someone out. The client network is checked first and
has the lower limit, so a single network is stopped by its own lockout long before it could
lock an account; an account is locked only by failures from several networks together, and
never for more than `max_lockout` at a time.

An attempt is counted as a failure before its password is checked (`admit`), in a short
transaction of its own, so that parallel attempts cannot slip past a limit while their
passwords are being hashed; `succeeded` takes the count back for a correct password.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.auth.models import LoginThrottle
from tocsin.config import Settings
from tocsin.db import rows_affected, utcnow
from tocsin.errors import DomainError

log = structlog.get_logger("tocsin.auth")

# Stale rows deleted by each counted attempt: more than an attempt can add (two), so the
# table stays as small as the keys that failed within their windows.
PURGE_BATCH = 100
ACCOUNT_PREFIX = "account:"
ADDRESS_PREFIX = "address:"
# What is counted: passwords ("login"), second-factor codes ("code") and password reset
# requests ("reset") each have their own counts, so that one cannot take back another's.
KINDS = {"login": "failed logins", "code": "wrong codes", "reset": "password reset requests"}


class LoginThrottled(DomainError):
    """Too many failed logins from this network or for this account; `retry_after` is in
    whole seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Policy:
    per_address: int
    per_account: int
    lockout: timedelta
    max_lockout: timedelta
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            per_address=settings.login_max_failures_per_address,
            per_account=settings.login_max_failures_per_account,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            max_lockout=timedelta(seconds=settings.login_lockout_max_seconds),
            window=timedelta(seconds=settings.login_failure_window_seconds),
        )

    def lockout_for(self, failures: int, limit: int) -> timedelta | None:
        """How long `failures` lock a key out for (None: below the limit)."""
        if failures < limit:
            return None
        doublings = min(failures - limit, 32)  # past the cap long before 2**32
        return min(self.lockout * 2**doublings, self.max_lockout)


@dataclass(frozen=True)
class Attempt:
    """An attempt counted by `admit`, for `succeeded` to take back."""

    address_key: str
    account_key: str
    # The network's lockout before this attempt, and the one it set (if any).
    address_lock_before: datetime | None
    address_lock_set: datetime | None


def _scope(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return "" if kind == "login" else f"{kind}:"


def account_key(email: str, kind: str = "login") -> str:
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()
    return ACCOUNT_PREFIX + _scope(kind) + digest


def address_key(network: str, kind: str = "login") -> str:
    return ADDRESS_PREFIX + _scope(kind) + network


def admit(
    session: Session,
    policy: Policy,
    *,
    network: str,
    email: str,
    now: datetime | None = None,
    kind: str = "login",
) -> Attempt:
    """Count an attempt of `kind` from `network` for `email` as a failure, or raise
    LoginThrottled (counting nothing) while the network, then the account, is locked out.
    Flushes only."""
    now = now or utcnow()
    keys = address_key(network, kind), account_key(email, kind)
    rows = _locked_rows(session, keys, now)
    address, account = rows[keys[0]], rows[keys[1]]
    for row, where in ((address, "from your network"), (account, "for this account")):
        if row.locked_until is not None and row.locked_until > now:
            wait = math.ceil((row.locked_until - now).total_seconds())
            raise LoginThrottled(
                f"Too many {KINDS[kind]} {where}. Please try again in {_in_words(wait)}.",
                retry_after=wait,
            )
    lock_before = address.locked_until
    _count_failure(address, policy, policy.per_address, now)
    _count_failure(account, policy, policy.per_account, now)
    session.flush()
    purge(session, now=now, limit=PURGE_BATCH)
    return Attempt(keys[0], keys[1], lock_before, address.locked_until)


def succeeded(session: Session, attempt: Attempt) -> None:
    """The attempt's password was right: forget the account's failures and take this attempt
    back from the network's count (other failures from it still count). Flushes only."""
    session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key == attempt.account_key)
        .execution_options(synchronize_session=False)
    )
    address = session.scalar(
        select(LoginThrottle)
        .where(LoginThrottle.key == attempt.address_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if address is not None:
        address.failures = max(0, address.failures - 1)
        if address.locked_until == attempt.address_lock_set:
            address.locked_until = attempt.address_lock_before
    session.flush()


def purge(session: Session, *, now: datetime | None = None, limit: int | None = None) -> int:
    """Delete rows whose failures are forgotten (at most `limit`, skipping rows another
    transaction holds, so that it never waits). Returns how many."""
    stale = (
        select(LoginThrottle.key)
        .where(LoginThrottle.forget_at < (now or utcnow()))
        .order_by(LoginThrottle.key)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key.in_(stale.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return rows_affected(result)


def _locked_rows(
    session: Session, keys: tuple[str, ...], now: datetime
) -> dict[str, LoginThrottle]:
    """The rows of `keys`, created if missing and locked for this transaction. Always in key
    order, so that two attempts locking the same rows cannot deadlock (PostgreSQL; on SQLite
    the transaction already holds the write lock)."""
    ordered = sorted(set(keys))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values([{"key": key, "failures": 0, "forget_at": now} for key in ordered])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key.in_(ordered))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in rows}


def _count_failure(row: LoginThrottle, policy: Policy, limit: int, now: datetime) -> None:
    if row.forget_at <= now:
        row.failures = 0
    row.failures += 1
    lockout = policy.lockout_for(row.failures, limit)
    if lockout is not None:
        row.locked_until = now + lockout
        scope = "address" if row.key.startswith(ADDRESS_PREFIX) else "account"
        log.warning(
            "auth.login_locked",
            scope=scope,
            network=row.key.removeprefix(ADDRESS_PREFIX) if scope == "address" else None,
            failures=row.failures,
            seconds=int(lockout.total_seconds()),
        )
    quiet_from = max(now, row.locked_until or now)
    row.forget_at = quiet_from + policy.window


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
