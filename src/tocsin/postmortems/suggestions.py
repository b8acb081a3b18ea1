"""The blameless review suggestions of a postmortem (`blameless.suggest` on its sections),
less the ones dismissed, and dismissing one. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.errors import NotFound
from tocsin.incidents.timeline import actor_name, record
from tocsin.postmortems.blameless import Suggestion, suggest
from tocsin.postmortems.models import Postmortem, PostmortemDismissal

RULE_NAMES = {
    "human_error": "human error",
    "person": "a person named as a cause",
    "outage": "\u201coutage\u201d for a partial impact",
    "alternate_reality": "alternate reality",
    "timeline_link": "a timeline row without a data link",
    "fix_in_description": "a fix in what happened",
}


def all_suggestions(session: Session, postmortem: Postmortem) -> list[Suggestion]:
    """Every suggestion for the postmortem's current text, dismissed or not."""
    people = session.scalars(select(User.name))
    return suggest(
        {s.key: s.body for s in postmortem.sections},
        people=people,
        impact_notes=postmortem.incident.customer_impact,
    )


def dismissed_ids(session: Session, postmortem: Postmortem) -> set[str]:
    return set(
        session.scalars(
            select(PostmortemDismissal.suggestion_id).where(
                PostmortemDismissal.postmortem_id == postmortem.id
            )
        )
    )


def for_postmortem(session: Session, postmortem: Postmortem) -> list[Suggestion]:
    """The suggestions to show: those not dismissed."""
    gone = dismissed_ids(session, postmortem)
    return [s for s in all_suggestions(session, postmortem) if s.id not in gone]


def dismiss(
    session: Session, postmortem: Postmortem, suggestion_id: str, *, by: User | None
) -> Suggestion:
    """Dismiss a current suggestion (again: nothing changes). It stays dismissed while the
    sentence it is about is unchanged."""
    found = next((s for s in all_suggestions(session, postmortem) if s.id == suggestion_id), None)
    if found is None:
        raise NotFound(f"the postmortem has no suggestion {suggestion_id!r} (its text changed?)")
    if suggestion_id in dismissed_ids(session, postmortem):
        return found
    session.add(
        PostmortemDismissal(
            postmortem_id=postmortem.id,
            suggestion_id=suggestion_id,
            section_key=found.section_key,
            dismissed_by_id=by.id if by is not None else None,
        )
    )
    section = postmortem.section(found.section_key)
    record(
        session,
        postmortem.incident,
        "postmortem",
        f"{actor_name(by)} dismissed a review suggestion ({RULE_NAMES[found.rule]}) in the "
        f"postmortem's {section.title if section else found.section_key} section",
        by=by,
        field="postmortem_suggestion",
        new={"id": suggestion_id, "rule": found.rule},
    )
    session.flush()
    return found
