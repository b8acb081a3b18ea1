"""`tocsin chat`: the chat connections, read from the server's database."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from tocsin.chat import connections
from tocsin.cli.local import container, load_settings
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.db import transaction
from tocsin.errors import DomainError

chat_app = typer.Typer(help="Chat connections (Slack, Mattermost, Matrix).", no_args_is_help=True)


@chat_app.command("list")
def chat_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the chat connections and the URLs to give each chat service (no credentials)."""
    settings = load_settings()
    built = container(settings)
    with transaction(built.sessionmaker) as session:
        rows: list[dict[str, Any]] = [
            {
                **connections.describe(c),
                "inbound_urls": connections.inbound_urls(c, settings.public_url()),
            }
            for c in connections.list_connections(session)
        ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print("no chat connections")
        return
    table(
        "Chat connections",
        ["id", "name", "vendor", "team", "enabled", "URLs"],
        [
            [
                str(r["id"]),
                r["name"],
                r["vendor"],
                r["team"],
                "yes" if r["enabled"] else "no",
                "\n".join(r["inbound_urls"].values()),
            ]
            for r in rows
        ],
    )


@chat_app.command("matrix-registration")
def matrix_registration(
    name: Annotated[str, typer.Argument(help="The Matrix connection's name")],
) -> None:
    """Print a Matrix connection's appservice registration (YAML, with its tokens) for the
    homeserver's `app_service_config_files`."""
    settings = load_settings()
    built = container(settings)
    try:
        with transaction(built.sessionmaker) as session:
            text = connections.matrix_registration(
                connections.connection_named(session, name), settings
            )
    except DomainError as exc:
        fail(exc.message)
    sys.stdout.write(text)
