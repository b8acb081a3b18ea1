"""The incident actions, called the way the API, UI and CLI call them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, IncidentType, Severity
from tocsin.errors import InvalidTransition, NotFound, ValidationFailed
from tocsin.incidents import actions, queries, roles, service, updates
from tocsin.incidents.models import Incident
from tocsin.jobs.models import Job


def _sev(db: Session, name: str) -> Severity:
    return db.scalars(select(Severity).where(Severity.name == name)).one()


def _type(db: Session, name: str) -> IncidentType:
    return db.scalars(select(IncidentType).where(IncidentType.name == name)).one()


def test_declare_numbers_incidents_and_records_creation(db: Session, admin: User) -> None:
    first = service.declare(db, by=admin, title="Checkout failing")
    second = service.declare(db, by=admin, title="Search slow", severity_id=_sev(db, "SEV3").id)
    db.commit()
    assert (first.reference, second.reference) == ("INC-1", "INC-2")
    assert first.status == "triggered"
    assert first.detected_at is not None and first.started_at == first.detected_at
    entries = queries.timeline(db, first)
    assert [e.kind for e in entries] == ["created"]
    assert entries[0].is_key_event and "Ada Admin" in entries[0].summary


def test_type_defaults_and_required_custom_fields(db: Session, admin: User) -> None:
    security = _type(db, "Security incident")
    with pytest.raises(ValidationFailed, match="Security lead"):
        service.declare(db, by=admin, title="Leaked key", type_id=security.id)
    incident = service.declare(
        db,
        by=admin,
        title="Leaked key",
        type_id=security.id,
        custom_fields={"security_lead": admin.id, "data_exposed": "false"},
    )
    assert incident.severity.name == "SEV1"
    assert incident.restricted is True
    assert incident.custom_fields == {"security_lead": admin.id, "data_exposed": False}
    with pytest.raises(ValidationFailed, match="unknown custom field"):
        service.edit(db, incident, {"custom_fields": {"nope": 1}}, by=admin)


def test_select_fields_accept_only_their_options(db: Session, admin: User) -> None:
    outage = _type(db, "Service outage")
    with pytest.raises(ValidationFailed, match="must be one of"):
        service.declare(
            db, by=admin, title="x", type_id=outage.id, custom_fields={"detection_source": "Tarot"}
        )
    incident = service.declare(
        db,
        by=admin,
        title="x",
        type_id=outage.id,
        custom_fields={"regions": ["US", "EU"], "error_rate": "12.5"},
    )
    assert incident.custom_fields == {"regions": ["EU", "US"], "error_rate": 12.5}


def test_lifecycle_sets_kpi_timestamps_and_refuses_invalid_moves(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="DB down")
    service.acknowledge(db, incident, by=admin)
    assert incident.status == "acknowledged" and incident.acknowledged_at is not None
    with pytest.raises(InvalidTransition, match="only a triggered incident"):
        service.acknowledge(db, incident, by=admin)
    with pytest.raises(InvalidTransition, match="cannot move to closed"):
        service.close(db, incident, by=admin)
    service.change_status(db, incident, "identified", by=admin)
    service.resolve(db, incident, by=admin)
    assert incident.resolved_at is not None
    with pytest.raises(InvalidTransition, match="reopen it first"):
        service.change_status(db, incident, "investigating", by=admin)
    service.close(db, incident, by=admin)
    assert incident.closed_at is not None
    service.reopen(db, incident, by=admin)
    assert incident.status == "investigating"
    assert incident.resolved_at is None and incident.closed_at is None
    kinds = [e.kind for e in queries.timeline(db, incident)]
    assert kinds == ["created"] + ["status_changed"] * 4 + ["reopened"]


def test_unknown_status_is_a_validation_error(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    with pytest.raises(ValidationFailed, match="status must be one of"):
        service.change_status(db, incident, "exploded", by=admin)


def test_backfilled_timestamps_are_checked_and_recorded(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    earlier = utcnow() - timedelta(hours=3)
    service.edit_timestamps(db, incident, {"started_at": earlier}, by=admin)
    assert incident.started_at == earlier
    with pytest.raises(ValidationFailed, match="cannot be before"):
        service.edit_timestamps(
            db, incident, {"detected_at": earlier - timedelta(hours=1)}, by=admin
        )
    with pytest.raises(ValidationFailed, match="only be set on a resolved"):
        service.edit_timestamps(db, incident, {"resolved_at": utcnow()}, by=admin)
    # Periods and KPIs start from detection: it can be corrected, never removed.
    for name in ("started_at", "detected_at"):
        with pytest.raises(ValidationFailed, match=f"{name} cannot be cleared"):
            service.edit_timestamps(db, incident, {name: None}, by=admin)
    entry = queries.timeline(db, incident)[-1]
    assert entry.kind == "timestamp_changed" and entry.field == "started_at"
    assert entry.new_value == earlier.isoformat()


def test_edit_records_old_and_new_values(db: Session, admin: User) -> None:
    api_service = catalog.create_service(db, name="API")
    incident = service.declare(db, by=admin, title="x", severity_id=_sev(db, "SEV3").id)
    entries = service.edit(
        db,
        incident,
        {
            "title": "API errors",
            "severity_id": _sev(db, "SEV1").id,
            "service_ids": [api_service.id],
            "drill": True,
        },
        by=admin,
    )
    changed = {e.field: (e.old_value, e.new_value) for e in entries}
    assert changed["title"] == ("x", "API errors")
    assert changed["severity"] == ("SEV3", "SEV1")
    assert changed["services"] == ([], ["API"])
    assert changed["drill"] == (False, True)
    assert service.edit(db, incident, {"title": "API errors"}, by=admin) == []
    with pytest.raises(NotFound):
        service.edit(db, incident, {"severity_id": 9999}, by=admin)


def test_roles_assign_hand_over_and_clear(db: Session, admin: User, responder: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    commander = db.scalars(
        select(IncidentRole).where(IncidentRole.slug == "incident_commander")
    ).one()
    roles.assign_role(db, incident, role_id=commander.id, user_id=admin.id, by=admin)
    assert incident.commander is admin
    change = roles.assign_role(db, incident, role_id=commander.id, user_id=responder.id, by=admin)
    assert change.entry is not None
    assert change.entry.summary == "Ada Admin handed command to Rita Responder"
    assert incident.commander is responder and incident.holders("incident_commander") == [responder]
    roles.assign_role(db, incident, role_id=commander.id, user_id=None, by=admin)
    assert incident.commander is None


def test_notes_can_be_backfilled_and_sort_by_occurrence(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    past = utcnow() - timedelta(minutes=30)
    service.add_note(db, incident, "Deploy 42 went out", by=admin, occurred_at=past, key_event=True)
    entries = queries.timeline(db, incident)
    assert entries[0].body == "Deploy 42 went out" and entries[0].occurred_at == past
    with pytest.raises(ValidationFailed, match="future"):
        service.add_note(db, incident, "later", by=admin, occurred_at=utcnow() + timedelta(days=1))
    with pytest.raises(ValidationFailed, match="required"):
        service.add_note(db, incident, "   ", by=admin)


def test_updates_and_action_items_can_be_recorded_when_they_happened(
    db: Session, admin: User
) -> None:
    started = utcnow() - timedelta(hours=5)
    incident = service.declare(db, by=admin, title="x", started_at=started)
    posted_at = started + timedelta(hours=1)
    update = updates.post_update(
        db, incident, phase="resolved", body="Fixed.", by=admin, occurred_at=posted_at
    )
    agreed = started + timedelta(hours=2)
    item = actions.add_action_item(
        db, incident, title="Add the alert", kind="follow_up", by=admin, occurred_at=agreed
    )
    assert update.created_at == posted_at and incident.resolved_at == posted_at
    assert item.created_at == agreed
    recorded = {e.kind: e.occurred_at for e in queries.timeline(db, incident)}
    assert recorded["update_posted"] == recorded["status_changed"] == posted_at
    assert recorded["action_item_added"] == agreed
    tomorrow = utcnow() + timedelta(days=1)
    with pytest.raises(ValidationFailed, match="occurred_at cannot be in the future"):
        actions.add_action_item(db, incident, title="y", by=admin, occurred_at=tomorrow)
    with pytest.raises(ValidationFailed, match="occurred_at cannot be in the future"):
        updates.post_update(
            db, incident, phase="resolved", body="z", by=admin, occurred_at=tomorrow
        )


def test_update_moves_status_and_template_fills_placeholders(db: Session, admin: User) -> None:
    web = catalog.create_service(db, name="Web shop")
    incident = service.declare(db, by=admin, title="Shop down", service_ids=[web.id])
    text = updates.render_template(db, incident, "identified")
    assert "Web shop" in text and "{services}" not in text
    updates.post_update(
        db, incident, phase="identified", body=text, visibility="external", by=admin
    )
    assert incident.status == "identified"
    assert incident.updates[0].phase == "identified"
    updates.post_update(db, incident, phase="resolved", body="Fixed.", by=admin)
    assert incident.status == "resolved"
    with pytest.raises(InvalidTransition, match="reopen"):
        updates.post_update(db, incident, phase="monitoring", body="?", by=admin)


def test_promised_update_schedules_a_reminder_job(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    due = utcnow() + timedelta(minutes=30)
    update = updates.post_update(
        db, incident, phase="investigating", body="Looking", next_update_at=due, by=admin
    )
    job = db.scalars(select(Job).where(Job.kind == "incidents.update_due")).one()
    assert job.run_at == due
    assert updates.remind_if_update_overdue(db, incident.id, update.id) is True
    assert queries.timeline(db, incident)[-1].kind == "reminder"
    updates.post_update(db, incident, phase="identified", body="Found it", by=admin)
    assert updates.remind_if_update_overdue(db, incident.id, update.id) is False


def test_action_items_track_status_and_overdue(db: Session, admin: User, responder: User) -> None:
    incident = service.declare(db, by=admin, title="x")
    yesterday = date.today() - timedelta(days=1)
    item = actions.add_action_item(
        db,
        incident,
        title="Add alert on queue depth",
        assignee_id=responder.id,
        due_date=yesterday,
        kind="follow_up",
        by=admin,
    )
    db.flush()
    overdue, total = queries.action_items(db, viewer=admin, overdue_on=date.today())
    assert total == 1 and overdue[0] is item and item.is_overdue(date.today())
    actions.update_action_item(db, item, {"status": "done"}, by=responder)
    assert item.completed_at is not None
    assert queries.action_items(db, viewer=admin, overdue_on=date.today())[1] == 0
    assert queries.timeline(db, incident)[-1].summary.endswith(
        "marked “Add alert on queue depth” done"
    )
    with pytest.raises(ValidationFailed):
        actions.update_action_item(db, item, {"status": "finished"}, by=admin)


def test_search_filters(db: Session, admin: User) -> None:
    team = catalog.create_team(db, name="Payments")
    pay = catalog.create_service(db, name="Payments API", team_id=team.id)
    a = service.declare(
        db,
        by=admin,
        title="Card payments failing",
        service_ids=[pay.id],
        severity_id=_sev(db, "SEV1").id,
    )
    b = service.declare(db, by=admin, title="Slow search", drill=True)
    service.resolve(db, b, by=admin)
    db.flush()

    def refs(**kw):  # type: ignore[no-untyped-def]
        items, _ = queries.search_incidents(db, queries.IncidentFilter(**kw), viewer=admin)
        return [i.reference for i in items]

    assert refs(team_ids=[team.id]) == [a.reference]
    assert refs(text="card") == [a.reference]
    assert refs(text="INC-2") == [b.reference]
    assert refs(statuses=["resolved"]) == [b.reference]
    assert refs(open_only=True) == [a.reference]
    assert refs(include_drills=False) == [a.reference]
    assert refs(severity_ids=[_sev(db, "SEV1").id]) == [a.reference]
    with pytest.raises(ValidationFailed):
        refs(statuses=["bogus"])


def test_rolled_back_change_leaves_nothing(container, db: Session, admin: User) -> None:  # type: ignore[no-untyped-def]
    incident = service.declare(db, by=admin, title="x")
    updates.post_update(
        db,
        incident,
        phase="investigating",
        body="b",
        next_update_at=utcnow() + timedelta(minutes=5),
        by=admin,
    )
    db.rollback()
    with container.sessionmaker() as check:
        assert check.scalars(select(Job)).all() == []
        with pytest.raises(NotFound):
            queries.get_incident(check, "INC-1", viewer=admin)


def test_concurrent_declarations_get_distinct_numbers(container, admin: User) -> None:  # type: ignore[no-untyped-def]
    import threading

    from tocsin.db import transaction

    errors: list[BaseException] = []

    def declare_many() -> None:
        try:
            for i in range(15):
                with transaction(container.sessionmaker) as session:
                    by = session.get(User, admin.id)
                    service.declare(session, by=by, title=f"load {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=declare_many) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with container.sessionmaker() as session:
        numbers = sorted(session.scalars(select(Incident.number)))
    assert numbers == list(range(1, 46))


def test_declared_urgency_defaults_to_the_severitys_and_can_be_chosen(
    db: Session, admin: User
) -> None:
    """SEV1–SEV3 page at high urgency and SEV4 at low unless the declarer chooses; "none"
    declares without paging: no escalation job, and the timeline says so."""
    sev1, sev4 = _sev(db, "SEV1"), _sev(db, "SEV4")
    assert (sev1.default_urgency, sev4.default_urgency) == ("high", "low")
    assert service.declare(db, by=admin, title="Down", severity_id=sev1.id).urgency == "high"
    assert service.declare(db, by=admin, title="Typo", severity_id=sev4.id).urgency == "low"
    assert service.declare(db, by=admin, title="Unknown").urgency == "high"
    chosen = service.declare(db, by=admin, title="Odd", severity_id=sev1.id, urgency="low")
    assert chosen.urgency == "low" and not chosen.declared_without_paging
    quiet = service.declare(db, by=admin, title="FYI", severity_id=sev4.id, urgency="none")
    assert quiet.declared_without_paging and quiet.urgency == "low"
    db.commit()
    starts = db.scalars(select(Job).where(Job.kind == "escalation.start")).all()
    assert sorted(j.payload["incident_id"] for j in starts) == sorted(
        i.id for i in db.scalars(select(Incident).where(Incident.id != quiet.id))
    )
    summaries = [e.summary for e in queries.timeline(db, quiet)]
    assert "Declared without paging by Ada Admin" in summaries[-1]
    with pytest.raises(ValidationFailed, match="urgency must be one of high, low, none"):
        service.declare(db, by=admin, title="x", urgency="urgent")
