"""Postmortem actions: start one, react to a resolved incident, change owner, meeting and
status, save a section.

Every function validates, writes, appends to the incident's timeline and emits its event in
the caller's transaction. None of them commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.bus import emit
from tocsin.catalog.models import User, UserRole
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from tocsin.incidents.events import IncidentStatusChanged
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import actor_name, record
from tocsin.postmortems import policies, reminders, review, template, type_templates
from tocsin.postmortems.events import (
    PostmortemOwnerChanged,
    PostmortemSectionSaved,
    PostmortemStarted,
    PostmortemStatusChanged,
)
from tocsin.postmortems.models import (
    Postmortem,
    PostmortemPolicy,
    PostmortemRevision,
    PostmortemSection,
    PostmortemStatus,
)
from tocsin.postmortems.workdays import WorkCalendar

# A section's Markdown, at most (a long timeline table fits several times over).
SECTION_MAX = 100_000
# An admin's reason for marking a postmortem Reviewed without the reviewers' approval.
OVERRIDE_MAX = 2_000

TRANSITIONS: dict[PostmortemStatus, frozenset[PostmortemStatus]] = {
    PostmortemStatus.draft: frozenset({PostmortemStatus.in_review}),
    PostmortemStatus.in_review: frozenset({PostmortemStatus.draft, PostmortemStatus.reviewed}),
    PostmortemStatus.reviewed: frozenset({PostmortemStatus.closed}),
    PostmortemStatus.closed: frozenset(),
}
LABELS = {
    PostmortemStatus.draft: "Draft",
    PostmortemStatus.in_review: "In review",
    PostmortemStatus.reviewed: "Reviewed",
    PostmortemStatus.closed: "Closed",
}


class SectionConflict(Conflict):
    """A section was saved from a version that is no longer the current one: nothing was
    written; both texts travel with the error so that the interface can show them."""

    def __init__(self, key: str, yours: str, saved: str, saved_version: int) -> None:
        super().__init__(
            f"the section {key!r} was changed by someone else since you opened it "
            f"(now version {saved_version}); nothing was saved: compare both texts and save "
            "again from the current version",
            field="base_version",
        )
        self.key = key
        self.yours = yours
        self.saved = saved
        self.saved_version = saved_version


def _id(user: User | None) -> int | None:
    return user.id if user is not None else None


def for_incident(session: Session, incident: Incident) -> Postmortem | None:
    return session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))


def start(
    session: Session,
    incident: Incident,
    *,
    by: User | None,
    calendar: WorkCalendar | None = None,
    owner: User | None = None,
) -> Postmortem:
    """Start the incident's postmortem, pre-filled from its type's template (PagerDuty's
    when the type has none); the existing one if it has one. The owner defaults to the
    incident commander, else whoever starts it. Deadlines come from the severity's policy
    when it requires a postmortem and the incident is resolved (from the time it was
    resolved)."""
    existing = for_incident(session, incident)
    if existing is not None:
        return existing
    policy = policies.policy_for(session, incident.severity_id)
    required = policy is not None and policy.required
    owner = owner or incident.commander or by
    now = utcnow()
    postmortem = Postmortem(
        incident_id=incident.id,
        owner_id=_id(owner),
        status=PostmortemStatus.draft.value,
        created_at=now,
        updated_at=now,
        created_by_id=_id(by),
    )
    if policy is not None and required and incident.resolved_at is not None:
        due = policies.deadlines(policy, incident.resolved_at, calendar or WorkCalendar())
        postmortem.meeting_due_at = due.meeting_due_at
        postmortem.draft_due_at = due.draft_due_at
    # The type's template as it is now: the postmortem keeps these sections afterwards.
    filled = template.fill(session, incident, type_templates.specs_for(session, incident.type_id))
    for position, (spec, body) in enumerate(filled):
        postmortem.sections.append(
            PostmortemSection(
                key=spec.key,
                title=spec.title,
                kind=spec.kind,
                guidance=spec.guidance,
                position=position,
                body=body,
                updated_at=now,
            )
        )
    session.add(postmortem)
    session.flush()
    for spec, body in filled:
        session.add(
            PostmortemRevision(
                postmortem_id=postmortem.id,
                section_key=spec.key,
                version=1,
                body=body,
                saved_by_id=None,
                saved_at=now,
            )
        )
    why = (
        f"the {incident.severity.name} policy requires one"
        if required and incident.severity
        else ""
    )
    who = "Tocsin" if by is None else by.name
    summary = f"{who} started the postmortem" + (f" ({why})" if why else "")
    if owner is not None:
        summary += f"; owner: {owner.name}"
    if postmortem.meeting_due_at is not None:
        summary += f"; meeting due {postmortem.meeting_due_at:%Y-%m-%d %H:%M UTC}"
    record(session, incident, "postmortem", summary, by=by, field="postmortem", key_event=True)
    reminders.plan(session, postmortem)
    emit(
        session,
        PostmortemStarted(postmortem.id, incident.id, _id(owner), required, _id(by)),
    )
    session.flush()
    return postmortem


def on_incident_status_changed(
    session: Session, event: IncidentStatusChanged, *, calendar: WorkCalendar
) -> None:
    """A resolved incident whose severity's policy requires a postmortem gets one, owned by
    its commander (else whoever resolved it). Drills do not; an incident resolved again
    after a reopen keeps the postmortem it has."""
    if event.new != Status.resolved:
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None or incident.drill:
        return
    policy = policies.policy_for(session, incident.severity_id)
    if policy is None or not policy.required:
        return
    existing = for_incident(session, incident)
    if existing is not None:
        if existing.meeting_due_at is None and incident.resolved_at is not None:
            # Started by hand before the incident was over: its deadlines start now.
            _set_deadlines(session, existing, policy, incident.resolved_at, calendar)
        return
    resolver = session.get(User, event.by_id) if event.by_id is not None else None
    owner = incident.commander or resolver
    start(session, incident, by=None, calendar=calendar, owner=owner)


def _set_deadlines(
    session: Session,
    postmortem: Postmortem,
    policy: PostmortemPolicy,
    resolved_at: datetime,
    calendar: WorkCalendar,
) -> None:
    due = policies.deadlines(policy, resolved_at, calendar)
    postmortem.meeting_due_at = due.meeting_due_at
    postmortem.draft_due_at = due.draft_due_at
    _touch(postmortem)
    reminders.plan(session, postmortem)
    severity = postmortem.incident.severity
    policy_name = f" ({severity.name} policy)" if severity else ""
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"The postmortem's meeting is due {due.meeting_due_at:%Y-%m-%d %H:%M UTC} and its "
        f"draft {due.draft_due_at:%Y-%m-%d %H:%M UTC}{policy_name}",
        by=None,
        field="postmortem_deadlines",
        new={
            "meeting_due_at": due.meeting_due_at.isoformat(),
            "draft_due_at": due.draft_due_at.isoformat(),
        },
    )


def _touch(postmortem: Postmortem) -> None:
    postmortem.version += 1
    postmortem.updated_at = utcnow()


def assign_owner(
    session: Session, postmortem: Postmortem, owner_id: int | None, *, by: User | None
) -> None:
    """Make someone (an active user) the owner; None leaves it without one."""
    owner = None
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None:
            raise NotFound(f"owner_id: no user with id {owner_id}", field="owner_id")
        if not owner.active:
            raise ValidationFailed(f"{owner.name} is deactivated", field="owner_id")
    old = postmortem.owner
    if _id(old) == _id(owner):
        return
    postmortem.owner_id = _id(owner)
    postmortem.owner = owner
    _touch(postmortem)
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} made {owner.name if owner else 'nobody'} the postmortem's owner",
        by=by,
        field="postmortem_owner",
        old=old.name if old else None,
        new=owner.name if owner else None,
    )
    emit(
        session,
        PostmortemOwnerChanged(
            postmortem.id, postmortem.incident_id, _id(old), _id(owner), _id(by)
        ),
    )


def schedule(
    session: Session, postmortem: Postmortem, changes: dict[str, Any], *, by: User | None
) -> None:
    """Record the meeting's time (`meeting_at`) and the call recording (`recording_url`)."""
    unknown = set(changes) - {"meeting_at", "recording_url"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "meeting_at" in changes:
        when: datetime | None = v.aware(changes["meeting_at"], "meeting_at")
        when = when.astimezone(UTC) if when is not None else None
        if when != postmortem.meeting_at:
            postmortem.meeting_at = when
            _touch(postmortem)
            text = f"{when:%Y-%m-%d %H:%M UTC}" if when else "no time"
            record(
                session,
                postmortem.incident,
                "postmortem",
                f"{actor_name(by)} set the postmortem meeting to {text}",
                by=by,
                field="postmortem_meeting",
                new=when.isoformat() if when else None,
            )
    if "recording_url" in changes:
        raw = changes["recording_url"]
        url = v.url(raw, "recording_url") if raw else ""
        if url != postmortem.recording_url:
            postmortem.recording_url = url
            _touch(postmortem)
            record(
                session,
                postmortem.incident,
                "postmortem",
                f"{actor_name(by)} linked the postmortem meeting's recording",
                by=by,
                field="postmortem_recording",
                new=url,
            )


def change_status(
    session: Session,
    postmortem: Postmortem,
    to: PostmortemStatus | str,
    *,
    by: User | None,
    override: str = "",
) -> None:
    """Draft → In review → Reviewed → Closed, and In review back to Draft (409 otherwise).
    Reviewed needs at least one reviewer's approval and no changes outstanding (409), unless
    an admin overrides the review with a reason (`override`), which goes on the timeline."""
    try:
        target = PostmortemStatus(to)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in PostmortemStatus)
        raise ValidationFailed(f"status must be one of {allowed}", field="status") from exc
    current = PostmortemStatus(postmortem.status)
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        nexts = sorted(s.value for s in TRANSITIONS[current])
        hint = f"; it can move to {', '.join(nexts)}" if nexts else ""
        raise InvalidTransition(
            f"the postmortem is {current.value} and cannot move to {target.value}{hint}"
        )
    override = v.text(override, "override", max_len=OVERRIDE_MAX)
    overridden = ""
    if target == PostmortemStatus.reviewed:
        why = review.blocker(session, postmortem)
        if why is not None and not override:
            raise InvalidTransition(
                f"the postmortem cannot be marked Reviewed: {why} (an admin may override the "
                "review with a reason)"
            )
        if why is not None:
            if by is None or not by.can(UserRole.admin):
                raise Forbidden("only admins may override the review")
            overridden = f", overriding the review ({why}): {override}"
    postmortem.status = target.value
    _touch(postmortem)
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} moved the postmortem from {LABELS[current]} to {LABELS[target]}"
        f"{overridden}",
        by=by,
        field="postmortem_status",
        old=current.value,
        new=target.value,
        key_event=target in (PostmortemStatus.reviewed, PostmortemStatus.closed),
    )
    emit(
        session,
        PostmortemStatusChanged(
            postmortem.id, postmortem.incident_id, current.value, target.value, _id(by)
        ),
    )


def save_section(
    session: Session,
    postmortem: Postmortem,
    key: str,
    body: str,
    base_version: int,
    *,
    by: User | None,
) -> PostmortemSection:
    """Save a section's Markdown edited from `base_version`. If someone saved it since,
    `SectionConflict` (409) with both texts, and nothing is written. Every save is kept as a
    revision."""
    section = postmortem.section(key)
    if section is None:
        raise NotFound(f"the postmortem has no section {key!r}")
    body = v.text(body, "body", max_len=SECTION_MAX, strip=False)
    if isinstance(base_version, bool) or not isinstance(base_version, int):
        raise ValidationFailed("base_version must be a version number", field="base_version")
    if postmortem.status == PostmortemStatus.closed.value:
        raise InvalidTransition("the postmortem is closed; its sections can no longer change")
    if base_version != section.version:
        raise SectionConflict(key, body, section.body, section.version)
    now = utcnow()
    # Compare and set: of two saves from the same version, across processes, one wins and
    # the other is the conflict above.
    saved = session.execute(
        update(PostmortemSection)
        .where(PostmortemSection.id == section.id, PostmortemSection.version == base_version)
        .values(body=body, version=base_version + 1, updated_at=now, updated_by_id=_id(by))
        .execution_options(synchronize_session=False)
    )
    session.refresh(section)
    if saved.rowcount != 1:  # type: ignore[attr-defined]
        raise SectionConflict(key, body, section.body, section.version)
    session.add(
        PostmortemRevision(
            postmortem_id=postmortem.id,
            section_key=key,
            version=section.version,
            body=body,
            saved_by_id=_id(by),
            saved_at=now,
        )
    )
    postmortem.updated_at = now
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} edited the postmortem's {section.title} section",
        by=by,
        field="postmortem_section",
        new={"key": key, "version": section.version},
    )
    emit(
        session,
        PostmortemSectionSaved(
            postmortem.id, postmortem.incident_id, key, section.version, _id(by)
        ),
    )
    session.flush()
    return section
