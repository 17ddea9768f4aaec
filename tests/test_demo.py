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
