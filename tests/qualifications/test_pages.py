"""Pages and files: the matrix (counts, glyphs, filters, a fixed number of queries), the XLSX with
the page's counts, the A3 and evidence PDFs, "who is qualified?", and the gap-to-enrolment click."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import api, login
from tests.toolkit import count_queries
from training.certificates import services as certificates
from training.enrolment.models import Enrolment
from training.extensions import db
from training.qualifications.models import PositionPerson, Skill
from training.types import org_today


def _staff(plant, factory, n=4):
    """n operators on the position: one valid, one expiring, the rest without the skill."""
    people = [factory.trainee(name=f"Operator {i:02d}") for i in range(n)]
    for p in people:
        db.session.add(PositionPerson(position_id=plant.position.id, user_id=p.id))
    db.session.commit()
    return people


def _grant(client, assessor, person, skill_id, level, **kw):
    r = api(client, assessor).post(
        f"/api/v1/people/{person.id}/qualifications",
        json=dict(skill_id=skill_id, level=level, evidence="Observed", **kw),
    )
    assert r.status_code == 201, r.json


def _footer_counts(html: str, testid: str) -> list[int]:
    row = re.search(rf'data-testid="{testid}">(.*?)</tr>', html, re.S).group(1)
    return [int(n) for n in re.findall(r"<td[^>]*>(\d+)", row)]


def test_matrix_page_shows_levels_states_glyphs_and_coverage(plant, factory, client):
    people = _staff(plant, factory)
    _grant(client, plant.assessor, people[0], plant.skill.id, 3)
    _grant(
        client, plant.assessor, people[1], plant.skill.id, 2, valid_until=(org_today() + timedelta(days=5)).isoformat()
    )
    login(client, plant.admin)
    html = client.get(f"/qualifications/matrix?site=Suzhou&position={plant.position.id}").get_data(as_text=True)
    assert 'data-state="valid"' in html and 'U<span class="qm-glyph" aria-hidden="true">●' in html
    assert 'data-state="expiring"' in html and "◐" in html
    assert _footer_counts(html, "qualified-row") == [2] and _footer_counts(html, "required-row") == [2]
    assert "Operator 00" in html and "欧阳晓燕" in html
    # the filters stay in the URL of the exports
    assert f"matrix.xlsx?site=Suzhou&amp;position={plant.position.id}" in html


def test_matrix_page_in_chinese(plant, client):
    plant.admin.locale = "zh"
    db.session.commit()
    login(client, plant.admin)
    html = client.get("/qualifications/matrix").get_data(as_text=True)
    assert "资质矩阵" in html and "SMT 产线操作" in html and "每班需求" in html


def test_matrix_queries_do_not_grow_with_people(plant, factory, client):
    login(client, plant.admin)

    def queries():
        db.session.expire_all()  # the same starting point each time (the logged-in user is loaded again)
        with count_queries() as counter:
            assert client.get("/qualifications/matrix?site=Suzhou").status_code == 200
        return counter.count

    few = queries()
    people = _staff(plant, factory, 30)
    for p in people[:20]:
        _grant(client, plant.assessor, p, plant.skill.id, 2)
    other = Skill(code="AOI", name="AOI inspection", name_zh="AOI 检测")
    db.session.add(other)
    db.session.commit()
    assert queries() == few <= 9


def test_xlsx_counts_equal_the_page(plant, factory, client):
    from openpyxl import load_workbook

    people = _staff(plant, factory, 5)
    _grant(client, plant.assessor, people[0], plant.skill.id, 4)
    _grant(
        client, plant.assessor, people[1], plant.skill.id, 2, valid_until=(org_today() + timedelta(days=30)).isoformat()
    )
    _grant(client, plant.assessor, people[2], plant.skill.id, 1)
    login(client, plant.admin)
    html = client.get("/qualifications/matrix?site=Suzhou").get_data(as_text=True)
    response = client.get("/qualifications/matrix.xlsx?site=Suzhou")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb["Matrix 矩阵"]
    rows = {r[0]: r for r in ws.iter_rows(values_only=True) if r and r[0]}
    header = next(r for r in ws.iter_rows(values_only=True) if r and r[0] == "Person / 人员")
    assert header[2] == "SMT-OP SMT line operation / SMT 产线操作"
    assert rows["Qualified / 合格人数"][2] == _footer_counts(html, "qualified-row")[0] == 2
    assert rows["Required per shift / 每班需求"][2] == _footer_counts(html, "required-row")[0] == 2
    assert rows["Gap / 缺口"][2] == 0 and rows["Expiring / 即将到期"][2] == 1
    assert rows["Operator 00"][2] == "O ●" and rows["Operator 01"][2] == "L ◐" and rows["Operator 02"][2] == "I ●"
    people_rows = [r for r in ws.iter_rows(values_only=True) if r and r[0] and r[0].startswith(("Operator", "欧阳"))]
    assert len(people_rows) == html.count('class="qm-person" scope="row"') - 3  # three footer rows
    cov = list(wb["Coverage 覆盖"].iter_rows(values_only=True))
    assert cov[1][6:] == (2, 1, 0)
    # the API gives the same file
    api_file = api(client, plant.admin).get(f"/api/v1/matrix.xlsx?position={plant.position.id}")
    assert api_file.status_code == 200
    assert load_workbook(io.BytesIO(api_file.data))["Matrix 矩阵"]["C1"] is not None
    assert api(client, plant.admin).get("/api/v1/matrix.xlsx").status_code == 422


def test_a3_and_evidence_pdfs(plant, client):
    import pypdfium2

    code = certificates.issue_for_run(plant.admin, plant.past_run.id)["issued"][0]["code"]
    login(client, plant.admin)
    a3 = client.get("/qualifications/matrix.pdf?site=Suzhou")
    assert a3.status_code == 200 and a3.data.startswith(b"%PDF")
    page = pypdfium2.PdfDocument(a3.data)[0]
    width, height = page.get_size()
    assert round(width) == 1191 and round(height) == 842  # A3 landscape in points
    assert "欧阳晓燕" in page.get_textpage().get_text_range()
    pack = client.get(f"/qualifications/people/{plant.trainee.id}/evidence.pdf")
    assert pack.status_code == 200
    text = pypdfium2.PdfDocument(pack.data)[0].get_textpage().get_text_range()
    assert "SMT-OP" in text and "certificate" in text and plant.enrolment.run.course.code not in ("",)
    import zxingcpp

    image = pypdfium2.PdfDocument(pack.data)[0].render(scale=3).to_pil()
    decoded = [r.text for r in zxingcpp.read_barcodes(image)]
    assert f"http://localhost/verify/{code}" in decoded


def test_who_is_qualified_pages(plant, factory, client):
    people = _staff(plant, factory, 3)
    _grant(client, plant.assessor, people[0], plant.skill.id, 3)
    outsider = factory.trainee(name="Floater Qian")
    _grant(client, plant.assessor, outsider, plant.skill.id, 2)
    login(client, plant.assessor)
    by_position = client.get(f"/qualifications/qualified?position={plant.position.id}").get_data(as_text=True)
    assert "Operator 00" in by_position and "Floater Qian" in by_position  # could work it, not assigned
    by_skill = client.get(f"/qualifications/qualified?skill={plant.skill.id}&level=2").get_data(as_text=True)
    assert "Floater Qian" in by_skill and "Operator 01" in by_skill.split('data-testid="missing"')[1]
    assert client.get("/qualifications/qualified?skill=abc").status_code == 422
    assert client.get("/qualifications/qualified?on=2026-02-31").status_code == 422
    person = client.get(f"/qualifications/people/{people[0].id}").get_data(as_text=True)
    assert "L3-PP" in person.split('data-testid="may-work"')[1]


def test_gap_to_enrolment_click_enrols_in_the_next_open_run(plant, factory, client):
    future = factory.run(plant.course, trainers=[plant.trainer], capacity=1)
    factory.run(plant.course, start=None, capacity=5, status="draft")  # not open: never chosen
    login(client, plant.trainee)
    page = client.get(f"/qualifications/people/{plant.trainee.id}").get_data(as_text=True)
    assert 'data-testid="enrol-gap"' in page and future.starts_on.isoformat() in page
    r = client.post(f"/qualifications/people/{plant.trainee.id}/enrol", data={"skill_id": plant.skill.id, "level": 2})
    assert r.status_code == 302
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.run_id == future.id))
    assert enrolment.user_id == plant.trainee.id and enrolment.status == "confirmed" and enrolment.source == "self"
    # the rules of enrolment hold: enrolling twice is refused with a message, nothing changes
    again = client.post(
        f"/qualifications/people/{plant.trainee.id}/enrol",
        data={"skill_id": plant.skill.id, "level": 2},
        follow_redirects=True,
    )
    assert "Already enrolled" in again.get_data(as_text=True)
    # someone else's gap: refused
    other = factory.trainee()
    assert (
        client.post(
            f"/qualifications/people/{other.id}/enrol", data={"skill_id": plant.skill.id, "level": 2}
        ).status_code
        == 403
    )
    # the next trainee waits: the run is full (capacity 1), the enrolment service waitlists
    login(client, other)
    db.session.add(PositionPerson(position_id=plant.position.id, user_id=other.id))
    db.session.commit()
    client.post(f"/qualifications/people/{other.id}/enrol", data={"skill_id": plant.skill.id, "level": 2})
    assert db.session.scalar(select(Enrolment.status).where(Enrolment.user_id == other.id)) == "waitlisted"


def test_no_open_run_means_an_assessment(plant, client):
    login(client, plant.trainee)
    r = client.post(
        f"/qualifications/people/{plant.trainee.id}/enrol",
        data={"skill_id": plant.skill.id, "level": 2},
        follow_redirects=True,
    )
    assert "needs an assessment" in r.get_data(as_text=True)
    assert db.session.scalar(select(Enrolment.id).where(Enrolment.run_id != plant.past_run.id)) is None


def test_assessor_grants_through_the_page_with_evidence(plant, client):
    login(client, plant.assessor)
    r = client.post(
        f"/qualifications/people/{plant.trainee.id}/grants",
        data={
            "skill_id": str(plant.skill.id),
            "level": "3",
            "source": "assessment",
            "evidence": "Practical test, line 3, record QA-2026-118",
        },
        follow_redirects=True,
    )
    assert "Qualification granted." in r.get_data(as_text=True)
    bad = client.post(
        f"/qualifications/people/{plant.trainee.id}/grants",
        data={"skill_id": str(plant.skill.id), "level": "9", "evidence": "x"},
        follow_redirects=True,
    )
    assert bad.status_code == 200 and "level must be between" in bad.get_data(as_text=True)
    login(client, plant.trainer)
    assert (
        client.post(
            f"/qualifications/people/{plant.trainee.id}/grants",
            data={"skill_id": str(plant.skill.id), "level": "3", "evidence": "x"},
        ).status_code
        == 403
    )


def test_text_in_the_matrix_workbook_is_never_a_formula(plant, client):
    """The scope lines (the site and department asked for, the position's name), the skill heads and the
    coverage sheet are text: openpyxl wrote a string starting with = as a formula."""
    from openpyxl import load_workbook

    from training.qualifications.models import Position

    evil = '=HYPERLINK("http://evil.example","Click")'
    plant.position.name, plant.position.department = evil, "-2+3"
    plant.skill.name = "@SUM(A1)"
    db.session.commit()
    login(client, plant.admin)
    for query in (
        {"position": plant.position.id},
        {"site": evil},
        {"site": "Suzhou", "department": "+cmd|' /C calc'!A0"},
    ):
        response = client.get("/qualifications/matrix.xlsx", query_string=query)
        assert response.status_code == 200, query
        book = load_workbook(io.BytesIO(response.data))
        cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"], query
        assert not [c.value for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))]
    assert db.session.get(Position, plant.position.id).name == evil


def test_control_characters_in_the_matrix_filters_do_not_break_the_workbook(plant, client):
    """The site and department asked for are written on the sheet: a control character in the query
    string made openpyxl refuse the workbook (a 500)."""
    from openpyxl import load_workbook

    login(client, plant.admin)
    for query in ({"site": "Suzhou\x00"}, {"department": "SMT\x0b2"}, {"site": "\x1b[31m"}):
        response = client.get("/qualifications/matrix.xlsx", query_string=query)
        assert response.status_code == 200, query
        load_workbook(io.BytesIO(response.data))
    assert api(client, plant.admin).get("/api/v1/matrix.xlsx", query_string={"site": "\x07"}).status_code in (200, 422)
