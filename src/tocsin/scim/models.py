"""What SCIM keeps beside catalog's users and teams: the identity provider's ids and the
attributes Tocsin does not use itself, and the bearer tokens identity providers send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, utcnow


class ScimUser(Base):
    """A user as SCIM sees them. `document` holds the attributes sent that Tocsin keeps only
    to give them back (name parts, phone numbers, the enterprise extension); the user's
    email, name, time zone and active flag live on the user."""

    __tablename__ = "scim_users"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by a SCIM DELETE: the user stays (deactivated, for history) but SCIM no longer
    # shows them; creating the same userName again brings them back.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class ScimGroup(Base):
    """A team as SCIM sees it: the identity provider's id for it."""

    __tablename__ = "scim_groups"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScimToken(Base):
    """A bearer token an identity provider provisions with; only its hash is stored."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
