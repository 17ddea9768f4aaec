"""Trying to break the verification page's cache (training/certificates/pages.py) as a
relying party, a forger or a careless typist would: a revoked or superseded certificate
never shows valid after the change, in any language or spelling of its code, and any
malformed code is a clear 4xx, never a 500 and never a cache entry."""

from __future__ import annotations

import re

import pytest

from tests.certificates.conftest import completed_run
from training.certificates import codes, pages, services


def _status(response) -> str:
    assert response.status_code == 200, response.status_code
    return re.search(r'data-status="(\w+)"', response.get_data(as_text=True)).group(1)


@pytest.fixture
def code(factory, admin):
    run, _ = completed_run(factory, ["Anna Müller"])
    return services.issue_for_run(admin, run.id)["issued"][0]["code"]


LANGUAGES = ({"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}, {})


def test_a_revocation_shows_at_once_in_every_language_and_spelling_of_the_code(app, admin, code):
    client = app.test_client()
    spellings = (code, code.lower(), codes.display(code), codes.display(code).lower().replace("-", " "))
    for headers in LANGUAGES:
        for _ in range(2):  # the second from the cache
            assert _status(client.get(f"/verify/{code}", headers=headers)) == "valid"
    for spelling in spellings[1:]:
        moved = client.get(f"/verify/{spelling}")
        assert moved.status_code == 301 and moved.headers["Location"].endswith(f"/verify/{code}")
    services.revoke(admin, code, "Attendance sheet forged")
    for headers in LANGUAGES:
        page = client.get(f"/verify/{code}", headers=headers)
        assert _status(page) == "revoked" and "Attendance sheet forged" in page.get_data(as_text=True)
    for spelling in spellings[1:]:
        assert _status(client.get(f"/verify/{spelling}", follow_redirects=True)) == "revoked"
    # the form that looks a code up lands on the same, revoked page
    assert _status(client.get("/verify", query_string={"code": codes.display(code)}, follow_redirects=True)) == (
        "revoked"
    )


def test_a_superseded_certificate_shows_superseded_at_once_and_its_successor_valid(app, admin, code):
    client = app.test_client()
    for _ in range(2):
        assert _status(client.get(f"/verify/{code}")) == "valid"
    new = services.reissue(admin, code, "Anna Mueller")
    page = client.get(f"/verify/{code}")
    assert _status(page) == "superseded" and f"/verify/{new.code}" in page.get_data(as_text=True)
    for _ in range(2):
        assert _status(client.get(f"/verify/{new.code}")) == "valid"
    services.revoke(admin, new.code, "Wrong course")
    assert _status(client.get(f"/verify/{new.code}")) == "revoked"
    assert _status(client.get(f"/verify/{code}")) == "superseded"


MALFORMED = [
    "A",
    "0" * 28,
    "X" * 81,
    "Z" * 5000,
    "%00",
    "%FF%FE",
    "%ED%A0%80",
    "证书编号",
    "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "'%20OR%201=1--",
]


@pytest.mark.parametrize("text", MALFORMED, ids=range(len(MALFORMED)))
def test_a_malformed_code_is_a_clear_4xx_and_fills_no_cache(app, code, text):
    client = app.test_client()
    kept = len(pages.pages())
    for _ in range(2):
        response = client.get(f"/verify/{text}")
        assert 400 <= response.status_code < 500, response.status_code
        assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
        looked_up = client.get("/verify", query_string={"code": text.replace("%", "")})
        assert 400 <= looked_up.status_code < 500 or looked_up.status_code in (200, 302), looked_up.status_code
        posted = client.post(f"/verify/{text}", data={})
        assert 400 <= posted.status_code < 500, posted.status_code
    assert len(pages.pages()) == kept


def test_a_code_with_one_wrong_character_is_not_found_not_another_certificate(app, code):
    client = app.test_client()
    last = code[-1]
    wrong = code[:-1] + next(c for c in codes.ALPHABET if c != last)
    for _ in range(2):
        response = client.get(f"/verify/{wrong}")
        assert response.status_code == 404 and code not in response.get_data(as_text=True)
    assert _status(client.get(f"/verify/{code}")) == "valid"
