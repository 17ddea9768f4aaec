"""Admin pages for skills and positions: list, create, edit (names in both languages, level scale,
validity, requirements, people), refusals shown on the form and changing nothing, and what only
admins may do. Query counts of the list pages stay fixed."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.conftest import api, login
from tests.toolkit import count_queries
from training.audit import AuditEntry
from training.extensions import db
from training.qualifications.models import Position, PositionPerson, PositionRequirement, Skill


def _skill_form(**over):
    data = {
        "code": "AOI-1",
        "name": "AOI inspection",
        "name_zh": "AOI 检测",
        "category": "Inspection",
        "levels": "B | Basic | 基础\nA | Advanced | 高级\nE | Expert | 专家",
        "validity_months": "18",
    }
    data.update(over)
    return data


def test_admin_creates_and_edits_a_skill(plant, client):
    login(client, plant.admin)
    page = client.get("/qualifications/admin/skills/new").get_data(as_text=True)
    assert "I | Learning | 学习中" in page  # the default I-L-U-O scale, ready to edit
    r = client.post("/qualifications/admin/skills/new", data=_skill_form(), follow_redirects=True)
    assert r.status_code == 200 and "Skill AOI-1 saved." in r.get_data(as_text=True)
    skill = db.session.scalar(select(Skill).where(Skill.code == "AOI-1"))
    assert (skill.name, skill.name_zh, skill.category, skill.validity_months) == (
        "AOI inspection",
        "AOI 检测",
        "Inspection",
        18,
    )
    assert [(lv["code"], lv["name"], lv["name_zh"]) for lv in skill.levels] == [
        ("B", "Basic", "基础"),
        ("A", "Advanced", "高级"),
        ("E", "Expert", "专家"),
    ]
    listing = client.get("/qualifications/admin/skills").get_data(as_text=True)
    assert "AOI-1" in listing and "SMT-OP" in listing and "18 months" in listing
    r = client.post(
        f"/qualifications/admin/skills/{skill.id}",
        data=_skill_form(code="AOI-2", name="AOI and SPI inspection", validity_months=""),
        follow_redirects=True,
    )
    assert "Skill AOI-2 saved." in r.get_data(as_text=True)
    db.session.expire_all()
    skill = db.session.get(Skill, skill.id)
    assert (skill.code, skill.name, skill.validity_months) == ("AOI-2", "AOI and SPI inspection", None)
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("skill.%"))))
    assert actions == {"skill.create", "skill.update"}


def test_the_skills_list_shows_names_in_the_readers_language(plant, client):
    plant.admin.locale = "zh"
    db.session.add(Skill(code="EN-ONLY", name="English only skill"))
    db.session.commit()
    login(client, plant.admin)
    page = client.get("/qualifications/admin/skills").get_data(as_text=True)
    assert "SMT 产线操作" in page and "English only skill" in page and "lmark" in page


def test_skill_refusals_are_on_the_form_and_change_nothing(plant, client):
    login(client, plant.admin)
    before = db.session.scalar(select(func.count()).select_from(Skill))
    taken = client.post("/qualifications/admin/skills/new", data=_skill_form(code="SMT-OP"))
    assert taken.status_code == 200 and "exists already" in taken.get_data(as_text=True)
    bad_code = client.post("/qualifications/admin/skills/new", data=_skill_form(code="has space"))
    assert bad_code.status_code == 200 and "1 to 32 letters" in bad_code.get_data(as_text=True)
    too_many = client.post(
        "/qualifications/admin/skills/new", data=_skill_form(levels="\n".join(f"L{i}" for i in range(12)))
    )
    assert "Give 1 to 9 levels" in too_many.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Skill)) == before
    # the scale may not lose a level a course (level 2) or a position (level 2) uses
    r = client.post(
        f"/qualifications/admin/skills/{plant.skill.id}", data=_skill_form(code="SMT-OP", levels="Only one")
    )
    assert r.status_code == 200 and "Level 2 is in use" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Skill, plant.skill.id).level_count == 4


def test_admin_creates_a_position_with_requirements_and_people(plant, factory, client):
    people = [factory.trainee(name=f"Operator {i}") for i in range(2)]
    login(client, plant.admin)
    form = client.get("/qualifications/admin/positions/new").get_data(as_text=True)
    assert form.count('name="requirements-') >= 9  # three blank rows of three fields
    r = client.post(
        "/qualifications/admin/positions/new",
        data={
            "code": "L4-AOI",
            "name": "Line 4 AOI",
            "name_zh": "四号线 AOI",
            "site": "Wuxi",
            "department": "SMT",
            "requirements-0-skill_id": str(plant.skill.id),
            "requirements-0-level": "3",
            "requirements-0-min_people": "2",
            "requirements-1-skill_id": "",
            "requirements-1-level": "",
            "requirements-1-min_people": "",
            "people": f"{people[0].email.upper()}, {people[1].email}",
        },
        follow_redirects=True,
    )
    assert "Position L4-AOI saved." in r.get_data(as_text=True)
    position = db.session.scalar(select(Position).where(Position.code == "L4-AOI"))
    assert (position.name, position.name_zh, position.site, position.department) == (
        "Line 4 AOI",
        "四号线 AOI",
        "Wuxi",
        "SMT",
    )
    assert [(q.skill_id, q.level, q.min_people) for q in position.requirements] == [(plant.skill.id, 3, 2)]
    assert sorted(p.user_id for p in position.people) == sorted(p.id for p in people)
    listing = client.get("/qualifications/admin/positions").get_data(as_text=True)
    assert "L4-AOI" in listing and "SMT-OP ≥U ×2" in listing
    # the matrix of the new position counts its people
    matrix = client.get(f"/qualifications/matrix?position={position.id}").get_data(as_text=True)
    assert "Operator 0" in matrix


def test_admin_edits_a_position_requirements_and_people(plant, factory, client):
    other = Skill(code="AOI", name="AOI inspection")
    db.session.add(other)
    db.session.commit()
    newcomer = factory.trainee(name="Newcomer Sun")
    login(client, plant.admin)
    page = client.get(f"/qualifications/admin/positions/{plant.position.id}").get_data(as_text=True)
    assert plant.trainee.email in page and "三号线贴片机" in page
    r = client.post(
        f"/qualifications/admin/positions/{plant.position.id}",
        data={
            "code": "L3-PP",
            "name": "Line 3 pick and place",
            "name_zh": "三号线贴片机 A",
            "site": "Suzhou",
            "department": "SMT",
            "requirements-0-skill_id": str(plant.skill.id),
            "requirements-0-level": "1",
            "requirements-0-min_people": "3",
            "requirements-1-skill_id": str(other.id),
            "requirements-1-level": "2",
            "requirements-1-min_people": "1",
            "people": newcomer.email,
        },
        follow_redirects=True,
    )
    assert "Position L3-PP saved." in r.get_data(as_text=True)
    db.session.expire_all()
    position = db.session.get(Position, plant.position.id)
    assert position.name_zh == "三号线贴片机 A"
    assert sorted((q.skill_id, q.level, q.min_people) for q in position.requirements) == sorted(
        [(plant.skill.id, 1, 3), (other.id, 2, 1)]
    )
    assert [p.user_id for p in position.people] == [newcomer.id]
    # dropping a row removes the requirement
    client.post(
        f"/qualifications/admin/positions/{plant.position.id}",
        data={
            "code": "L3-PP",
            "name": "Line 3 pick and place",
            "requirements-0-skill_id": str(other.id),
            "requirements-0-level": "1",
            "requirements-0-min_people": "1",
            "people": newcomer.email,
        },
    )
    db.session.expire_all()
    assert [q.skill_id for q in db.session.get(Position, plant.position.id).requirements] == [other.id]


def test_position_refusals_are_on_the_form_and_change_nothing(plant, client):
    login(client, plant.admin)
    url = f"/qualifications/admin/positions/{plant.position.id}"
    base = {
        "code": "L3-PP",
        "name": "Line 3 pick and place",
        "requirements-0-skill_id": str(plant.skill.id),
        "requirements-0-level": "2",
        "requirements-0-min_people": "2",
    }

    def unchanged():
        db.session.expire_all()
        p = db.session.get(Position, plant.position.id)
        return ([(q.level, q.min_people) for q in p.requirements], [x.user_id for x in p.people], p.name) == (
            [(2, 2)],
            [plant.trainee.id],
            "Line 3 pick and place",
        )

    for data, message in [
        (dict(base, people="nobody@example.com"), "No account has the e-mail address nobody@example.com"),
        (dict(base, **{"requirements-0-level": "7"}), "level must be between 1 and 4"),
        (dict(base, **{"requirements-1-skill_id": str(plant.skill.id), "requirements-1-level": "1"}), "listed twice"),
        (dict(base, **{"requirements-0-skill_id": "999999"}), "no such skill"),
        (dict(base, name=""), "This field is required"),
    ]:
        r = client.post(url, data=dict(data, people=data.get("people", plant.trainee.email)))
        assert r.status_code == 200 and message in r.get_data(as_text=True), message
        assert unchanged(), message
    factory_position = Position(code="TAKEN", name="Taken")
    db.session.add(factory_position)
    db.session.commit()
    r = client.post(url, data=dict(base, code="TAKEN", people=plant.trainee.email))
    assert "exists already" in r.get_data(as_text=True) and unchanged()


def test_only_admins_manage_skills_and_positions(plant, client):
    for who in (plant.assessor, plant.trainer, plant.trainee):
        login(client, who)
        for url in (
            "/qualifications/admin/skills",
            "/qualifications/admin/skills/new",
            f"/qualifications/admin/skills/{plant.skill.id}",
            "/qualifications/admin/positions",
            "/qualifications/admin/positions/new",
            f"/qualifications/admin/positions/{plant.position.id}",
        ):
            assert client.get(url).status_code == 403, (who.role, url)
        assert client.post("/qualifications/admin/skills/new", data=_skill_form()).status_code == 403
        assert (
            client.post(
                f"/qualifications/admin/positions/{plant.position.id}", data={"code": "X", "name": "X"}
            ).status_code
            == 403
        )
    assert db.session.scalar(select(func.count()).select_from(Skill)) == 1
    login(client, plant.admin)
    assert client.get("/qualifications/admin/skills/999999").status_code == 404
    assert client.get("/qualifications/admin/positions/999999").status_code == 404


def test_the_api_keeps_taking_positions_with_user_ids(plant, factory, client):
    someone = factory.trainee()
    r = api(client, plant.admin).post(
        "/api/v1/positions", json={"code": "API-1", "name": "From HR", "requirements": [], "user_ids": [someone.id]}
    )
    assert r.status_code == 201 and r.json["user_ids"] == [someone.id]
    bad = api(client, plant.admin).put(f"/api/v1/positions/{plant.position.id}/people", json={"emails": ["x@y.z"]})
    assert bad.status_code == 422
    assert (
        db.session.scalar(select(PositionPerson.user_id).where(PositionPerson.position_id == plant.position.id))
        == plant.trainee.id
    )


def test_admin_list_pages_use_a_fixed_number_of_queries(plant, factory, client):
    login(client, plant.admin)

    def queries(url):
        db.session.expire_all()
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    few = (queries("/qualifications/admin/skills"), queries("/qualifications/admin/positions"))
    for i in range(15):
        skill = Skill(code=f"S-{i}", name=f"Skill {i}")
        db.session.add(skill)
        db.session.flush()
        position = Position(code=f"P-{i}", name=f"Position {i}", site="Wuxi")
        position.requirements.append(PositionRequirement(skill_id=skill.id, level=1, min_people=1))
        db.session.add(position)
        db.session.flush()
        db.session.add(PositionPerson(position_id=position.id, user_id=factory.trainee().id))
    db.session.commit()
    assert (queries("/qualifications/admin/skills"), queries("/qualifications/admin/positions")) == few


def test_a_multipart_part_without_a_name_is_ignored_not_a_500(plant, client):
    """A malformed multipart body (a part with no name) reaches the form as a None key; the position form's
    rows must still be read (found by the fuzz test)."""
    login(client, plant.admin)
    body = (
        b"--B\r\nContent-Disposition: form-data\r\n\r\nstray\r\n"
        b'--B\r\nContent-Disposition: form-data; name="code"\r\n\r\nL3-PP\r\n--B--\r\n'
    )
    for url in (f"/qualifications/admin/positions/{plant.position.id}", "/qualifications/admin/positions/new"):
        response = client.post(url, data=body, content_type="multipart/form-data; boundary=B")
        assert response.status_code < 500, (url, response.status_code)
