"""team-roles: a role on each team membership

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07 23:40:00.000000

`team_members` gains `role` (admin, responder or viewer; see catalog.permissions). Existing
members become the team's responders (the default for a new member too); an org admin names
the team admins afterwards.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team_members") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="responder")
        )


def downgrade() -> None:
    with op.batch_alter_table("team_members") as batch:
        batch.drop_column("role")
