"""Each web process keeps every page's latest render in memory.

A background thread polls one small query (each page's id, slug, access settings and
rendered version) every `statuspage_poll_seconds` and loads only the files of pages whose
version changed. Requests never touch the database; when it is unavailable, the poll fails,
is logged, and the last good render keeps being served.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from types import MappingProxyType

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tocsin.statuspages.models import RenderedFile, StatusPage

log = structlog.get_logger("tocsin.statuspages.cache")
GZIP_MIN_BYTES = 1024
COMPRESSIBLE = ("text/", "application/json", "application/rss+xml", "application/atom+xml")


@dataclass(frozen=True)
class CachedFile:
    content_type: str
    body: bytes
    etag: str
    gzipped: bytes | None  # the body gzip-compressed, when that is smaller


@dataclass(frozen=True)
class CachedPage:
    page_id: int
    slug: str
    visibility: str
    secret_link_hash: str | None
    version: int
    files: MappingProxyType[str, CachedFile] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


def _cached(row: RenderedFile) -> CachedFile:
    body = bytes(row.body)
    packed = None
    if len(body) >= GZIP_MIN_BYTES and row.content_type.startswith(COMPRESSIBLE):
        candidate = gzip.compress(body, compresslevel=6, mtime=0)
        if len(candidate) < len(body):
            packed = candidate
    return CachedFile(row.content_type, body, row.etag, packed)


class PageCache:
    """Pages by slug, replaced whole on each change (readers never see a half-loaded page)."""

    def __init__(self, factory: sessionmaker[Session], *, poll_seconds: float = 1.0) -> None:
        self._factory = factory
        self._poll_seconds = poll_seconds
        self._pages: dict[str, CachedPage] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._refresh_lock = threading.Lock()

    def get(self, slug: str) -> CachedPage | None:
        return self._pages.get(slug)

    def slugs(self) -> list[str]:
        return sorted(self._pages)

    def refresh(self) -> bool:
        """Load what changed since the last poll. False (and the last render kept) when the
        database cannot be read."""
        with self._refresh_lock:
            try:
                with self._factory() as session:
                    # Reads only: on SQLite a deferred transaction never takes the write lock.
                    session.connection(execution_options={"sqlite_begin": "DEFERRED"})
                    pages = self._load(session)
            except Exception as exc:  # noqa: BLE001 - any database failure: keep serving
                if not self._failing:
                    log.warning("statuspages.cache_refresh_failed", error=str(exc)[:300])
                self._failing = True
                return False
            if self._failing:
                log.info("statuspages.cache_refresh_recovered")
            self._failing = False
            self._pages = pages
            return True

    def _load(self, session: Session) -> dict[str, CachedPage]:
        by_id = {p.page_id: p for p in self._pages.values()}
        rows = session.execute(
            select(
                StatusPage.id,
                StatusPage.slug,
                StatusPage.visibility,
                StatusPage.secret_link_hash,
                StatusPage.rendered_version,
            )
        ).all()
        out: dict[str, CachedPage] = {}
        for page_id, slug, visibility, secret_hash, version in rows:
            known = by_id.get(page_id)
            if known is not None and known.version == version:
                out[slug] = known
                continue
            if version <= 0:
                continue  # never rendered yet
            files = session.scalars(
                select(RenderedFile).where(
                    RenderedFile.page_id == page_id, RenderedFile.version == version
                )
            ).all()
            if not files:
                # A newer render committed between the two reads: keep what we had, and
                # pick the new one up on the next poll.
                if known is not None:
                    out[known.slug] = known
                continue
            out[slug] = CachedPage(
                page_id=page_id,
                slug=slug,
                visibility=visibility,
                secret_link_hash=secret_hash,
                version=version,
                files=MappingProxyType({f.path: _cached(f) for f in files}),
            )
        return out

    def start(self) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self._run, name="statuspage-cache", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
