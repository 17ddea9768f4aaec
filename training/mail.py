"""Outgoing e-mail, sent only after the transaction that caused it commits.

Services call ``queue(message)`` inside their transaction: the message is
written to the outbox (training/outbox.py) in that transaction, so it exists
exactly when the change does, and the relay delivers it after the commit,
retrying while SMTP is down. With ``MAIL_SERVER`` set messages go over SMTP;
otherwise they are written as .eml files under instance/mail.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import smtplib
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from email.contentmanager import ContentManager, raw_data_manager
from email.message import EmailMessage
from email.policy import Compat32
from email.utils import formataddr, formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from . import jobs
from .extensions import db

log = logging.getLogger(__name__)

_KEY = "training_mail_outbox"


def build(
    to: str,
    subject: object,
    template: str,
    *,
    locale: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    subject_args: dict[str, Any] | None = None,
    **context: Any,
) -> EmailMessage:
    """Render templates/email/<template>.txt in the recipient's language.

    ``subject`` is a msgid (a plain string, translated here) or a lazy string
    (``lazy_gettext``, marked where it is defined); ``subject_args`` fill its
    named placeholders. The template gets ``local_time(dt, tz)`` and
    ``local_date(d)`` that format in the recipient's language.
    """
    from flask_babel import gettext

    with force_locale(locale or "en"):
        context.setdefault("local_time", _local_time)
        context.setdefault("local_date", _local_date)
        body = render_template(f"email/{template}.txt", **context)
        args = (
            subject_args
            if subject_args is not None
            else {k: v for k, v in context.items() if isinstance(v, (str, int))}
        )
        if isinstance(subject, str):
            subject = gettext(subject, **args) if "%(" in subject else gettext(subject)
        else:  # a lazy string: its own msgid, rendered now in the forced locale
            subject = str(subject) % args if args and "%(" in str(subject) else str(subject)
    # The compat32 policy with headers encoded here: the same message as the default policy
    # makes (what a reader parses is identical), in about a quarter of the CPU (the default
    # policy parses every header it is given and again when it writes it).
    sender = current_app.config["MAIL_FROM"]
    manager: ContentManager | None = raw_data_manager
    try:
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = _address_header(sender)
        msg["To"] = _address_header(to)
    except UnicodeError:
        # A mailbox that is not ASCII itself (an internationalised address): written as the default policy does.
        msg, manager = EmailMessage(), None
        msg["From"] = " ".join(str(sender).splitlines())
        msg["To"] = " ".join(str(to).splitlines())
    msg["Subject"] = _text_header("Subject", str(subject)) if manager else " ".join(str(subject).splitlines())
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="training.local")
    msg.set_content(body, content_manager=manager)
    if attachments:
        # A boundary of our own, random and unguessable: the generator otherwise makes one and
        # compiles a regular expression per message to check that no line of the text is it.
        msg.make_mixed(boundary=f"==============={uuid.uuid4().hex}==")
    for filename, mimetype, data in attachments:
        maintype, subtype = mimetype.split("/", 1)
        # Text attachments (calendars) are UTF-8: say so, or readers fall back to ASCII on Chinese titles.
        params = {"charset": "utf-8"} if maintype == "text" else None
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=filename, params=params, content_manager=manager
        )
    return msg


class _Compat32(Compat32):
    """The compat32 policy, writing a header that is ASCII and already folded within 78 columns
    as it is: every header ``build`` sets (encoded words included) and the MIME headers. That is
    what compat32 writes for such a header (tested), without the ``email.header.Header`` it builds
    and encodes for each header of each message (about a quarter of the relay's CPU per e-mail)."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and "\r" not in value:
            first, *rest = value.split("\n")
            if (
                len(name) + 2 + len(first) <= 78
                and not (rest and first[-1:] in (" ", "\t"))
                and all(len(line) <= 78 and line[:1] in (" ", "\t") and line[-1] not in " \t" for line in rest)
            ):
                return f"{name}: {self.linesep.join([first, *rest])}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]  # compat32's own folding, not in the stubs


_POLICY = _Compat32()
_WORD_BYTES = 39  # UTF-8 bytes per encoded word: "Subject: " and the word fit in 78 columns


def _text_header(name: str, value: str) -> str:
    """A header's text as it goes on the wire: RFC 2047 encoded words (UTF-8, base64, whole
    characters in each, one per line) when it is not ASCII."""
    value = " ".join(value.splitlines())  # a line break in a header would end it
    if value.isascii():
        return value
    words: list[bytes] = []
    word = b""
    for char in value:
        data = char.encode("utf-8")
        if len(word) + len(data) > _WORD_BYTES:
            words.append(word)
            word = b""
        word += data
    words.append(word)
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


@functools.lru_cache(maxsize=256)  # the sender is the same on every message
def _address_header(value: str) -> str:
    """Addresses with their display names encoded when those are not ASCII; UnicodeError when an
    address itself is not ASCII."""
    value = " ".join(str(value).splitlines())
    if value.isascii():
        return value
    return ", ".join(formataddr((name, address), charset="utf-8") for name, address in getaddresses([value]))


def _local_time(value: datetime | None, tz: tzinfo | None = None, fmt: str = "medium") -> str:
    """A moment in ``tz`` (a zone of the run), in the current (forced) language:
    "medium" is weekday, date and time, "time" the time of day only."""
    from babel.dates import format_skeleton, format_time
    from flask_babel import get_locale

    if value is None:
        return ""
    locale = get_locale() or "en"
    local = value.astimezone(tz) if tz is not None else value
    if fmt == "time":
        return format_time(local, "short", locale=locale)
    if fmt == "medium":
        return f"{format_skeleton('yMMMEd', local, locale=locale)} {format_time(local, 'short', locale=locale)}"
    return format_skeleton(fmt, local, locale=locale)


def _local_date(value: date | None, fmt: str = "long") -> str:
    from babel.dates import format_date
    from flask_babel import get_locale

    if value is None:
        return ""
    return format_date(value, fmt, locale=get_locale() or "en")


local_time, local_date = _local_time, _local_date


def queue(message: EmailMessage) -> None:
    """Send ``message`` once the current transaction commits: it is written to
    the outbox in that transaction (dropped with it on rollback) and delivered
    by the relay after the commit, retried until it goes out."""
    from . import outbox

    outbox.add_mail(message.as_bytes(), key=_key_of(message), recipient=str(message["To"] or ""))
    db.session.info.setdefault(_KEY, []).append(message["Message-ID"])


Renderer = Callable[[dict[str, Any]], EmailMessage | None]
BatchRenderer = Callable[[list[dict[str, Any]]], list[EmailMessage | None | Exception]]
_renderers: dict[str, Renderer] = {}
_batch_renderers: dict[str, BatchRenderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register the function that renders e-mails queued with
    ``queue_rendered_later(name, ...)``: it gets the parameters and returns the
    message, or None when there is nobody left to write to."""

    def register(fn: Renderer) -> Renderer:
        _renderers[name] = fn
        return fn

    return register


def batch_renderer(name: str) -> Callable[[BatchRenderer], BatchRenderer]:
    """Register, beside ``renderer(name)``, a function that renders many such
    e-mails at once (one read of the database for all): it gets a list of
    parameters and returns, in the same order, each message, None, or the
    exception that one message met (the others still go out)."""

    def register(fn: BatchRenderer) -> BatchRenderer:
        _batch_renderers[name] = fn
        return fn

    return register


def queue_rendered_later(name: str, params: dict[str, Any], *, recipient: str) -> None:
    """Like ``queue``, for a message the relay renders after the commit, not the
    request: the outbox row (written in the current transaction, dropped with
    it on rollback, delivered once under its key) holds ``params`` (JSON), and
    the renderer registered under ``name`` builds the message when it is
    delivered, from what the database says then."""
    import json

    from . import outbox

    key = f"mail:{name}:{uuid.uuid4().hex}"
    outbox.insert_mail(json.dumps(params).encode("utf-8"), key=key, recipient=recipient, name=name)
    db.session.info.setdefault(_KEY, []).append(key)


def render_later(name: str, payload: bytes) -> bytes | None:
    """The relay's side of ``queue_rendered_later``: the message's bytes, or None."""
    import json

    fn = _renderers.get(name)
    if fn is None:
        raise LookupError(f"no e-mail renderer {name!r} in this process")
    message = fn(json.loads(bytes(payload).decode("utf-8")))
    return None if message is None else message.as_bytes()


def render_many(name: str, payloads: list[bytes]) -> list[bytes | None | Exception]:
    """``render_later`` for many rows of one renderer (the relay's batch): with
    a batch renderer in one go, else one by one; an exception stands in for a
    message that could not be rendered, so that only that one is retried."""
    import json

    fn = _batch_renderers.get(name)
    if fn is None:
        results: list[bytes | None | Exception] = []
        for payload in payloads:
            try:
                results.append(render_later(name, payload))
            except Exception as exc:  # noqa: BLE001 - this message is retried, the others go out
                results.append(exc)
        return results
    try:
        messages = fn([json.loads(bytes(payload).decode("utf-8")) for payload in payloads])
    except Exception as exc:  # noqa: BLE001 - every message of the batch is retried
        return [exc for _ in payloads]
    out: list[bytes | None | Exception] = []
    for message in messages:
        if message is None or isinstance(message, Exception):
            out.append(message)
            continue
        try:
            out.append(message.as_bytes())
        except Exception as exc:  # noqa: BLE001 - this message is retried, the others go out
            out.append(exc)
    return out


def _key_of(message: EmailMessage) -> str:
    mid = str(message["Message-ID"] or "").strip("<> ")
    return f"mail:{mid}" if mid else f"mail:{uuid.uuid4().hex}"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)


@jobs.job("send_mail")
def send_messages(progress: Callable[..., None] | None, messages: list[bytes]) -> int:
    """Hand rendered messages to the outbox in a transaction of their own (for
    work that runs after the commit that caused it, e.g. a job's batch of
    notifications). Inside a job, a message's key comes from the job and the
    message, so a job that runs again after a crash sends nothing twice."""
    from email import message_from_bytes, policy

    from . import outbox

    rows: list[dict[str, Any]] = []
    for raw in messages:
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = message_from_bytes(raw, policy=policy.SMTP)
        recipient = str(parsed["To"] or "")[:320] or None
        if outbox.current_key.get():
            key = outbox.derived_key(raw, recipient)
        else:
            mid = str(parsed["Message-ID"] or "").strip("<> ")
            key = f"mail:{mid}" if mid else f"mail:{uuid.uuid4().hex}"
        rows.append({"key": key[:255], "kind": "mail", "name": "mail", "recipient": recipient, "payload": raw})
    outbox.write(rows)
    return len(rows)


class Connection:
    """Delivers raw messages: over SMTP when ``MAIL_SERVER`` is set (one
    connection for a batch), else as ``MAIL_DIR/<key>.eml`` (the same key
    writes the same file, so a message is never there twice)."""

    def __init__(self) -> None:
        self.config = current_app.config
        self.smtp: smtplib.SMTP | None = None

    def send(self, raw: bytes, key: str) -> None:
        from email import message_from_bytes, policy

        raw = bytes(raw)
        if not self.config.get("MAIL_SERVER"):
            folder = Path(self.config["MAIL_DIR"])
            folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(raw)
            tmp.replace(folder / f"{name}.eml")
            return
        if self.smtp is None:
            config = self.config
            smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
            try:
                if config.get("MAIL_USE_TLS"):
                    smtp.starttls()
                if config.get("MAIL_USERNAME"):
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            except Exception:
                smtp.close()
                raise
            self.smtp = smtp
        self.smtp.send_message(message_from_bytes(raw, policy=policy.SMTP))

    def reset(self) -> None:
        """After a failure: start with a new connection."""
        self.close()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None
