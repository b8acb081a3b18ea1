"""ORM models for browser sessions, API tokens, login throttling, second factors and
password resets. Only hashes of secrets
are stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Updated at most once a minute (service.SEEN_RESOLUTION).
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # First characters of the token, shown so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    # The client network of the last use (web/clients.request_network), written with
    # last_used_at, so a request from the usual address costs no extra query.
    last_used_address: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # None: never expires. Past it the token is refused like a revoked one.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the token may do (auth/scopes.py), space separated: "read incidents ...".
    scopes: Mapped[str] = mapped_column(String(80))

    user: Mapped[User] = relationship(lazy="joined")


class ApiTokenAddress(Base):
    """A client network a token was used from; the first use from one not listed here is
    recorded in the audit trail (`token.new_address`). At most MAX_ADDRESSES per token: past
    that the oldest is forgotten (and would be recorded again)."""

    __tablename__ = "api_token_addresses"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class LoginThrottle(Base):
    """Failed logins counted for one client network or one account (auth/throttle.py), in
    the database so that every process shares them and a restart forgets nothing."""

    __tablename__ = "login_throttles"

    # "address:<client network>" or "account:<sha256 of the email>": no email is stored.
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    # When the count is forgotten: a quiet window after the last failure or the end of its
    # lockout. Rows past it are purged.
    forget_at: Mapped[datetime] = mapped_column(index=True)


class TwoFactor(Base):
    """A person's TOTP second factor. The secret is encrypted with the vault ("auth.totp");
    `confirmed_at` is None while enrolment waits for a first right code."""

    __tablename__ = "two_factors"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last 30-second step whose code was accepted: a code is never accepted twice.
    last_step: Mapped[int] = mapped_column(default=0)


class RecoveryCode(Base):
    """A one-time recovery code for a lost authenticator; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PasswordReset(Base):
    """A password reset link: single use, expiring; only the SHA-256 of its token is stored."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    # The admin who sent it, or None when the person asked for it.
    sent_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
