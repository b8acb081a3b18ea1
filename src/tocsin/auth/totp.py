"""TOTP two-factor authentication (RFC 6238, through pyotp) and one-time recovery codes.

The secret is kept encrypted with the vault ("auth.totp"); recovery codes only as SHA-256.
A code is accepted in the 30-second step it belongs to and one step either side (clocks
drift), and never twice: the last accepted step is stored, and a code of that step or an
earlier one is refused, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.audit.trail import record
from tocsin.auth.models import RecoveryCode, TwoFactor
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.crypto import Vault
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, ValidationFailed

ISSUER = "Tocsin"
RECOVERY_CODES = 10
# One step either side of now: an authenticator whose clock is up to 30 seconds off works.
DRIFT_STEPS = 1


def vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings, "auth.totp")


@dataclass(frozen=True)
class Enrolment:
    """What a person needs to add Tocsin to an authenticator app."""

    secret: str
    uri: str
    qr_svg: str


def two_factor(session: Session, user: User) -> TwoFactor | None:
    """The person's confirmed second factor, or None."""
    row = session.get(TwoFactor, user.id)
    return row if row is not None and row.confirmed_at is not None else None


def enabled(session: Session, user_id: int) -> bool:
    row = session.get(TwoFactor, user_id)
    return row is not None and row.confirmed_at is not None


def start_enrolment(session: Session, user: User, vault: Vault) -> Enrolment:
    """A new secret, waiting for a first right code (`confirm`); replaces an unconfirmed one.
    Conflict when two-factor is already on."""
    row = session.get(TwoFactor, user.id)
    if row is not None and row.confirmed_at is not None:
        raise Conflict("two-factor authentication is already on; turn it off first")
    secret = pyotp.random_base32()
    if row is None:
        row = TwoFactor(user_id=user.id, secret_encrypted=vault.encrypt(secret))
        session.add(row)
    else:
        row.secret_encrypted = vault.encrypt(secret)
        row.created_at = utcnow()
        row.last_step = 0
    session.flush()
    return enrolment(user, secret)


def pending_enrolment(session: Session, user: User, vault: Vault) -> Enrolment | None:
    """The enrolment waiting for its first code, if any."""
    row = session.get(TwoFactor, user.id)
    if row is None or row.confirmed_at is not None:
        return None
    return enrolment(user, vault.decrypt(row.secret_encrypted))


def enrolment(user: User, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator")
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def confirm(
    session: Session, user: User, vault: Vault, code: str, *, now: datetime | None = None
) -> list[str]:
    """Turn two-factor on with the first right code; returns the recovery codes (shown once)."""
    row = session.get(TwoFactor, user.id, with_for_update=True)
    if row is None or row.confirmed_at is not None:
        raise NotFound("no two-factor enrolment is waiting; start again")
    step = _matching_step(vault.decrypt(row.secret_encrypted), code, after=0, now=now)
    if step is None:
        raise ValidationFailed("that code is not right; check your app's clock", field="code")
    row.confirmed_at = utcnow()
    row.last_step = step
    codes = _new_recovery_codes(session, user)
    record(session, "auth.totp_enabled", target_type="user", target_id=user.id, target=user.email)
    session.flush()
    return codes


def check(
    session: Session, user: User, vault: Vault, code: str, *, now: datetime | None = None
) -> str | None:
    """Which kind of code `code` is, once accepted ("totp" or "recovery"), or None. An
    accepted code is spent (its step, or the recovery code). Flushes only."""
    row = session.get(TwoFactor, user.id, with_for_update=True, populate_existing=True)
    if row is None or row.confirmed_at is None:
        return None
    cleaned = "".join(code.split())
    if cleaned.isdigit() and len(cleaned) == 6:
        step = _matching_step(
            vault.decrypt(row.secret_encrypted), cleaned, after=row.last_step, now=now
        )
        if step is None:
            return None
        row.last_step = step
        session.flush()
        return "totp"
    spare = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(cleaned),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if spare is None:
        return None
    spare.used_at = utcnow()
    session.flush()
    return "recovery"


def recovery_codes_left(session: Session, user: User) -> int:
    codes = session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(codes.all())


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    """New recovery codes in place of the old ones (which stop working)."""
    if two_factor(session, user) is None:
        raise Conflict("two-factor authentication is off")
    codes = _new_recovery_codes(session, user)
    record(
        session,
        "auth.recovery_codes_renewed",
        target_type="user",
        target_id=user.id,
        target=user.email,
    )
    return codes


def turn_off(session: Session, user: User, *, by: User) -> None:
    """Remove the person's second factor and recovery codes: by themselves (the caller checked
    their password or a code) or by an admin (a lost phone)."""
    row = session.get(TwoFactor, user.id)
    if row is None or row.confirmed_at is None:
        raise Conflict(f"{user.name} has no second factor")
    session.delete(row)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    record(
        session,
        "auth.totp_disabled",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"by_admin": by.id != user.id},
    )
    session.flush()


def _matching_step(secret: str, code: str, *, after: int, now: datetime | None) -> int | None:
    """The step (of now and one either side) whose code is `code` and comes after `after`."""
    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    moment = now or utcnow()
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        at = moment + timedelta(seconds=offset * totp.interval)
        step = totp.timecode(at)
        if step > after and hmac.compare_digest(totp.at(at), code):
            return step
    return None


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(code)) for code in codes)
    session.flush()
    return codes


def _recovery_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _digest(code: str) -> str:
    """A recovery code's hash, whether typed with its hyphen or not, in either case."""
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()
