"""`tocsin check`: can every page reach a person? Exit code 1 when not (for CI)."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, table
from tocsin.db import utcnow
from tocsin.wiring import build_checks


def check(
    weeks: Annotated[int, typer.Option(min=1, max=52, help="How far ahead to look")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON")] = False,
) -> None:
    """Find schedule gaps, services that page nobody, policies that reach nobody, and people
    without a working contact method. Exits 1 when there is a problem (warnings alone: 0)."""
    built = container()
    try:
        with built.sessionmaker() as session:
            findings = build_checks().run(session, utcnow(), weeks=weeks)
    finally:
        built.close()
    problems = [f for f in findings if f.severity == "problem"]
    if as_json:
        emit_json({"ok": not problems, "findings": [f.as_dict() for f in findings]})
    elif findings:
        table(
            None,
            ["", "check", "what", "why"],
            [[f.severity, f.check, f.subject, f.message] for f in findings],
        )
        console.print(
            f"{len(problems)} problem(s), {len(findings) - len(problems)} warning(s)",
            highlight=False,
        )
    else:
        console.print("all clear: every service pages somebody who can be reached")
    if problems:
        raise typer.Exit(1)
