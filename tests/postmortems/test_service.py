"""Postmortem actions and the reaction to a resolved incident, through the bus as the API,
UI and jobs call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.postmortems.conftest import incident_of, resolve_at, role
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.definitions.models import Severity
from tocsin.errors import InvalidTransition, ValidationFailed
from tocsin.incidents import queries as incident_queries
from tocsin.incidents import service as incidents
from tocsin.postmortems import policies, queries, service
from tocsin.postmortems.models import Postmortem, PostmortemStatus
from tocsin.postmortems.service import SECTION_MAX, SectionConflict
from tocsin.postmortems.template import SECTIONS

# A Friday afternoon, UTC (the test settings' organisation: Monday to Friday, UTC).
FRIDAY = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)


def _postmortem(db: Session, incident_id: int) -> Postmortem | None:
    return db.scalar(select(Postmortem).where(Postmortem.incident_id == incident_id))


def _commander(db: Session) -> User:
    return catalog.create_user(db, name="Carla Commander", email="carla@example.com")


def test_resolving_a_sev1_creates_the_postmortem_owned_by_the_commander(
    db: Session, admin: User
) -> None:
    carla = _commander(db)
    incident = incident_of(db, admin, "SEV1", started=FRIDAY - timedelta(hours=2), commander=carla)
    assert _postmortem(db, incident.id) is None
    resolve_at(db, incident, admin, FRIDAY)
    db.commit()

    postmortem = _postmortem(db, incident.id)
    assert postmortem is not None
    assert postmortem.owner == carla
    assert postmortem.status == "draft"
    # SEV1: the meeting within 3 calendar days (Monday at the same time), the draft 24 hours
    # before it.
    assert postmortem.meeting_due_at == datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert postmortem.draft_due_at == datetime(2026, 12, 6, 15, 30, tzinfo=UTC)
    assert [s.key for s in postmortem.sections] == [s.key for s in SECTIONS]
    started = [e for e in incident_queries.timeline(db, incident) if e.kind == "postmortem"]
    assert len(started) == 1
    assert "the SEV1 policy requires one" in started[0].summary
    assert "owner: Carla Commander" in started[0].summary and started[0].is_key_event


def test_a_sev2_meeting_is_due_in_five_business_days_across_the_weekend(
    db: Session, admin: User
) -> None:
    """Without a commander, whoever resolved it owns it."""
    rita = catalog.create_user(db, name="Rita", email="rita2@example.com")
    incident = incident_of(db, admin, "SEV2", started=FRIDAY - timedelta(hours=1))
    resolve_at(db, incident, rita, FRIDAY)
    postmortem = _postmortem(db, incident.id)
    assert postmortem is not None and postmortem.owner == rita
    assert postmortem.meeting_due_at == datetime(2026, 12, 11, 15, 30, tzinfo=UTC)
    assert postmortem.draft_due_at == datetime(2026, 12, 10, 15, 30, tzinfo=UTC)


def test_a_sev3_gets_none_but_anyone_may_start_one(db: Session, admin: User) -> None:
    incident = incident_of(db, admin, "SEV3", started=FRIDAY - timedelta(hours=1))
    resolve_at(db, incident, admin, FRIDAY)
    assert _postmortem(db, incident.id) is None

    rita = catalog.create_user(db, name="Rita", email="rita2@example.com", role="responder")
    started = service.start(db, incident, by=rita)
    assert started.owner == rita  # no commander: whoever started it
    assert started.meeting_due_at is None and started.draft_due_at is None
    # Starting again returns the same one.
    assert service.start(db, incident, by=admin) is started
    assert len([e for e in incident_queries.timeline(db, incident) if e.kind == "postmortem"]) == 1


def test_a_drill_or_a_reresolved_incident_gets_no_second_postmortem(
    db: Session, admin: User
) -> None:
    drill = incident_of(db, admin, "SEV1", started=FRIDAY - timedelta(hours=1), drill=True)
    resolve_at(db, drill, admin, FRIDAY)
    assert _postmortem(db, drill.id) is None

    incident = incident_of(db, admin, "SEV1", started=FRIDAY - timedelta(hours=1))
    resolve_at(db, incident, admin, FRIDAY)
    first = _postmortem(db, incident.id)
    incidents.reopen(db, incident, by=admin)
    incidents.resolve(db, incident, by=admin)
    assert db.scalars(select(Postmortem).where(Postmortem.incident_id == incident.id)).all() == [
        first
    ]


def test_one_started_before_the_end_gets_its_deadlines_when_resolved(
    db: Session, admin: User
) -> None:
    incident = incident_of(db, admin, "SEV1", started=FRIDAY - timedelta(hours=2))
    early = service.start(db, incident, by=admin)
    assert early.meeting_due_at is None  # not over yet: nothing is due
    resolve_at(db, incident, admin, FRIDAY)
    assert _postmortem(db, incident.id) is early
    assert early.meeting_due_at == datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert early.draft_due_at == datetime(2026, 12, 6, 15, 30, tzinfo=UTC)
    deadlines = [
        e for e in incident_queries.timeline(db, incident) if e.field == "postmortem_deadlines"
    ]
    assert [e.summary for e in deadlines] == [
        "The postmortem's meeting is due 2026-12-07 15:30 UTC and its draft 2026-12-06 15:30 UTC "
        "(SEV1 policy)"
    ]


def test_a_rolled_back_resolve_leaves_no_postmortem(db: Session, admin: User) -> None:
    incident = incident_of(db, admin, "SEV1", started=FRIDAY - timedelta(hours=1))
    db.commit()
    resolve_at(db, incident, admin, FRIDAY)
    db.rollback()
    assert _postmortem(db, incident.id) is None


def test_status_moves_and_the_ones_refused(db: Session, admin: User) -> None:
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    with pytest.raises(InvalidTransition, match="draft and cannot move to reviewed"):
        service.change_status(db, postmortem, "reviewed", by=admin)
    service.change_status(db, postmortem, "in_review", by=admin)
    service.change_status(db, postmortem, "draft", by=admin)  # back for more work
    service.change_status(db, postmortem, "in_review", by=admin)
    with pytest.raises(InvalidTransition, match="no reviewer has approved it yet"):
        service.change_status(db, postmortem, PostmortemStatus.reviewed, by=admin)
    service.change_status(db, postmortem, PostmortemStatus.reviewed, by=admin, override="Held.")
    with pytest.raises(InvalidTransition):
        service.change_status(db, postmortem, "draft", by=admin)
    service.change_status(db, postmortem, "closed", by=admin)
    with pytest.raises(InvalidTransition, match="closed"):
        service.save_section(db, postmortem, "overview", "late", 1, by=admin)
    with pytest.raises(ValidationFailed, match="status must be one of"):
        service.change_status(db, postmortem, "published", by=admin)
    moves = [
        e.summary for e in incident_queries.timeline(db, incident) if e.field == "postmortem_status"
    ]
    assert moves == [
        "Ada Admin moved the postmortem from Draft to In review",
        "Ada Admin moved the postmortem from In review to Draft",
        "Ada Admin moved the postmortem from Draft to In review",
        "Ada Admin moved the postmortem from In review to Reviewed, overriding the review "
        "(no reviewer has approved it yet): Held.",
        "Ada Admin moved the postmortem from Reviewed to Closed",
    ]


def test_a_stale_save_is_a_conflict_with_both_texts_and_loses_nothing(
    db: Session, admin: User
) -> None:
    bob = catalog.create_user(db, name="Bob", email="bob@example.com")
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    section = postmortem.section("what_went_well")
    assert section is not None and section.version == 1

    service.save_section(db, postmortem, "what_went_well", "Paging was fast.", 1, by=admin)
    with pytest.raises(SectionConflict) as conflict:
        service.save_section(db, postmortem, "what_went_well", "Rollback worked.", 1, by=bob)
    assert conflict.value.status_code == 409
    assert (conflict.value.yours, conflict.value.saved) == ("Rollback worked.", "Paging was fast.")
    assert conflict.value.saved_version == 2
    assert section.body == "Paging was fast."

    # Bob merges both and saves from the current version.
    merged = "Paging was fast.\n\nRollback worked."
    service.save_section(db, postmortem, "what_went_well", merged, 2, by=bob)
    db.commit()
    revisions = queries.revisions(db, postmortem, "what_went_well")
    assert [(r.version, r.body, r.saved_by) for r in revisions] == [
        (3, merged, bob),
        (2, "Paging was fast.", admin),
        (1, "", None),
    ]
    edits = [e for e in incident_queries.timeline(db, incident) if e.field == "postmortem_section"]
    assert [e.summary for e in edits] == [
        "Ada Admin edited the postmortem's What went well? section",
        "Bob edited the postmortem's What went well? section",
    ]


def test_section_bodies_are_bounded(db: Session, admin: User) -> None:
    postmortem = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    with pytest.raises(ValidationFailed, match="too long"):
        service.save_section(db, postmortem, "overview", "x" * (SECTION_MAX + 1), 1, by=admin)


def test_owner_meeting_and_recording(db: Session, admin: User) -> None:
    bob = catalog.create_user(db, name="Bob", email="bob@example.com")
    incident = incident_of(db, admin, "SEV3")
    postmortem = service.start(db, incident, by=admin)
    service.assign_owner(db, postmortem, bob.id, by=admin)
    meeting = datetime(2026, 12, 9, 14, tzinfo=UTC)
    service.schedule(
        db,
        postmortem,
        {"meeting_at": meeting, "recording_url": "https://meet.example.com/r/1"},
        by=admin,
    )
    assert (postmortem.owner, postmortem.meeting_at) == (bob, meeting)
    assert postmortem.recording_url == "https://meet.example.com/r/1"
    with pytest.raises(ValidationFailed):
        service.schedule(db, postmortem, {"recording_url": "javascript:alert(1)"}, by=admin)
    with pytest.raises(ValidationFailed, match="aware|offset|time zone"):
        service.schedule(db, postmortem, {"meeting_at": datetime(2026, 12, 9, 14)}, by=admin)
    summaries = [e.summary for e in incident_queries.timeline(db, incident)]
    assert "Ada Admin made Bob the postmortem's owner" in summaries
    assert "Ada Admin set the postmortem meeting to 2026-12-09 14:00 UTC" in summaries
    # A deleted owner leaves the postmortem without one (ON DELETE SET NULL).
    db.commit()
    db.delete(bob)
    db.commit()
    db.refresh(postmortem)
    assert postmortem.owner_id is None


def test_the_commander_role_exists(db: Session) -> None:
    assert role(db, "incident_commander").name == "Incident Commander"


def test_a_policy_refuses_what_it_cannot_mean(db: Session) -> None:
    sev4 = db.scalars(select(Severity).where(Severity.name == "SEV4")).one()
    with pytest.raises(ValidationFailed, match="meeting_unit"):
        policies.set_policy(db, sev4.id, {"required": True, "meeting_unit": "weeks"})
    with pytest.raises(ValidationFailed, match="meeting_within"):
        policies.set_policy(db, sev4.id, {"required": True, "meeting_within": -1})
    policy = policies.set_policy(db, sev4.id, {"required": True, "meeting_within": 10})
    assert (policy.required, policy.meeting_within, policy.meeting_unit) == (
        True,
        10,
        "business_days",
    )
