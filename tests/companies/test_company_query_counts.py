"""The company lists send a bounded number of SQL queries, however many people
and enrolments the company has (no N+1)."""

from __future__ import annotations

import pytest

from tests.conftest import login
from tests.toolkit import count_queries
from training.extensions import db


def _build(factory, people: int):
    company = factory.company()
    coordinator = factory.coordinator(company)
    runs = [factory.run(capacity=50) for _ in range(3)]
    for i in range(people):
        person = factory.member(company)
        factory.company_enrolment(runs[i % 3], person)
    factory.allocation(runs[0], company, 20)
    return company, coordinator


@pytest.mark.parametrize("page", ["people", "enrolments", "attendance", "certificates", "qualifications", "report", ""])
def test_company_pages_do_not_grow_with_the_company(client, factory, page):
    counts = []
    for people in (3, 24):
        company, coordinator = _build(factory, people)
        login(client, coordinator)
        url = f"/companies/{company.id}/{page}".rstrip("/")
        db.session.expire_all()
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    assert counts[1] <= 20
