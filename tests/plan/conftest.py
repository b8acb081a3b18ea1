"""Helpers for the response plan's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path


def pdf_text(content: bytes, tmp_path: Path) -> str:
    """The PDF's words as poppler's pdftotext reads them, on one line."""
    path = tmp_path / "plan.pdf"
    path.write_bytes(content)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return " ".join(done.stdout.decode().split())
