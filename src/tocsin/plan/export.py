"""The response plan as one Markdown document, in the page's order. The admins' Markdown
(the definition, the values, descriptions, instructions, templates) is copied as written;
the renderers that turn it into HTML sanitize it (`web.markdown.render_markdown`)."""

from __future__ import annotations

from tocsin.plan.document import UNSET, EscalationPath, MotionRow, Plan

TITLE = "Incident response plan"


def _cell(text: str) -> str:
    """A table cell's text on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|") or "—"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def escalation_line(path: EscalationPath) -> str:
    if path.policy is None:
        return "no escalation policy: an incident on it pages nobody"
    repeat = f", repeated {path.repeat} more time(s) if nobody acknowledges" if path.repeat else ""
    return f"escalation policy {path.policy}{repeat}"


def level_text(number: int, targets: tuple[str, ...], after: int) -> str:
    who = ", ".join(targets) or "nobody"
    return f"Level {number}: {who}; waits {after} minutes for an acknowledgement"


def motion_line(row: MotionRow) -> str:
    """'Workflow “SEV2: page the IC” (when declared): page the IC …; …'."""
    when = "; ".join(x for x in (row.when, row.limits) if x)
    return f"Workflow “{row.workflow}” ({when}): " + ("; ".join(row.actions) or "no actions")


def sections(plan: Plan) -> list[tuple[str, list[str]]]:
    """(heading, Markdown lines) for each part of the plan, in order."""
    out: list[tuple[str, list[str]]] = []
    out.append(("What counts as an incident", [plan.what_is_an_incident or f"_{UNSET}_"]))
    severities = [
        [f"{s.name} {s.label}", s.description, s.response_target, s.urgency, s.postmortem]
        for s in plan.severities
    ]
    header = ["Severity", "Meaning", "Response target", "Default urgency", "Postmortem"]
    motion: list[str] = []
    for s in plan.severities:
        motion += ["", f"### {s.name} {s.label} sets in motion", "", f"- Paging: {s.paging}"]
        motion += [f"- {motion_line(w)}" for w in s.workflows]
        motion.append(f"- Postmortem: {s.postmortem}")
    out.append(("Severities", _table(header, severities) + motion))
    roles: list[str] = []
    for role in plan.roles:
        roles += ["", f"### {role.name}", ""]
        roles += [f"- **Primary:** {role.primary}", f"- **Backup:** {role.backup}"]
        if role.description:
            roles += ["", role.description]
        if role.responsibilities:
            roles += ["", "Responsibilities:", ""] + [f"- {r}" for r in role.responsibilities]
    out.append(("Roles and responsibilities", roles[1:] or ["_No roles defined._"]))
    channels: list[str] = []
    for channel in plan.channels:
        channels += ["", f"### {channel.name} ({channel.audience})", ""]
        if channel.description:
            channels += [channel.description, ""]
        channels += [f"- **When:** {channel.when}", f"- **Who may use it:** {channel.who}"]
        if channel.reach:
            channels.append(f"- **Where:** `{channel.reach}`")
        if channel.how:
            channels += ["", "How to use it:", "", channel.how]
    out.append(("Communication channels", channels[1:] or ["_No channels in the registry._"]))
    templates: list[str] = []
    for template in plan.templates:
        templates += ["", f"### {template.label}", "", template.body or "_No template._"]
    out.append(("Update templates", templates[1:]))
    paths: list[str] = []
    for path in plan.escalation:
        paths += ["", f"### {path.service}", "", escalation_line(path)]
        if path.levels:
            paths.append("")
            for level in path.levels:
                text = level_text(level.number, level.targets, level.escalate_after_minutes)
                paths.append(f"{level.number}. {text}")
    out.append(("Escalation paths", paths[1:] or ["_No services._"]))
    out.append(("Incident values", [plan.values or f"_{UNSET}_"]))
    return out


def to_markdown(plan: Plan) -> str:
    """The whole plan as Markdown."""
    when = plan.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {TITLE}", "", f"_Generated from Tocsin's configuration on {when}._"]
    for heading, body in sections(plan):
        lines += ["", f"## {heading}", "", *body]
    return "\n".join(lines) + "\n"
