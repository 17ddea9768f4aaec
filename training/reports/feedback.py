"""Feedback after each run: the survey, who may answer (once), and the results.

Rules:
- When a run's last meeting (not cancelled) has ended, each confirmed trainee
  is invited once (``send_due_surveys``, idempotent: one invitation per
  enrolment, a unique key) by e-mail and on "My training"; the survey stays
  open for ``OPEN_DAYS`` days after that meeting.
- Answers are anonymous: a response holds the run and the answers, never the
  person or the invitation; the invitation only records that it was used
  (so nobody answers twice).
- Results (per run, course and trainer) are shown to trainers only from
  ``metrics.MIN_ANSWERS`` answers; admins see everything.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, Select, Subquery, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..catalogue.models import Course, Meeting, Run, RunStatus
from ..content_i18n import localized
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..figures import metrics
from ..figures.metrics import Scope
from ..permissions import Viewer, can, is_admin
from ..types import org_today, utcnow

if TYPE_CHECKING:
    from ..accounts.models import User
from .models import FeedbackAnswer, FeedbackInvitation, FeedbackQuestion, FeedbackResponse, FeedbackStat, QuestionKind

OPEN_DAYS = 14
TEXT_MAX = 2000
QUESTION_MAX = 300

DEFAULT_QUESTIONS = [
    (QuestionKind.rating, "The content was relevant to my work.", "课程内容与我的工作相关。"),
    (QuestionKind.rating, "The trainer explained things clearly.", "培训师讲解清楚。"),
    (QuestionKind.rating, "The hands-on exercises and equipment were good.", "实操练习和设备良好。"),
    (
        QuestionKind.rating,
        "The organisation (room, schedule, materials) was good.",
        "组织安排（场地、日程、资料）良好。",
    ),
    (
        QuestionKind.recommend,
        "How likely are you to recommend this course to a colleague?",
        "您向同事推荐本课程的可能性有多大？",
    ),
    (QuestionKind.text, "What should we keep, and what should we change?", "哪些地方值得保留，哪些需要改进？"),
]

KIND_LABELS = {
    QuestionKind.rating.value: _l("Rating 1–5"),
    QuestionKind.recommend.value: _l("Recommendation 0–10"),
    QuestionKind.text.value: _l("Free text"),
}


# --- the question set -------------------------------------------------------------


def _ensure_defaults() -> None:
    """Adds the default questions to an empty question set (in the caller's transaction)."""
    if db.session.scalar(select(func.count()).select_from(FeedbackQuestion)) == 0:
        for i, (kind, en, zh) in enumerate(DEFAULT_QUESTIONS):
            db.session.add(FeedbackQuestion(kind=kind.value, text_en=en, text_zh=zh, position=i))
        db.session.flush()


def question_set() -> list[FeedbackQuestion]:
    """Every question, general ones first, for the admin page (defaults added on first use)."""
    _ensure_defaults()
    db.session.commit()
    return list(
        db.session.scalars(
            select(FeedbackQuestion)
            .options(selectinload(FeedbackQuestion.course))
            .order_by(
                FeedbackQuestion.course_id.is_not(None),
                FeedbackQuestion.course_id,
                FeedbackQuestion.position,
                FeedbackQuestion.id,
            )
        )
    )


def questions_for(course_id: int) -> list[FeedbackQuestion]:
    """The active questions of a course's survey: general ones, then the course's own."""
    return list(
        db.session.scalars(
            select(FeedbackQuestion)
            .where(
                FeedbackQuestion.active.is_(True),
                (FeedbackQuestion.course_id.is_(None)) | (FeedbackQuestion.course_id == course_id),
            )
            .order_by(FeedbackQuestion.course_id.is_not(None), FeedbackQuestion.position, FeedbackQuestion.id)
        )
    )


def _question_fields(data: Mapping[str, Any]) -> tuple[str, str]:
    en = str(data.get("text_en") or "").strip()
    zh = str(data.get("text_zh") or "").strip()
    if not en or not zh:
        raise ValidationFailed(
            _("Write the question in English and in Chinese."), fields={"text_en" if not en else "text_zh": "required"}
        )
    if len(en) > QUESTION_MAX or len(zh) > QUESTION_MAX:
        raise ValidationFailed(
            _("A question has at most %(n)s characters.", n=QUESTION_MAX), fields={"text_en": "too long"}
        )
    return en, zh


def add_question(actor: User, data: Mapping[str, Any]) -> FeedbackQuestion:
    """Admins add a rating or free-text question, general or for one course."""
    from ..audit import record

    kind = str(data.get("kind") or "")
    if kind not in (QuestionKind.rating.value, QuestionKind.text.value):
        raise ValidationFailed(_("A new question is a rating or a free-text question."), fields={"kind": "unknown"})
    en, zh = _question_fields(data)
    course_id = data.get("course_id") or None
    if course_id is not None:
        if not str(course_id).isdigit() or db.session.get(Course, int(course_id)) is None:
            raise ValidationFailed(_("No such course."), fields={"course_id": "unknown"})
        course_id = int(course_id)
    _ensure_defaults()
    position = (db.session.scalar(select(func.max(FeedbackQuestion.position))) or 0) + 1
    question = FeedbackQuestion(kind=kind, text_en=en, text_zh=zh, course_id=course_id, position=position)
    db.session.add(question)
    db.session.flush()
    record(actor, "feedback.question_add", question, en)
    db.session.commit()
    return question


def update_question(actor: User, question_id: int, data: Mapping[str, Any]) -> FeedbackQuestion:
    """Admins change a question's wording or switch it off (answers already given are kept)."""
    from ..audit import record

    question = db.session.get(FeedbackQuestion, question_id)
    if question is None:
        raise NotFound(_("No such question."))
    en, zh = _question_fields(data)
    active = str(data.get("active", "")).lower() in ("1", "y", "on", "true", "yes")
    if question.kind == QuestionKind.recommend.value and not active:
        raise Conflict(_("The recommendation question is always asked."), code="required_question")
    changes = [
        f"{k}: {getattr(question, k)!r} -> {v!r}"
        for k, v in (("text_en", en), ("text_zh", zh), ("active", active))
        if getattr(question, k) != v
    ]
    question.text_en, question.text_zh, question.active = en, zh, active
    if changes:
        record(actor, "feedback.question_update", question, "; ".join(changes))
    db.session.commit()
    return question


# --- invitations -----------------------------------------------------------------------


def _last_meeting_end() -> Subquery:
    return (
        select(Meeting.run_id.label("run_id"), func.max(Meeting.ends_at).label("ended"))
        .where(metrics.meeting_counts())
        .group_by(Meeting.run_id)
        .subquery()
    )


def send_due_surveys(now: datetime | None = None) -> int:
    """Invite every confirmed trainee of runs whose last meeting ended in the
    last OPEN_DAYS days and who has no invitation yet; returns how many were
    invited. Safe to run as often as you like, also twice at once."""
    from .. import mail
    from ..urls import external_url, require_public_base_url

    now = now or utcnow()
    last = _last_meeting_end()
    due = list(
        db.session.execute(
            select(Enrolment, last.c.ended)
            .join(Run, Run.id == Enrolment.run_id)
            .join(last, last.c.run_id == Enrolment.run_id)
            .where(
                Run.status != RunStatus.cancelled.value,
                Enrolment.status == EnrolmentStatus.confirmed.value,
                last.c.ended <= now,
                last.c.ended > now - timedelta(days=OPEN_DAYS),
                ~select(FeedbackInvitation.id).where(FeedbackInvitation.enrolment_id == Enrolment.id).exists(),
            )
            .options(selectinload(Enrolment.user), selectinload(Enrolment.run).selectinload(Run.course))
        )
    )
    if not due:
        return 0
    require_public_base_url()  # links are needed: refuse before any change when there is no base for them
    _ensure_defaults()
    invited: dict[int, int] = {}
    for enrolment, ended in due:
        invited[enrolment.run_id] = invited.get(enrolment.run_id, 0) + 1
        invitation = FeedbackInvitation(
            enrolment_id=enrolment.id,
            run_id=enrolment.run_id,
            token=secrets.token_urlsafe(24),
            sent_at=now,
            closes_at=ended + timedelta(days=OPEN_DAYS),
        )
        db.session.add(invitation)
        link = external_url("reports.survey", survey_token=invitation.token)
        title = localized(enrolment.run.course, "title", enrolment.user.locale or "en")  # in the reader's language
        mail.queue(
            mail.build(
                enrolment.user.email,
                _l("How was %(course)s? Two minutes of feedback"),
                "feedback_invitation",
                locale=enrolment.user.locale,
                user=enrolment.user,
                run=enrolment.run,
                course=title,
                link=link,
                closes_at=invitation.closes_at,
                subject_args={"course": title},
            )
        )
    _bump([{"run_id": run_id, "question_id": 0, "invited": n} for run_id, n in invited.items()])
    try:
        db.session.commit()
    except IntegrityError:
        # Another sender invited some of them at the same moment: they are invited once, by it.
        db.session.rollback()
        return 0
    return len(due)


def open_surveys(user: Viewer, now: datetime | None = None) -> list[FeedbackInvitation]:
    """The user's surveys still waiting for an answer (for "My training")."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(FeedbackInvitation)
            .join(Enrolment, Enrolment.id == FeedbackInvitation.enrolment_id)
            .where(
                Enrolment.user_id == user.id,
                FeedbackInvitation.answered_at.is_(None),
                FeedbackInvitation.closes_at > now,
            )
            .options(selectinload(FeedbackInvitation.run).selectinload(Run.course))
            .order_by(FeedbackInvitation.closes_at)
        )
    )


@dataclass
class Survey:
    invitation: FeedbackInvitation
    questions: list[FeedbackQuestion]
    now: datetime

    @property
    def is_open(self) -> bool:
        return self.invitation.answered_at is None and self.invitation.closes_at > self.now

    @property
    def answered(self) -> bool:
        return self.invitation.answered_at is not None


def get_survey(user: Viewer, survey_token: str, now: datetime | None = None) -> Survey:
    """The survey behind an invitation, for the invited trainee only (a 404
    for anyone else, so a forwarded link is no use)."""
    invitation = db.session.scalar(
        select(FeedbackInvitation)
        .where(FeedbackInvitation.token == survey_token[:64])
        .options(selectinload(FeedbackInvitation.run).selectinload(Run.course))
    )
    if invitation is None:
        raise NotFound(_("No such survey."))
    enrolment = db.session.get(Enrolment, invitation.enrolment_id)
    if enrolment is None or not can(user, "answer_feedback", enrolment):
        raise NotFound(_("No such survey."))
    return Survey(invitation, questions_for(invitation.run.course_id), now or utcnow())


def _rating(raw: object, low: int, high: int, name: str) -> int | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ValidationFailed(
            _("Choose a value from %(low)s to %(high)s.", low=low, high=high), fields={name: "out of range"}
        )
    return int(text)


def submit(
    user: Viewer, survey_token: str, form: Mapping[str, Any], *, locale: str = "en", now: datetime | None = None
) -> None:
    """Record one anonymous answer; a second answer (or one after the survey
    closed) is refused with 409 and changes nothing."""
    survey = get_survey(user, survey_token, now)
    now = survey.now
    if survey.answered:
        raise Conflict(_("You have already answered this survey. Thank you!"), code="already_answered")
    if not survey.is_open:
        raise Conflict(_("This survey has closed."), code="survey_closed")
    # The organisation's date, as every date a report shows (in Shanghai the UTC date is yesterday's until 08:00).
    answered_on = org_today(now)
    response = FeedbackResponse(run_id=survey.invitation.run_id, submitted_on=answered_on)
    answered = 0
    for question in survey.questions:
        name = f"q{question.id}"
        if question.kind == QuestionKind.recommend.value:
            response.recommend = _rating(form.get(name), 0, 10, name)
            answered += response.recommend is not None
        elif question.kind == QuestionKind.rating.value:
            value = _rating(form.get(name), 1, 5, name)
            if value is not None:
                response.answers.append(FeedbackAnswer(question_id=question.id, rating=value))
                answered += 1
        else:
            text = str(form.get(name) or "").strip()
            if len(text) > TEXT_MAX:
                raise ValidationFailed(_("At most %(n)s characters.", n=TEXT_MAX), fields={name: "too long"})
            if text:
                response.answers.append(FeedbackAnswer(question_id=question.id, text=text))
                answered += 1
    if not answered:
        raise ValidationFailed(_("Answer at least one question."), fields={})
    # The marker first, conditionally: of two answers at once, one finds it already set.
    # The day only, and the same day as the response's, so the two cannot be paired by the hour.
    day = datetime.combine(answered_on, time(0), UTC)
    used = cast(  # an UPDATE hands back a CursorResult, which has the row count
        CursorResult[Any],
        db.session.execute(
            update(FeedbackInvitation)
            .where(FeedbackInvitation.id == survey.invitation.id, FeedbackInvitation.answered_at.is_(None))
            .values(answered_at=day)
        ),
    ).rowcount
    if used != 1:
        db.session.rollback()
        raise Conflict(_("You have already answered this survey. Thank you!"), code="already_answered")
    db.session.add(response)
    _bump(
        [
            {
                "run_id": response.run_id,
                "question_id": 0,
                "answers": 1,
                "total": response.recommend or 0,
                "counted": int(response.recommend is not None),
            }
        ]
        + [
            {"run_id": response.run_id, "question_id": a.question_id, "answers": 1, "total": a.rating}
            for a in response.answers
            if a.rating is not None
        ]
    )
    db.session.commit()


# --- counts kept with the answers --------------------------------------------------------------

STAT_COUNTS = ("invited", "answers", "total", "counted")


def _bump(rows: list[dict[str, int]]) -> None:
    """Add to the FeedbackStat rows (created at 0), in the caller's transaction."""
    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same on-conflict API
    table = FeedbackStat.__table__
    merged: dict[tuple[int, int], dict[str, int]] = {}
    for row in rows:
        into = merged.setdefault((row["run_id"], row["question_id"]), dict.fromkeys(STAT_COUNTS, 0))
        for name in STAT_COUNTS:
            into[name] += int(row.get(name, 0))
    for (run_id, question_id), counts in sorted(merged.items()):
        statement = insert(table).values(run_id=run_id, question_id=question_id, **counts)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["run_id", "question_id"],
                set_={name: getattr(table.c, name) + getattr(statement.excluded, name) for name in STAT_COUNTS},
            )
        )


REBUILD_SQL = (
    "DELETE FROM feedback_stats",
    """INSERT INTO feedback_stats (run_id, question_id, invited, answers, total, counted)
       SELECT r.id, 0,
              (SELECT count(*) FROM feedback_invitations i WHERE i.run_id = r.id),
              (SELECT count(*) FROM feedback_responses f WHERE f.run_id = r.id),
              (SELECT coalesce(sum(f.recommend), 0) FROM feedback_responses f WHERE f.run_id = r.id),
              (SELECT count(f.recommend) FROM feedback_responses f WHERE f.run_id = r.id)
       FROM runs r
       WHERE EXISTS (SELECT 1 FROM feedback_invitations i WHERE i.run_id = r.id)
          OR EXISTS (SELECT 1 FROM feedback_responses f WHERE f.run_id = r.id)""",
    """INSERT INTO feedback_stats (run_id, question_id, invited, answers, total, counted)
       SELECT f.run_id, a.question_id, 0, count(*), sum(a.rating), 0
       FROM feedback_answers a JOIN feedback_responses f ON f.id = a.response_id
       WHERE a.rating IS NOT NULL GROUP BY f.run_id, a.question_id""",
)


def rebuild_stats() -> int:
    """Recompute every FeedbackStat row from the invitations and answers (one unit of work)."""
    from sqlalchemy import text

    for sql in REBUILD_SQL:
        db.session.execute(text(sql))
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(FeedbackStat)) or 0


# --- results ------------------------------------------------------------------------------


@dataclass
class Stat:
    """Feedback of one run, course or trainer, or of the whole scope."""

    label: str = ""
    invited: int = 0
    answers: int = 0
    recommend_sum: float = 0.0
    recommend_n: int = 0
    min_answers: int = metrics.MIN_ANSWERS
    key: RunRef | Course | User | None = None  # the run, course or trainer the figures are of

    @property
    def response_rate(self) -> float | None:
        return metrics.rate(self.answers, self.invited)

    @property
    def satisfaction(self) -> float | None:
        return self.recommend_sum / self.recommend_n if self.recommend_n else None


@dataclass
class QuestionStat:
    question: FeedbackQuestion
    answers: int
    mean: float | None


@dataclass
class Comment:
    run: RunRef
    question: FeedbackQuestion
    text: str
    submitted_on: date


@dataclass
class Overview:
    total: Stat
    runs: list[Stat] = field(default_factory=list)
    courses: list[Stat] = field(default_factory=list)
    trainers: list[Stat] = field(default_factory=list)
    questions: list[QuestionStat] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    viewer: object = None

    def shown(self, stat: Stat) -> bool:
        return can(self.viewer, "view_feedback", stat)


@dataclass
class RunRef:
    """What the results show of a run: loaded as plain columns, since a
    report over years holds thousands of runs."""

    id: int
    course: Course
    starts_on: date
    trainers: list[User] = field(default_factory=list)


def _run_refs(ids: Select[int], wanted: set[int]) -> dict[int, RunRef]:
    """The runs ``wanted`` among the runs ``ids`` (a subquery), with their course and trainers, in three queries."""
    from ..accounts.models import User
    from ..catalogue.models import run_trainers

    if not wanted:
        return {}
    rows = [
        r
        for r in db.session.execute(select(Run.id, Run.course_id, Run.starts_on).where(Run.id.in_(ids)))
        if r[0] in wanted
    ]
    courses = {c.id: c for c in db.session.scalars(select(Course).where(Course.id.in_({r[1] for r in rows})))}
    refs = {run_id: RunRef(run_id, courses[course_id], starts_on) for run_id, course_id, starts_on in rows}
    pairs = [
        (r, u)
        for r, u in db.session.execute(
            select(run_trainers.c.run_id, run_trainers.c.user_id).where(run_trainers.c.run_id.in_(ids))
        )
        if r in refs
    ]
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({u for _r, u in pairs})))} if pairs else {}
    )
    for run_id, user_id in sorted(pairs):
        refs[run_id].trainers.append(users[user_id])
    return refs


def overview(viewer: Viewer, scope: Scope, *, comments_limit: int = 500) -> Overview:
    """Feedback of the runs in scope, from the counts kept with the answers
    (FeedbackStat) and the latest free-text answers. Coordinators get
    nothing (answers carry no company); trainers see only what ``can`` shows."""
    if not (is_admin(viewer) or getattr(viewer, "role", None) == "trainer"):
        return Overview(Stat(), viewer=viewer)
    ids = metrics.run_ids(scope)
    invited: dict[int, int] = {}
    answered: dict[int, tuple[int, float, int]] = {}
    for run_id, n_invited, n, rating_total, counted in db.session.execute(
        select(
            FeedbackStat.run_id, FeedbackStat.invited, FeedbackStat.answers, FeedbackStat.total, FeedbackStat.counted
        ).where(FeedbackStat.run_id.in_(ids), FeedbackStat.question_id == 0)
    ):
        if n_invited:
            invited[run_id] = n_invited
        if n:
            answered[run_id] = (n, float(rating_total), counted)
    run_ids = set(invited) | set(answered)
    runs = _run_refs(ids, run_ids)
    total = Stat()
    by_run: dict[int, Stat] = {}
    by_course: dict[int, Stat] = {}
    by_trainer: dict[int, Stat] = {}
    for run_id, run in runs.items():
        n, s, rn = answered.get(run_id, (0, 0.0, 0))
        groups: list[Stat] = [
            total,
            by_run.setdefault(run_id, Stat(f"{run.course.code} {run.starts_on}", key=run)),
            by_course.setdefault(run.course.id, Stat(f"{run.course.code} {run.course.title}", key=run.course)),
        ]
        for trainer in run.trainers:
            if scope.trainer_id is None or trainer.id == scope.trainer_id:
                groups.append(by_trainer.setdefault(trainer.id, Stat(trainer.display_name, key=trainer)))
        for stat in groups:
            stat.invited += invited.get(run_id, 0)
            stat.answers += n
            stat.recommend_sum += s
            stat.recommend_n += rn
    questions: list[QuestionStat] = []
    if runs:
        per_question = (
            select(
                FeedbackStat.question_id.label("question_id"),
                func.sum(FeedbackStat.answers).label("n"),
                func.sum(FeedbackStat.total).label("total"),
            )
            .where(FeedbackStat.run_id.in_(ids), FeedbackStat.question_id != 0)
            .group_by(FeedbackStat.question_id)
            .subquery()
        )
        for question, count, rating_sum in db.session.execute(
            select(FeedbackQuestion, per_question.c.n, per_question.c.total)
            .join(per_question, per_question.c.question_id == FeedbackQuestion.id)
            .where(FeedbackQuestion.kind == QuestionKind.rating.value, per_question.c.n > 0)
            .order_by(FeedbackQuestion.course_id.is_not(None), FeedbackQuestion.position)
        ):
            questions.append(QuestionStat(question, int(count), float(rating_sum) / int(count)))
    comments: list[Comment] = []
    if runs and can(viewer, "view_feedback", total):
        for answer, run_id, day in db.session.execute(
            select(FeedbackAnswer, FeedbackResponse.run_id, FeedbackResponse.submitted_on)
            .join(FeedbackResponse, FeedbackResponse.id == FeedbackAnswer.response_id)
            .join(FeedbackQuestion, FeedbackQuestion.id == FeedbackAnswer.question_id)
            .where(
                FeedbackResponse.run_id.in_(ids),
                FeedbackQuestion.kind == QuestionKind.text.value,
                FeedbackAnswer.text != "",
            )
            .options(selectinload(FeedbackAnswer.question))
            .order_by(FeedbackResponse.submitted_on.desc(), FeedbackAnswer.id.desc())
            .limit(comments_limit)
        ):
            comments.append(Comment(runs[run_id], answer.question, answer.text, day))

    def order(stats: Iterable[Stat]) -> list[Stat]:
        return sorted(stats, key=lambda s: s.label.casefold())

    return Overview(
        total,
        order(by_run.values()),
        order(by_course.values()),
        order(by_trainer.values()),
        questions,
        comments,
        viewer,
    )
