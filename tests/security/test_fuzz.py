"""Fuzzing: Hypothesis posts arbitrary data to every form and every API
endpoint, as someone allowed to use it (the authorisation matrix says who).
No answer may be a 5xx (an exception fails the test with its traceback), and
when the answer is a refusal (4xx, or a page sent back with an error message)
the database must be exactly as before.

Bounded: a few examples per endpoint (EXAMPLES), no deadline per example; the
same examples however fast or loaded the machine is (derandomized).
"""

from __future__ import annotations

import importlib
import io

import pytest
from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import login, make_test_app
from tests.factories import ApiClient, Factory
from tests.security.conftest import build_world, snapshot
from tests.security.test_authz_matrix import ACTOR, ARGUMENT_OVERRIDES, EXPECTED, PEOPLE, _reset
from training.extensions import db

EXAMPLES = 12
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

EDGE_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "2026-02-30",
    "2026-13-01T25:61",
    "\x00",
    "null",
    "true",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%s%n",
    "王小明",
    "１２３",
    "\u202e",
    "a" * 5000,
    "=cmd|' /C calc'!A0",
    "https://evil.example",
    "//evil.example",
]
FILE_FIELDS = {"photo", "logo", "file", "upload", "signatory1_image", "signatory2_image"}
IMAGE_HEADERS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"%PDF-1.4", b"", b"PK\x03\x04"]


def _form_field_names(app) -> list[str]:
    from flask_wtf import FlaskForm

    names: set[str] = set()
    with app.test_request_context():
        for area in ("accounts", "admin", "attendance", "catalogue", "certificates", "enrolment", "trainers"):
            try:
                module = importlib.import_module(f"training.{area}.forms")
            except ImportError:
                continue
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, FlaskForm) and value.__module__ == module.__name__:
                    try:
                        names |= set(value()._fields)
                    except Exception:  # noqa: BLE001 - a form that needs arguments: skip its names
                        continue
    return sorted(names - {"csrf_token"})


def _api_field_names() -> list[str]:
    from training.api.openapi import SCHEMAS

    names: set[str] = set()
    for schema in SCHEMAS.values():
        names |= set(schema.get("properties", {}))
    return sorted(names)


text = st.one_of(
    st.sampled_from(EDGE_TEXT), st.text(max_size=60), st.integers(min_value=-(2**40), max_value=2**40).map(str)
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.sampled_from(EDGE_TEXT),
    st.text(max_size=40),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def form_data(field_names):
    fields = st.dictionaries(st.one_of(st.sampled_from(field_names), st.text(max_size=12)), text, max_size=10)

    def with_files(data, files):
        for name, header, tail in files:
            data[name] = (io.BytesIO(header + tail), f"{name}.png")
        return data

    files = st.lists(
        st.tuples(st.sampled_from(sorted(FILE_FIELDS)), st.sampled_from(IMAGE_HEADERS), st.binary(max_size=200)),
        max_size=2,
    )
    return st.builds(with_files, fields, files)


def api_body(field_names, world_ids):
    known = st.dictionaries(st.sampled_from(field_names), json_value, max_size=8)
    records = st.fixed_dictionaries(
        {
            "records": st.lists(
                st.fixed_dictionaries(
                    {
                        "enrolment_id": st.one_of(st.sampled_from(world_ids), json_scalar),
                        "status": st.one_of(st.sampled_from(["present", "late", "absent", "excused"]), json_scalar),
                    },
                    optional={"note": json_value, "idempotency_key": json_value},
                ),
                max_size=4,
            )
        }
    )
    return st.one_of(known, records, json_value)


def _allowed_person(endpoint_key) -> str:
    outcomes = dict(zip(PEOPLE, EXPECTED[endpoint_key], strict=False))
    for who in ("admin", "run_t", "tr", "tr2", "oth_t", "anon"):
        if outcomes[who] == "O":
            return who
    return "admin"


def _refused(response, client) -> bool:
    if response.status_code >= 400:
        return True
    if response.status_code in (301, 302, 303, 307, 308):
        with client.session_transaction() as session:
            return any(category == "danger" for category, _ in session.get("_flashes", ()))
    return False


@pytest.fixture
def fuzz_app(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, MAX_CONTENT_LENGTH=2 * 1024 * 1024)
    with app.app_context():
        yield app
        db.session.remove()


def _targets(app):
    """Every state-changing route, and every API route (reads take arbitrary query strings)."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods & (STATE_CHANGING | {"GET"})):
            if method in STATE_CHANGING or rule.rule.startswith("/api/"):
                if (method, rule.endpoint) in EXPECTED and rule.endpoint not in ("api.openapi", "api.docs"):
                    yield method, rule


def test_fuzz_every_form_and_api_endpoint(fuzz_app):
    form_fields = _form_field_names(fuzz_app)
    api_fields = _api_field_names()
    targets = list(_targets(fuzz_app))
    assert len(targets) >= 60
    failures = []
    for method, rule in targets:
        _reset(fuzz_app)
        world = build_world(Factory())
        who = _allowed_person((method, rule.endpoint))
        user = getattr(world, ACTOR[who]) if who != "anon" else None
        ids = dict(world.ids(), **ARGUMENT_OVERRIDES.get(rule.endpoint, lambda w: {})(world))
        url = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
        is_api = rule.rule.startswith("/api/")
        caller = ApiClient(fuzz_app.test_client(), user) if is_api else None
        client = fuzz_app.test_client()
        if user is not None and not is_api:
            login(client, user)
        world_ids = [world.enrolment.id, world.other_enrolment.id, world.pending.id]
        if method == "GET":
            data = st.dictionaries(
                st.sampled_from(
                    [
                        "q",
                        "page",
                        "per_page",
                        "status",
                        "level",
                        "sort",
                        "month",
                        "open_only",
                        "category",
                        "city",
                        "mode",
                        "language",
                    ]
                ),
                text,
                max_size=5,
            )
        elif is_api:
            data = st.one_of(api_body(api_fields, world_ids), st.binary(max_size=100))
        else:
            data = form_data(form_fields)

        @given(payload=data)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(payload):
            g.pop("_login_user", None)
            before = snapshot()
            if method == "GET":
                response = caller._call("GET", url, query_string=payload)
            elif is_api and isinstance(payload, bytes):
                response = caller._call(method, url, data=payload, headers={"Content-Type": "application/json"})
            elif is_api:
                response = caller._call(method, url, json=payload)
            else:
                response = client.open(url, method=method, data=payload, content_type="multipart/form-data")
            response.close()
            assert response.status_code < 500, response.status_code
            db.session.expire_all()
            if _refused(response, caller.client if is_api else client):
                assert snapshot() == before, f"refused ({response.status_code}) but changed data"

        try:
            fuzz()
        except Exception as exc:  # report every endpoint that fails, with its falsifying example
            failures.append(f"{method} {rule.rule} as {who}: {type(exc).__name__}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


# --- numbers JSON does not have, and nesting no parser should follow ----------------------

NON_FINITE = ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"]
DEEP = ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "[" * 65 + "]" * 65]


def _integer_fields() -> list[str]:
    from training.api.openapi import SCHEMAS

    names: set[str] = set()
    for schema in SCHEMAS.values():
        for name, spec in schema.get("properties", {}).items():
            types = spec.get("type") if isinstance(spec, dict) else None
            if (
                types == "integer"
                or (isinstance(types, list) and "integer" in types)
                or any(option.get("type") == "integer" for option in spec.get("anyOf", []) if isinstance(option, dict))
            ):
                names.add(name)
    return sorted(names)


def test_non_finite_numbers_and_deep_nesting_are_a_400_everywhere(fuzz_app):
    """Infinity/NaN/1e400 in every integer field, and deeply nested bodies, sent
    to every state-changing API endpoint as someone allowed to use it: a 400
    in the one error format, and nothing changes."""
    fields = _integer_fields()
    assert {"capacity", "min_attendance_pct"} <= set(fields)
    bodies = [DEEP[0], DEEP[1], DEEP[2]]
    bodies += ["{" + ", ".join(f'"{name}": {number}' for name in fields) + "}" for number in NON_FINITE]
    bodies += ['{"records": [{"enrolment_id": ' + number + ', "status": "present"}]}' for number in NON_FINITE]
    failures, refused_bodies = [], set()
    for method, rule in _targets(fuzz_app):
        if method not in STATE_CHANGING or not rule.rule.startswith("/api/"):
            continue
        _reset(fuzz_app)
        world = build_world(Factory())
        who = _allowed_person((method, rule.endpoint))
        user = getattr(world, ACTOR[who]) if who != "anon" else None
        ids = dict(world.ids(), **ARGUMENT_OVERRIDES.get(rule.endpoint, lambda w: {})(world))
        url = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
        caller = ApiClient(fuzz_app.test_client(), user)
        for raw in bodies:
            g.pop("_login_user", None)
            before = snapshot()
            response = caller._call(method, url, data=raw, headers={"Content-Type": "application/json"})
            status, payload = response.status_code, response.get_json(silent=True)
            response.close()
            db.session.expire_all()
            # An endpoint that takes no body (accept an offer) may ignore it; one that reads it says 400.
            if status >= 500 or (status == 400 and not (payload or {}).get("error", {}).get("code")):
                failures.append(f"{method} {rule.rule} as {who}: {status} for {raw[:60]!r}")
            elif status >= 400 and snapshot() != before:
                failures.append(f"{method} {rule.rule}: refused but changed data for {raw[:60]!r}")
            if status == 400:
                refused_bodies.add((method, rule.rule))
    assert not failures, "\n".join(failures)
    assert {
        ("POST", "/api/v1/courses"),
        ("PATCH", "/api/v1/runs/<int:run_id>"),
        ("PUT", "/api/v1/meetings/<int:meeting_id>/attendance"),
    } <= refused_bodies
