"""Feedback surveys: invited once when a run ends, one anonymous answer per
enrolment, results shown to trainers only from MIN_ANSWERS answers."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select

from tests.conftest import login
from tests.toolkit import join_all
from training.extensions import db
from training.figures import metrics
from training.reports import feedback
from training.reports.models import FeedbackAnswer, FeedbackInvitation, FeedbackResponse
from training.types import utcnow


def _ended_run(factory, trainer, n=6, **kw):
    run = factory.past_run(trainers=[trainer], **kw)
    enrolments = [factory.enrolment(run) for _ in range(n)]
    return run, enrolments


def _answer_form(survey, recommend="9", rating="4", text="Good hands-on time"):
    form = {}
    for q in survey.questions:
        form[f"q{q.id}"] = {"recommend": recommend, "rating": rating, "text": text}[q.kind]
    return form


def test_invitations_are_sent_once_by_mail_and_listed_on_my_training(app, client, factory, mailbox):
    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=2)
    factory.enrolment(run, status="cancelled")
    future = factory.run(trainers=[trainer])
    factory.enrolment(future)
    assert feedback.send_due_surveys() == 2
    assert feedback.send_due_surveys() == 0  # idempotent
    assert db.session.scalar(select(func.count()).select_from(FeedbackInvitation)) == 2
    mails = [m for m in mailbox() if "feedback" in m["Subject"].lower()]
    assert len(mails) == 2 and "/feedback/" in mails[0].get_content()
    login(client, enrolments[0].user)
    page = client.get("/my/training").get_data(as_text=True)
    assert "/feedback/" in page


def test_no_invitation_before_the_last_meeting_ends_or_long_after(app, factory):
    trainer = factory.trainer()
    running = factory.run(trainers=[trainer], start=utcnow() - timedelta(days=1), meetings=3)
    factory.enrolment(running)
    old = factory.run(trainers=[trainer], start=utcnow() - timedelta(days=40))
    factory.enrolment(old)
    assert feedback.send_due_surveys() == 0


def test_an_answer_is_anonymous_and_counts_once(app, client, factory):
    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=1)
    feedback.send_due_surveys()
    invitation = db.session.scalar(select(FeedbackInvitation))
    survey = feedback.get_survey(enrolments[0].user, invitation.token)
    login(client, enrolments[0].user)
    response = client.post(f"/feedback/{invitation.token}", data=_answer_form(survey))
    assert response.status_code == 302
    again = client.post(f"/feedback/{invitation.token}", data=_answer_form(survey, recommend="2"))
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)) == 1
    stored = db.session.scalar(select(FeedbackResponse))
    assert stored.recommend == 9
    # Nothing in a response names the person or the invitation.
    columns = {c.key for c in inspect(FeedbackResponse).columns} | {c.key for c in inspect(FeedbackAnswer).columns}
    assert not columns & {"user_id", "enrolment_id", "invitation_id", "token"}
    db.session.refresh(invitation)
    assert invitation.answered_at is not None
    assert invitation.answered_at.hour == 0 and invitation.answered_at.minute == 0  # the day only


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2027, 2, 28, 15, 50, tzinfo=UTC), date(2027, 2, 28)),  # 23:50 on 28 February in Shanghai
        (datetime(2027, 2, 28, 16, 10, tzinfo=UTC), date(2027, 3, 1)),  # 00:10 on 1 March there, still February in UTC
    ],
)
def test_an_answer_is_dated_on_the_organisations_day(app, factory, moment, day):
    """The date beside a comment on the reports page (and in the export) is the organisation's, so an
    answer just after midnight in Shanghai belongs to the new day and the new month; the invitation's
    day-only marker names the same day, so the two cannot be paired by the hour."""
    _run, enrolments = _ended_run(factory, factory.trainer(), n=1)
    feedback.send_due_surveys()
    invitation = db.session.scalar(select(FeedbackInvitation))
    invitation.closes_at = moment + timedelta(days=1)
    db.session.commit()
    survey = feedback.get_survey(enrolments[0].user, invitation.token, now=moment)
    feedback.submit(enrolments[0].user, invitation.token, _answer_form(survey), now=moment)
    assert db.session.scalar(select(FeedbackResponse.submitted_on)) == day
    db.session.refresh(invitation)
    assert invitation.answered_at == datetime.combine(day, datetime.min.time(), UTC)


def test_only_the_invited_trainee_may_open_or_answer(app, client, factory):
    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=2)
    feedback.send_due_surveys()
    token = db.session.scalar(
        select(FeedbackInvitation.token).where(FeedbackInvitation.enrolment_id == enrolments[0].id)
    )
    for someone in (enrolments[1].user, trainer, factory.admin()):
        login(client, someone)
        assert client.get(f"/feedback/{token}").status_code == 404
        assert client.post(f"/feedback/{token}", data={"x": "1"}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)) == 0


def test_closed_surveys_and_bad_values_are_refused(app, client, factory):
    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=1)
    feedback.send_due_surveys()
    invitation = db.session.scalar(select(FeedbackInvitation))
    survey = feedback.get_survey(enrolments[0].user, invitation.token)
    login(client, enrolments[0].user)
    for bad in ("11", "-1", "abc", "٣", "5.5"):
        response = client.post(f"/feedback/{invitation.token}", data=_answer_form(survey, recommend=bad))
        assert response.status_code == 422, bad
    invitation.closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    client.post(f"/feedback/{invitation.token}", data=_answer_form(survey))
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)) == 0


def _answer_all(enrolments, recommend=8):
    for e in enrolments:
        token = db.session.scalar(select(FeedbackInvitation.token).where(FeedbackInvitation.enrolment_id == e.id))
        survey = feedback.get_survey(e.user, token)
        feedback.submit(e.user, token, _answer_form(survey, recommend=str(recommend)))


def test_trainers_see_results_only_from_five_answers(app, client, factory):
    from training.reports import services

    trainer, admin = factory.trainer(), factory.admin()
    run, enrolments = _ended_run(factory, trainer, n=6)
    feedback.send_due_surveys()
    _answer_all(enrolments[: metrics.MIN_ANSWERS - 1])
    args = {"from": (run.starts_on - timedelta(days=1)).isoformat(), "to": run.ends_on.isoformat()}
    scope = services.scope_for(trainer, args)
    few = feedback.overview(trainer, scope)
    assert few.total.answers == metrics.MIN_ANSWERS - 1 and not few.shown(few.total) and not few.comments
    assert feedback.overview(admin, services.scope_for(admin, args)).shown(few.total)
    login(client, trainer)
    html = client.get("/reports", query_string=args).get_data(as_text=True)
    assert "Good hands-on time" not in html
    _answer_all(enrolments[metrics.MIN_ANSWERS - 1 : metrics.MIN_ANSWERS])
    enough = feedback.overview(trainer, scope)
    assert enough.shown(enough.total) and enough.total.satisfaction == pytest.approx(8.0)
    assert enough.total.response_rate == pytest.approx(5 / 6)
    html = client.get("/reports", query_string=args).get_data(as_text=True)
    assert "Good hands-on time" in html


def test_admins_edit_the_question_set_and_add_course_questions(app, client, factory):
    admin = factory.admin()
    course = factory.course()
    login(client, admin)
    assert client.get("/reports/questions").status_code == 200
    response = client.post(
        "/reports/questions",
        data={
            "kind": "rating",
            "text_en": "The robot cell worked.",
            "text_zh": "机器人单元运行正常。",
            "course_id": str(course.id),
        },
    )
    assert response.status_code == 302
    assert any(q.text_en == "The robot cell worked." for q in feedback.questions_for(course.id))
    assert not any(q.text_en == "The robot cell worked." for q in feedback.questions_for(factory.course().id))
    assert client.post("/reports/questions", data={"kind": "rating", "text_en": "Only English"}).status_code == 422
    recommend = next(q for q in feedback.question_set() if q.kind == "recommend")
    response = client.post(f"/reports/questions/{recommend.id}", data={"text_en": "x", "text_zh": "y"})
    assert response.status_code == 409  # switching it off is refused


@pytest.mark.postgres
def test_two_answers_at_once_give_one_response(app, factory):
    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=1)
    feedback.send_due_surveys()
    token = db.session.scalar(select(FeedbackInvitation.token))
    user_id = enrolments[0].user.id
    db.session.rollback()  # the test's own read transaction (SQLite takes the write lock with it) ends here
    results = []

    def answer():
        with app.app_context():
            from training.accounts.models import User

            user = db.session.get(User, user_id)
            survey = feedback.get_survey(user, token)
            try:
                feedback.submit(user, token, _answer_form(survey))
                results.append("ok")
            except Exception as exc:  # noqa: BLE001 - the refusal is what we count
                results.append(getattr(exc, "code", repr(exc)))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=answer) for _ in range(4)]
    for t in threads:
        t.start()
    join_all(threads)
    assert sorted(results) == ["already_answered"] * 3 + ["ok"]
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)) == 1


def test_the_counts_kept_with_the_answers_equal_a_recount(app, factory):
    """FeedbackStat rows, kept by send_due_surveys and submit, equal a recount from the answers."""
    from training.reports.models import FeedbackStat

    trainer = factory.trainer()
    run, enrolments = _ended_run(factory, trainer, n=4)
    other, others = _ended_run(factory, trainer, n=2)
    feedback.send_due_surveys()
    _answer_all(enrolments[:3])
    _answer_all(others[:1])

    def rows():
        return sorted(
            tuple(r)
            for r in db.session.execute(
                select(
                    FeedbackStat.run_id,
                    FeedbackStat.question_id,
                    FeedbackStat.invited,
                    FeedbackStat.answers,
                    FeedbackStat.total,
                    FeedbackStat.counted,
                )
            )
        )

    kept = rows()
    assert (run.id, 0, 4, 3, 24, 3) in kept and (other.id, 0, 2, 1, 8, 1) in kept
    feedback.rebuild_stats()
    assert rows() == kept


def test_the_xlsx_holds_the_feedback_results_and_free_text(app, client, factory):
    """Per run: invited, answers, response rate (a number shown as a percentage), satisfaction; the
    comments sheet lists the free-text answers. A trainer below five answers gets neither score nor text."""
    import io

    from openpyxl import load_workbook

    trainer, admin = factory.trainer(), factory.admin()
    run, enrolments = _ended_run(factory, trainer, n=6)
    feedback.send_due_surveys()
    _answer_all(enrolments[: metrics.MIN_ANSWERS])
    args = {"from": (run.starts_on - timedelta(days=1)).isoformat(), "to": run.ends_on.isoformat()}
    login(client, admin)
    book = load_workbook(io.BytesIO(client.get("/reports/export.xlsx", query_string=args).data))
    names = [n.split(" ")[0] for n in book.sheetnames]
    results, comments = book.worksheets[names.index("Feedback")], book.worksheets[names.index("Comments")]
    row = [c.value for c in results[2]]
    assert row[0] == run.course.code and row[1].date() == run.starts_on and row[2:4] == [6, 5]
    assert row[4] == pytest.approx(5 / 6) and results.cell(2, 5).number_format == "0.0%"
    assert row[5] == pytest.approx(8.0)
    texts = [r[4] for r in comments.iter_rows(min_row=2, values_only=True)]
    assert texts == ["Good hands-on time"] * metrics.MIN_ANSWERS and comments.cell(2, 1).is_date
    # the trainer, with one answer fewer on another run of theirs, sees no score there
    other, others = _ended_run(factory, trainer, n=5)
    feedback.send_due_surveys()
    _answer_all(others[: metrics.MIN_ANSWERS - 1])
    login(client, trainer)
    args = {
        "from": (other.starts_on - timedelta(days=1)).isoformat(),
        "to": other.ends_on.isoformat(),
        "run_id": other.id,
    }
    book = load_workbook(io.BytesIO(client.get("/reports/export.xlsx", query_string=args).data))
    names = [n.split(" ")[0] for n in book.sheetnames]
    row = [c.value for c in book.worksheets[names.index("Feedback")][2]]
    assert row[3] == metrics.MIN_ANSWERS - 1 and row[5] is None
    assert book.worksheets[names.index("Comments")].max_row == 1


FORMULAS = ['=HYPERLINK("http://evil.example","Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


@pytest.mark.parametrize("evil", FORMULAS)
def test_text_people_typed_is_never_a_formula_in_the_workbook(app, client, factory, evil):
    """A trainee's free-text answer, a trainer's name and a course's title go into the XLSX as text: openpyxl
    wrote any string starting with = as a formula (the comment ran when the report was opened)."""
    import io

    from openpyxl import load_workbook

    trainer, admin = factory.trainer(name=evil), factory.admin()
    run, enrolments = _ended_run(factory, trainer, n=metrics.MIN_ANSWERS, course=factory.course(title=evil))
    feedback.send_due_surveys()
    for e in enrolments:
        token = db.session.scalar(select(FeedbackInvitation.token).where(FeedbackInvitation.enrolment_id == e.id))
        feedback.submit(e.user, token, _answer_form(feedback.get_survey(e.user, token), text=evil))
    args = {"from": (run.starts_on - timedelta(days=1)).isoformat(), "to": run.ends_on.isoformat()}
    login(client, admin)
    book = load_workbook(io.BytesIO(client.get("/reports/export.xlsx", query_string=args).data))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@"))]
    # still there, readable, with the apostrophe a spreadsheet shows as text
    assert texts.count("'" + evil) >= metrics.MIN_ANSWERS + 2  # the comments, the course, the trainer


def test_control_characters_in_typed_text_do_not_break_the_workbook(app, client, factory):
    """A comment pasted from Word carries a vertical tab for each soft line break (and other text may carry
    control characters): openpyxl refused the whole workbook (a 500 for every reader of the report). The
    break becomes a line break, characters no spreadsheet holds are dropped, the rest is kept."""
    import io

    from openpyxl import load_workbook

    trainer, admin = factory.trainer(name="Trainer Wu"), factory.admin()
    run, enrolments = _ended_run(factory, trainer, n=metrics.MIN_ANSWERS)
    feedback.send_due_surveys()
    for e in enrolments:
        token = db.session.scalar(select(FeedbackInvitation.token).where(FeedbackInvitation.enrolment_id == e.id))
        feedback.submit(
            e.user, token, _answer_form(feedback.get_survey(e.user, token), text="Line one\x0bline two\x07")
        )
    args = {"from": (run.starts_on - timedelta(days=1)).isoformat(), "to": run.ends_on.isoformat()}
    login(client, admin)
    response = client.get("/reports/export.xlsx", query_string=args)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    names = [n.split(" ")[0] for n in book.sheetnames]
    comments = [r[4] for r in book.worksheets[names.index("Comments")].iter_rows(min_row=2, values_only=True)]
    assert comments == ["Line one\nline two"] * metrics.MIN_ANSWERS
    trainers = [r[0] for r in book.worksheets[names.index("Trainers")].iter_rows(min_row=2, values_only=True)]
    assert trainers == ["Trainer Wu"]
