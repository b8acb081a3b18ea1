"""ORM models for single sign-on: identity providers (OpenID Connect, SAML 2.0), their group
rules, the external identities linked to users, sign-ins under way and SAML assertions
already used. The client secret is stored encrypted (vault purpose "sso"); the state of a
sign-in under way is stored as a hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Team, User
from tocsin.db import Base, utcnow


class SsoProvider(Base):
    __tablename__ = "sso_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "oidc" | "saml"
    enabled: Mapped[bool] = mapped_column(default=True)
    # OpenID Connect: the issuer (its discovery document is read from it), the client.
    issuer: Mapped[str] = mapped_column(String(2048), default="")
    client_id: Mapped[str] = mapped_column(String(255), default="")
    client_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[str] = mapped_column(String(255), default="openid email profile")
    # SAML 2.0: the identity provider's metadata (XML, with its signing certificate).
    idp_metadata: Mapped[str] = mapped_column(Text, default="")
    # The claim (OIDC) or attribute (SAML) naming the person's groups.
    groups_claim: Mapped[str] = mapped_column(String(255), default="groups")
    # Refuse people whom no group rule matches.
    require_group: Mapped[bool] = mapped_column(default=False)
    # The role of someone no role rule matches.
    default_role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    rules: Mapped[list[SsoGroupRule]] = relationship(
        back_populates="provider",
        cascade="all, delete-orphan",
        order_by="SsoGroupRule.id",
    )


class SsoGroupRule(Base):
    """People in the identity provider's `group` get `role` (the highest of their rules)
    and/or are members of `team` (kept in line at every sign-in)."""

    __tablename__ = "sso_group_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    group: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None, index=True
    )

    provider: Mapped[SsoProvider] = relationship(back_populates="rules")
    team: Mapped[Team | None] = relationship(lazy="joined")


class SsoIdentity(Base):
    """A user as an identity provider knows them: its stable subject, not their email."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("provider_id", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    groups: Mapped[str] = mapped_column(Text, default="")  # as last seen, one per line
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(lazy="joined")


class SsoPendingLogin(Base):
    """A sign-in sent to the identity provider and not back yet: what the answer must match
    (the state's hash; OIDC's nonce and PKCE verifier; SAML's request id)."""

    __tablename__ = "sso_pending_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    nonce: Mapped[str] = mapped_column(String(128), default="")
    code_verifier: Mapped[str] = mapped_column(String(128), default="")
    request_id: Mapped[str] = mapped_column(String(255), default="")
    next: Mapped[str] = mapped_column(String(2048), default="/incidents")
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SsoUsedAssertion(Base):
    """A SAML assertion id already accepted, kept until the assertion expires: the same
    assertion posted again is a replay."""

    __tablename__ = "sso_used_assertions"
    __table_args__ = (
        UniqueConstraint("provider_id", "assertion_id"),
        Index("ix_sso_used_assertions_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("sso_providers.id", ondelete="CASCADE"))
    assertion_id: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]
