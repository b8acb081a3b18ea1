"""postmortem templates per incident type; sections keep their kind and guidance

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 05:30:00.000000

A new, empty table of incident types' own templates, and two columns on postmortem sections
with server defaults (instant on SQLite and PostgreSQL). The sections of postmortems already
started get the kind and guidance of PagerDuty's template, which is what they were made from:
the guidance is now read from the section, not from the code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PagerDuty's template as it stood at this migration: (key, kind, guidance). A copy, so that
# the migration does not change when the code's template does.
_PAGERDUTY = (
    (
        "overview",
        "overview",
        "A short sentence or two summarizing the contributing factors, the timeline and the "
        "impact.",
    ),
    ("what_happened", "what_happened", "A short description of what happened."),
    (
        "contributing_factors",
        "markdown",
        "Conditions that contributed to the issue, and actions that exacerbated it, with the "
        "intention of learning from them (never a person as a cause).",
    ),
    (
        "resolution",
        "resolution",
        "What solved the problem: a temporary fix, and the long-term solution.",
    ),
    ("impact", "impact", "Be very specific here and include exact numbers."),
    (
        "responders",
        "responders",
        "Who was the incident commander, the scribe, and who else was involved.",
    ),
    (
        "timeline",
        "timeline",
        "When the contributing factor began, the page, the status page update, significant actions"
        " and when the incident ended, each with a link to what shows it.",
    ),
    (
        "what_went_well",
        "markdown",
        "Anything you did well and want to call out. It's OK to list nothing.",
    ),
    (
        "what_didnt_go_well",
        "markdown",
        "Anything we didn't do very well; every point here should be followed up.",
    ),
    (
        "action_items",
        "action_items",
        "Fixes that prevent the contributing factor, preparedness tasks, remaining postmortem "
        "steps and improvements to the response process.",
    ),
    (
        "internal_email",
        "internal_email",
        "A short paragraph for employees, sent right after the meeting, with a link here.",
    ),
    (
        "external_message",
        "external_message",
        "What customers are told: a summary, what happened, what we are doing about it, and a "
        "genuine apology.",
    ),
)


def upgrade() -> None:
    op.create_table(
        "postmortem_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_type_id", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_type_id"],
            ["incident_types.id"],
            name=op.f("fk_postmortem_templates_incident_type_id_incident_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_postmortem_templates_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortem_templates")),
        sa.UniqueConstraint(
            "incident_type_id", name=op.f("uq_postmortem_templates_incident_type_id")
        ),
    )
    op.add_column(
        "postmortem_sections",
        sa.Column("kind", sa.String(length=32), nullable=False, server_default="markdown"),
    )
    op.add_column(
        "postmortem_sections",
        sa.Column("guidance", sa.Text(), nullable=False, server_default=""),
    )
    sections = sa.table(
        "postmortem_sections",
        sa.column("key", sa.String),
        sa.column("kind", sa.String),
        sa.column("guidance", sa.Text),
    )
    for key, kind, guidance in _PAGERDUTY:
        op.execute(
            sections.update().where(sections.c.key == key).values(kind=kind, guidance=guidance)
        )


def downgrade() -> None:
    # SQLite has DROP COLUMN since 3.35; neither column is indexed nor constrained.
    op.execute("ALTER TABLE postmortem_sections DROP COLUMN guidance")
    op.execute("ALTER TABLE postmortem_sections DROP COLUMN kind")
    op.drop_table("postmortem_templates")
