"""flask signing init | rotate | list: the key ring that signs certificate
documents and credentials (see certificates/signing.py and the README)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

signing_cli = AppGroup("signing", help="Signing keys for certificate PDFs and credentials.")


def _ring():
    from .signing import KeyRing

    return KeyRing(current_app.config)


@signing_cli.command("init")
@with_appcontext
def init_command():
    """Create the first signing key (encrypted with the passphrase)."""
    from .signing import SigningUnavailable, _signers

    try:
        kid = _ring().init()
    except SigningUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    _signers.clear()
    click.echo(f"Created signing key {kid} in {_ring().directory}.")


@signing_cli.command("rotate")
@with_appcontext
def rotate_command():
    """Add a new key for new certificates; the old keys keep verifying (and stay published)."""
    from .signing import SigningUnavailable, _signers

    ring = _ring()
    try:
        ring.passphrase()  # refuse to start a second passphrase next to existing keys
        old = ring.current_kid()
        kid = ring.rotate()
    except SigningUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    _signers.clear()
    click.echo(f"New signing key {kid} signs from now on" + (f"; {old} is retired and still verifies." if old else "."))
    click.echo("Running servers pick the new key up on their next signature.")


@signing_cli.command("list")
@with_appcontext
def list_command():
    """Every key in the ring, the current one marked."""
    from .signing import key_id

    ring = _ring()
    current = ring.current_kid()
    for cert in ring.certificates():
        kid = key_id(cert)
        valid = cert["tbs_certificate"]["validity"]
        click.echo(
            f"{'*' if kid == current else ' '} {kid}  {cert.subject.human_friendly}  "
            f"valid {valid['not_before'].native:%Y-%m-%d} to {valid['not_after'].native:%Y-%m-%d}"
        )
