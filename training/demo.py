"""A realistic smart-manufacturing demo: courses, trainers, runs with meetings
in the past and the future, trainees with Chinese and Latin names, attendance
and certificates on past runs. Loaded by ``flask demo load`` (and ``make run``).
"""

from __future__ import annotations

import random
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from .accounts.models import TrainerProfile, User
from .accounts.services import create_user, find_user_by_email
from .attendance.models import Attendance
from .catalogue.models import Category, Course, Meeting, Run
from .content_i18n import assign, original_language
from .demo_content import CATEGORIES, COURSES, RUN_NOTES, TRAINERS, VENUES
from .enrolment.models import Enrolment
from .extensions import db
from .types import org_today, utcnow

DEMO_PASSWORD = "demo-password-2026"
COURSE_FIELDS = ("title", "summary", "description", "outcomes", "prerequisites", "audience")

TRAINEES = [
    ("欧阳晓燕", "ouyang.xiaoyan"),
    ("王小明", "wang.xiaoming"),
    ("李娜", "li.na"),
    ("张伟", "zhang.wei"),
    ("刘洋", "liu.yang"),
    ("陈晨", "chen.chen"),
    ("赵磊", "zhao.lei"),
    ("孙丽", "sun.li"),
    ("周杰", "zhou.jie"),
    ("吴芳", "wu.fang"),
    ("Anna Schmidt", "anna.schmidt"),
    ("Lukas Weber", "lukas.weber"),
    ("Sofia Rossi", "sofia.rossi"),
    ("Mateo García", "mateo.garcia"),
    ("Emma Johnson", "emma.johnson"),
    ("Nguyễn Văn An", "nguyen.an"),
    ("Priya Sharma", "priya.sharma"),
    ("Jean-Luc Martin", "jeanluc.martin"),
    ("黄海涛", "huang.haitao"),
    ("郭静怡", "guo.jingyi"),
    ("马超", "ma.chao"),
    ("何雨桐", "he.yutong"),
]
COMPANIES = [
    "Suzhou Precision Parts Co.",
    "苏州精密零部件有限公司",
    "Ningbo Auto Components",
    "宁波汽车部件有限公司",
    "Rhein Maschinenbau GmbH",
    "Shenzhen Electronics Assembly",
    "Qingdao Heavy Industry",
]


def _meetings(start: date, days: int, tz: ZoneInfo) -> list[Meeting]:
    return [
        Meeting(
            starts_at=datetime.combine(start + timedelta(days=i), time(9, 0), tzinfo=tz),
            ends_at=datetime.combine(start + timedelta(days=i), time(17, 0), tzinfo=tz),
        )
        for i in range(days)
    ]


def load_demo(force: bool = False, seed: int = 2026) -> str:
    if not force and db.session.scalar(select(func.count()).select_from(Course)):
        return "Demo data already present: nothing loaded (use --force to add anyway)."
    from .urls import require_public_base_url

    require_public_base_url()  # its certificates carry links: refuse before writing anything, not half-way
    rng = random.Random(seed)
    today = org_today()  # the organisation's day: past and coming runs as its office counts them

    admin = find_user_by_email("admin@demo.smt-academy.cn") or create_user(
        email="admin@demo.smt-academy.cn",
        name="Training Office 培训办公室",
        password=DEMO_PASSWORD,
        role="admin",
        check_strength=False,
    )
    categories = {}
    for slug, names in CATEGORIES:
        category = db.session.scalar(select(Category).where(Category.slug == slug)) or Category(slug=slug)
        assign(category, {"name": names}, original="en")
        db.session.add(category)
        categories[slug] = category

    trainers = []
    for spec in TRAINERS:
        user = find_user_by_email(spec["email"]) or create_user(
            email=spec["email"],
            name=spec["name"],
            password=DEMO_PASSWORD,
            role="trainer",
            check_strength=False,
            commit=False,
            locale=spec["original"],
        )
        profile = user.trainer_profile or TrainerProfile()
        profile.organisation, profile.expertise = spec["organisation"], spec["expertise"]
        assign(profile, {"title": spec["title"], "bio": spec["bio"]}, original=spec["original"])
        user.trainer_profile = profile
        trainers.append(user)

    trainees = []
    for i, (name, handle) in enumerate(TRAINEES):
        email = f"{handle}@demo.smt-academy.cn"
        user = find_user_by_email(email) or create_user(
            email=email,
            name=name,
            password=DEMO_PASSWORD,
            role="trainee",
            check_strength=False,
            commit=False,
            company=COMPANIES[i % len(COMPANIES)],
            locale="zh" if any(ord(c) > 0x2E80 for c in name) else "en",
        )
        trainees.append(user)
    db.session.flush()

    trainer_for = {"plc": 0, "robotics": 1, "mes": 2, "iiot": 3, "vision": 4, "additive": 1, "safety": 5, "lean": 2}
    courses = []
    for course_spec in COURSES:
        if db.session.scalar(select(Course).where(Course.code == course_spec["code"])):
            continue
        course = Course(
            code=course_spec["code"],
            category=categories[course_spec["category"]],
            level=course_spec["level"],
            hours=course_spec["hours"],
            language=course_spec["language"],
            validity_months=course_spec["validity_months"],
            published=True,
            min_attendance_pct=80,
        )
        assign(course, {name: course_spec[name] for name in COURSE_FIELDS}, original=course_spec["original"])
        db.session.add(course)
        courses.append((course, trainers[trainer_for[course_spec["category"]]]))
    db.session.flush()

    past_runs = []
    for index, (course, trainer) in enumerate(courses):
        city, tz_name, venue_original, venue = VENUES[index % len(VENUES)]
        tz = ZoneInfo(tz_name)
        days = max(1, min(3, int(course.hours // 8)))
        # One past run for most courses, one or two upcoming ones for all.
        starts = [today - timedelta(days=40 + 7 * (index % 5))] if index % 4 != 3 else []
        starts += [today + timedelta(days=10 + 9 * index % 60), today + timedelta(days=45 + 11 * index % 50)]
        for n, start in enumerate(starts):
            run = Run(
                course=course,
                starts_on=start,
                ends_on=start + timedelta(days=days - 1),
                timezone=tz_name,
                city=city,
                status="open",
                mode="online" if index % 5 == 4 else ("blended" if index % 7 == 6 else "in_person"),
                capacity=[12, 16, 20, 8][(index + n) % 4],
                requires_approval=(index == 5 and n == 2),
            )
            notes = RUN_NOTES[run.mode] if n == 0 else {"en": "", "zh": ""}
            if run.mode == "online":  # no room; the notes were written in the course's language
                run.city = ""
                assign(run, {"notes": notes}, original=original_language(course))
            else:
                assign(run, {"location": venue, "notes": notes}, original=venue_original)
            run.trainers = [trainer] + (
                [trainers[(trainer_for["iiot"] + index) % len(trainers)]]
                if index % 3 == 0 and trainers[(trainer_for["iiot"] + index) % len(trainers)] != trainer
                else []
            )
            run.meetings = _meetings(start, days, tz)
            db.session.add(run)
            if start < today:
                past_runs.append(run)
            else:
                # Some upcoming runs are nearly full; one is full with a waitlist.
                take = rng.sample(
                    trainees,
                    k=min(
                        len(trainees),
                        run.capacity + (2 if index == 1 and n == 1 else 0)
                        if index in (1, 4)
                        else rng.randint(2, run.capacity - 2),
                    ),
                )
                for k, user in enumerate(take):
                    full = k >= run.capacity
                    db.session.add(
                        Enrolment(
                            run=run,
                            user=user,
                            source="self",
                            company=user.company,
                            status="waitlisted" if full else "confirmed",
                            confirmed_at=None if full else utcnow(),
                            waitlisted_at=utcnow() + timedelta(seconds=k) if full else None,
                        )
                    )
    db.session.flush()

    # Past runs: enrolments, attendance at every meeting, and certificates through the real rule.
    for run in past_runs:
        enrolled = rng.sample(trainees, k=min(run.capacity, rng.randint(5, 9)))
        if trainees[0] not in enrolled:
            enrolled[0] = trainees[0]  # 欧阳晓燕 has a certificate to show
        trainer = run.trainers[0]
        for user in enrolled:
            enrolment = Enrolment(
                run=run,
                user=user,
                status="confirmed",
                source="self",
                company=user.company,
                confirmed_at=datetime.combine(run.starts_on, time(0), UTC) - timedelta(days=rng.randint(5, 30)),
            )
            db.session.add(enrolment)
            db.session.flush()
            weak = user is not trainees[0] and rng.random() < 0.15
            for meeting in run.meetings:
                status = (
                    rng.choice(["absent", "present"])
                    if weak
                    else rng.choices(["present", "late", "excused"], weights=[88, 9, 3])[0]
                )
                marked_at = meeting.starts_at + timedelta(minutes=20)
                db.session.add(
                    Attendance(
                        enrolment_id=enrolment.id,
                        meeting_id=meeting.id,
                        status=status,
                        marked_by_id=trainer.id,
                        marked_at=marked_at,
                        recorded_at=marked_at,
                    )
                )
        # The trainer signed every register off at the end of its meeting.
        for meeting in run.meetings:
            meeting.finalised_at, meeting.finalised_by_id = meeting.ends_at, trainer.id
    from .qualifications.demo import load_grants, load_plant

    plant = load_plant(admin, trainees, DEMO_PASSWORD, random.Random(seed + 14))  # issue 14: skills, positions
    db.session.commit()

    from .certificates.services import issue_for_run

    issued = 0
    for run in past_runs:
        issued += len(issue_for_run(admin, run.id)["issued"])
    _demo_feedback(past_runs, rng)
    load_grants(plant, random.Random(seed + 15))  # issue 14: assessments on top of the certificates' grants

    companies = _load_companies(today)

    return (
        f"Loaded {len(courses)} courses, {len(trainers)} trainers, {len(trainees)} trainees, "
        f"{len(past_runs)} past runs with {issued} certificates, {companies} member companies.\n"
        f"Demo logins (password: {DEMO_PASSWORD}):\n"
        f"  admin        admin@demo.smt-academy.cn\n"
        f"  trainer      {TRAINERS[0]['email']}\n"
        f"  trainee      ouyang.xiaoyan@demo.smt-academy.cn\n"
        f"  coordinator  {MEMBER_COMPANIES[0]['coordinator'][0]}\n"
        f"  assessor     assessor@demo.smt-academy.cn"
    )


DEMO_COMMENTS = [
    "The hands-on exercises on the real line were the best part.",
    "实操环节很有帮助，希望能多一些练习时间。",
    "Clear explanations; the second day was a bit rushed.",
    "培训师讲解清楚，案例贴近我们工厂的实际情况。",
    "More time on troubleshooting, please.",
    "课程资料很好，建议提前发给学员预习。",
]


def _demo_feedback(past_runs, rng) -> None:
    """Feedback on the past runs: most trainees answered, a few left a comment."""
    from .reports import feedback
    from .reports.models import FeedbackAnswer, FeedbackInvitation, FeedbackResponse

    feedback.question_set()  # the default questions
    for run in past_runs:
        questions = feedback.questions_for(run.course_id)
        ended = max(m.ends_at for m in run.meetings)
        bias = rng.choice([0, 1, 1, 2])  # some runs went better than others
        enrolments = db.session.scalars(
            select(Enrolment).where(Enrolment.run_id == run.id, Enrolment.status == "confirmed")
        ).all()
        for enrolment in enrolments:
            answered = rng.random() < 0.8
            day = (ended + timedelta(days=rng.randint(0, 5))).date()
            db.session.add(
                FeedbackInvitation(
                    enrolment_id=enrolment.id,
                    run_id=run.id,
                    token=secrets.token_urlsafe(24),
                    sent_at=ended,
                    closes_at=ended + timedelta(days=feedback.OPEN_DAYS),
                    answered_at=datetime.combine(day, time(0), UTC) if answered else None,
                )
            )
            if not answered:
                continue
            response = FeedbackResponse(
                run_id=run.id,
                submitted_on=day,
                recommend=min(10, max(0, rng.choice([6, 7, 8, 8, 9, 9, 10, 10]) - bias + 1)),
            )
            for question in questions:
                if question.kind == "rating":
                    response.answers.append(
                        FeedbackAnswer(
                            question_id=question.id, rating=min(5, max(1, rng.choice([3, 4, 4, 5, 5]) - bias + 1))
                        )
                    )
                elif question.kind == "text" and rng.random() < 0.3:
                    response.answers.append(FeedbackAnswer(question_id=question.id, text=rng.choice(DEMO_COMMENTS)))
            db.session.add(response)
    db.session.commit()


# Member companies (issue 15): code, names, credit code, the free-text spellings of their people, a coordinator,
# staff without a password yet (they set one through the invitation), and seats to reserve on upcoming runs.


class CompanySpec(TypedDict):
    code: str
    name: str
    name_zh: str
    credit_code: str
    tier: str
    address: str
    spellings: tuple[str, ...]  # free-text company names of users that become this company
    coordinator: tuple[str, str]  # e-mail, name
    staff: list[tuple[str, str]]
    seats: int


MEMBER_COMPANIES: list[CompanySpec] = [
    {
        "code": "SZPP",
        "name": "Suzhou Precision Parts Co., Ltd.",
        "name_zh": "苏州精密零部件有限公司",
        "credit_code": "91320594MA1MXK7Q2L",
        "tier": "founding",
        "address": "88 Xinghu Street, Suzhou Industrial Park, Jiangsu 苏州工业园区星湖街 88 号",
        "spellings": ("Suzhou Precision Parts Co.", "苏州精密零部件有限公司"),
        "coordinator": ("zhou.hong@demo.smt-academy.cn", "周红"),
        "staff": [
            ("sun.qiang@szpp.example.cn", "孙强"),
            ("he.li@szpp.example.cn", "何丽"),
            ("tang.jun@szpp.example.cn", "唐军"),
        ],
        "seats": 4,
    },
    {
        "code": "RHEIN-SZ",
        "name": "Rhein Maschinenbau (Suzhou) Co., Ltd.",
        "name_zh": "莱茵机械（苏州）有限公司",
        "credit_code": "91320500MA1P8RHN3X",
        "tier": "member",
        "address": "15 Tinglan Lane, Suzhou New District 苏州高新区汀兰巷 15 号",
        "spellings": ("Rhein Maschinenbau GmbH",),
        "coordinator": ("katrin.vogel@demo.smt-academy.de", "Katrin Vogel"),
        "staff": [("lukas.brandt@rhein-sz.example.com", "Lukas Brandt"), ("xu.tao@rhein-sz.example.com", "徐涛")],
        "seats": 3,
    },
    {
        "code": "SZEA",
        "name": "Shenzhen Electronics Assembly Ltd.",
        "name_zh": "深圳电子组装有限公司",
        "credit_code": "91440300MA5F2EMS8K",
        "tier": "associate",
        "address": "Building 6, Bao'an Industrial Zone, Shenzhen 深圳市宝安工业区 6 栋",
        "spellings": ("Shenzhen Electronics Assembly",),
        "coordinator": ("lin.na@demo.smt-academy.cn", "林娜"),
        "staff": [("deng.hui@szea.example.cn", "邓辉"), ("priya.nair@szea.example.com", "Priya Nair")],
        "seats": 2,
    },
]


def _load_companies(today: date) -> int:
    """Three member companies with coordinators, staff, their history and reserved seats."""
    from .catalogue.models import SeatAllocation
    from .catalogue.seats import seat_counts
    from .companies.models import Company, name_key

    upcoming = list(
        db.session.scalars(
            select(Run)
            .where(Run.starts_on > today + timedelta(days=7), Run.status == "open")
            .order_by(Run.starts_on, Run.id)
        )
    )
    for index, spec in enumerate(MEMBER_COMPANIES):
        if db.session.scalar(select(Company).where(Company.code == spec["code"])):
            continue
        company = Company(
            code=spec["code"],
            name=spec["name"],
            name_zh=spec["name_zh"],
            credit_code=spec["credit_code"],
            tier=spec["tier"],
            address=spec["address"],
            contact_name=spec["coordinator"][1],
            contact_email=spec["coordinator"][0],
            contact_phone="",
            reviewed=True,
        )
        db.session.add(company)
        db.session.flush()
        keys = {name_key(s) for s in spec["spellings"]}
        for user in db.session.scalars(select(User).where(User.company.is_not(None), User.company_id.is_(None))):
            if name_key(user.company) in keys:
                user.company_id = company.id
        db.session.flush()
        for enrolment in db.session.scalars(
            select(Enrolment).join(User, User.id == Enrolment.user_id).where(User.company_id == company.id)
        ):
            enrolment.company_id = company.id  # they enrolled while in the company
        email, name = spec["coordinator"]
        coordinator = find_user_by_email(email) or create_user(
            email=email,
            name=name,
            password=DEMO_PASSWORD,
            role="coordinator",
            check_strength=False,
            commit=False,
            locale="zh" if any(ord(c) > 0x2E80 for c in name) else "en",
        )
        coordinator.company_id = company.id
        for staff_email, staff_name in spec["staff"]:
            person = find_user_by_email(staff_email) or create_user(
                email=staff_email,
                name=staff_name,
                password=None,
                role="trainee",
                commit=False,
                locale="zh" if any(ord(c) > 0x2E80 for c in staff_name) else "en",
            )
            person.company_id = company.id
        db.session.flush()
        for n, run in enumerate(upcoming[index::3][:2]):
            seats = min(spec["seats"], seat_counts(run).public)
            if seats > 0:
                starts = min(m.starts_at for m in run.meetings)
                db.session.add(
                    SeatAllocation(
                        run_id=run.id,
                        company_id=company.id,
                        seats=seats,
                        overflow=n == 0,
                        released_seats=0,
                        release_at=starts - timedelta(days=7),
                    )
                )
                db.session.flush()
    db.session.commit()
    return len(MEMBER_COMPANIES)
