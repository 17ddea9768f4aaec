"""Pages, exports and the JSON API of attendance, with their refusals."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pypdfium2 as pdfium

from tests.conftest import api, login
from tests.toolkit import count_queries
from training.attendance import services, sheets
from training.attendance.models import Attendance
from training.extensions import db

from .conftest import now


def pdf_text(data: bytes) -> tuple[int, list[str]]:
    pdf = pdfium.PdfDocument(data)
    return len(pdf), [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def test_today_page_for_trainer_and_admin_only(client, live, factory):
    login(client, live.trainer)
    page = client.get("/teaching")
    assert page.status_code == 200
    assert live.run.course.title.encode() in page.data
    assert f"/meetings/{live.meeting.id}/roster".encode() in page.data
    login(client, factory.admin())
    assert live.run.course.title.encode() in client.get("/teaching").data
    login(client, live.enrolments[0].user)
    assert client.get("/teaching").status_code == 403
    client.post("/logout")
    assert client.get("/teaching").status_code == 302


def test_today_page_empty_state(client, factory):
    login(client, factory.trainer())
    page = client.get("/teaching")
    assert page.status_code == 200 and b"No meetings today" in page.data


def test_roster_page_and_form_save_with_mark_all_present(client, live):
    a, b, c = live.enrolments
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/roster")
    assert page.status_code == 200
    assert "欧阳晓燕".encode() in page.data and "晓燕".encode() in page.data  # name and initials avatar
    saved = client.post(f"/meetings/{live.meeting.id}/roster", data={"all_present": "1", f"status-{b.id}": "late"})
    assert saved.status_code == 302
    got = {e.id: r.status for e, r in services.roster(live.meeting)}
    assert got == {a.id: "present", b.id: "late", c.id: "present"}
    page = client.get(f"/meetings/{live.meeting.id}/roster")
    assert b"Li Wei" in page.data  # who marked


def test_roster_form_error_keeps_what_was_chosen(client, live):
    a, b, _c = live.enrolments
    login(client, live.trainer)
    response = client.post(
        f"/meetings/{live.meeting.id}/roster",
        data={f"status-{a.id}": "late", f"status-{b.id}": "excused", f"note-{b.id}": "x" * 1001},
    )
    assert response.status_code == 422
    assert f'id="s-{a.id}-late" value="late" autocomplete="off" checked'.encode() in response.data
    assert db.session.query(Attendance).count() == 0


def test_roster_refusals(client, live, factory):
    login(client, factory.trainer())
    assert client.get(f"/meetings/{live.meeting.id}/roster").status_code == 403
    assert client.post(f"/meetings/{live.meeting.id}/roster", data={}).status_code == 403
    login(client, live.enrolments[0].user)
    assert client.get(f"/meetings/{live.meeting.id}/roster").status_code == 403
    assert client.get("/meetings/99999/roster").status_code == 404
    # The run's trainer sees a future meeting read-only and cannot save it.
    login(client, live.trainer)
    future = live.run.meetings[2]
    page = client.get(f"/meetings/{future.id}/roster")
    assert page.status_code == 200 and b"read-only" in page.data
    refused = client.post(f"/meetings/{future.id}/roster", data={f"status-{live.enrolments[0].id}": "present"})
    assert refused.status_code == 403


def test_roster_json_endpoint_is_idempotent_and_needs_csrf(app, client, live):
    a = live.enrolments[0]
    login(client, live.trainer)
    body = {"records": [{"enrolment_id": a.id, "status": "late", "idempotency_key": "device-key-1"}]}
    first = client.post(f"/meetings/{live.meeting.id}/attendance.json", json=body)
    assert first.status_code == 200 and first.get_json()["changed"] == 1
    row = [r for r in first.get_json()["rows"] if r["enrolment_id"] == a.id][0]
    assert row["status"] == "late" and row["marked_by"] == "Li Wei"
    again = client.post(f"/meetings/{live.meeting.id}/attendance.json", json=body)
    assert again.get_json()["changed"] == 0
    bad = client.post(f"/meetings/{live.meeting.id}/attendance.json", json={"records": [{"enrolment_id": a.id}]})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_failed"
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/meetings/{live.meeting.id}/attendance.json", json=body).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_history_page(client, live, factory):
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": live.enrolments[0].id, "status": "absent"}])
    services.mark(
        factory.admin(name="Admin Zhou"),
        live.meeting.id,
        [{"enrolment_id": live.enrolments[0].id, "status": "excused", "note": "train delayed"}],
    )
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/attendance/history")
    assert page.status_code == 200
    assert b"Admin Zhou" in page.data and b"train delayed" in page.data
    login(client, live.enrolments[0].user)
    assert client.get(f"/meetings/{live.meeting.id}/attendance/history").status_code == 403


def test_sign_in_sheet_has_chinese_names_as_text_and_repeats_headers(client, live, factory):
    for i in range(45):
        factory.enrolment(live.run, factory.trainee(name=f"Trainee {i:02d}"))
    login(client, live.trainer)
    response = client.get(f"/meetings/{live.meeting.id}/sign-in-sheet.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages, texts = pdf_text(response.data)
    assert pages >= 2
    assert "欧阳晓燕" in "".join(texts)
    for text in texts:  # every page says what it is and has the table header
        assert live.run.course.title in text and "Signature" in text and "Li Wei" in text
    login(client, live.enrolments[0].user)
    assert client.get(f"/meetings/{live.meeting.id}/sign-in-sheet.pdf").status_code == 403


def test_register_page_csv_and_pdf(client, live, factory):
    a, b, c = live.enrolments
    b.user.display_name = '=HYPERLINK("http://evil")'
    db.session.commit()
    services.mark(
        live.trainer,
        live.meeting.id,
        [{"enrolment_id": a.id, "status": "present"}, {"enrolment_id": b.id, "status": "absent"}],
    )
    login(client, live.trainer)
    page = client.get(f"/runs/{live.run.id}/attendance")
    assert page.status_code == 200 and "欧阳晓燕".encode() in page.data
    response = client.get(f"/runs/{live.run.id}/register.csv")
    assert response.status_code == 200 and response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Trainee", "E-mail", "Company"] and len(rows[0]) == 3 + 4 + 5
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["欧阳晓燕"][3] == "present" and by_name["欧阳晓燕"][7] == "25"
    assert '\'=HYPERLINK("http://evil")' in by_name
    pdf = client.get(f"/runs/{live.run.id}/register.pdf")
    assert pdf.status_code == 200
    _pages, texts = pdf_text(pdf.data)
    assert "欧阳晓燕" in "".join(texts)
    login(client, factory.trainer())
    for path in ("attendance", "register.csv", "register.pdf"):
        assert client.get(f"/runs/{live.run.id}/{path}").status_code == 403


def test_register_pdf_splits_many_meetings_into_blocks(factory):
    run = factory.past_run(meetings=40)
    factory.enrolment(run, factory.trainee(name="王小明"))
    data = sheets.register_pdf(services.run_register(run.id))
    pages, texts = pdf_text(data)
    assert pages >= 2 and all("王小明" in t for t in texts)


def test_safe_cell_defuses_formulas():
    assert [sheets.safe_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ok", None, 5)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        "",
        "5",
    ]


def test_assessment_scores_are_saved_from_the_register(client, live, factory):
    a, b, _c = live.enrolments
    login(client, live.trainer)
    response = client.post(f"/runs/{live.run.id}/assessment", data={f"score-{a.id}": "88", f"score-{b.id}": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(a), a.id).assessment_score == 88
    bad = client.post(f"/runs/{live.run.id}/assessment", data={f"score-{a.id}": "101"})
    assert bad.status_code == 422
    login(client, a.user)
    assert client.post(f"/runs/{live.run.id}/assessment", data={f"score-{a.id}": "100"}).status_code == 403


def test_trainee_sees_own_attendance_only(client, live, factory):
    a, b, _c = live.enrolments
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "present"}])
    login(client, a.user)
    page = client.get(f"/my/attendance/{a.id}")
    assert page.status_code == 200 and b"25%" in page.data and b"all 4 planned meetings" in page.data
    assert client.get(f"/my/attendance/{b.id}").status_code == 403


# --- API --------------------------------------------------------------------------


def test_api_get_and_put_attendance(client, live):
    a, b, _c = live.enrolments
    trainer = api(client, live.trainer)
    put = trainer.put(
        f"/api/v1/meetings/{live.meeting.id}/attendance",
        json={
            "records": [
                {"enrolment_id": a.id, "status": "present"},
                {"enrolment_id": b.id, "status": "excused", "note": "sick"},
            ]
        },
    )
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["changed"] == 2
    got = trainer.get(f"/api/v1/meetings/{live.meeting.id}/attendance")
    assert got.status_code == 200
    items = {i["enrolment_id"]: i for i in got.get_json()["items"]}
    assert items[a.id]["status"] == "present" and items[b.id]["note"] == "sick"
    assert items[a.id]["marked_by"]["name"] == "Li Wei" and items[a.id]["source"] == "api"
    assert got.get_json()["counts"]["unmarked"] == 1


def test_api_refusals(client, live, factory):
    a = live.enrolments[0]
    path = f"/api/v1/meetings/{live.meeting.id}/attendance"
    record = {"records": [{"enrolment_id": a.id, "status": "present"}]}
    assert api(client).put(path, json=record).status_code == 401
    assert api(client).get(path).status_code == 401
    assert api(client, factory.trainer()).put(path, json=record).status_code == 403
    assert api(client, a.user).get(path).status_code == 403
    admin = api(client, factory.admin())
    assert admin.put("/api/v1/meetings/99999/attendance", json=record).status_code == 404
    bad = admin.put(path, json={"records": [{"enrolment_id": a.id, "status": "sleeping"}]})
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"]
    assert admin.put(path, data="nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert admin.put(path, json={}).status_code == 422
    future = live.run.meetings[3]
    too_early = api(client, live.trainer).put(f"/api/v1/meetings/{future.id}/attendance", json=record)
    assert too_early.status_code == 403 and too_early.get_json()["error"]["code"] == "too_early"


# --- scale -------------------------------------------------------------------------


def test_marking_200_trainees_in_one_submit_uses_a_bounded_number_of_queries(factory):
    trainer = factory.trainer()
    run = factory.run(trainers=[trainer], start=now() - timedelta(minutes=5), meetings=2, capacity=300)
    from training.enrolment.models import Enrolment

    users = [factory.trainee(name=f"Trainee {i}") for i in range(200)]
    db.session.add_all([Enrolment(run=run, user=u, status="confirmed", confirmed_at=now()) for u in users])
    db.session.commit()
    ids = [e.id for e in run_enrolments(run)]
    meeting_id = run.meetings[0].id
    records = [{"enrolment_id": i, "status": "present", "idempotency_key": f"bulk-key-{i:05d}"} for i in ids]
    db.session.expire_all()
    with count_queries() as first:
        changed = services.mark(trainer, meeting_id, records)
    assert len(changed) == 200
    records = [{"enrolment_id": i, "status": "late" if n % 2 else "absent"} for n, i in enumerate(ids)]
    db.session.expire_all()
    with count_queries() as second:
        assert len(services.mark(trainer, meeting_id, records)) == 200
    assert len(first) <= 20, "\n".join(sorted(set(q[:100].replace("\n", " ") for q in first)))
    assert len(second) <= 20, len(second)
    assert db.session.query(Attendance).filter_by(meeting_id=meeting_id, status="late").count() == 100


def run_enrolments(run):
    from sqlalchemy import select

    from training.enrolment.models import Enrolment

    return list(db.session.scalars(select(Enrolment).where(Enrolment.run_id == run.id)))
