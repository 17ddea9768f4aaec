"""What every page pays for: translations, icons and dates in templates.

A catalogue page makes a few hundred ``_()`` calls. Flask-Babel resolves the
translations object on each of them (several context-local look-ups a call);
here it is resolved once per request and locale and reused, still following
``force_locale`` (e-mails rendered in the recipient's language). Icons are the
same few SVG snippets on every page, built once per process, and dates shown
by ``dateformat`` are formatted once per (date, format, locale).

Rendered fragments that many pages repeat (a course card) are kept per
process by ``fragment()``, keyed by every value they show, so a change shows at
once without any invalidation step.

Nothing here changes what is rendered, only how often it is computed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from typing import Any, cast

from flask import Flask, current_app, g, request, url_for
from flask_babel import format_date, get_translations
from markupsafe import Markup, escape

_BOOTSTRAP_COLOURS = frozenset(
    {"primary", "secondary", "success", "danger", "warning", "info", "light", "dark", "muted"}
)


def _globals() -> Any:
    """This app context's ``g`` itself (one context look-up instead of one per attribute), or None."""
    try:
        return g._get_current_object()
    except RuntimeError:  # no app context
        return None


def translations():
    """The translations of the current request's locale, resolved once.

    Keyed by the locale object Flask-Babel holds on its context, so
    ``force_locale`` (which swaps that object and restores it) is honoured."""
    here = _globals()
    ctx = here.get("_flask_babel") if here is not None else None
    if ctx is not None:
        cached = getattr(ctx, "rendering_translations", None)
        if cached is not None and cached[0] is getattr(ctx, "babel_locale", None):
            return cached[1]
    found = get_translations()
    ctx = here.get("_flask_babel") if here is not None else None
    if ctx is not None and getattr(ctx, "babel_locale", None) is not None:
        ctx.rendering_translations = (ctx.babel_locale, found)
    return found


def gettext(message: str) -> str:
    return translations().ugettext(message)


def ngettext(singular: str, plural: str, num: int) -> str:
    return translations().ungettext(singular, plural, num)


def pgettext(context: str, message: str) -> str:
    return translations().upgettext(context, message)


def npgettext(context: str, singular: str, plural: str, num: int) -> str:
    return translations().unpgettext(context, singular, plural, num)


@lru_cache(maxsize=512)
def _icon(sprite: str, name: str, size, color, title, desc, classes, font) -> Markup:
    # The same markup as Bootstrap-Flask's render_icon macro.
    if font is True:
        colour_class = f" text-{color}" if color in _BOOTSTRAP_COLOURS else ""
        style = f"color: {escape(color)}; " if color and color not in _BOOTSTRAP_COLOURS else ""
        return Markup(f'<i class="bi-{escape(name)}{colour_class}" style="{style}font-size: {escape(size)};"></i>')
    if not color:
        attrs = f'class="bi{" " + str(escape(classes)) if classes else ""}"'
    elif color in _BOOTSTRAP_COLOURS:
        attrs = f'class="bi text-{color}"'
    else:
        attrs = f'class="bi" style="color: {escape(color)}"'
    sized = f' width="{escape(size)}" height="{escape(size)}"' if size else ""
    parts = [f'<svg {attrs}{sized} fill="currentColor">']
    if title is not None:
        parts.append(f"<title>{escape(title)}</title>")
    if desc is not None:
        parts.append(f"<desc>{escape(desc)}</desc>")
    parts.append(f'<use xlink:href="{escape(sprite)}#{escape(name)}"/></svg>')
    return Markup("".join(parts))


def icon(name: str, size=None, color=None, title=None, desc=None, classes=None, font=None) -> Markup:
    """A Bootstrap icon from the locally served sprite (see templates/bootstrap5/utils.html)."""
    sprite = g.get("icon_sprite_url") if g else None
    if sprite is None:
        sprite = url_for("bootstrap.static", filename="icons/bootstrap-icons.svg")
        if g:
            g.icon_sprite_url = sprite
    return _icon(
        sprite,
        str(name),
        size,
        color,
        None if title is None else str(title),
        None if desc is None else str(desc),
        classes,
        font,
    )


def dateformat(value, format=None):
    """Flask-Babel's ``dateformat`` filter, memoised for plain dates (no time zone involved)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        key = (value, format, str(translations_locale()))
        found = _DATES.get(key)
        if found is None:
            if len(_DATES) > 20_000:
                _DATES.clear()
            found = _DATES[key] = format_date(value, format)
        return found
    return format_date(value, format)


_DATES: dict = {}


def translations_locale():
    from flask_babel import get_locale

    here = _globals()
    ctx = here.get("_flask_babel") if here is not None else None
    locale = getattr(ctx, "babel_locale", None) if ctx is not None else None
    return locale if locale is not None else get_locale()


FRAGMENT_LIMIT = 4000  # entries per process: a few MiB of HTML (a card is about 1.5 KB)
_FRAGMENTS: dict[Hashable, Markup] = {}


def fragment(key: Hashable, render: Callable[..., object], *args: object) -> Markup:
    """``render(*args)`` as HTML, kept per process under ``key``.

    Contract: ``key`` holds every value the fragment shows (not a version
    number that someone must remember to bump), so a changed value is a new
    key and an unchanged one the same HTML. What every fragment depends on is
    added here: the locale (interface language and ``ltext`` content language)
    and the script root (relative links). Nothing about the viewer is added:
    a fragment that shows something about the viewer must put it in its key.
    With template auto-reload on (development) nothing is kept, so an edited
    template shows at once."""
    if current_app.jinja_env.auto_reload:
        return Markup(render(*args))
    full = (key, str(translations_locale()), request.script_root if request else "")
    found = _FRAGMENTS.get(full)
    if found is None:
        if len(_FRAGMENTS) >= FRAGMENT_LIMIT:
            _evict_oldest(FRAGMENT_LIMIT // 4)
        found = _FRAGMENTS[full] = Markup(render(*args))
    return found


# Stands for the session's CSRF token in a kept fragment (random per process: no text shown can hold it).
CSRF_TOKEN_SLOT = f"csrf-slot-{secrets.token_hex(16)}"


def with_csrf_token(html: Markup) -> Markup:
    """A kept fragment with this session's CSRF token in place of ``csrf_token_slot``."""
    from flask_wtf.csrf import generate_csrf

    return Markup(html.replace(CSRF_TOKEN_SLOT, generate_csrf()))


def _evict_oldest(count: int) -> None:
    try:
        oldest = list(islice(iter(_FRAGMENTS), count))
    except RuntimeError:  # changed by another thread while listed
        _FRAGMENTS.clear()
        return
    for key in oldest:
        _FRAGMENTS.pop(key, None)


def current_locale() -> str:
    """The request's locale as a string ("en", "zh"), worked out once per request and locale."""
    locale = translations_locale()
    here = _globals()
    ctx = here.get("_flask_babel") if here is not None else None
    if ctx is not None:
        cached = getattr(ctx, "rendering_locale_name", None)
        if cached is not None and cached[0] is locale:
            return cached[1]
    name = str(locale or "en")
    if ctx is not None:
        ctx.rendering_locale_name = (locale, name)
    return name


# Built links, per process: the same dozen links (navigation, footer, static files) on every page.
URL_LIMIT = 2000
_URLS: dict[tuple, str] = {}
_url_defaults: list[bool] = []  # [whether the app has url_defaults functions], filled on first use
_LINK_BASE = "_training_link_base"


def cached_url_for(endpoint: str, **values: Any) -> str:
    """``url_for`` for templates, each (endpoint, arguments, script root, host) built once per process.

    A relative link depends on nothing else unless the app registers ``url_defaults``
    (they can add arguments from the request; then nothing is kept), and Flask refuses
    new ones once requests are served. External links, anchors and methods are built
    every time."""
    try:
        current = cast(Any, request)._get_current_object()  # the proxy's object: one context look-up
    except RuntimeError:  # no request
        return url_for(endpoint, **values)
    if values and any(name[0] == "_" for name in values):
        return url_for(endpoint, **values)
    if not _url_defaults:
        _url_defaults.append(any(current_app.url_default_functions.values()))
    if _url_defaults[0]:
        return url_for(endpoint, **values)
    blueprint = current.blueprint if endpoint[0] == "." else None
    # The script root and host, worked out once per request (the host re-checks TRUSTED_HOSTS each time).
    base = current.__dict__.get(_LINK_BASE)
    if base is None:
        base = current.__dict__[_LINK_BASE] = (current.script_root, current.host)
    try:
        key = (endpoint, blueprint, base, tuple(values.items()))
        found = _URLS.get(key)
    except TypeError:  # an argument that cannot be a key (a list): built every time
        return url_for(endpoint, **values)
    if found is None:
        if len(_URLS) >= URL_LIMIT:
            _URLS.clear()
        found = _URLS[key] = url_for(endpoint, **values)
    return found


# The signed-in visitor's parts of the layout (templates/_viewer.html). While a page is rendered to be kept
# for every signed-in visitor (``viewer_slots``) the layout holds these stand-ins (random per process: no text
# shown can hold them), and ``with_viewer`` puts each visitor's own parts in per response.
_VIEWER_SLOTS = {name: f"viewer-{name}-{secrets.token_hex(16)}" for name in ("links", "menu")}
_VIEWER_SLOTS_BYTES = {name: slot.encode() for name, slot in _VIEWER_SLOTS.items()}
_SLOTTING = "_training_viewer_slots"


def viewer_part(name: str) -> Markup:
    """The signed-in visitor's ``links`` (navigation under their role and the two permissions it depends
    on) or ``menu`` (their name and menu, with the session's CSRF token in the logout form), each kept per
    process under the values it shows (``fragment``); its stand-in while ``viewer_slots`` is on."""
    here = _globals()
    if here is not None and here.get(_SLOTTING):
        return Markup(_VIEWER_SLOTS[name])
    return _viewer_part(name)


def _viewer_part(name: str) -> Markup:
    from flask_login import current_user

    from .permissions import can

    macros: Any = current_app.jinja_env.get_template("_viewer.html").module  # its macros
    user = current_user
    if name == "links":
        role, reports, matrix = user.role, can(user, "view_reports"), can(user, "view_matrix")
        return fragment(
            ("layout.signed_in_links", role, reports, matrix), macros.signed_in_links, role, reports, matrix
        )
    key = ("layout.user_menu", user.id, user.display_name, user.role)
    return with_csrf_token(fragment(key, macros.user_menu, user.id, user.display_name, user.role))


@contextmanager
def viewer_slots() -> Iterator[None]:
    """Render the layout's viewer parts as stand-ins inside this block: the page made is the same for every
    signed-in visitor (when nothing else on it is about the viewer) and ``with_viewer`` makes it theirs."""
    here = _globals()
    previous = here.get(_SLOTTING)
    setattr(here, _SLOTTING, True)
    try:
        yield
    finally:
        setattr(here, _SLOTTING, previous)


def with_viewer(body: bytes) -> bytes:
    """A page rendered under ``viewer_slots`` with this request's signed-in visitor's parts put in."""
    for name, slot in _VIEWER_SLOTS_BYTES.items():
        if slot in body:
            body = body.replace(slot, _viewer_part(name).encode())
    return body


_ASSETS: dict[tuple, Markup] = {}


def bootstrap_assets(kind: str) -> Markup:
    """Bootstrap-Flask's ``load_css()`` / ``load_js()`` tags, built once per script root and host
    (they depend only on the configuration and the static link)."""
    key = (kind, request.script_root, request.host)
    found = _ASSETS.get(key)
    if found is None:
        if len(_ASSETS) >= URL_LIMIT:
            _ASSETS.clear()
        bootstrap = current_app.extensions["bootstrap"]
        found = _ASSETS[key] = Markup(bootstrap.load_css() if kind == "css" else bootstrap.load_js())
    return found


def init_app(app: Flask) -> None:
    """Install the fast callables; call after Flask-Babel and Bootstrap-Flask are set up."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n (Flask-Babel)
        gettext=gettext, ngettext=ngettext, pgettext=pgettext, npgettext=npgettext, newstyle=True
    )
    app.jinja_env.globals["icon"] = icon
    app.jinja_env.filters["dateformat"] = dateformat
    app.jinja_env.globals["fragment"] = fragment
    app.jinja_env.globals["viewer_part"] = viewer_part
    app.jinja_env.globals["csrf_token_slot"] = CSRF_TOKEN_SLOT
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["url_for"] = cached_url_for
    app.jinja_env.globals["bootstrap_assets"] = bootstrap_assets
