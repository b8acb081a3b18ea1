"""alerts: the images (PagerDuty `images`) of the trigger that opened each alert

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 20:30:00.000000

A JSON column with a server default, so that existing alerts read as having none; adding it
is instant on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alerts", sa.Column("images", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("images")
