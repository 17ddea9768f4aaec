"""Outgoing e-mail, sent only after the transaction that caused it commits.

Services call ``queue(message)`` inside their transaction; when the session
commits, the queued messages are handed to a background job; when it rolls
back, they are dropped. With ``MAIL_SERVER`` set they go over SMTP; otherwise
they are written as .eml files under instance/mail so nothing is lost.
"""
from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import jobs
from .extensions import db

log = logging.getLogger(__name__)

_KEY = "training_mail_outbox"


def build(to: str, subject, template: str, *, locale: str | None = None,
          attachments: list[tuple[str, str, bytes]] = (), subject_args: dict | None = None,
          **context) -> EmailMessage:
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
        args = subject_args if subject_args is not None else \
            {k: v for k, v in context.items() if isinstance(v, (str, int))}
        if isinstance(subject, str):
            subject = gettext(subject, **args) if "%(" in subject else gettext(subject)
        else:  # a lazy string: its own msgid, rendered now in the forced locale
            subject = str(subject) % args if args and "%(" in str(subject) else str(subject)
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="training.local")
    msg.set_content(body)
    for filename, mimetype, data in attachments:
        maintype, subtype = mimetype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _local_time(value, tz=None, fmt: str = "medium") -> str:
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


def _local_date(value, fmt: str = "long") -> str:
    from babel.dates import format_date
    from flask_babel import get_locale
    if value is None:
        return ""
    return format_date(value, fmt, locale=get_locale() or "en")


local_time, local_date = _local_time, _local_date


def queue(message: EmailMessage) -> None:
    db.session.info.setdefault(_KEY, []).append(message.as_bytes())


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    outbox = session.info.pop(_KEY, None)
    if outbox:
        jobs.fire_and_forget("send_mail", messages=outbox)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)


@jobs.job("send_mail")
def send_messages(progress, messages: list[bytes]) -> int:
    from email import message_from_bytes, policy
    config = current_app.config
    sent = 0
    if config.get("MAIL_SERVER"):
        try:
            with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
                if config.get("MAIL_USE_TLS"):
                    smtp.starttls()
                if config.get("MAIL_USERNAME"):
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
                for raw in messages:
                    msg = message_from_bytes(raw, policy=policy.SMTP)
                    smtp.send_message(msg)
                    sent += 1
                    progress(sent, len(messages))
        except (OSError, smtplib.SMTPException):
            # Nothing is lost: what was not sent is kept as .eml files to resend.
            log.exception("SMTP failed after %s of %s messages; keeping the rest under MAIL_DIR/unsent",
                          sent, len(messages))
            _write_files(Path(config["MAIL_DIR"]) / "unsent", messages[sent:])
            if current_app.config.get("TESTING"):
                raise
    else:
        sent = _write_files(Path(config["MAIL_DIR"]), messages)
    return sent


def _write_files(folder: Path, messages: list[bytes]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for raw in messages:
        (folder / f"{uuid.uuid4().hex}.eml").write_bytes(raw)
    return len(messages)
