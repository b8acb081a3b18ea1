"""The response plan as a PDF: the Markdown export's parts, typeset by `web.pdf`."""

from __future__ import annotations

from tocsin.plan import export
from tocsin.plan.document import Plan
from tocsin.web.pdf import markdown_pdf


def to_pdf(plan: Plan) -> bytes:
    """The whole plan as a PDF, with the same content as the Markdown export."""
    when = plan.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    parts = [(heading, heading, "\n".join(body)) for heading, body in export.sections(plan)]
    return markdown_pdf(export.TITLE, [("Generated", when)], parts)
