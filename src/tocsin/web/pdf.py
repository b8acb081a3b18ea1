"""Markdown documents as PDFs, typeset with fpdf2 (postmortems, the response plan).

Text is set in DejaVu Sans from Debian's fonts-dejavu-core, which covers Latin, Greek,
Cyrillic and many symbols; characters it lacks (CJK, emoji) are left out of the PDF and
logged by fpdf2. The package has no oblique faces: emphasis is set upright.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF, FPDFException
from fpdf.fonts import TextStyle, TTFFont

from tocsin.web.markdown import render_markdown

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_SANS = "dejavu"
_MONO = "dejavu-mono"
_CELL = re.compile(r"(<t[dh]>)(.*?)(</t[dh]>)", re.S)
_TAG = re.compile(r"<[^>]+>")

# (key, heading, Markdown body); keys name the parts set as plain text after a failure.
Part = tuple[str, str, str]


def _plain_cells(html: str) -> str:
    """Table cells as plain text: fpdf2's HTML renderer refuses tags inside a cell (a
    pre-filled timeline links each row). The HTML is nh3's output, so cells never nest."""
    return _CELL.sub(lambda m: m[1] + _TAG.sub("", m[2]) + m[3], html)


def _document() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    for style, name in (("", "DejaVuSans"), ("B", "DejaVuSans-Bold")):
        pdf.add_font(_SANS, style, str(FONT_DIR / f"{name}.ttf"))
        pdf.add_font(_SANS, style + "I", str(FONT_DIR / f"{name}.ttf"))
    pdf.add_font(_MONO, "", str(FONT_DIR / "DejaVuSansMono.ttf"))
    pdf.add_font(_MONO, "B", str(FONT_DIR / "DejaVuSansMono-Bold.ttf"))
    return pdf


class _PartTooWide(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def markdown_pdf(title: str, facts: Sequence[tuple[str, str]], parts: Sequence[Part]) -> bytes:
    """A title, (label, plain text) facts, then each part's heading and its Markdown
    (rendered sanitized). A part fpdf2 cannot lay out (a table too wide for the page) is
    printed as its Markdown text instead, so every document exports."""
    as_text: set[str] = set()
    while True:
        try:
            return _typeset(title, facts, parts, as_text)
        except _PartTooWide as failed:
            as_text.add(failed.key)


def _typeset(
    title: str, facts: Sequence[tuple[str, str]], parts: Sequence[Part], as_text: set[str]
) -> bytes:
    pdf = _document()
    pdf.set_title(title)
    pdf.set_creator("Tocsin")
    pdf.add_page()
    width = pdf.epw
    pdf.set_font(_SANS, "B", 16)
    pdf.multi_cell(width, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for label, value in facts:
        pdf.set_font(_SANS, "B", 10)
        pdf.cell(30, 6, label)
        pdf.set_font(_SANS, "", 10)
        pdf.multi_cell(width - 30, 6, value, new_x="LMARGIN", new_y="NEXT")
    code = TextStyle(font_family=_MONO)
    for key, heading, body in parts:
        pdf.ln(4)
        pdf.set_font(_SANS, "B", 13)
        pdf.multi_cell(width, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_SANS, "", 10)
        if key in as_text:
            pdf.set_font(_MONO, "", 9)
            pdf.multi_cell(width, 5, body, new_x="LMARGIN", new_y="NEXT")
            continue
        html = _plain_cells(str(render_markdown(body, tables=True)))
        try:
            pdf.write_html(html, font_family=_SANS, tag_styles={"code": code, "pre": code})
        except FPDFException as exc:
            # output() closes the font files; this document is abandoned, so close them here.
            for font in pdf.fonts.values():
                if isinstance(font, TTFFont):
                    font.close()
            raise _PartTooWide(key) from exc
    return bytes(pdf.output())
