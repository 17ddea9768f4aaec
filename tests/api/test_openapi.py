"""The OpenAPI document: it describes every API route of the app, it is a
valid OpenAPI 3.1 document, the browsable page shows it, and schemathesis
finds no 5xx and no answer that breaks it."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks as st_checks

from tests.conftest import api

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _openapi_path(rule: str) -> str:
    """/api/v1/runs/<int:run_id> -> /runs/{run_id}"""
    path = rule[len("/api/v1") :]
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", path)


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            for method in sorted(rule.methods & METHODS):
                yield method, _openapi_path(rule.rule), rule


def test_every_api_route_is_documented(app, client):
    document = client.get("/api/v1/openapi.json").json
    missing = []
    for method, path, rule in api_routes(app):
        item = document["paths"].get(path)
        if item is None or method.lower() not in item:
            missing.append(f"{method} {path} ({rule.endpoint})")
            continue
        # Path parameters are declared, with the same names as in the route.
        declared = {
            p["name"]
            for p in item.get("parameters", []) + item[method.lower()].get("parameters", [])
            if p["in"] == "path"
        }
        assert declared == set(rule.arguments), (path, declared, rule.arguments)
    assert not missing, "routes missing from training/api/openapi.py: " + ", ".join(missing)


def test_document_has_no_stale_operations(app, client):
    document = client.get("/api/v1/openapi.json").json
    routes = {(method.lower(), path) for method, path, _ in api_routes(app)}
    stale = [
        f"{m.upper()} {p}"
        for p, item in document["paths"].items()
        for m in item
        if m != "parameters" and (m, p) not in routes
    ]
    assert not stale, f"documented but not routed: {stale}"


def test_every_operation_documents_auth_and_errors(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "security" in operation and operation.get("x-auth"), (method, path)
            assert any(s.startswith("2") for s in operation["responses"]), (method, path)
            if operation["security"] and {} not in operation["security"]:
                assert "401" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]


def test_document_is_valid_openapi(client):
    # Loading the schema validates it against the OpenAPI 3.1 meta-schema.
    from schemathesis.core.errors import LoaderError

    document = client.get("/api/v1/openapi.json").json
    try:
        schema = schemathesis.openapi.from_dict(document)
        operations = [result.ok() for result in schema.get_all_operations()]
    except LoaderError as exc:  # pragma: no cover - the message says what is wrong
        pytest.fail(str(exc))
    assert len(operations) >= 10


def test_docs_page_lists_every_operation_and_schema(client):
    document = client.get("/api/v1/openapi.json").json
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for path, _item in document["paths"].items():
        assert path in html, path
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html, name
    assert "<script>" not in html and 'style="' not in html
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_docs_page_in_chinese(client):
    response = client.get("/api/v1/docs?lang=zh")
    assert response.status_code == 200


def test_documented_examples_match_real_answers(client, factory):
    """A hand-written pass over the main shapes, so a schema that is too loose
    to fail schemathesis still has to match a real, full answer."""
    import jsonschema_rs

    document = client.get("/api/v1/openapi.json").json
    admin, trainer, trainee = factory.admin(), factory.trainer(), factory.trainee()
    run = factory.run(trainers=[trainer])
    enrolment = factory.enrolment(run, trainee)

    def check(name, instance):
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema_rs.Draft202012Validator(schema).validate(instance)

    check("CoursePage", api(client).get("/api/v1/courses").json)
    check("Course", api(client).get(f"/api/v1/courses/{run.course_id}").json)
    check("Run", api(client).get(f"/api/v1/runs/{run.id}").json)
    check("Enrolment", api(client, trainee).get(f"/api/v1/enrolments/{enrolment.id}").json)
    check("EnrolmentPage", api(client, admin).get(f"/api/v1/runs/{run.id}/enrolments").json)
    check("Error", api(client).get("/api/v1/courses/999999").json)


# --- schemathesis ------------------------------------------------------------------


@pytest.fixture
def seeded_schema(app, factory):
    """The app with a little data, its schema, and an admin's token on every call."""
    admin, trainer, trainee = factory.admin(), factory.trainer(), factory.trainee()
    course = factory.course()
    run = factory.run(course, trainers=[trainer], capacity=2)
    enrolment = factory.enrolment(run, trainee)
    past = factory.past_run(course, trainers=[trainer])
    finished = factory.enrolment(past, factory.trainee(name="欧阳晓燕"))
    from training.attendance.models import Attendance
    from training.certificates.services import issue_for_run
    from training.extensions import db

    for meeting in past.meetings:
        db.session.add(Attendance(enrolment_id=finished.id, meeting_id=meeting.id, status="present"))
    db.session.commit()
    code = issue_for_run(admin, past.id)["issued"][0]["code"]
    from training.accounts.services import create_token

    token = create_token(admin, "schemathesis")
    app.config["RAISE_UNEXPECTED_ERRORS"] = False  # a 5xx must come back as a response for the check to see it
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.auth_header = {"Authorization": f"Bearer {token}"}
    # Generated ids rarely exist; the "seeded" pass sends these so the happy paths run too.
    schema.seeded_ids = {
        "course_id": course.id,
        "run_id": run.id,
        "enrolment_id": enrolment.id,
        "meeting_id": past.meetings[0].id,
        "code": code,
        "user_id": trainer.id,
    }
    return schema


CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 8


@pytest.mark.parametrize("mode", ["positive", "negative", "seeded"])
def test_api_conforms_to_its_document(seeded_schema, mode):
    """schemathesis's generated requests, as an admin, for every operation:
    no 5xx, and every answer's status, media type, headers and body are
    those the document promises. (The pytest plugin of this schemathesis
    version does not support this pytest, so the Python API drives Hypothesis
    directly.)"""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation.modes import GenerationMode

    operations = [result.ok() for result in seeded_schema.get_all_operations()]
    assert len(operations) >= 10
    failures, calls = [], 0
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        if mode == "seeded":
            if not names or not names <= seeded_schema.seeded_ids.keys():
                continue
            strategy = operation.as_strategy(
                GenerationMode.POSITIVE, path_parameters={name: seeded_schema.seeded_ids[name] for name in names}
            )
        else:
            strategy = operation.as_strategy(GenerationMode(mode))

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,  # the same cases however fast the machine is
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        def run(case):
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=seeded_schema.auth_header, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            assert mode == "negative", operation.label  # nothing in it can be made invalid (no input)
        except Exception as exc:  # collect them all: one report for every operation that fails
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert calls >= len(operations)
