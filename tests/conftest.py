"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
TOCSIN_TEST_POSTGRES_URL is set (CI sets it and runs the suite once per database)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tocsin.alerts.writer import drain
from tocsin.app import create_app
from tocsin.auth import passwords
from tocsin.auth import service as auth_service
from tocsin.bootstrap import Container, build
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import Base, make_engine
from tocsin.migrate import upgrade
from tocsin.workflows.models import Workflow

POSTGRES_URL = os.environ.get("TOCSIN_TEST_POSTGRES_URL", "")
BACKEND = os.environ.get("TOCSIN_TEST_DB", "postgres" if POSTGRES_URL else "sqlite")
# In CI every service must be there: a missing one fails the run instead of skipping.
REQUIRE_SERVICES = (
    os.environ.get("TOCSIN_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)
ADMIN_PASSWORD = "correct horse battery"


EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave as soon as the report is written. Tearing down the interpreter of a whole run
    (a few GB of objects from some 1,400 apps, plus pytest's final rounds of garbage
    collection) took about a minute of CI after the summary was printed. Every fixture has
    been torn down by now, the servers tests start included."""
    if EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[EXIT_STATUS])


def missing_service(reason: str) -> None:
    """Skip on a laptop without the service; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its cheapest parameters while the suite runs. At the shipped cost every hash
    takes a tenth of a second or more of CPU and 64 MiB, and most tests create a user with a
    password. A hash carries its parameters, so verifying works the same; a server process
    that a test starts still hashes at the shipped cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        yield


def _pg_admin_url() -> str:
    return make_url(POSTGRES_URL).set(database="postgres").render_as_string(hide_password=False)


class PostgresTemplate:
    """The migrated PostgreSQL database the tests share, and what it held just after
    `migrate.upgrade` (the default vocabulary, runbooks, policies and workflows; see
    `_as_upgraded`). `reset` puts
    it back in one transaction: every row deleted (children first), the snapshot's rows
    inserted again and every sequence set back, so each test starts where a new install does,
    as on SQLite, where each test copies the migrated file. Seeding the defaults again through
    the services cost about three times as long. (TRUNCATE of every table costs a file
    operation per table: seconds per test.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        # Pinged before use: some tests terminate every connection to the database.
        self.engine = create_engine(url, pool_pre_ping=True)
        with self.engine.connect() as conn:
            self.rows = {
                table: [dict(row) for row in conn.execute(select(table)).mappings()]
                for table in Base.metadata.sorted_tables
            }
            names = conn.execute(
                text(
                    "SELECT sequence_schema || '.' || sequence_name"
                    " FROM information_schema.sequences"
                )
            ).scalars()
            self.sequences = {
                name: conn.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
                for name in names
            }

    def reset(self) -> None:
        deletes = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
        restarts = [
            f"SELECT setval('{name}', {last}, {str(called).lower()})"
            for name, (last, called) in self.sequences.items()
        ]
        with self.engine.begin() as conn:
            conn.exec_driver_sql("; ".join(deletes))
            for table, rows in self.rows.items():
                if rows:
                    conn.execute(table.insert(), rows)
            conn.exec_driver_sql("; ".join(restarts))

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: an SQLite file to copy, or a PostgreSQL database to reset."""
    if BACKEND == "postgres":
        if not POSTGRES_URL:
            missing_service("TOCSIN_TEST_POSTGRES_URL is not set")
        name = f"tocsin_test_{os.getpid()}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001
            missing_service(f"PostgreSQL at {POSTGRES_URL} unreachable: {exc}")
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        settings = Settings(database_url=url, env="test")
        engine = make_engine(settings)
        upgrade(engine, settings)
        _as_upgraded(engine)
        engine.dispose()
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        settings = Settings(database_url=f"sqlite:///{path}", env="test")
        engine = make_engine(settings)
        upgrade(engine, settings)
        _as_upgraded(engine)
        engine.dispose()
        yield str(path)


def _as_upgraded(engine: Engine) -> None:
    """The seeded workflows disabled, as on an upgraded install (a new one has them enabled):
    each test sees only the reactions of its own domain, and the workflow tests turn them on
    (`tests.workflows.conftest.enable_seeded`). With them on, 7 tests of comms and simulation
    see what the defaults add (SEV1's channel message, SEV2's page in the simulation)."""
    with engine.begin() as conn:
        conn.execute(update(Workflow).values(enabled=False))


@pytest.fixture(scope="session")
def postgres_template(database_template: str) -> Iterator[PostgresTemplate]:
    template = PostgresTemplate(database_template)
    yield template
    template.close()


@pytest.fixture
def settings(database_template: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings pointing at a fresh database holding only what a new install holds."""
    if BACKEND == "postgres":
        request.getfixturevalue("postgres_template").reset()
        url = database_template
    else:
        path = tmp_path / "tocsin.db"
        shutil.copy(database_template, path)
        url = f"sqlite:///{path}"
    return Settings(
        database_url=url,
        env="test",
        embedded_worker=False,
        secret_key="test-secret",
        admin_email="admin@example.com",
        admin_password=ADMIN_PASSWORD,
        sse_poll_seconds=0.2,
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build(settings)
    yield built
    built.close()


@pytest.fixture
def db(container: Container) -> Iterator[Session]:
    """A session for arranging and checking state; tests commit where the real caller would.

    On SQLite it begins DEFERRED, so that a test holding it open does not keep the write lock
    from the server it is testing."""
    session = container.sessionmaker(
        bind=container.engine.execution_options(sqlite_begin="DEFERRED")
    )
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def admin(db: Session) -> User:
    db.commit()  # no read transaction left open from before (see token_for)
    user = catalog.create_user(
        db, name="Ada Admin", email="admin@example.com", role="admin", password=ADMIN_PASSWORD
    )
    db.commit()
    return user


@pytest.fixture
def responder(db: Session) -> User:
    db.commit()
    user = catalog.create_user(
        db,
        name="Rita Responder",
        email="rita@example.com",
        role="responder",
        password=ADMIN_PASSWORD,
    )
    db.commit()
    return user


@pytest.fixture
def viewer(db: Session) -> User:
    db.commit()
    user = catalog.create_user(
        db, name="Vic Viewer", email="vic@example.com", role="viewer", password=ADMIN_PASSWORD
    )
    db.commit()
    return user


def token_for(db: Session, user: User) -> str:
    # End the read transaction a test may have left open first: on SQLite a transaction that
    # read before the server committed cannot write after it.
    db.commit()
    _, secret = auth_service.create_api_token(db, user, "test")
    db.commit()
    return secret


@pytest.fixture
def app(settings: Settings, container: Container):  # type: ignore[no-untyped-def]
    return create_app(settings, container=container)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, db: Session, admin: User) -> TestClient:
    """The test client authenticated as the admin with an API token."""
    client.headers["Authorization"] = f"Bearer {token_for(db, admin)}"
    return client


def api_as(client: TestClient, db: Session, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(db, user)}"}


def browser_login(client: TestClient, email: str, password: str = ADMIN_PASSWORD) -> str:
    """Log in through the real form; returns the CSRF token of the new session."""
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    page = client.get("/incidents")
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_in_thread(config: Any) -> Iterator[Any]:
    """A uvicorn.Server for this uvicorn.Config, running in a thread until the block ends."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Generous: CI runs the SQLite and PostgreSQL suites at once on two cores, and a start
    # took more than 15 s there once. A server that never starts still fails.
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, container: Container) -> Iterator[str]:
    """Tocsin served by uvicorn on a loopback port, as `tocsin serve` runs it, for the
    browser, CLI and real-sender tests."""
    port = free_port()
    live_settings = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    application = create_app(live_settings, container=container)
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    with uvicorn_in_thread(config):
        yield f"http://127.0.0.1:{port}"


def settle(container: Container) -> None:
    """Wait until every received event has been applied (ingestion answers before that)."""
    drain(container.sessionmaker)


# --- the browser (Playwright driving Debian's Chromium: Playwright cannot download its own
# browsers here). Shared by every directory: two sync Playwright instances cannot run at once.

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing_service("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):  # type: ignore[no-untyped-def]
    """Open pages in fresh browser contexts (separate cookie jars: separate people)."""
    contexts = []

    def open_page(width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        # Generous: CI runs both suites at once on two cores. A page that never loads or an
        # element that never appears still fails.
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
