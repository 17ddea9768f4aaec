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
    from training.catalogue.services import seat_counts
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
