"""Ids beyond what the database holds are "not found", never a 500."""

import pytest

from tests.conftest import api, login

HUGE = 3323435987306768243070337024


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/courses/{HUGE}",
        f"/api/v1/runs/{HUGE}",
        f"/api/v1/enrolments/{HUGE}",
        f"/api/v1/courses/{2**31}",
        f"/api/v1/runs/{2**63}",
    ],
)
def test_api_huge_id_is_404(client, factory, path):
    admin = factory.admin()
    response = api(client, admin).get(path)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert api(client, admin)._call("PATCH", path, json={}).status_code in (404, 405)


def test_page_huge_id_is_404(client, factory):
    login(client, factory.admin())
    assert client.get(f"/admin/users/{HUGE}").status_code == 404
