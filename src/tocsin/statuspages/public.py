"""Serving status pages under `/status/{slug}/`, as a raw ASGI endpoint before FastAPI.

Every answer comes from the process's memory (`cache.PageCache`): a public page costs no
database read, and keeps answering when the database is down. Paths that are not one of the
page's files (for example `/status/{slug}/subscribe`) fall through to FastAPI's routes.

Private pages are checked first: the secret link's signed cookie is verified with the
server's key alone; without it, a Tocsin login session is looked up (the only database read,
and only for private pages).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from tocsin.auth import service as auth
from tocsin.config import Settings
from tocsin.statuspages import access
from tocsin.statuspages.cache import CachedFile, CachedPage, PageCache

PREFIX = "/status/"
ROUTE = "/status/{slug}/…"
SESSION_COOKIE = "tocsin_session"
# Strict: nothing inline, nothing from elsewhere; the page needs only its stylesheet and logo.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PUBLIC_CACHE = "public, max-age=15, stale-while-revalidate=30, stale-if-error=86400"
ASSET_CACHE = "public, max-age=300"
PRIVATE_CACHE = "private, no-cache"


def _headers(extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        *extra,
    ]


def _cookies(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key:
                    out.setdefault(key, val)
    return out


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


class StatusPagesEndpoint:
    """`await endpoint(scope, receive, send)` answers and returns True, or returns False
    without sending anything (the path is not a page file: FastAPI takes it)."""

    def __init__(
        self,
        cache: PageCache,
        settings: Settings,
        factory: sessionmaker[Session],
        count: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.cache = cache
        self.settings = settings
        self.factory = factory
        self.count = count or (lambda method, route, status: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return False
        slug, slash, rest = scope["path"][len(PREFIX) :].partition("/")
        page = self.cache.get(slug)
        if page is None:
            return False
        if not slash:
            await self._redirect(send, f"{PREFIX}{slug}/", 308)
            return True
        if rest.startswith("access/"):
            await self._secret_link(scope, send, page, rest[len("access/") :])
            return True
        path = rest + "index.html" if rest == "" or rest.endswith("/") else rest
        found = page.files.get(path)
        if found is None:
            if f"{rest}/index.html" in page.files:
                await self._redirect(send, f"{PREFIX}{slug}/{rest}/", 308)
                return True
            return False
        if not page.is_public and not await self._allowed(scope, page):
            await self._private(send, page, method)
            return True
        await self._file(scope, send, page, path, found, method)
        return True

    async def _file(
        self,
        scope: Scope,
        send: Send,
        page: CachedPage,
        path: str,
        found: CachedFile,
        method: str,
    ) -> None:
        if not page.is_public:
            cache_control = PRIVATE_CACHE
        elif path.startswith("assets/"):
            cache_control = ASSET_CACHE
        else:
            cache_control = PUBLIC_CACHE
        extra = [
            (b"etag", found.etag.encode()),
            (b"cache-control", cache_control.encode()),
            (b"vary", b"Accept-Encoding, Cookie" if not page.is_public else b"Accept-Encoding"),
        ]
        if page.is_public and found.content_type.startswith("application/json"):
            # Statuspage's public API is readable from any site (status widgets).
            extra.append((b"access-control-allow-origin", b"*"))
        if _etag_matches(_header(scope, b"if-none-match"), found.etag):
            await send({"type": "http.response.start", "status": 304, "headers": _headers(extra)})
            await send({"type": "http.response.body", "body": b""})
            self.count(method, ROUTE, 304)
            return
        body = found.body
        if found.gzipped is not None and "gzip" in _header(scope, b"accept-encoding"):
            body = found.gzipped
            extra.append((b"content-encoding", b"gzip"))
        extra += [
            (b"content-type", found.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": _headers(extra)})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        self.count(method, ROUTE, 200)

    async def _allowed(self, scope: Scope, page: CachedPage) -> bool:
        cookies = _cookies(scope)
        if access.cookie_valid(
            self.settings.secret_key,
            page.slug,
            page.secret_link_hash,
            cookies.get(access.cookie_name(page.slug)),
        ):
            return True
        token = cookies.get(SESSION_COOKIE)
        if not token:
            return False

        def logged_in() -> bool:
            try:
                with self.factory() as session:
                    return auth.web_session(session, token) is not None
            except Exception:  # noqa: BLE001 - no database: no login check, private stays shut
                return False

        return await anyio.to_thread.run_sync(logged_in)

    async def _secret_link(self, scope: Scope, send: Send, page: CachedPage, token: str) -> None:
        if not access.token_matches(token, page.secret_link_hash):
            await self._html(
                send,
                404,
                "Link not valid",
                "<p>This link to a private status page is not valid (any more). Ask whoever "
                "gave it to you for a new one.</p>",
            )
            self.count(scope["method"], ROUTE, 404)
            return
        assert page.secret_link_hash is not None
        value = access.sign_cookie(self.settings.secret_key, page.slug, page.secret_link_hash)
        cookie = (
            f"{access.cookie_name(page.slug)}={value}; Path={PREFIX}{page.slug}/; "
            f"Max-Age={access.COOKIE_DAYS * 86400}; HttpOnly; SameSite=Lax"
        )
        if self.settings.cookie_secure:
            cookie += "; Secure"
        await self._redirect(send, f"{PREFIX}{page.slug}/", 303, [(b"set-cookie", cookie.encode())])
        self.count(scope["method"], ROUTE, 303)

    async def _private(self, send: Send, page: CachedPage, method: str) -> None:
        login = f"/login?next={quote(f'{PREFIX}{page.slug}/')}"
        await self._html(
            send,
            401,
            "Private status page",
            f'<p>This status page is private. <a href="{login}">Log in to Tocsin</a>, or open '
            "the link you were given to read it.</p>",
        )
        self.count(method, ROUTE, 401)

    async def _html(self, send: Send, status: int, title: str, body: str) -> None:
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
        ).encode()
        extra = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": _headers(extra)})
        await send({"type": "http.response.body", "body": page})

    async def _redirect(
        self,
        send: Send,
        location: str,
        status: int,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [
            (b"location", location.encode()),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": _headers(headers)})
        await send({"type": "http.response.body", "body": b""})
