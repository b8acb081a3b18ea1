"""Commands that run on the server and use its database directly."""

from __future__ import annotations

import gc
import getpass
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from prometheus_client import CollectorRegistry, start_http_server
from pydantic import ValidationError
from sqlalchemy import func, select

from tocsin.alerts import service as alerts
from tocsin.alerts.service import sender_url
from tocsin.app import create_app
from tocsin.audit.trail import Actor, acting_by_default, record
from tocsin.auth import service as auth
from tocsin.bootstrap import Container, build
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.cli.output import console, emit_json, fail
from tocsin.config import Settings
from tocsin.configfile import ConfigError, NewKey, apply_file, export_yaml
from tocsin.db import transaction
from tocsin.demo.seed import seed_demo
from tocsin.errors import DomainError
from tocsin.migrate import upgrade
from tocsin.observability.logging import configure_logging
from tocsin.observability.metrics import JobMetrics


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"configuration: TOCSIN_{str(first['loc'][0]).upper()}: {first['msg']}")
    return settings.model_copy(update=overrides) if overrides else settings


def cli_actor() -> Actor:
    """Who acts in the audit trail for a command run on the server: its operating-system
    user, who has the database directly."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        name = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Actor(None, f"tocsin CLI ({name})", "cli")


def container(settings: Settings | None = None) -> Container:
    """The database and job registry for a local command, whose changes are recorded in the
    audit trail as the CLI's (`cli_actor`)."""
    built = build(settings or load_settings())
    acting_by_default(built.sessionmaker, cli_actor())
    return built


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run jobs elsewhere")] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Web processes, each with its engine (PostgreSQL only)"),
    ] = 1,
) -> None:
    """Serve the web UI, the API and alert ingestion, with the background engine (storing and
    applying events, and running jobs unless --no-worker)."""
    settings = load_settings()
    configure_logging(settings)
    host = host or settings.host
    port = port or settings.port
    if workers > 1 and settings.is_sqlite:
        fail(
            "on SQLite one process owns every write: run one web process (more need "
            "PostgreSQL, see docs/operations.md)"
        )
    if no_worker:
        settings = settings.model_copy(update={"embedded_worker": False})
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if "base_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"base_url": settings.public_url(host, port)})
    console.print(f"Tocsin is listening on [bold]http://{shown}:{port}[/bold]")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,  # Tocsin writes its own (web/middleware.py)
        "log_level": "warning",
        # uvicorn's own records (an exception it caught, a worker that died) go through
        # Tocsin's logging: the same format, bounded tracebacks, never blocking the loop.
        "log_config": None,
    }
    if workers == 1:
        application = create_app(settings)
        # What start-up allocated lives as long as the process: keep the collector off it, so
        # full collections stay short. Again once the app has started (see
        # tocsin.app.freeze_startup_objects).
        gc.freeze()
        application.state.freeze_after_start = True
        uvicorn.run(application, **options)
        return
    # Each web process builds its own app from the environment: pass the overrides on.
    os.environ["TOCSIN_BASE_URL"] = settings.base_url
    os.environ["TOCSIN_EMBEDDED_WORKER"] = "true" if settings.embedded_worker else "false"
    uvicorn.run("tocsin.app:create_app_from_environment", factory=True, workers=workers, **options)


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run due jobs, then exit")] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Engine threads (default TOCSIN_WORKER_CONCURRENCY)"),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve this worker's job metrics (only those) for Prometheus on this port"
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run background jobs in a process of their own (any number against PostgreSQL)."""
    built = build(load_settings())  # jobs act as Tocsin itself, not as the CLI
    metrics = None
    if metrics_port is not None:
        # Only what this process does: its job runs. The series read from the database (the
        # incident and job gauges, the incident-time histograms) are the same in every process
        # and served by the web /metrics alone, so a sum over instances counts them once; this
        # port has no login either, and they name services.
        registry = CollectorRegistry()
        metrics = JobMetrics(registry)
        start_http_server(metrics_port, addr=metrics_host, registry=registry)
    if once:
        count = built.runner(metrics=metrics).run_until_idle()
        console.print(f"ran {count} job(s)")
        return
    if built.settings.is_sqlite:
        fail(
            "on SQLite `tocsin serve` runs the jobs (one process owns every write); separate "
            "workers need PostgreSQL (see docs/operations.md)"
        )
    engine = built.background(jobs=True, events=False, metrics=metrics, threads=concurrency)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    gc.freeze()  # as `serve` does: start-up's objects stay out of full collections
    engine.start()
    console.print(
        f"worker started ({engine.threads} engine thread(s)); Ctrl-C to stop", highlight=False
    )
    stopped.wait()
    engine.stop()


db_app = typer.Typer(help="Database administration.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations and create the default vocabulary on an empty database."""
    settings = load_settings()
    built = container(settings)
    upgrade(built.engine, settings)
    console.print("database is up to date")


def demo() -> None:
    """Seed the demo organisation once, and print the admin's login."""
    settings = load_settings()
    built = container(settings)
    try:
        with transaction(built.sessionmaker) as session:
            created = seed_demo(session, settings.admin_email, settings.admin_password)
    except DomainError as exc:
        fail(exc.message)
    console.print("demo organisation created" if created else "demo organisation already there")
    console.print(
        f"Log in at {settings.public_url()} as [bold]{settings.admin_email}[/bold] "
        f"with password [bold]{settings.admin_password}[/bold]",
        highlight=False,
    )


user_app = typer.Typer(help="Accounts.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="Full name")],
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[str, typer.Option(help="admin, responder or viewer")] = "responder",
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "UTC",
    password: Annotated[str | None, typer.Option(help="Password (prompted if omitted)")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a user who can log in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None and sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    built = container()
    try:
        with transaction(built.sessionmaker) as session:
            user = catalog.create_user(
                session, name=name, email=email, role=role, timezone=timezone, password=password
            )
            out = {"id": user.id, "name": user.name, "email": user.email, "role": user.role}
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json(out)
    else:
        console.print(f"created {out['role']} {out['name']} <{out['email']}>")


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Email of the token's owner")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    scope: Annotated[
        list[str] | None,
        typer.Option(help="read, incidents, configuration or ingestion (repeat; default: all)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""
    built = container()
    try:
        with transaction(built.sessionmaker) as session:
            owner = catalog.user_by_email(session, user)
            if owner is None:
                fail(f"no user with email {user}")
            token, secret = auth.create_api_token(session, owner, name, scopes=scope or None)
            token_id = token.id
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json({"id": token_id, "secret": secret})
    else:
        sys.stdout.write(secret + "\n")


def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="YAML configuration file")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes only")] = False,
) -> None:
    """Create or update configuration from a YAML file (idempotent)."""
    settings = load_settings()
    built = container(settings)
    new_keys: list[NewKey] = []
    try:
        with transaction(built.sessionmaker) as session:
            changes = apply_file(session, file, new_keys)
            if dry_run:
                session.rollback()
    except ConfigError as exc:
        fail(str(exc))
    except DomainError as exc:
        fail(f"{file}: {exc.message}")
    if not changes:
        console.print("no changes")
        return
    for change in changes:
        console.print(("would " if dry_run else "") + change, highlight=False)
    if dry_run:
        return
    # Printed only once committed, and only here: the keys are stored hashed.
    for new in new_keys:
        console.print(
            f"key of integration {new.integration!r} of {new.service!r} ({new.type}), "
            f"shown once: [bold]{new.key}[/bold]\n"
            f"  sender URL: {sender_url(new.type, settings.base_url, new.key)}",
            highlight=False,
            soft_wrap=True,
        )


def export(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write")] = None,
) -> None:
    """Write the current configuration as YAML (the format `tocsin apply` reads)."""
    built = container()
    with transaction(built.sessionmaker) as session:
        text = export_yaml(session)
        record(
            session,
            "export.config",
            target_type="config",
            target="configuration",
            detail={"format": "yaml", "to": str(output) if output else "stdout"},
        )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        console.print(f"wrote {output}")


integration_app = typer.Typer(help="Integrations that send alerts.", no_args_is_help=True)


@integration_app.command("create")
def integration_create(
    service: Annotated[str, typer.Option("--service", help="Service name")],
    type_: Annotated[
        str,
        typer.Option(
            "--type", help="pagerduty, opsgenie, alertmanager, grafana, webhook or heartbeat"
        ),
    ] = "pagerduty",
    name: Annotated[str | None, typer.Option(help="Defaults to the type")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an integration and print the key and URL to give the sender (shown once)."""
    settings = load_settings()
    built = container(settings)
    try:
        with transaction(built.sessionmaker) as session:
            svc = session.scalar(select(Service).where(func.lower(Service.name) == service.lower()))
            if svc is None:
                fail(f"no service named {service!r}")
            integration, key = alerts.create_integration(
                session, service_id=svc.id, name=name or type_, type=type_
            )
            out: dict[str, Any] = {
                "id": integration.id,
                "service": svc.name,
                "type": integration.type,
                "key": key,
                "url": alerts.sender_url(integration.type, settings.base_url, key),
            }
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json(out)
        return
    console.print(f"Integration {out['id']} for {out['service']} ({out['type']})")
    where = {
        "pagerduty": "routing key",
        "opsgenie": "API key (GenieKey)",
    }.get(out["type"], "key (in the URL)")
    console.print(f"  {where}: [bold]{key}[/bold]  (shown once; store it in the sender)")
    console.print(f"  URL: {out['url']}", highlight=False, soft_wrap=True)
