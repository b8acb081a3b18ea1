"""login throttles: failed logins counted per client network and per account

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:00:00.000000

A new, empty table: instant on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("forget_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_index(
        op.f("ix_login_throttles_forget_at"), "login_throttles", ["forget_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttles_forget_at"), table_name="login_throttles")
    op.drop_table("login_throttles")
