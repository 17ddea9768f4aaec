from sqlalchemy import func, select

from training.catalogue.models import Course, Run
from training.certificates.models import Certificate
from training.extensions import db


def test_demo_load_builds_a_realistic_platform(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "admin@demo.smt-academy.cn" in result.output
    assert db.session.scalar(select(func.count()).select_from(Course)) >= 12
    assert db.session.scalar(select(func.count()).select_from(Run)) >= 20
    holders = set(db.session.scalars(select(Certificate.holder_name)))
    assert "欧阳晓燕" in holders
    # A second load changes nothing.
    again = runner.invoke(args=["demo", "load"])
    assert "already present" in again.output


def test_demo_has_three_member_companies_with_coordinators_staff_and_reserved_seats(runner):
    from training.accounts.models import User
    from training.catalogue.models import SeatAllocation
    from training.catalogue.seats import seat_counts
    from training.companies.models import Company

    result = runner.invoke(args=["demo", "load"])
    assert "zhou.hong@demo.smt-academy.cn" in result.output
    companies = list(db.session.scalars(select(Company).order_by(Company.code)))
    assert [c.code for c in companies] == ["RHEIN-SZ", "SZEA", "SZPP"]
    for company in companies:
        people = list(db.session.scalars(select(User).where(User.company_id == company.id)))
        assert sum(p.role == "coordinator" for p in people) == 1 and len(people) >= 4
        allocations = list(db.session.scalars(select(SeatAllocation).where(SeatAllocation.company_id == company.id)))
        assert allocations
        for allocation in allocations:
            counts = seat_counts(allocation.run)
            assert counts.confirmed + counts.held <= allocation.run.capacity


def test_demo_content_is_written_in_both_languages_with_a_few_on_purpose_in_one(runner):
    """Issue 18: every course, category, room and trainer in English and Chinese, none mixing the two
    in one text; a few deliberately in one language so the fallback marker shows."""
    import re

    from training.accounts.models import TrainerProfile
    from training.catalogue.models import Category
    from training.content_i18n import original_language, texts

    runner.invoke(args=["demo", "load"])
    cjk = re.compile(r"[\u3400-\u9fff]")
    fields = ("title", "summary", "description", "outcomes", "prerequisites", "audience")
    courses = list(db.session.scalars(select(Course)))
    one_language = {}
    for course in courses:
        for field in fields:
            by_lang = texts(course, field)
            assert not cjk.search(by_lang["en"]), (course.code, field, by_lang["en"])
            assert not by_lang["zh"] or cjk.search(by_lang["zh"]), (course.code, field)
            missing = [lang for lang, text in by_lang.items() if not text.strip()]
            if missing:
                one_language.setdefault(course.code, set()).update(missing)
    assert one_language == {"MES-240": {"en"}, "FS-300": {"zh"}}
    assert {original_language(c) for c in courses} == {"en", "zh"}
    assert original_language(db.session.scalar(select(Course).where(Course.code == "PLC-101"))) == "zh"
    assert original_language(db.session.scalar(select(Course).where(Course.code == "ROB-230"))) == "en"
    for category in db.session.scalars(select(Category)):
        names = texts(category, "name")
        assert names["en"] and cjk.search(names["zh"]) and not cjk.search(names["en"])
    profiles = list(db.session.scalars(select(TrainerProfile)))
    assert len(profiles) == 6
    for profile in profiles:
        titles = texts(profile, "title")
        assert titles["en"] and cjk.search(titles["zh"]) and not cjk.search(titles["en"])
    bios_missing = {p.user.email for p in profiles if not texts(p, "bio")["zh"]}
    assert bios_missing == {"hans.keller@demo.smt-academy.de"}
    rooms = [texts(run, "location") for run in db.session.scalars(select(Run)) if run.mode != "online"]
    assert any(r["en"] and r["zh"] for r in rooms)
    assert any(r["en"] and not r["zh"] for r in rooms)  # the Stuttgart room
    assert all(not cjk.search(r["en"]) for r in rooms)


def test_demo_load_without_a_public_address_refuses_before_writing_anything(app, runner):
    """Its certificates carry links: without PUBLIC_BASE_URL the load stops at once with the reason,
    instead of failing at the certificates with half a demo committed (which a second load then skipped)."""
    from training.accounts.models import User

    app.config["PUBLIC_BASE_URL"] = None
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "PUBLIC_BASE_URL is not set" in result.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:5000"
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0 and "already present" not in result.output
