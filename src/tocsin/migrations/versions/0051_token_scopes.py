"""token-scopes: API token scopes, expiry and addresses; service accounts

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07 23:45:00.000000

`api_tokens` gains `scopes` (existing tokens get every scope, so nothing that worked stops),
`expires_at` and `last_used_address`; `api_token_addresses` lists the networks each token was
used from; `users` gains `kind` ("person" for everyone already there, or "service").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_SCOPES = "read incidents configuration ingestion"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("scopes", sa.String(length=80), nullable=False, server_default=ALL_SCOPES)
        )
        batch.add_column(
            sa.Column("expires_at", tocsin.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_used_address", sa.String(length=64), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="person")
        )
    op.create_table(
        "api_token_addresses",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("first_seen", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_token_addresses_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "network", name=op.f("pk_api_token_addresses")),
    )


def downgrade() -> None:
    op.drop_table("api_token_addresses")
    # The older code would take service accounts for people: they stay (their actions are on
    # timelines) but are deactivated.
    users = sa.table("users", sa.column("kind", sa.String()), sa.column("active", sa.Boolean()))
    op.execute(users.update().where(users.c.kind == "service").values(active=False))
    with op.batch_alter_table("users") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_address")
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
