"""Bulk enrolment: CSV in every encoding Excel writes, the preview, the
all-or-nothing commit, re-imports, refusals of bad files, and the JSON import."""

import pytest
from sqlalchemy import func, select

from tests.conftest import api
from tests.toolkit import count_queries
from training.accounts.models import User
from training.enrolment import imports
from training.enrolment.models import Enrolment
from training.errors import ValidationFailed
from training.extensions import db

CSV = "email,name,company,phone\nwang.xm@example.com,王小明,上汽集团,13800000000\nanna@example.com,Anna Müller,Bosch,\n"


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_csv_encodings(encoding):
    rows = imports.read_csv(CSV.encode(encoding))
    assert [(r["row"], r["email"], r["name"], r["company"]) for r in rows] == [
        (2, "wang.xm@example.com", "王小明", "上汽集团"),
        (3, "anna@example.com", "Anna Müller", "Bosch"),
    ]


def test_chinese_headers_semicolons_and_no_header():
    rows = imports.read_csv("邮箱;姓名;单位\nli@example.com;李雷;海尔\n".encode("gb18030"))
    assert rows == [{"row": 2, "email": "li@example.com", "name": "李雷", "company": "海尔"}]
    rows = imports.read_csv(b"x@example.com,X Y\n\n y@example.com , Y Z \n")
    assert [(r["email"], r["name"]) for r in rows] == [("x@example.com", "X Y"), ("y@example.com", "Y Z")]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00" * 100, "binary"),
        (b"PK\x03\x04" + b"\x00" * 100, "Excel workbook"),
        (b'email,name\n"unterminated,quote\n', "not valid CSV"),
        (b"foo,bar\nbaz,qux\n", "header"),
        (b"email,company\nx@example.com,Y\n", "no name column"),
        (b"email,name\n", "no trainees"),
        (b"a" * (imports.MAX_BYTES + 1), "at most 2 MB"),
        (b"email,name\n\xff\xfe\xfa\x80\x81", "encoding"),
    ],
)
def test_bad_files_are_refused_clearly(data, words):
    with pytest.raises(imports.ImportRefused) as err:
        imports.read_csv(data)
    assert words in err.value.message


def test_preview_outcomes_then_commit_then_reimport_changes_nothing(factory):
    admin = factory.admin()
    run = factory.run(capacity=2)
    known = factory.trainee(email="known@example.com")
    enrolled = factory.trainee(email="enrolled@example.com")
    factory.enrolment(run, enrolled)
    text = (
        "email,name\nknown@example.com,Known\nnew1@example.com,New One\nenrolled@example.com,E\n"
        "new2@example.com,New Two\n"
    )
    rows = imports.read_csv(text.encode())
    preview = imports.preview(admin, run.id, rows)
    assert [(r.email, r.account, r.outcome) for r in preview.rows] == [
        ("known@example.com", "existing", "confirmed"),
        ("new1@example.com", "new", "waitlisted"),
        ("enrolled@example.com", "existing", "existing"),
        ("new2@example.com", "new", "waitlisted"),
    ]
    users_before = _count(User)
    assert users_before == 3 and _count(Enrolment) == 1  # the preview saved nothing
    result = imports.commit(admin, run.id, rows)
    assert (result.enrolled, result.waitlisted, result.existing, result.accounts_created) == (1, 2, 1, 2)
    from training.catalogue.seats import waitlist_positions

    positions = waitlist_positions([run.id])
    by_email = {e.user.email: e for e in db.session.scalars(select(Enrolment))}
    assert positions[by_email["new1@example.com"].id] == 1 and positions[by_email["new2@example.com"].id] == 2
    assert by_email["known@example.com"].status == "confirmed" and known.id == by_email["known@example.com"].user_id
    snapshot = sorted((e.user_id, e.status, e.updated_at) for e in db.session.scalars(select(Enrolment)))
    again = imports.commit(admin, run.id, rows)
    assert (again.enrolled, again.waitlisted, again.existing, again.accounts_created) == (0, 0, 4, 0)
    db.session.expire_all()
    assert sorted((e.user_id, e.status, e.updated_at) for e in db.session.scalars(select(Enrolment))) == snapshot
    assert _count(User) == 5


def test_commit_is_all_or_nothing(factory):
    admin = factory.admin()
    run = factory.run()
    rows = imports.read_csv(
        (
            "email,name\nok@example.com,OK\nbroken-address,X\nlong@example.com,"
            + "名" * 10_000
            + "\nok@example.com,Twice\n"
        ).encode()
    )
    preview = imports.preview(admin, run.id, rows)
    messages = {r.row: r.message for r in preview.errors}
    assert "Invalid e-mail" in messages[3] and "10000 characters" in messages[4] and "row 2" in messages[5]
    with pytest.raises(ValidationFailed) as err:
        imports.commit(admin, run.id, rows)
    assert len(err.value.extra["rows"]) == 3
    assert _count(Enrolment) == 0 and _count(User) == 1


def test_chinese_names_get_chinese_mail(factory, mailbox):
    admin = factory.admin()
    run = factory.run()
    imports.commit(admin, run.id, imports.read_csv(CSV.encode("gb18030")))
    mails = {m["To"]: m for m in mailbox()}
    wang = db.session.scalar(select(User).where(User.email == "wang.xm@example.com"))
    assert wang.locale == "zh" and wang.company == "上汽集团" and wang.password_hash is None
    body = mails["anna@example.com"].get_body(("plain",)).get_content()
    assert "created a training account" in body
    assert any(p.get_filename() == "course.ics" for p in mails["anna@example.com"].iter_attachments())


def test_api_import_partial_with_row_errors(client, factory):
    admin = factory.admin()
    run = factory.run(capacity=1)
    trainees = [
        {"email": "a@example.com", "name": "A"},
        {"email": "nope", "name": "B"},
        {"email": "c@example.com", "name": "C"},
        "junk",
        {"email": "d@example.com", "name": "D" * 10_000},
    ]
    r = api(client, admin).post(f"/api/v1/runs/{run.id}/enrolments/import", json={"trainees": trainees})
    assert r.status_code == 200, r.json
    assert (r.json["enrolled"], r.json["waitlisted"], r.json["existing"]) == (1, 1, 0)
    assert [e["row"] for e in r.json["errors"]] == [2, 4, 5]
    again = api(client, admin).post(f"/api/v1/runs/{run.id}/enrolments/import", json={"trainees": trainees})
    assert (again.json["enrolled"], again.json["waitlisted"], again.json["existing"]) == (0, 0, 2)


def test_api_import_refusals(client, factory):
    admin, trainee = factory.admin(), factory.trainee()
    run = factory.run()
    url = f"/api/v1/runs/{run.id}/enrolments/import"
    assert api(client).post(url, json={"trainees": []}).status_code == 401
    assert (
        api(client, trainee).post(url, json={"trainees": [{"email": "a@example.com", "name": "A"}]}).status_code == 403
    )
    assert api(client, admin).post(url, json={}).status_code == 422
    assert api(client, admin).post(url, json={"trainees": "x"}).status_code == 422
    too_many = [{"email": f"u{i}@example.com", "name": "U"} for i in range(5001)]
    assert api(client, admin).post(url, json={"trainees": too_many}).status_code == 422
    assert (
        api(client, admin)
        .post("/api/v1/runs/999999/enrolments/import", json={"trainees": [{"email": "a@example.com", "name": "A"}]})
        .status_code
        == 404
    )
    assert _count(Enrolment) == 0


def test_api_import_5000_rows_reads_in_batches(client, factory, monkeypatch):
    from training import jobs

    queued = []  # the mails are the background job's work, tested elsewhere; here: that they are queued
    monkeypatch.setitem(jobs._registry, "enrolment_notify", lambda progress, **kw: queued.append(kw))
    admin = factory.admin()
    run = factory.run(capacity=300)
    trainees = [{"email": f"bulk{i}@example.com", "name": f"学员 {i}"} for i in range(5000)]
    with count_queries() as counter:
        r = api(client, admin).post(f"/api/v1/runs/{run.id}/enrolments/import", json={"trainees": trainees})
    assert r.status_code == 200, r.json
    assert (r.json["enrolled"], r.json["waitlisted"], r.json["errors"]) == (300, 4700, [])
    # Reads in batches, not 5,000 look-ups (counted, not timed: the suite runs on busy machines).
    reads = [st for st in counter.statements if st.lstrip().upper().startswith("SELECT")]
    assert len(reads) < 200, len(reads)
    assert sorted(len(q["enrolment_ids"]) for q in queued) == [300, 4700]
