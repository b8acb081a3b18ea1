"""The `tocsin` command line."""

from __future__ import annotations

import typer

from tocsin.cli import checks, jobs, local, oncall, remote, roster, simulate
from tocsin.cli.audit import audit_app
from tocsin.cli.chat import chat_app
from tocsin.cli.plan import plan_app
from tocsin.cli.postmortems import postmortem_app
from tocsin.cli.statuspage import statuspage_app

app = typer.Typer(
    name="tocsin",
    help="Tocsin incident response: run the server, and run incidents from a terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(local.serve)
app.command()(local.worker)
app.command()(local.demo)
app.command()(local.apply)
app.command()(local.export)
app.command()(checks.check)
app.command()(simulate.simulate)
app.command()(roster.roster)
app.add_typer(local.db_app, name="db")
app.add_typer(local.user_app, name="user")
app.add_typer(local.token_app, name="token")
app.add_typer(local.integration_app, name="integration")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(oncall.oncall_app, name="oncall")
app.add_typer(oncall.override_app, name="override")
app.add_typer(statuspage_app, name="statuspage")
app.add_typer(chat_app, name="chat")
app.add_typer(audit_app, name="audit")
app.command()(remote.login)
app.command()(remote.logout)
app.add_typer(remote.incident_app, name="incident")
app.add_typer(remote.events_app, name="events")
app.add_typer(postmortem_app, name="postmortem")
app.add_typer(plan_app, name="plan")
# `integration create` runs on the server (it prints the key once); `list` works from anywhere.
local.integration_app.command("list")(remote.integration_list)


def main() -> None:
    app()
