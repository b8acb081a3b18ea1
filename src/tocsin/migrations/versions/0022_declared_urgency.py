"""declared urgency: each severity's default urgency, and incidents declared without paging

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 12:00:00.000000

A severity named SEV4 (the default vocabulary's least severe) starts at low urgency, as a new
install's does; every other severity at high, which is how every declared incident paged
before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("severities") as batch_op:
        batch_op.add_column(
            sa.Column("default_urgency", sa.String(length=8), nullable=False, server_default="high")
        )
    op.execute("UPDATE severities SET default_urgency = 'low' WHERE name = 'SEV4'")
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.add_column(
            sa.Column(
                "declared_without_paging",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_column("declared_without_paging")
    with op.batch_alter_table("severities") as batch_op:
        batch_op.drop_column("default_urgency")
