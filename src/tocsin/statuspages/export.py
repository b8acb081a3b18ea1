"""A page's static copy: the rendered files written to a directory any static host can serve.

`tocsin statuspage export PAGE DIR` writes it once. The export hook does it after every
render of a public page (job `statuspages.export`, queued by the render): with
`TOCSIN_STATUSPAGE_EXPORT_DIR` set it writes `<dir>/<slug>/`, replacing the previous copy
in one rename, and with `TOCSIN_STATUSPAGE_EXPORT_COMMAND` set it then runs that command
(no shell; `TOCSIN_STATUSPAGE_SLUG` and `TOCSIN_STATUSPAGE_DIR` in its environment), for
example to sync the directory to a bucket behind a CDN. A failing command fails the job,
which is retried.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import structlog
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.errors import ValidationFailed
from tocsin.jobs.registry import Send
from tocsin.statuspages.models import StatusPage
from tocsin.statuspages.render import render_page, stored_files

log = structlog.get_logger("tocsin.statuspages.export")
MARKER = ".tocsin-statuspage"


def _safe(path: str) -> PurePosixPath:
    """A rendered file's path, which must stay inside the export directory."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValidationFailed(f"refusing to write {path!r} outside the export directory")
    return pure


def write_tree(target: Path, files: Iterable[tuple[str, bytes]]) -> int:
    """Write the files into `target`, replacing what was there in one rename (readers of
    the directory see the old copy or the new one, never half of each). Returns how many
    files were written."""
    target = target.resolve()
    if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
        # Never replace a directory this did not write (`export PAGE ~` must not eat $HOME).
        raise ValidationFailed(
            f"{target} is not empty and holds no earlier export; give a new or empty directory",
            field="directory",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    count = 0
    try:
        for path, body in files:
            out = staging.joinpath(*_safe(path).parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(body)
            count += 1
        (staging / MARKER).write_text("Written by Tocsin; replaced by every export.\n")
        staging.chmod(0o755)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count


def export_page(session: Session, page: StatusPage, directory: Path, *, settings: Settings) -> int:
    """Write the page's current render to `directory` (rendering it first if a change has
    not been rendered yet). Returns how many files were written."""
    if page.rendered_version < page.content_version:
        render_page(session, page.id, settings=settings)
    files = [(f.path, f.body) for f in stored_files(session, page)]
    return write_tree(directory, files)


def export_hook(settings: Settings) -> Any:
    """The `statuspages.export` job handler for these settings."""

    def handler(session: Session, payload: dict[str, Any]) -> Send | None:
        page = session.get(StatusPage, int(payload["page_id"]))
        if page is None:
            return None
        slug = page.slug
        files = [(f.path, f.body) for f in stored_files(session, page)]

        # Outside any transaction: no lock is held while the disk or an upload takes its time.
        def perform() -> None:
            target = None
            if settings.statuspage_export_dir:
                target = Path(settings.statuspage_export_dir) / slug
                count = write_tree(target, files)
                log.info("statuspage.exported", page=slug, directory=str(target), files=count)
            if settings.statuspage_export_command:
                run_command(settings, slug, target)

        def done(session: Session, result: None, error: BaseException | None) -> None:
            if error is not None:
                raise error  # the job is retried with its backoff

        return Send(perform=perform, record=done)

    return handler


def run_command(settings: Settings, slug: str, target: Path | None) -> None:
    env = {**os.environ, "TOCSIN_STATUSPAGE_SLUG": slug}
    if target is not None:
        env["TOCSIN_STATUSPAGE_DIR"] = str(target.resolve())
    try:
        done = subprocess.run(  # noqa: S603 - the operator's own configured command, no shell
            shlex.split(settings.statuspage_export_command),
            env=env,
            capture_output=True,
            timeout=settings.statuspage_export_timeout_seconds,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"the export command could not run: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-500:]
        raise RuntimeError(f"the export command exited with {done.returncode}: {tail}")
    log.info("statuspage.export_command", page=slug, code=done.returncode)
