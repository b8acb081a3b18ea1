"""resolution summary: how an incident ended, written when it is resolved

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 20:30:00.000000

A text column with an empty default: instant on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("resolution_summary", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    # SQLite has DROP COLUMN since 3.35; the column is neither indexed nor constrained.
    op.execute("ALTER TABLE incidents DROP COLUMN resolution_summary")
