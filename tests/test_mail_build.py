"""What mail.build writes is what a reader parses: encoded subjects and display
names, internationalised mailboxes, and no header made from a line break."""

from email import message_from_bytes, policy

from training import mail


def _parsed(message):
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_chinese_subject_and_sender_name_arrive_as_written(app):
    app.config["MAIL_FROM"] = "智能制造培训联盟 <training@example.com>"
    subject = "Your place is confirmed: OPC UA 入门, a title long enough to be folded over several lines 很长的标题"
    sent = mail.build("anna@example.com", subject, "password_reset", user=None, url="http://localhost/x")
    got = _parsed(sent)
    assert str(got["Subject"]) == subject
    assert str(got["From"]) == "智能制造培训联盟 <training@example.com>"
    assert got["From"].addresses[0].addr_spec == "training@example.com"
    assert str(got["To"]) == "anna@example.com"
    assert "http://localhost/x" in got.get_body(("plain",)).get_content()


def test_a_mailbox_that_is_not_ascii_still_gets_its_mail(app):
    sent = mail.build("用户@example.com", "Reset your password", "password_reset", user=None, url="http://localhost/x")
    got = _parsed(sent)
    assert "example.com" in str(got["To"]) and str(got["Subject"]) == "Reset your password"


def test_a_line_break_in_a_subject_makes_no_header(app):
    sent = mail.build(
        "anna@example.com", "Hello\nBcc: evil@example.com", "password_reset", user=None, url="http://localhost/x"
    )
    got = _parsed(sent)
    assert got["Bcc"] is None and str(got["Subject"]) == "Hello Bcc: evil@example.com"


def test_a_calendar_attachment_keeps_its_type_charset_and_bytes(app):
    calendar = "BEGIN:VCALENDAR\r\nSUMMARY:OPC UA 入门\r\nEND:VCALENDAR\r\n".encode()
    sent = mail.build(
        "anna@example.com",
        "Calendar",
        "password_reset",
        attachments=[("course.ics", "text/calendar", calendar)],
        user=None,
        url="http://localhost/x",
    )
    (part,) = list(_parsed(sent).iter_attachments())
    assert part.get_content_type() == "text/calendar" and part.get_param("charset") == "utf-8"
    assert part.get_filename() == "course.ics" and part.get_payload(decode=True) == calendar


def test_a_message_is_written_as_the_compat32_policy_writes_it(app):
    """mail.build's policy writes ASCII headers folded within 78 columns as they are; every
    message must come out byte for byte as compat32 (which folds each header itself) writes it."""
    app.config["MAIL_FROM"] = "智能制造培训联盟 <training@example.com>"
    calendar = "BEGIN:VCALENDAR\r\nSUMMARY:OPC UA 入门\r\nEND:VCALENDAR\r\n".encode()
    subjects = [
        "Reset your password",
        "Your place is confirmed: OPC UA 入门",
        "您的名额已确认：" + "智能制造与工业机器人高级培训课程" * 4,
        "An ASCII subject long enough to be folded by the policy itself, over more than one line of text",
        "Mixed 培训 and trailing space ",
    ]
    for subject in subjects:
        for attachments in ([], [("course.ics", "text/calendar", calendar)]):
            sent = mail.build(
                "学员 <anna@example.com>",
                subject,
                "password_reset",
                attachments=attachments,
                user=None,
                url="http://localhost/x",
            )
            assert sent.as_bytes() == sent.as_bytes(policy=policy.compat32)
            assert str(_parsed(sent)["Subject"]) == subject
            assert all(len(line) <= 78 for line in sent.as_bytes().split(b"\n") if b":" in line[:30])
