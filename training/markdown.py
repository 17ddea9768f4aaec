"""Markdown from people (course descriptions, trainer bios): rendered, then
sanitised with nh3 so no script, event handler or javascript: link survives."""

from __future__ import annotations

from functools import lru_cache

import markdown as md
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str | None) -> Markup:
    return Markup(_render(text or ""))


@lru_cache(maxsize=2048)
def _render(text: str) -> str:
    # A pure function of the text: descriptions and bios are rendered once per process, not per page view.
    html = md.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(text: str | None, limit: int = 300) -> str:
    """Markdown reduced to plain text, e.g. for meta descriptions."""
    clean = nh3.clean(md.markdown(text or ""), tags=set())
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"
