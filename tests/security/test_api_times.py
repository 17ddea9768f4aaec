"""Every date-time the API answers is UTC and valid RFC 3339, even one derived
from a run's local calendar (a run without meetings, in an old year whose
zone offset had seconds)."""

import re

from tests.conftest import api

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$")


def test_run_without_meetings_answers_utc(client, factory):
    admin, course = factory.admin(), factory.course()
    # Years whose zone offsets had seconds (local mean time) are refused outright now ...
    response = api(client, admin).post(
        f"/api/v1/courses/{course.id}/runs",
        json={"starts_on": "1241-11-26", "ends_on": "1241-11-27", "capacity": 3, "timezone": "Asia/Shanghai"},
    )
    assert response.status_code == 422, response.json
    # ... and the earliest year allowed still answers in UTC.
    response = api(client, admin).post(
        f"/api/v1/courses/{course.id}/runs",
        json={"starts_on": "1970-01-01", "ends_on": "1970-01-02", "capacity": 3, "timezone": "Asia/Shanghai"},
    )
    assert response.status_code == 201, response.json
    for key in ("enrol_deadline", "cancel_cutoff"):
        assert RFC3339.match(response.json[key]), response.json[key]
    response = api(client, admin).post(
        f"/api/v1/courses/{course.id}/runs",
        json={"starts_on": "2031-03-02", "ends_on": "2031-03-03", "capacity": 3, "timezone": "Asia/Shanghai"},
    )
    assert response.json["enrol_deadline"] == "2031-03-01T16:00:00+00:00"
