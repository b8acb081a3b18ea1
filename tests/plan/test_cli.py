"""`tocsin plan export`: Markdown and PDF, from the database and through a server's API."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import token_for
from tests.plan.conftest import pdf_text
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.plan import service

runner = CliRunner()


def test_export_writes_markdown_and_pdf_locally_and_remotely(
    live_server: str, db: Session, admin: User, settings: Settings, tmp_path: Path
) -> None:
    service.set_texts(db, what_is_an_incident="Checkout is down for anyone")
    db.commit()
    local = {"TOCSIN_DATABASE_URL": settings.database_url, "TOCSIN_URL": ""}
    md_file, pdf_file = tmp_path / "plan.md", tmp_path / "plan.pdf"
    wrote = runner.invoke(app, ["plan", "export", "--format", "md", "-o", str(md_file)], env=local)
    assert wrote.exit_code == 0, wrote.output
    assert "wrote the response plan to" in wrote.output
    markdown = md_file.read_text()
    assert markdown.startswith("# Incident response plan")
    assert "Checkout is down for anyone" in markdown
    done = runner.invoke(app, ["plan", "export", "--format", "pdf", "-o", str(pdf_file)], env=local)
    assert done.exit_code == 0, done.output
    assert "Checkout is down for anyone" in pdf_text(pdf_file.read_bytes(), tmp_path)

    remote = {"TOCSIN_URL": live_server, "TOCSIN_TOKEN": token_for(db, admin)}
    theirs = runner.invoke(app, ["plan", "export", "--format", "md"], env=remote)
    assert theirs.exit_code == 0, theirs.output
    assert "Checkout is down for anyone" in theirs.output
    assert theirs.output.startswith("# Incident response plan")
