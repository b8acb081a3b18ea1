"""A postmortem as one Markdown document: its title, the header facts and every section in
the template's order. Times are UTC, as in the pre-filled sections."""

from __future__ import annotations

from datetime import datetime

from tocsin.postmortems.models import Postmortem, PostmortemStatus
from tocsin.postmortems.service import LABELS

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


def to_markdown(postmortem: Postmortem) -> str:
    """The whole postmortem as Markdown; section bodies are copied as written."""
    lines = [f"# {title(postmortem)}", ""]
    lines += [f"- **{label}:** {value}" for label, value in facts(postmortem)]
    for section in postmortem.sections:
        body = section.body.strip() or EMPTY_SECTION
        lines += ["", f"## {section.title}", "", body]
    return "\n".join(lines) + "\n"
