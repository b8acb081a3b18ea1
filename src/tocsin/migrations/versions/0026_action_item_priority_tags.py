"""action items: a priority (high, medium, low) and tags

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 03:40:00.000000

Two columns with server defaults: existing items become medium priority with no tags.
Instant on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "action_items",
        sa.Column("priority", sa.String(length=8), nullable=False, server_default="medium"),
    )
    op.add_column(
        "action_items",
        sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    # SQLite has DROP COLUMN since 3.35; neither column is indexed nor constrained.
    op.execute("ALTER TABLE action_items DROP COLUMN tags")
    op.execute("ALTER TABLE action_items DROP COLUMN priority")
