"""A postmortem as a PDF: the Markdown export's content, typeset by `web.pdf`."""

from __future__ import annotations

from tocsin.postmortems import export
from tocsin.postmortems.models import Postmortem
from tocsin.web.pdf import Part, markdown_pdf


def to_pdf(postmortem: Postmortem, record: export.ReviewRecord | None = None) -> bytes:
    """The whole postmortem as a PDF: title, the header's facts, then every section. A
    section fpdf2 cannot lay out (a table too wide for the page) is printed as its Markdown
    text instead, so every postmortem exports."""
    record = record or export.ReviewRecord([], "")
    parts: list[Part] = [
        (s.key, s.title, s.body.strip() or export.EMPTY_SECTION) for s in postmortem.sections
    ]
    if record.meeting_notes:
        # The key of no section (keys are lowercase identifiers), for the fallback.
        parts.append(("Meeting notes", export.MEETING_NOTES, record.meeting_notes))
    return markdown_pdf(export.title(postmortem), export.facts(postmortem) + record.facts, parts)
