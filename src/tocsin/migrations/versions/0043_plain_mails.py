"""plain-mails: reminders, role notices, postmortem and follow-up emails are plain mails

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 18:10:00.000000

`mails` gains the page a mail links to, the incident it is about and the context its kind's
check reads at send time (a reminder's due time, a notice's role); `target_reminders`,
`role_notices`, `postmortem_reminders`, `postmortem_mails` (review requests, publication
news) and `follow_up_mails` (follow-up reminders and digests) go.

The follow-up mails that are over (sent, failed, skipped) move into `mails`, keys prefixed
"follow-up:": they are what keeps the hourly scan from planning a reminder or a week's digest
again. The ones still waiting are dropped with their jobs; the next scan plans them again, as
it is owed the same day.

Their unsent rows are not moved, and their send jobs still queued are cancelled (so that no
worker meets a job kind it no longer knows). Only what was planned in the moments before the
upgrade stopped the workers is concerned. A reminder is worth sending only in the minutes
before its due time: one whose due time passed meanwhile would be skipped anyway (the breach
check still records the miss, from `incidents.response_due_at`), and the rare one still ahead
of it would arrive late, telling people what the incident's page and list already show. A
role notice repeats what the incident's page and timeline say (who holds which role); moving
one would mean wording it here, a second copy of `roster.notices` frozen in a migration. The
same holds for a postmortem's review request and publication news: the postmortem's page says
who reviews it and that it is published. A postmortem reminder lost so has a next one: the
one an hour before the deadline, the one when it passes, then one a day while it is late.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_jobs = sa.table(
    "jobs",
    sa.column("kind", sa.String()),
    sa.column("state", sa.String()),
    sa.column("finished_at", tocsin.db.UTCDateTime(timezone=True)),
    sa.column("last_error", sa.Text()),
)
_mails = sa.table("mails", sa.column("kind", sa.String()))
_OVER = ["sent", "failed", "skipped"]
_TIME = tocsin.db.UTCDateTime(timezone=True)
# What a follow-up mail and a plain mail have in common.
_HISTORY: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("user_id", sa.Integer()),
    ("subject", sa.Text()),
    ("body", sa.Text()),
    ("state", sa.String()),
    ("attempts", sa.Integer()),
    ("results", sa.JSON()),
    ("detail", sa.Text()),
    ("created_at", _TIME),
    ("updated_at", _TIME),
    ("sent_at", _TIME),
]
_SHARED = [name for name, _ in _HISTORY]


def _follow_up_mails() -> sa.TableClause:
    return sa.table(
        "follow_up_mails",
        sa.column("key", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("action_item_id", sa.Integer()),
        sa.column("team_id", sa.Integer()),
        *(sa.column(name, type_) for name, type_ in _HISTORY),
    )


def _plain_mails() -> sa.TableClause:
    return sa.table(
        "mails",
        sa.column("key", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("link", sa.String()),
        sa.column("context", sa.JSON()),
        *(sa.column(name, type_) for name, type_ in _HISTORY),
    )


# The send jobs of the delivery records this migration drops.
_OLD_SENDS = [
    "followups.send",
    "targets.send_reminder",
    "roster.role_notice",
    "postmortems.send_mail",
    "postmortems.send_reminder",
]
_NEW_KINDS = [
    "followup_due_soon",
    "followup_overdue",
    "followup_digest",
    "target_reminder",
    "role_notice",
    "postmortem_review_request",
    "postmortem_published",
    "postmortem_reminder",
]


def upgrade() -> None:
    with op.batch_alter_table("mails") as batch:
        batch.add_column(
            sa.Column("link", sa.String(length=255), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("context", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_foreign_key(
            op.f("fk_mails_incident_id_incidents"),
            "incidents",
            ["incident_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_mails_incident_id"), ["incident_id"], unique=False)
    op.execute(
        _jobs.update()
        .where(
            _jobs.c.kind.in_(_OLD_SENDS),
            _jobs.c.state == "queued",
        )
        .values(
            state="cancelled",
            finished_at=datetime.now(UTC),
            last_error="these emails are plain mails now (migration 0043)",
        )
    )
    old, new = _follow_up_mails(), _plain_mails()
    rows = op.get_bind().execute(sa.select(old).where(old.c.state.in_(_OVER))).mappings().all()
    moved = []
    for row in rows:
        context = {"team_id": row["team_id"]} if row["team_id"] else {}
        if row["action_item_id"]:
            context = {"action_item_id": row["action_item_id"]}
        moved.append(
            {
                "key": f"follow-up:{row['key']}",
                "kind": f"followup_{row['kind']}",
                "link": "",
                "context": context,
                **{name: row[name] for name in _SHARED},
            }
        )
    if moved:
        op.get_bind().execute(new.insert(), moved)
    for column in ("action_item_id", "team_id", "user_id"):
        op.drop_index(op.f(f"ix_follow_up_mails_{column}"), table_name="follow_up_mails")
    op.drop_table("follow_up_mails")
    op.drop_index(op.f("ix_target_reminders_incident_id"), table_name="target_reminders")
    op.drop_table("target_reminders")
    op.drop_index(op.f("ix_role_notices_incident_id"), table_name="role_notices")
    op.drop_table("role_notices")
    op.drop_index(op.f("ix_postmortem_mails_postmortem_id"), table_name="postmortem_mails")
    op.drop_table("postmortem_mails")
    op.drop_index(op.f("ix_postmortem_reminders_postmortem_id"), table_name="postmortem_reminders")
    op.drop_table("postmortem_reminders")


def downgrade() -> None:
    op.create_table(
        "follow_up_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action_item_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_item_id"],
            ["action_items.id"],
            name=op.f("fk_follow_up_mails_action_item_id_action_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_follow_up_mails_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_follow_up_mails_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_mails")),
        sa.UniqueConstraint("key", name=op.f("uq_follow_up_mails_key")),
    )
    for column in ("action_item_id", "team_id", "user_id"):
        op.create_index(
            op.f(f"ix_follow_up_mails_{column}"), "follow_up_mails", [column], unique=False
        )
    # The follow-up mails that are over go back (the older scan reads them to plan each
    # once), those of items and teams that still exist; waiting ones are planned again.
    old, new = _follow_up_mails(), _plain_mails()
    kinds = ["followup_due_soon", "followup_overdue", "followup_digest"]
    bind = op.get_bind()
    items: set[int] = set(bind.execute(sa.text("SELECT id FROM action_items")).scalars())
    teams: set[int] = set(bind.execute(sa.text("SELECT id FROM teams")).scalars())
    rows = bind.execute(
        sa.select(new).where(new.c.kind.in_(kinds), new.c.state.in_(_OVER))
    ).mappings()
    back = []
    for row in rows:
        item, team = row["context"].get("action_item_id"), row["context"].get("team_id")
        if (item is not None and item not in items) or (team is not None and team not in teams):
            continue
        back.append(
            {
                "key": row["key"].removeprefix("follow-up:"),
                "kind": row["kind"].removeprefix("followup_"),
                "action_item_id": item,
                "team_id": team,
                **{name: row[name] for name in _SHARED},
            }
        )
    if back:
        bind.execute(old.insert(), back)
    op.create_table(
        "postmortem_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("deadline", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("due_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["postmortem_id"],
            ["postmortems.id"],
            name=op.f("fk_postmortem_reminders_postmortem_id_postmortems"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_postmortem_reminders_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortem_reminders")),
        sa.UniqueConstraint("key", name=op.f("uq_postmortem_reminders_key")),
    )
    op.create_index(
        op.f("ix_postmortem_reminders_postmortem_id"),
        "postmortem_reminders",
        ["postmortem_id"],
        unique=False,
    )
    op.create_table(
        "postmortem_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["postmortem_id"],
            ["postmortems.id"],
            name=op.f("fk_postmortem_mails_postmortem_id_postmortems"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_postmortem_mails_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortem_mails")),
        sa.UniqueConstraint("key", name=op.f("uq_postmortem_mails_key")),
    )
    op.create_index(
        op.f("ix_postmortem_mails_postmortem_id"),
        "postmortem_mails",
        ["postmortem_id"],
        unique=False,
    )
    op.create_table(
        "role_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_role_notices_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["incident_roles.id"],
            name=op.f("fk_role_notices_role_id_incident_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["users.id"],
            name=op.f("fk_role_notices_assigned_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_notices")),
    )
    op.create_index(
        op.f("ix_role_notices_incident_id"), "role_notices", ["incident_id"], unique=False
    )
    op.create_table(
        "target_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("due_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_target_reminders_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_target_reminders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_reminders")),
        sa.UniqueConstraint(
            "incident_id", "user_id", "due_at", name=op.f("uq_target_reminders_incident_id")
        ),
    )
    op.create_index(
        op.f("ix_target_reminders_incident_id"), "target_reminders", ["incident_id"], unique=False
    )
    # The older code knows none of these mails (nor checks them when sending): they go.
    op.execute(_mails.delete().where(_mails.c.kind.in_(_NEW_KINDS)))
    with op.batch_alter_table("mails") as batch:
        batch.drop_index(op.f("ix_mails_incident_id"))
        batch.drop_constraint(op.f("fk_mails_incident_id_incidents"), type_="foreignkey")
        batch.drop_column("context")
        batch.drop_column("incident_id")
        batch.drop_column("link")
