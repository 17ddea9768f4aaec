"""Notifications over real SMTP: an aiosmtpd server on 127.0.0.1 receives
what the app sends after commit, in the trainee's language, with the .ics."""

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import make_test_app
from tests.toolkit import app_pushed
from training.enrolment import services
from training.extensions import db


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_app(tmp_path, pg_database):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_port())
    controller.start()
    app = make_test_app(tmp_path, pg_database, MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    try:
        with app_pushed(app):
            yield app, inbox
    finally:
        controller.stop()


def test_confirmation_arrives_over_smtp_with_calendar(smtp_app):
    from tests.factories import Factory

    app, inbox = smtp_app
    factory = Factory()
    run = factory.run(capacity=1)
    trainee = factory.trainee(name="Anna Müller")
    with app.test_request_context():
        services.enrol(trainee, run.id)
    ((rcpt, msg),) = inbox.messages
    assert rcpt == [trainee.email] and msg["Subject"].startswith("Your place is confirmed")
    body = msg.get_body(("plain",)).get_content()
    assert "Dear Anna Müller" in body and run.course.title in body
    (ics,) = [p for p in msg.iter_attachments() if p.get_filename() == "course.ics"]
    content = ics.get_content()
    text = content.decode() if isinstance(content, bytes) else content
    assert "BEGIN:VCALENDAR" in text and text.count("BEGIN:VEVENT") == 2 and "TZID=Asia/Shanghai" in text


def test_mail_in_the_trainees_language(smtp_app):
    from tests.factories import Factory

    app, inbox = smtp_app
    factory = Factory()
    run = factory.run(capacity=1)
    first = factory.trainee(locale="zh", name="王小明")
    second = factory.trainee(locale="zh", name="欧阳晓燕")
    with app.test_request_context():
        services.enrol(first, run.id)
        services.enrol(second, run.id)
    by_to = {rcpt[0]: msg for rcpt, msg in inbox.messages}
    zh = by_to[second.email]
    body = zh.get_body(("plain",)).get_content()
    # Dates are formatted for Chinese readers whatever the state of the translation catalogue.
    assert "欧阳晓燕" in body and "年" in body and "月" in body


def test_cancelled_run_tells_everyone_after_commit(smtp_app):
    from tests.factories import Factory

    app, inbox = smtp_app
    factory = Factory()
    admin = factory.admin()
    run = factory.run(capacity=3)
    trainees = [factory.trainee() for _ in range(5)]
    with app.test_request_context():
        for t in trainees:
            services.enrol(t, run.id)
        inbox.messages.clear()
        services.cancel_run(admin, run.id, "Robot cell under repair")
    assert sorted(r[0] for r, _m in inbox.messages) == sorted(t.email for t in trainees)
    assert all("Robot cell under repair" in m.get_body(("plain",)).get_content() for _r, m in inbox.messages)


def test_nothing_is_sent_when_the_transaction_rolls_back(smtp_app):
    from tests.factories import Factory
    from training import mail

    app, inbox = smtp_app
    factory = Factory()
    run = factory.run()
    trainee = factory.trainee()
    with app.test_request_context():
        services.enrol(trainee, run.id, commit=False)
        assert db.session.info.get(mail._KEY)
        db.session.rollback()
        db.session.commit()
    assert inbox.messages == []


def test_smtp_failure_keeps_the_mail(tmp_path, pg_database):
    """SMTP down: the enrolment answers normally and the message waits in the
    outbox; once SMTP is back it goes out exactly once."""
    from datetime import timedelta

    from tests.factories import Factory
    from training import outbox
    from training.types import utcnow

    port = _port()
    app = make_test_app(tmp_path, pg_database, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)  # nobody listens
    with app.app_context():
        factory = Factory()
        run = factory.run()
        trainee = factory.trainee()
        with app.test_request_context():
            services.enrol(trainee, run.id)
        (row,) = db.session.scalars(db.select(outbox.OutboxMessage)).all()
        assert (row.state, row.attempts, row.recipient) == ("pending", 1, trainee.email)
        assert "ConnectionRefusedError" in row.last_error and row.next_attempt_at > utcnow()
        db.session.rollback()  # the relay works in transactions of its own
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert outbox.relay()["sent"] == 0  # not due yet: it waits for its back-off
            later = utcnow() + timedelta(minutes=5)
            assert outbox.relay(now=later)["sent"] == 1
            assert outbox.relay(now=later + timedelta(hours=1))["sent"] == 0
        finally:
            controller.stop()
        assert [r for r, _m in inbox.messages] == [[trainee.email]]
        db.session.expire_all()
        assert db.session.get(outbox.OutboxMessage, row.id).state == "done"
        db.session.remove()
        db.engine.dispose()


def test_reminder_cli(smtp_app):
    from datetime import timedelta

    from tests.factories import Factory
    from training.enrolment.cli import enrolment_cli
    from training.types import utcnow

    app, inbox = smtp_app
    factory = Factory()
    run = factory.run(start=utcnow() + timedelta(hours=30))
    trainee = factory.trainee()
    with app.test_request_context():
        services.enrol(trainee, run.id)
    inbox.messages.clear()
    runner = app.test_cli_runner()
    result = runner.invoke(enrolment_cli, ["remind", "--hours", "48"])
    assert result.exit_code == 0 and f"Run {run.id}: reminding 1 trainees." in result.output
    ((rcpt, msg),) = inbox.messages
    assert rcpt == [trainee.email] and "starts soon" in msg["Subject"]
    assert runner.invoke(enrolment_cli, ["remind"]).output.strip() == "No run needs a reminder."
