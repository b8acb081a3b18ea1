"""A page's look: brand colours with readable text, and the logo (raster images only)."""

from __future__ import annotations

import re

from tocsin.errors import ValidationFailed

HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
# WCAG 2.1 AA for normal text.
MIN_CONTRAST = 4.5
LOGO_MAX_BYTES = 256 * 1024
WHITE = "#ffffff"
INK = "#111827"

# Magic bytes -> (content type, file extension). SVG is refused on purpose: it can carry
# script, and a logo does not need to.
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def hex_color(value: object, field: str) -> str:
    """`#rrggbb`, lower-cased."""
    if not isinstance(value, str) or not HEX_RE.match(value.strip()):
        raise ValidationFailed(f"{field} must be a colour like #1f4e79", field=field)
    return value.strip().lower()


def _luminance(color: str) -> float:
    channels = []
    for i in (1, 3, 5):
        c = int(color[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """White or near-black, whichever reads better on `background` (always at least 4.5:1)."""
    return WHITE if contrast(background, WHITE) >= contrast(background, INK) else INK


def link_color(value: object, field: str = "accent_color") -> str:
    """A colour for links and buttons on the page's white background: it must be readable."""
    color = hex_color(value, field)
    ratio = contrast(color, WHITE)
    if ratio < MIN_CONTRAST:
        raise ValidationFailed(
            f"{field} {color} is too light to read on white ({ratio:.1f}:1; at least "
            f"{MIN_CONTRAST}:1 is needed); pick a darker colour",
            field=field,
        )
    return color


def logo_type(data: bytes) -> str:
    """The content type of a logo, from its first bytes; refuses anything but PNG, JPEG,
    WebP and GIF, and anything larger than LOGO_MAX_BYTES."""
    if not data:
        raise ValidationFailed("the logo file is empty", field="logo")
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationFailed(
            f"the logo is too large ({len(data) // 1024} KiB; at most "
            f"{LOGO_MAX_BYTES // 1024} KiB)",
            field="logo",
        )
    for magic, offset, content_type, _ in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValidationFailed("the logo must be a PNG, JPEG, WebP or GIF image", field="logo")
