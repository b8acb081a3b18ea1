"""Charts drawn by the server as SVG: no script, no CDN, and the same numbers are always in a
table beside them (the table is what screen readers read; the SVG is marked as an image
with a one-line summary).

Labels are escaped here (they are team, service and source names people typed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
ROW = 22
LABEL_WIDTH = 190
VALUE_WIDTH = 170  # room for "12 (42% out of hours)" after the longest bar


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown ("12 min", "34")
    href: str | None = None  # the incidents behind it


def _link(href: str | None, inner: str) -> str:
    if not href:
        return inner
    return f'<a href="{escape(href)}">{inner}</a>'


def bars(items: Sequence[Bar], *, title: str, colour: str = "#2563eb") -> Markup:
    """Horizontal bars, one per item, longest = the largest value."""
    if not items:
        return Markup("")
    top = max((b.value for b in items), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = ROW * len(items) + 8
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(items):
        y = 4 + i * ROW
        length = max(1.0, span * bar.value / top) if bar.value > 0 else 0
        label = escape(bar.label if len(bar.label) <= 28 else bar.label[:27] + "…")
        inner = (
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{label}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" height="{ROW - 6}" '
            f'fill="{colour}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 15}">{escape(bar.text)}</text>'
        )
        parts.append(_link(bar.href, inner))
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Point:
    label: str  # the bucket ("12 Oct")
    value: float | None  # None: nothing to show for it
    text: str
    href: str | None = None


def columns(
    points: Sequence[Point], *, title: str, colour: str = "#2563eb", marker: float | None = None
) -> Markup:
    """Vertical columns over time, left to right; `marker` draws a dashed line at a value
    (a target)."""
    if not points:
        return Markup("")
    values = [p.value for p in points if p.value is not None]
    top = max([*values, marker or 0, 0]) or 1
    height, base, left = 200, 170, 8
    step = (WIDTH - 2 * left) / len(points)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{base}" x2="{WIDTH - left}" y2="{base}" stroke="#888"/>',
    ]
    every = max(1, len(points) // 8)  # at most about eight labels under the axis
    for i, point in enumerate(points):
        x = left + i * step
        if point.value is not None:
            tall = (base - 10) * point.value / top
            rect = (
                f'<rect x="{x + step * 0.15:.1f}" y="{base - tall:.1f}" '
                f'width="{step * 0.7:.1f}" height="{tall:.1f}" fill="{colour}">'
                f"<title>{escape(point.label)}: {escape(point.text)}</title></rect>"
            )
            parts.append(_link(point.href, rect))
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{base + 18}" text-anchor="middle" '
                f'class="axis">{escape(point.label)}</text>'
            )
    if marker is not None:
        y = base - (base - 10) * marker / top
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - left}" y2="{y:.1f}" '
            'stroke="#b91c1c" stroke-dasharray="6 4"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
