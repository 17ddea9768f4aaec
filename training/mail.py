"""Outgoing e-mail, sent only after the transaction that caused it commits.

Services call ``queue(message)`` inside their transaction; when the session
commits, the queued messages are handed to a background job; when it rolls
back, they are dropped. With ``MAIL_SERVER`` set they go over SMTP; otherwise
they are written as .eml files under instance/mail so nothing is lost.
"""
from __future__ import annotations

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

_KEY = "training_mail_outbox"


def build(to: str, subject: str, template: str, *, locale: str | None = None,
          attachments: list[tuple[str, str, bytes]] = (), **context) -> EmailMessage:
    """Render templates/email/<template>.txt in the recipient's language."""
    with force_locale(locale or "en"):
        body = render_template(f"email/{template}.txt", **context)
        from flask_babel import gettext
        subject = gettext(subject, **{k: v for k, v in context.items() if isinstance(v, (str, int))}) \
            if "%(" in subject else gettext(subject)
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
    else:
        folder = Path(config["MAIL_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        for raw in messages:
            (folder / f"{uuid.uuid4().hex}.eml").write_bytes(raw)
            sent += 1
    return sent
