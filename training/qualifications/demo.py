"""Demo plant for the qualification matrix: two sites, lines and stations with
realistic requirements, operators on them, skills granted by the demo courses'
certificates and by assessments (some expiring, some lapsed), so the matrix
is alive after ``flask demo load``. Called by ``training.demo`` before the demo
certificates are issued, so their grants come through the real signal."""

from __future__ import annotations

import random
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.services import create_user, find_user_by_email
from ..catalogue.models import Course
from ..extensions import db
from ..types import org_today, utcnow
from .models import CourseSkill, Grant, Position, PositionPerson, PositionRequirement, Skill

SKILLS = [
    # code, name, name_zh, category, validity months, {course code: level}
    (
        "PLC-OPS",
        "PLC operation and troubleshooting",
        "PLC 操作与故障排除",
        "Automation",
        24,
        {"PLC-101": 2, "PLC-201": 3},
    ),
    ("ROB-OP", "Robot cell operation", "机器人单元操作", "Robotics", 24, {"ROB-110": 2}),
    ("ROB-PRG", "Robot programming", "机器人编程", "Robotics", 36, {"ROB-230": 3}),
    ("MES-USE", "MES terminal and traceability", "MES 终端与追溯", "Production IT", None, {"MES-120": 2}),
    ("OPCUA", "OPC UA integration", "OPC UA 集成", "Production IT", None, {"OPC-150": 2}),
    ("VIS-INSP", "Vision inspection set-up", "视觉检测设置", "Quality", 24, {"VIS-120": 2, "VIS-310": 3}),
    ("LOTO", "Lockout-tagout and machine safety", "上锁挂牌与机械安全", "Safety", 12, {"FS-200": 2}),
    ("SAFE-VAL", "Safety function validation", "安全功能验证", "Safety", 36, {"FS-300": 3}),
    ("STD-WORK", "Standard work", "标准作业", "Lean", None, {"LEAN-100": 2}),
]

POSITIONS = [
    # code, name, name_zh, site, department, [(skill, level, min people per shift)]
    (
        "SZ-L1-ST10",
        "Line 1 · station 10 pick-and-place",
        "一号线 10 工位 贴片",
        "Suzhou plant 苏州工厂",
        "SMT",
        [("PLC-OPS", 2, 2), ("VIS-INSP", 2, 1), ("LOTO", 2, 2), ("MES-USE", 2, 2)],
    ),
    (
        "SZ-L1-ST20",
        "Line 1 · station 20 AOI",
        "一号线 20 工位 自动光学检测",
        "Suzhou plant 苏州工厂",
        "SMT",
        [("VIS-INSP", 3, 1), ("MES-USE", 2, 2), ("LOTO", 2, 1)],
    ),
    (
        "SZ-FA-R1",
        "Final assembly · robot cell 1",
        "总装 1 号机器人单元",
        "Suzhou plant 苏州工厂",
        "Final assembly",
        [("ROB-OP", 2, 2), ("LOTO", 2, 2), ("PLC-OPS", 2, 1), ("STD-WORK", 2, 2)],
    ),
    (
        "SZ-MT-EL",
        "Maintenance electrician",
        "维修电工",
        "Suzhou plant 苏州工厂",
        "Maintenance",
        [("PLC-OPS", 3, 2), ("SAFE-VAL", 3, 1), ("LOTO", 3, 2), ("OPCUA", 2, 1)],
    ),
    (
        "NB-BS-W1",
        "Body shop · welding cell 1",
        "车身车间 1 号焊装单元",
        "Ningbo plant 宁波工厂",
        "Body shop",
        [("ROB-OP", 2, 2), ("ROB-PRG", 3, 1), ("LOTO", 2, 2)],
    ),
    (
        "NB-BS-W2",
        "Body shop · welding cell 2",
        "车身车间 2 号焊装单元",
        "Ningbo plant 宁波工厂",
        "Body shop",
        [("ROB-OP", 2, 2), ("LOTO", 2, 2), ("STD-WORK", 2, 1)],
    ),
    (
        "NB-QA-VIS",
        "Quality · vision station",
        "质量部 视觉检测工位",
        "Ningbo plant 宁波工厂",
        "Quality",
        [("VIS-INSP", 3, 1), ("MES-USE", 2, 1), ("STD-WORK", 2, 1)],
    ),
]

OPERATORS = [
    ("韩雪", "han.xue"),
    ("冯涛", "feng.tao"),
    ("曹颖", "cao.ying"),
    ("彭磊", "peng.lei"),
    ("邓丽", "deng.li"),
    ("许强", "xu.qiang"),
    ("蒋欣", "jiang.xin"),
    ("沈浩", "shen.hao"),
    ("唐慧", "tang.hui"),
    ("叶峰", "ye.feng"),
    ("程琳", "cheng.lin"),
    ("袁博", "yuan.bo"),
    ("潘婷", "pan.ting"),
    ("杜鹏", "du.peng"),
    ("戴敏", "dai.min"),
    ("夏宇", "xia.yu"),
    ("钟华", "zhong.hua"),
    ("汪洁", "wang.jie"),
    ("田野", "tian.ye"),
    ("任静", "ren.jing"),
    ("Tomasz Nowak", "tomasz.nowak"),
    ("Aylin Demir", "aylin.demir"),
    ("Carlos Mendes", "carlos.mendes"),
    ("Mei Lin Tan", "meilin.tan"),
    ("Raj Patel", "raj.patel"),
    ("Olga Ivanova", "olga.ivanova"),
]
ASSESSOR = ("assessor@demo.smt-academy.cn", "周敏 Zhou Min")


def load_plant(admin, trainees: list[User], password: str, rng: random.Random) -> dict:
    """Skills, course skills, positions and people. Returns what the grants step needs."""
    if db.session.scalar(select(Skill.id).limit(1)) is not None:
        return {}
    assessor = find_user_by_email(ASSESSOR[0]) or create_user(
        email=ASSESSOR[0],
        name=ASSESSOR[1],
        password=password,
        role="assessor",
        check_strength=False,
        commit=False,
        locale="zh",
    )
    operators = [
        find_user_by_email(f"{handle}@demo.smt-academy.cn")
        or create_user(
            email=f"{handle}@demo.smt-academy.cn",
            name=name,
            password=password,
            role="trainee",
            check_strength=False,
            commit=False,
            locale="zh" if any(ord(c) > 0x2E80 for c in name) else "en",
        )
        for name, handle in OPERATORS
    ]
    courses = {c.code: c for c in db.session.scalars(select(Course))}
    skills = {}
    for code, name, name_zh, category, months, granted_by in SKILLS:
        skill = Skill(code=code, name=name, name_zh=name_zh, category=category, validity_months=months)
        db.session.add(skill)
        db.session.flush()
        skills[code] = skill
        for course_code, level in granted_by.items():
            if course_code in courses:
                db.session.add(CourseSkill(course_id=courses[course_code].id, skill_id=skill.id, level=level))
    people = trainees + operators
    positions = []
    for i, (code, name, name_zh, site, department, requirements) in enumerate(POSITIONS):
        position = Position(code=code, name=name, name_zh=name_zh, site=site, department=department)
        for skill_code, level, min_people in requirements:
            position.requirements.append(
                PositionRequirement(skill_id=skills[skill_code].id, level=level, min_people=min_people)
            )
        db.session.add(position)
        db.session.flush()
        crew = rng.sample(people, k=rng.randint(5, 8))
        if i == 0 and trainees[0] not in crew:
            crew[0] = trainees[0]  # 欧阳晓燕 works on line 1
        for user in crew:
            db.session.add(PositionPerson(position_id=position.id, user_id=user.id, assigned_by_id=admin.id))
        positions.append((position, crew))
    db.session.flush()
    return {"assessor": assessor, "positions": positions}


def load_grants(plan: dict, rng: random.Random) -> int:
    """Assessments and sign-offs on top of the certificates' grants: most crews
    qualified, some at a higher level, a few expiring within weeks, a few lapsed."""
    if not plan:
        return 0
    assessor, today, count = plan["assessor"], org_today(), 0
    now = utcnow()
    for position, crew in plan["positions"]:
        for user in crew:
            for req in position.requirements:
                roll = rng.random()
                if roll < 0.18:
                    continue  # a gap
                level = min(req.skill.level_count, req.level + (1 if roll > 0.85 else 0))
                start = today - timedelta(days=rng.randint(30, 500))
                until: date | None
                if roll < 0.26:
                    until = today - timedelta(days=rng.randint(5, 60))  # lapsed
                    start = until - relativedelta(months=12)
                elif roll < 0.38:
                    until = today + timedelta(days=rng.randint(3, 80))  # expiring
                else:
                    until = (
                        start + relativedelta(months=req.skill.validity_months) if req.skill.validity_months else None
                    )
                    if until is not None and until < today:
                        until = today + timedelta(days=rng.randint(120, 600))
                db.session.add(
                    Grant(
                        user_id=user.id,
                        skill_id=req.skill_id,
                        level=level,
                        source="assessment" if roll < 0.7 else "manual",
                        evidence=f"Practical assessment at {position.code} 现场考核",
                        granted_by_id=assessor.id,
                        granted_at=now,
                        valid_from=start,
                        valid_until=until,
                    )
                )
                count += 1
    db.session.commit()
    return count
