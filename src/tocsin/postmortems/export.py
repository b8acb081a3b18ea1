"""A postmortem as one Markdown document: its title, the header facts (the review's among
them), every section in the template's order, then the review meeting's notes. Times are UTC,
as in the pre-filled sections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.postmortems import review
from tocsin.postmortems.models import Postmortem, PostmortemStatus, Verdict
from tocsin.postmortems.service import LABELS

MEETING_NOTES = "Review meeting notes"
VERDICTS = {
    Verdict.pending.value: "not yet reviewed",
    Verdict.approved.value: "approved",
    Verdict.changes_requested.value: "changes requested",
}


@dataclass(frozen=True)
class ReviewRecord:
    """What the review adds to an export: header facts, and the meeting's notes (Markdown)."""

    facts: list[tuple[str, str]]
    meeting_notes: str


def review_record(session: Session, postmortem: Postmortem) -> ReviewRecord:
    """The reviewers with their verdicts, the meeting as held, and the publication."""
    found: list[tuple[str, str]] = []
    reviewers = review.reviewers(session, postmortem)
    if reviewers:
        found.append(
            ("Reviewers", ", ".join(f"{r.user.name} ({VERDICTS[r.verdict]})" for r in reviewers))
        )
    held = review.meeting(session, postmortem)
    notes = ""
    if held is not None:
        people = ", ".join(u.name for u in review.attendees_of(session, held)) or "nobody listed"
        found.append(("Meeting held", f"{_when(held.held_at)} with {people}"))
        notes = held.notes.strip()
    if postmortem.published_at is not None:
        found.append(("Published", _when(postmortem.published_at)))
    return ReviewRecord(found, notes)


EMPTY_SECTION = "_Not written yet._"


def _when(value: datetime | None, missing: str = "—") -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else missing


def facts(postmortem: Postmortem) -> list[tuple[str, str]]:
    """The header's facts as (label, plain text) pairs, in the page's order."""
    incident = postmortem.incident
    return [
        ("Incident", f"{incident.reference} {incident.title}"),
        ("Severity", incident.severity.name if incident.severity else "—"),
        ("Owner", postmortem.owner.name if postmortem.owner else "nobody"),
        ("Status", LABELS[PostmortemStatus(postmortem.status)]),
        ("Draft due", _when(postmortem.draft_due_at)),
        ("Meeting due", _when(postmortem.meeting_due_at)),
        ("Meeting", _when(postmortem.meeting_at, "not scheduled")),
        ("Recording", postmortem.recording_url or "—"),
    ]


def title(postmortem: Postmortem) -> str:
    incident = postmortem.incident
    return f"Postmortem: {incident.reference} {incident.title}"


def filename(postmortem: Postmortem, extension: str) -> str:
    """e.g. `postmortem-INC-42.md`: the reference is letters, digits and a dash."""
    return f"postmortem-{postmortem.incident.reference}.{extension}"


def to_markdown(postmortem: Postmortem, record: ReviewRecord | None = None) -> str:
    """The whole postmortem as Markdown; section bodies are copied as written."""
    record = record or ReviewRecord([], "")
    lines = [f"# {title(postmortem)}", ""]
    lines += [f"- **{label}:** {value}" for label, value in facts(postmortem) + record.facts]
    for section in postmortem.sections:
        body = section.body.strip() or EMPTY_SECTION
        lines += ["", f"## {section.title}", "", body]
    if record.meeting_notes:
        lines += ["", f"## {MEETING_NOTES}", "", record.meeting_notes]
    return "\n".join(lines) + "\n"
