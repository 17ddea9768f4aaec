"""Catalogue search: English and Chinese, filters, sorting, paging, and the
index kept in sync with courses, categories and trainers (SQLite FTS5 and
PostgreSQL pg_trgm behave the same)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.toolkit import count_queries
from training.catalogue.models import Category
from training.catalogue.search import CatalogueQuery, rebuild_search_index, search_courses
from training.errors import ValidationFailed
from training.extensions import db


def codes(**args):
    page = search_courses(CatalogueQuery.from_args(args))
    return [card.course.code for card in page.items]


@pytest.fixture
def catalogue(factory):
    robots = Category(slug="robotics", name="Industrial robotics", name_zh="工业机器人")
    plc = Category(slug="plc", name="PLC programming", name_zh="PLC 编程")
    db.session.add_all([robots, plc])
    db.session.commit()
    anna = factory.trainer(name="Anna Müller")
    wang = factory.trainer(name="王小明")
    rob = factory.course(
        code="ROB-110",
        title="工业机器人操作与编程",
        summary="Jogging, frames and tool data.",
        category=robots,
        language="zh",
    )
    opc = factory.course(
        code="OPC-150",
        title="OPC UA from the ground up",
        summary="Information models.",
        description="Secure channels and **certificates**.",
        level="intermediate",
    )
    plc101 = factory.course(
        code="PLC-101", title="PLC fundamentals", summary="Ladder logic on S7-1500.", category=plc, level="beginner"
    )
    factory.course(code="HID-1", title="Hidden robot course", published=False)
    factory.run(rob, trainers=[wang], city="Shenzhen")
    factory.run(opc, trainers=[anna], city="Suzhou")
    return {"rob": rob, "opc": opc, "plc": plc101, "anna": anna, "wang": wang, "robots": robots}


def test_chinese_substring_finds_course(catalogue):
    assert codes(q="机器人") == ["ROB-110"]
    assert codes(q="操作与编程") == ["ROB-110"]


def test_one_and_two_character_chinese_queries_fall_back_to_like(catalogue):
    assert codes(q="机器") == ["ROB-110"]
    assert codes(q="编") == ["ROB-110", "PLC-101"] or set(codes(q="编")) == {"ROB-110", "PLC-101"}


def test_english_search_is_case_insensitive_and_covers_code_summary_description(catalogue):
    assert codes(q="opc") == ["OPC-150"]
    assert codes(q="OPC UA") == ["OPC-150"]
    assert codes(q="rob-110") == ["ROB-110"]
    assert codes(q="ladder") == ["PLC-101"]
    assert codes(q="CERTIFICATES") == ["OPC-150"]


def test_category_and_trainer_names_are_searchable(catalogue):
    assert codes(q="industrial robotics") == ["ROB-110"]
    assert codes(q="müller") == ["OPC-150"]
    assert codes(q="王小明") == ["ROB-110"]


def test_all_terms_must_match(catalogue):
    assert codes(q="opc ladder") == []
    assert codes(q="plc s7") == ["PLC-101"]


def test_unpublished_courses_are_not_found_but_admin_listing_sees_them(catalogue):
    assert codes(q="hidden") == []
    page = search_courses(CatalogueQuery.from_args({"q": "hidden"}), include_unpublished=True)
    assert [c.course.code for c in page.items] == ["HID-1"]


def test_index_follows_course_category_and_trainer_changes(catalogue):
    catalogue["opc"].title = "Fieldbus gateways"
    db.session.commit()
    assert codes(q="fieldbus") == ["OPC-150"]
    catalogue["robots"].name = "Cobots"
    db.session.commit()
    assert codes(q="cobots") == ["ROB-110"]
    catalogue["anna"].display_name = "Anna Schmidt"
    db.session.commit()
    assert codes(q="schmidt") == ["OPC-150"]
    assert codes(q="müller") == []
    run = catalogue["opc"].runs[0]
    run.trainers = [catalogue["wang"]]
    db.session.commit()
    assert codes(q="schmidt") == []
    assert set(codes(q="王小明")) == {"ROB-110", "OPC-150"}


def test_rebuild_keeps_results(catalogue):
    rebuild_search_index()
    assert codes(q="机器人") == ["ROB-110"]


def test_like_wildcards_are_literal(catalogue, factory):
    factory.course(code="PCT-1", title="100% uptime")
    assert codes(q="%") == ["PCT-1"]
    assert codes(q="_") == []


def test_filters_by_category_level_language(catalogue):
    assert codes(category="robotics") == ["ROB-110"]
    assert codes(level="intermediate") == ["OPC-150"]
    assert codes(language="zh") == ["ROB-110"]
    assert codes(category="no-such-category") == []


def test_run_filters_need_one_run_matching_all_of_them(catalogue, factory):
    assert codes(city="shenzhen") == ["ROB-110"]
    assert codes(mode="online") == []
    online = factory.run(catalogue["plc"], mode="online", city="")
    assert codes(mode="online") == ["PLC-101"]
    month = online.starts_on.strftime("%Y-%m")
    assert "PLC-101" in codes(month=month)
    assert codes(month="2001-01") == []
    # open seats: fill the PLC run
    for _ in range(online.capacity):
        factory.enrolment(online)
    assert "PLC-101" not in codes(open_only="1")
    assert set(codes(open_only="1")) == {"ROB-110", "OPC-150"}


def test_past_and_cancelled_runs_do_not_count(catalogue, factory):
    factory.past_run(catalogue["plc"], city="Ningbo")
    factory.run(catalogue["plc"], city="Xiamen", status="cancelled")
    assert codes(city="ningbo") == []
    assert codes(city="xiamen") == []


def test_cards_carry_next_run_and_seats(catalogue, factory):
    opc = catalogue["opc"]
    later = factory.run(opc, start=datetime.now(UTC) + timedelta(days=40), capacity=5)
    factory.enrolment(later)
    page = search_courses(CatalogueQuery.from_args({"q": "opc"}))
    card = page.items[0]
    assert card.next_run.id == opc.runs[0].id
    assert card.seats[later.id] == 4
    assert [r.id for r in card.upcoming_runs] == sorted(
        [r.id for r in card.upcoming_runs], key=lambda i: next(r.starts_on for r in opc.runs if r.id == i)
    )


def test_sorting(catalogue, factory):
    soon = factory.run(catalogue["plc"], start=datetime.now(UTC) + timedelta(days=2))
    assert soon
    assert codes(sort="next")[:1] == ["PLC-101"]
    assert codes(sort="title") == ["OPC-150", "PLC-101", "ROB-110"] or codes(sort="title")[0] == "OPC-150"
    assert codes(sort="newest")[0] == "PLC-101"
    # a search is ordered by relevance: the code match comes first
    factory.course(code="X-1", title="Introduction", summary="Mentions OPC once.")
    assert codes(q="opc")[0] == "OPC-150"


def test_pagination_and_page_past_the_end(factory):
    for i in range(7):
        factory.course(code=f"P-{i}", title=f"Course {i:02d}")
    page = search_courses(CatalogueQuery.from_args({"per_page": "3", "page": "3", "sort": "title"}))
    assert (page.total, page.pages, page.page) == (7, 3, 3)
    assert [c.course.code for c in page.items] == ["P-6"]
    past = search_courses(CatalogueQuery.from_args({"per_page": "3", "page": "99"}))
    assert past.items == [] and past.total == 7


def test_lenient_parsing_ignores_bad_values():
    query = CatalogueQuery.from_args(
        {
            "page": "abc",
            "per_page": "100000",
            "level": "guru",
            "month": "2026-13",
            "sort": "sideways",
            "open_only": "maybe",
            "q": "a\x00b" + "x" * 500,
        }
    )
    assert query.page == 1 and query.per_page == 100 and query.level is None and query.month is None
    assert query.sort == "relevance" and not query.open_only
    assert "\x00" not in query.q and len(query.q) <= 200


@pytest.mark.parametrize(
    "args",
    [
        {"page": "0"},
        {"per_page": "x"},
        {"level": "guru"},
        {"mode": "teleport"},
        {"language": "xx"},
        {"sort": "random"},
        {"month": "2026-1"},
        {"open_only": "perhaps"},
    ],
)
def test_strict_parsing_refuses_bad_values(args):
    with pytest.raises(ValidationFailed):
        CatalogueQuery.from_args(args, strict=True)


def test_strict_search_refuses_unknown_category(app):
    with pytest.raises(ValidationFailed):
        search_courses(CatalogueQuery.from_args({"category": "nope"}, strict=True))


def test_month_range_handles_december():
    query = CatalogueQuery.from_args({"month": "2026-12"})
    assert query.month_range == (date(2026, 12, 1), date(2026, 12, 31))


def test_default_order_pages_through_dated_then_undated_courses(app, factory):
    """Courses with upcoming runs come first by their next start, then the others
    by title, with every page boundary (inside the dated part, across the two,
    inside the undated part) giving each course exactly once."""
    now = datetime.now(UTC).replace(microsecond=0)
    dated = []
    for days, title in [(30, "Beta"), (10, "Delta"), (20, "Alpha"), (10, "Charlie"), (40, "Echo")]:
        course = factory.course(title=title)
        factory.run(course, start=now + timedelta(days=days))
        factory.past_run(course)  # ended runs never give a course its date
        dated.append((days, title, course.id))
    undated = []
    for title in ["Zulu", "Kilo", "Mike", "Lima"]:
        course = factory.course(title=title)
        factory.past_run(course)
        undated.append((title, course.id))
    cancelled = factory.course(title="Cancelled run")
    factory.run(cancelled, start=now + timedelta(days=5), status="cancelled")
    undated.append(("Cancelled run", cancelled.id))
    expected = [cid for _d, _t, cid in sorted(dated)] + [cid for _t, cid in sorted(undated)]
    assert [card.course.id for card in search_courses(CatalogueQuery(per_page=50)).items] == expected
    for per_page in (1, 2, 3, 4, 7):
        seen = []
        for page in range(1, 12):
            result = search_courses(CatalogueQuery(per_page=per_page, page=page))
            assert result.total == 10
            seen += [card.course.id for card in result.items]
        assert seen == expected, per_page


def _grams(course_id):
    return set(
        db.session.execute(
            db.text("SELECT gram FROM course_search_grams WHERE course_id = :c"), {"c": course_id}
        ).scalars()
    )


def test_short_terms_use_the_short_term_index_and_follow_every_change(catalogue, factory):
    rob, wang = catalogue["rob"], catalogue["wang"]
    assert {"机", "机器", "器人", "ro", "b-"} <= _grams(rob.id)
    assert not any(" " in gram for gram in _grams(rob.id))
    assert codes(q="器人") == ["ROB-110"]
    assert codes(q="ua") == ["OPC-150"]
    assert set(codes(q="小")) == {"ROB-110"}  # the trainer's name
    rob.title = "焊接工作站"
    db.session.commit()
    assert codes(q="机器") == ["ROB-110"]  # still in the category name 工业机器人
    assert codes(q="焊接") == ["ROB-110"]
    assert "操作" not in _grams(rob.id)
    wang.display_name = "李娜"
    db.session.commit()
    assert codes(q="李娜") == ["ROB-110"] and codes(q="小明") == []
    catalogue["robots"].name_zh = "自动化"
    db.session.commit()
    assert codes(q="机器") == [] and codes(q="自动") == ["ROB-110"]
    db.session.delete(rob.runs[0]) if rob.runs else None
    db.session.commit()
    assert codes(q="李娜") == []
    rebuild_search_index()
    assert codes(q="焊接") == ["ROB-110"]


def test_short_terms_are_literal_and_combine_with_long_ones(catalogue):
    assert codes(q="%") == [] and codes(q="_") == []
    assert codes(q="机器 编程") == ["ROB-110"]
    assert codes(q="ua channels") == ["OPC-150"]  # the long term reaches the description


def test_plurals_and_verb_forms_find_the_word(catalogue, factory):
    factory.course(code="VIS-1", title="Machine vision for robot cells", summary="Inspecting welded seams.")
    factory.course(code="FAC-1", title="Smart factory basics", summary="Programme management.")
    assert set(codes(q="robots")) == {"VIS-1", "ROB-110"}  # ROB-110: "Industrial robotics"
    assert codes(q="factories") == ["FAC-1"]
    assert set(codes(q="programming")) == {"FAC-1", "PLC-101"}  # "Programme", "PLC programming"
    assert codes(q="welding") == ["VIS-1"]
    assert codes(q="inspected") == ["VIS-1"]
    assert codes(q="seam") == ["VIS-1"]


@pytest.mark.parametrize("q", ["welding", "焊接", "焊"])
def test_a_search_counts_and_pages_its_matches_in_one_statement(factory, q):
    for i in range(5):
        factory.course(code=f"W-{i}", title=f"Welding cell {i} 焊接工作站")
    factory.course(code="OTHER-1", title="Something else")
    with count_queries() as counter:
        page = search_courses(CatalogueQuery.from_args({"q": q, "per_page": "2", "page": "3", "sort": "title"}))
    assert (page.total, [card.course.code for card in page.items]) == (5, ["W-4"])
    # count and page together; then the page's courses with their runs and seats left
    assert len(counter.statements) == 2
    past = search_courses(CatalogueQuery.from_args({"q": q, "per_page": "2", "page": "9"}))
    assert (past.total, past.items) == (5, [])
    first = search_courses(CatalogueQuery.from_args({"q": q, "per_page": "2"}))
    assert first.total == 5 and [card.course.code for card in first.items] == ["W-0", "W-1"]
    assert search_courses(CatalogueQuery.from_args({"q": f"{q} nowhere"})).total == 0


def test_relevance_ignores_case_on_both_databases(catalogue, factory):
    # The PostgreSQL index keeps its columns lower-cased: an upper-case code still ranks first.
    factory.course(code="X-2", title="Intro", summary="About the OPC-150 course.")
    assert codes(q="OPC-150")[0] == "OPC-150"
    assert codes(q="opc-150")[0] == "OPC-150"
    assert codes(q="Op")[0] == "OPC-150"  # a short term ranks by the code too


def test_short_terms_rank_code_then_title_then_the_rest_and_follow_changes(factory):
    in_summary = factory.course(code="S-1", title="Safety basics", summary="Covers the ZQ checklist.")
    in_title = factory.course(code="T-1", title="ZQ for beginners", summary="Basics.")
    in_code = factory.course(code="ZQ-1", title="Other things", summary="More.")
    assert codes(q="zq") == ["ZQ-1", "T-1", "S-1"]  # the short-term index keeps each gram's rank
    assert codes(q="z q") == ["ZQ-1", "T-1", "S-1"]
    in_title.title = "Nothing here"
    db.session.commit()
    assert codes(q="zq") == ["ZQ-1", "S-1"]
    in_summary.title = "ZQ safety"
    db.session.commit()
    assert codes(q="zq") == ["ZQ-1", "S-1"] and codes(q="zq", sort="title") == ["ZQ-1", "S-1"]
    in_code.code = "C-1"
    db.session.commit()
    assert codes(q="zq") == ["S-1"]
