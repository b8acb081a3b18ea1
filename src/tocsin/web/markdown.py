"""User-written Markdown to safe HTML: no raw HTML, sanitised, links marked nofollow."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
}
# Documents (postmortems) may also hold tables, as GitHub-flavoured Markdown writes them.
TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td"}


@lru_cache(maxsize=2)
def _parser(tables: bool = False) -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
    return parser.enable("table") if tables else parser


def render_markdown(text: str | None, *, tables: bool = False) -> Markup:
    """Safe HTML for user-written Markdown; `tables` also renders pipe tables."""
    if not text:
        return Markup("")
    html = _parser(tables).render(text)
    clean = nh3.clean(
        html,
        tags=TAGS | TABLE_TAGS if tables else TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above
