"""The migrations must produce exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentRole
from tocsin.escalation.models import EscalationRun, EscalationStep
from tocsin.incidents import actions, roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem, RoleAssignment, TimelineEntry
from tocsin.jobs.models import CANCELLED
from tocsin.jobs.queue import enqueue
from tocsin.notify.models import Mail
from tocsin.postmortems import service as postmortems
from tocsin.postmortems.models import PostmortemSection
from tocsin.postmortems.template import SECTIONS


def test_migrated_database_matches_the_models(container: Container) -> None:
    with container.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"migrations and models differ: {diff}"


def test_every_model_table_exists(container: Container) -> None:
    tables = set(inspect(container.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_rebuilding_tables_through_old_migrations_keeps_the_rows_that_refer_to_them(
    settings: Settings, container: Container, db: Session, admin: User, responder: User
) -> None:
    """On SQLite, a batch migration (0022 rebuilds `incidents`, 0023 `escalation_runs`)
    drops the old table; with foreign keys on, that drop deleted every timeline entry,
    action item, role and escalation step through ON DELETE CASCADE."""
    incident = incidents.declare(db, by=admin, title="Disk full", commander_id=admin.id)
    incidents.add_note(db, incident, "The disk filled at 03:12.", by=admin)
    actions.add_action_item(db, incident, by=admin, title="Alert on disk use")
    run = EscalationRun(incident_id=incident.id, label="Policy", started_at=utcnow())
    db.add(run)
    db.flush()
    db.add(EscalationStep(run_id=run.id, incident_id=incident.id, cycle=1, level=1))
    db.commit()

    def rows() -> dict[str, int]:
        return {
            model.__name__: len(db.scalars(select(model)).all())
            for model in (TimelineEntry, ActionItem, RoleAssignment, EscalationStep)
        }

    before = rows()
    assert all(before.values()), before
    db.rollback()  # no read transaction left open: it would still see the rows as they were
    with downgraded(settings, container, "0021"):
        pass
    db.rollback()
    assert rows() == before


def test_open_runs_paged_by_hand_after_an_acknowledgement_keep_waiting_for_their_own(
    settings: Settings, container: Container, db: Session, admin: User
) -> None:
    """Migration 0023: a run started by hand on an acknowledged incident still needs its own
    acknowledgement after the upgrade; one that paged before the acknowledgement stops."""
    incident = incidents.declare(db, by=admin, title="Disk full")
    early = EscalationRun(incident_id=incident.id, label="Policy", started_at=utcnow())
    db.add(early)
    db.flush()
    incidents.acknowledge(db, incident, by=admin)
    later = EscalationRun(
        incident_id=incident.id, label="Paged by Ada", started_at=utcnow(), started_by_id=admin.id
    )
    db.add(later)
    db.commit()
    with downgraded(settings, container, "0022"):
        pass
    db.expire_all()
    assert db.get(EscalationRun, later.id).needs_own_acknowledgement is True  # type: ignore[union-attr]
    assert db.get(EscalationRun, early.id).needs_own_acknowledgement is False  # type: ignore[union-attr]


def test_sections_of_postmortems_started_before_0029_get_pagerdutys_kind_and_guidance(
    settings: Settings, container: Container, db: Session, admin: User
) -> None:
    """Migration 0029: the guidance is now read from the section; sections that existed
    before it get what PagerDuty's template said, which is what they were made from."""
    incident = incidents.declare(db, by=admin, title="Disk full")
    postmortem = postmortems.start(db, incident, by=admin)
    db.commit()
    with downgraded(settings, container, "0028"):
        pass
    db.expire_all()
    sections = db.scalars(
        select(PostmortemSection).where(PostmortemSection.postmortem_id == postmortem.id)
    ).all()
    assert {(s.key, s.kind, s.guidance) for s in sections} == {
        (spec.key, spec.kind, spec.guidance) for spec in SECTIONS
    }


def test_role_assignments_made_before_0033_keep_their_holders(
    settings: Settings, container: Container, db: Session, admin: User, responder: User
) -> None:
    """Migration 0033: one row per holder already; the rows stay as they were, and the
    defaults that allow several holders (deputy, scribe, SME) are marked so."""
    incident = incidents.declare(db, by=admin, title="Disk full", commander_id=admin.id)
    scribe = db.scalars(select(IncidentRole).where(IncidentRole.slug == "scribe")).one()
    roles.assign_role(db, incident, role_id=scribe.id, user_id=responder.id, by=admin)
    db.commit()
    with downgraded(settings, container, "0032"):
        pass
    db.expire_all()
    held = db.execute(
        select(IncidentRole.slug, RoleAssignment.user_id)
        .join(RoleAssignment.role)
        .where(RoleAssignment.incident_id == incident.id)
        .order_by(IncidentRole.slug)
    ).all()
    assert [tuple(r) for r in held] == [("incident_commander", admin.id), ("scribe", responder.id)]
    multiple = dict(db.execute(select(IncidentRole.slug, IncidentRole.multiple)).all())
    assert multiple["sme"] and multiple["scribe"] and multiple["deputy"]
    assert not multiple["incident_commander"]


def test_0043_cancels_the_old_sends_still_queued(
    settings: Settings, container: Container, db: Session
) -> None:
    """Migration 0043: response target and postmortem reminders, role notices and postmortem
    emails became plain mails; a send of the old kinds still queued is cancelled, saying why,
    rather than failing as a kind nobody knows."""
    db.rollback()
    with downgraded(settings, container, "0041"):
        jobs = [
            enqueue(db, "targets.send_reminder", {"reminder_id": 1}, key="target-mail:1"),
            enqueue(db, "roster.role_notice", {"notice_id": 1}, key="role-notice:1"),
            enqueue(db, "postmortems.send_mail", {"mail_id": 1}, key="pm-mail:1"),
            enqueue(db, "postmortems.send_reminder", {"reminder_id": 1}, key="pm-reminder:1"),
        ]
        db.commit()
    db.expire_all()
    for job in jobs:
        assert job.state == CANCELLED
        assert "plain mails" in job.last_error


def test_0043_keeps_the_follow_up_mails_already_sent_so_none_is_planned_again(
    settings: Settings, container: Container, db: Session, admin: User, responder: User
) -> None:
    """Migration 0043: follow-up mails became plain mails; the ones already sent move (the
    scan reads their keys to plan each once), the ones still waiting are planned again."""
    incident = incidents.declare(db, by=admin, title="Disk full")
    item = actions.add_action_item(
        db, incident, by=admin, title="Alert on disk use", kind="follow_up",
        assignee_id=responder.id,
    )  # fmt: skip
    db.commit()
    db.rollback()
    insert = text(
        "INSERT INTO follow_up_mails (key, kind, user_id, action_item_id, team_id, subject, "
        "body, state, attempts, results, detail, created_at, updated_at, sent_at) VALUES "
        "(:key, :kind, :user, :item, NULL, 'Overdue follow-up', 'It is late.', :state, 1, "
        "'{}', '', :now, :now, NULL)"
    )
    with downgraded(settings, container, "0041"), container.engine.begin() as conn:
        for key, state in (("overdue:1:2026-12-01:0", "sent"), ("due_soon:1:x", "planned")):
            conn.execute(insert, {"key": key, "kind": key.split(":")[0], "user": responder.id,
                                  "item": item.id, "state": state, "now": utcnow()})  # fmt: skip
    db.expire_all()
    moved = db.scalars(select(Mail).where(Mail.kind.like("followup_%"))).all()
    assert [(m.key, m.kind, m.state, m.context, m.user_id) for m in moved] == [
        (
            "follow-up:overdue:1:2026-12-01:0",
            "followup_overdue",
            "sent",
            {"action_item_id": item.id},
            responder.id,
        )
    ]
    # And back down: the older scan finds it where it looked.
    db.rollback()
    with downgraded(settings, container, "0041"), container.engine.connect() as conn:
        keys = conn.execute(text("SELECT key, state FROM follow_up_mails")).all()
    assert [tuple(k) for k in keys] == [("overdue:1:2026-12-01:0", "sent")]
