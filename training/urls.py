"""Absolute links, from one trusted place.

Every absolute link the platform writes (e-mails, PDFs and their QR codes,
calendars, JSON-LD, credentials, API bodies) is built here, from
``PUBLIC_BASE_URL`` when it is set, and never from the request's ``Host``.

Without ``PUBLIC_BASE_URL`` a request's own address is used, and only hosts in
``TRUSTED_HOSTS`` (Flask's setting; by default the loopback names with any
port) are accepted at all: any other ``Host`` (or ``X-Forwarded-Host`` behind
``TRUSTED_PROXIES``) is a 400 before a view runs, so a forged host never
reaches a link. Outside a request (background jobs, CLI commands) there is no
trusted address to use: building a link then raises ``PublicBaseUrlMissing``
instead of silently writing ``http://127.0.0.1:5000`` into an e-mail.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, request

DEFAULT_TRUSTED_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class PublicBaseUrlMissing(RuntimeError):
    """A link was needed outside a request while PUBLIC_BASE_URL is unset."""

    def __init__(self) -> None:
        super().__init__(
            "PUBLIC_BASE_URL is not set: links written outside a web request (background jobs, "
            "CLI commands) would point at this machine. Set PUBLIC_BASE_URL to the address people "
            "use, e.g. PUBLIC_BASE_URL=https://training.example.com"
        )


def public_base_url() -> str:
    """The absolute base of every link, without a trailing slash."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return str(base).rstrip("/")
    if has_request_context():
        # The host was checked against TRUSTED_HOSTS before the view ran.
        return request.host_url.rstrip("/")
    raise PublicBaseUrlMissing()


def require_public_base_url() -> str:
    """For CLI commands and jobs that e-mail links: refuse up front, before any work."""
    return public_base_url()


def external_url(endpoint: str, **values: Any) -> str:
    """``public_base_url()`` + the route's path (without the request's script root,
    which the base already holds)."""
    path = current_app.url_map.bind("localhost", script_name="/").build(endpoint, values)
    return public_base_url() + path


# --- trusted hosts --------------------------------------------------------------------


class _Ipv6Literal(str):
    """A trusted IPv6 literal such as "[::1]". Werkzeug compares only what comes
    before the first ":" of each trusted name (to drop a port), which never
    matches a bracketed address; this keeps the whole literal instead."""

    def partition(self, sep: str) -> tuple[str, str, str]:
        if sep == ":":
            literal = str(self)[: str(self).index("]") + 1]
            return literal, "", ""
        return str.partition(self, sep)


def parse_trusted_hosts(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """TRUSTED_HOSTS as Flask takes it: a list (or a comma-separated string) of
    names, a port after a name is ignored, ".example.com" admits subdomains."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        hosts.append(_Ipv6Literal(name) if name.startswith("[") and "]" in name else name)
    return hosts or None


def configure_trusted_hosts(app: Flask) -> None:
    """Without PUBLIC_BASE_URL a request's host becomes the base of its links,
    so only trusted hosts are served (default: loopback, any port)."""
    hosts = parse_trusted_hosts(app.config.get("TRUSTED_HOSTS"))
    if hosts is None and not app.config.get("PUBLIC_BASE_URL"):
        hosts = parse_trusted_hosts(DEFAULT_TRUSTED_HOSTS)
    app.config["TRUSTED_HOSTS"] = hosts
