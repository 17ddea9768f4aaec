"""Authorisation matrix: every route and method of the app x six people, with
the expected outcome in ONE table (EXPECTED below).

People (columns, in this order):
  anon   nobody logged in
  tr     the trainee: enrolled in the run, holds a certificate of the past run, owns the API token
  tr2    another trainee, with nothing of theirs in this world
  run_t  the run's trainer
  oth_t  another trainer, who teaches nothing here
  admin  an admin

and two coordinators of member companies (COORDINATOR_EXPECTED below):
  co     the coordinator of the trainee's company (the enrolment and the past certificate are the company's)
  co2    the coordinator of another company: nothing here is theirs, and company pages answer 404

Outcomes:
  O  allowed: 2xx, a redirect that is not to the login page, or a business-rule refusal after the
     permission check (400/409/422: "already enrolled", "form incomplete")
  L  redirected to the login page to log in first (pages)
  U  401 (the API)
  D  denied: 403 or 404, or (pages) sent back with an error message, the way a form says no

Every refusal (L, U, D) must also change nothing in the database. No response
may be a 5xx. A new route fails test_every_route_is_in_the_table until a row
is added: nobody can add a page without deciding who may use it.
"""

from __future__ import annotations

import pytest
from flask import g

from tests.conftest import login, make_test_app
from tests.factories import ApiClient, Factory
from tests.security.conftest import build_world, snapshot
from training.extensions import db

PEOPLE = ("anon", "tr", "tr2", "run_t", "oth_t", "admin")
ACTOR = {
    "tr": "trainee",
    "tr2": "other_trainee",
    "run_t": "trainer",
    "oth_t": "other_trainer",
    "admin": "admin",
    "co": "coordinator",
    "co2": "other_coordinator",
}
COORDINATORS = ("co", "co2")

PUBLIC = "OOOOOO"
USER = "LOOOOO"  # any logged-in person
ADMIN = "LDDDDO"  # admin pages
STAFF = "LDDODO"  # the run's trainers and admins
TEACHERS = "LDDOOO"  # any trainer, and admins
HOLDER = "LODDDO"  # the trainee concerned (owner), and admins
API_PUBLIC = "OOOOOO"
API_ADMIN = "UDDDDO"
API_STAFF = "UDDODO"
REPORTS = "LDDOOO"  # admins (everything), trainers (their own runs; none here for the other trainer), coordinators
API_REPORTS = "UDDOOO"

# (method, endpoint): outcome for anon, tr, tr2, run_t, oth_t, admin
EXPECTED: dict[tuple[str, str], str] = {
    # --- public pages
    ("GET", "catalogue.index"): PUBLIC,
    ("GET", "catalogue.course"): PUBLIC,
    ("GET", "catalogue.run_ics"): PUBLIC,
    ("GET", "catalogue.feed"): PUBLIC,  # a secret URL (the trainee's calendar token) is the key
    ("GET", "trainers.directory"): PUBLIC,
    ("GET", "trainers.profile"): PUBLIC,
    ("GET", "trainers.photo"): "DDDDDD",  # public, but this world has no photo file
    ("GET", "certificates.verify_form"): PUBLIC,
    ("GET", "certificates.verify"): PUBLIC,
    ("GET", "certificates.badge"): PUBLIC,
    ("GET", "certificates.badge_jwt"): PUBLIC,
    ("POST", "certificates.check_document"): PUBLIC,  # a PDF checked against the issued one, not kept
    ("POST", "certificates.check_any_document"): PUBLIC,
    ("GET", "certificates.jwks"): PUBLIC,
    ("GET", "certificates.did_document"): PUBLIC,
    ("GET", "certificates.status_list"): PUBLIC,
    ("GET", "static"): PUBLIC,
    ("GET", "bootstrap.static"): PUBLIC,
    ("GET", "healthz"): PUBLIC,
    ("GET", "readyz"): PUBLIC,
    ("GET", "metrics"): PUBLIC,  # loopback/private addresses only, or METRICS_TOKEN (tests/ops)
    ("GET", "accounts.set_language"): PUBLIC,
    ("GET", "accounts.login"): PUBLIC,
    ("POST", "accounts.login"): PUBLIC,
    ("GET", "accounts.register"): PUBLIC,
    ("POST", "accounts.register"): PUBLIC,
    ("GET", "accounts.forgot_password"): PUBLIC,
    ("POST", "accounts.forgot_password"): PUBLIC,
    ("GET", "accounts.reset_password"): "DDDDDD",  # public, but the token is the key: a bad one is refused
    ("POST", "accounts.reset_password"): "DDDDDD",
    ("GET", "accounts.confirm_registration"): "DDDDDD",  # the e-mailed token is the key: a bad one is refused
    ("POST", "accounts.confirm_registration"): "DDDDDD",
    # --- one's own account
    ("GET", "accounts.home"): USER,
    ("POST", "accounts.logout"): USER,
    ("GET", "accounts.settings"): USER,
    ("POST", "accounts.settings"): USER,
    ("POST", "accounts.change_password"): USER,
    ("POST", "accounts.create_token"): USER,
    ("POST", "accounts.revoke_token"): "LODDDD",  # only the token's owner, not even an admin
    ("POST", "accounts.logout_everywhere"): USER,
    ("GET", "catalogue.my_calendar"): USER,
    ("POST", "catalogue.reset_calendar"): USER,
    ("GET", "certificates.mine"): USER,
    ("GET", "dashboard.my_training"): USER,
    # --- trainees
    ("POST", "enrolment.enrol"): "LDODDO",  # trainees enrol themselves (tr is already enrolled:
    # refused); admins may enrol anyone, themselves too
    ("POST", "enrolment.cancel"): HOLDER,
    ("GET", "enrolment.offer"): HOLDER,
    ("POST", "enrolment.accept_offer"): HOLDER,
    ("POST", "enrolment.decline_offer"): HOLDER,
    ("GET", "certificates.download"): HOLDER,
    ("GET", "certificates.download_status_copy"): HOLDER,
    ("GET", "attendance.my_attendance"): "LODODO",
    ("GET", "attendance.checkin_form"): USER,
    ("POST", "attendance.checkin_form"): USER,
    ("GET", "attendance.scan"): PUBLIC,  # where a QR code leads: the code is the check
    ("GET", "attendance.confirm"): USER,
    ("POST", "attendance.confirm"): USER,
    # --- trainers
    ("GET", "attendance.today"): TEACHERS,
    ("GET", "attendance.roster"): STAFF,
    ("POST", "attendance.save_roster"): STAFF,
    ("POST", "attendance.save_roster_json"): STAFF,
    ("GET", "attendance.history"): STAFF,
    ("GET", "attendance.checkin_code"): STAFF,
    ("GET", "attendance.checkin_screen"): STAFF,
    ("GET", "attendance.sign_in_sheet"): STAFF,
    ("GET", "attendance.run_register"): STAFF,
    ("GET", "attendance.register_csv"): STAFF,
    ("GET", "attendance.register_pdf"): STAFF,
    ("POST", "attendance.save_assessment"): STAFF,
    ("POST", "attendance.finalise"): STAFF,
    ("POST", "attendance.reopen"): ADMIN,
    ("GET", "attendance.manage_meeting"): ADMIN,
    ("POST", "attendance.cancel_meeting"): ADMIN,
    ("POST", "attendance.move_meeting"): ADMIN,
    ("GET", "attendance.service_worker"): PUBLIC,  # the roster's offline cache script, no data in it
    ("GET", "trainers.edit_profile"): STAFF,  # user_id is the run's trainer: themself and admins
    ("POST", "trainers.edit_profile"): STAFF,
    ("POST", "trainers.upload_photo"): STAFF,
    ("POST", "trainers.remove_photo"): STAFF,
    # --- admin pages
    ("GET", "admin.dashboard"): ADMIN,
    ("GET", "admin.audit"): ADMIN,
    ("GET", "admin.users"): ADMIN,
    ("GET", "admin.user_new"): ADMIN,
    ("POST", "admin.user_new"): ADMIN,
    ("GET", "admin.user_edit"): ADMIN,
    ("POST", "admin.user_edit"): ADMIN,
    ("GET", "admin.categories"): ADMIN,
    ("POST", "admin.categories"): ADMIN,
    ("GET", "admin.category_edit"): ADMIN,
    ("POST", "admin.category_edit"): ADMIN,
    ("POST", "admin.category_delete"): ADMIN,
    ("GET", "admin.courses"): ADMIN,
    ("GET", "admin.course_new"): ADMIN,
    ("POST", "admin.course_new"): ADMIN,
    ("GET", "admin.course_edit"): ADMIN,
    ("POST", "admin.course_edit"): ADMIN,
    ("POST", "admin.course_archive"): ADMIN,
    ("POST", "admin.course_restore"): ADMIN,
    ("POST", "admin.course_delete"): ADMIN,
    ("GET", "admin.run_new"): ADMIN,
    ("POST", "admin.run_new"): ADMIN,
    ("GET", "admin.runs"): ADMIN,
    ("GET", "admin.run_edit"): ADMIN,
    ("POST", "admin.run_edit"): ADMIN,
    ("POST", "admin.run_cancel"): ADMIN,
    ("POST", "admin.meeting_add"): ADMIN,
    ("POST", "admin.meeting_delete"): ADMIN,
    ("GET", "admin.run_enrolments"): ADMIN,
    ("GET", "admin.export_enrolments"): ADMIN,
    ("POST", "admin.add_enrolment"): ADMIN,
    ("GET", "admin.import_enrolments"): ADMIN,
    ("POST", "admin.import_enrolments"): ADMIN,
    ("POST", "admin.import_commit"): "LDDDDD",  # admins only; here no preview awaits: refused for all
    ("GET", "admin.enrolments"): ADMIN,
    ("POST", "admin.enrolment_approve"): ADMIN,
    ("POST", "admin.enrolment_reject"): ADMIN,
    ("POST", "admin.enrolment_status"): ADMIN,
    ("POST", "admin.enrolment_offer"): ADMIN,
    ("GET", "admin.certificates"): ADMIN,
    ("GET", "admin.certificate"): ADMIN,
    ("POST", "admin.revoke"): ADMIN,
    ("POST", "admin.reissue"): ADMIN,
    ("GET", "admin.certificate_job"): ADMIN,
    ("GET", "admin.renewals"): ADMIN,
    ("POST", "admin.send_reminders"): ADMIN,
    ("GET", "admin.run_certificates"): ADMIN,
    ("POST", "admin.issue_run"): ADMIN,
    ("POST", "admin.email_run"): ADMIN,
    ("GET", "admin.run_zip"): ADMIN,
    ("GET", "admin.run_print"): ADMIN,
    ("GET", "admin.certificate_templates"): ADMIN,
    ("GET", "admin.certificate_template"): ADMIN,
    ("POST", "admin.certificate_template"): ADMIN,
    ("POST", "admin.delete_certificate_template"): ADMIN,
    ("GET", "admin.certificate_template_preview"): ADMIN,
    ("GET", "admin.certificate_template_preview_png"): ADMIN,
    # --- reports and feedback
    ("GET", "reports.dashboard"): REPORTS,
    ("GET", "reports.export"): REPORTS,
    ("GET", "reports.survey"): "LODDDD",  # only the invited trainee (not even an admin answers for them)
    ("POST", "reports.survey"): "LODDDD",
    ("GET", "reports.questions"): ADMIN,
    ("POST", "reports.questions"): ADMIN,
    ("POST", "reports.question_edit"): ADMIN,
    ("GET", "reports.subscriptions"): ADMIN,
    ("POST", "reports.subscriptions"): ADMIN,
    ("POST", "reports.unsubscribe"): ADMIN,
    # --- JSON API (bearer tokens)
    ("GET", "api.openapi"): API_PUBLIC,
    ("GET", "api.docs"): API_PUBLIC,
    ("GET", "api.list_courses"): API_PUBLIC,
    ("GET", "api.get_course"): API_PUBLIC,
    ("POST", "api.create_course"): API_ADMIN,
    ("PATCH", "api.update_course"): API_ADMIN,
    ("POST", "api.create_run"): API_ADMIN,
    ("GET", "api.get_run"): API_PUBLIC,
    ("PATCH", "api.update_run"): API_ADMIN,
    ("POST", "api.cancel_run"): API_ADMIN,
    ("POST", "api.enrol"): "UOODDO",  # trainees (and admins) enrol themselves with {} (tr: 409)
    ("GET", "api.list_enrolments"): API_STAFF,
    ("POST", "api.import_enrolments"): API_ADMIN,
    ("GET", "api.get_enrolment"): "UODODO",
    ("DELETE", "api.cancel_enrolment"): "UODDDO",
    ("POST", "api.offer_seat"): API_ADMIN,
    ("POST", "api.accept_offer"): "UODDDO",
    ("POST", "api.decline_offer"): "UODDDO",
    ("GET", "api.meeting_attendance"): API_STAFF,
    ("PUT", "api.mark_attendance"): API_STAFF,
    ("POST", "api.finalise_register"): API_STAFF,
    ("POST", "api.reopen_register"): API_ADMIN,
    ("GET", "api.checkin_code"): API_STAFF,
    ("POST", "api.self_checkin"): "UOOOOO",  # any signed-in person; the code and the enrolment decide (422/409)
    ("POST", "api.cancel_meeting"): API_ADMIN,
    ("POST", "api.move_meeting"): API_ADMIN,
    ("POST", "api.issue_run_certificates"): API_ADMIN,
    ("GET", "api.list_run_certificates"): API_ADMIN,
    ("GET", "api.run_certificates_zip"): API_ADMIN,
    ("GET", "api.get_certificate"): API_PUBLIC,
    ("GET", "api.certificate_pdf"): "UODDDO",
    ("POST", "api.revoke_certificate"): API_ADMIN,
    ("POST", "api.reissue_certificate"): API_ADMIN,
    ("GET", "api.certificate_badge"): API_PUBLIC,
    ("GET", "api.list_trainers"): API_PUBLIC,
    ("GET", "api.get_trainer"): API_PUBLIC,
    ("GET", "api.get_job"): API_ADMIN,  # the job's creator (admin here) and admins
    ("GET", "api.reports_summary"): API_REPORTS,
    ("GET", "api.reports_monthly"): API_REPORTS,
    # --- member companies: company_id is the trainee's company (co's); every refusal of a company page is 404
    ("GET", "companies.mine"): "LDDDDO",  # a coordinator's own company (co, co2: see below)
    ("GET", "companies.home"): ADMIN,
    ("POST", "companies.reserve"): ADMIN,
    ("POST", "companies.add_coordinator"): ADMIN,
    ("GET", "companies.people"): ADMIN,
    ("POST", "companies.add_person"): ADMIN,
    ("POST", "companies.import_people"): ADMIN,
    ("GET", "companies.enrolments"): ADMIN,
    ("POST", "companies.enrol"): ADMIN,
    ("POST", "companies.cancel"): ADMIN,
    ("GET", "companies.attendance"): ADMIN,
    ("GET", "companies.certificates"): ADMIN,
    ("GET", "companies.report"): ADMIN,
    ("GET", "companies.qualifications"): ADMIN,
    ("GET", "companies.report_xlsx"): ADMIN,
    ("GET", "companies.admin_list"): ADMIN,
    ("POST", "companies.admin_list"): ADMIN,
    ("GET", "companies.admin_review"): ADMIN,
    ("POST", "companies.admin_review"): ADMIN,
    ("POST", "companies.admin_merge"): ADMIN,
    ("POST", "companies.admin_reviewed"): ADMIN,
    ("GET", "companies.join"): "DDDDDD",  # public, but the invitation token is the key
    ("POST", "companies.join"): "DDDDDD",
    ("POST", "api.create_company"): API_ADMIN,
    ("GET", "api.get_company"): API_ADMIN,
    ("POST", "api.add_coordinator"): API_ADMIN,
    ("POST", "api.add_person"): API_ADMIN,
    ("GET", "api.list_people"): API_ADMIN,
    ("POST", "api.create_allocation"): API_ADMIN,
    ("GET", "api.list_allocations"): API_ADMIN,
    ("GET", "api.company_report"): API_ADMIN,
    # --- qualifications (issue 14); user_id is the trainee's (ARGUMENT_OVERRIDES). Assessors are
    # covered in tests/qualifications (they are not one of the six people here).
    ("GET", "qualifications.matrix"): ADMIN,
    ("GET", "qualifications.matrix_xlsx"): ADMIN,
    ("GET", "qualifications.matrix_pdf"): ADMIN,
    ("GET", "qualifications.qualified"): ADMIN,
    ("GET", "qualifications.mine"): USER,
    ("GET", "qualifications.skill"): PUBLIC,  # where a credential's alignment points
    ("GET", "qualifications.person"): "LODODO",  # the person, trainers of their runs, admins
    ("GET", "qualifications.evidence"): "LODODO",
    ("POST", "qualifications.add_grant"): ADMIN,  # assessors and admins
    ("POST", "qualifications.enrol_gap"): "LODDDO",  # the person themself, admins (enrolment rules on top)
    ("GET", "qualifications.evidence_file"): "LODODO",  # the grant's person, their trainers, (assessors,) admins
    ("GET", "api.grant_evidence_file"): "UODODO",
    ("GET", "qualifications.admin_skills"): ADMIN,
    ("GET", "qualifications.admin_skill_new"): ADMIN,
    ("POST", "qualifications.admin_skill_new"): ADMIN,
    ("GET", "qualifications.admin_skill_edit"): ADMIN,
    ("POST", "qualifications.admin_skill_edit"): ADMIN,
    ("GET", "qualifications.admin_positions"): ADMIN,
    ("GET", "qualifications.admin_position_new"): ADMIN,
    ("POST", "qualifications.admin_position_new"): ADMIN,
    ("GET", "qualifications.admin_position_edit"): ADMIN,
    ("POST", "qualifications.admin_position_edit"): ADMIN,
    ("GET", "api.list_skills"): "UOOOOO",
    ("POST", "api.create_skill"): API_ADMIN,
    ("PUT", "api.set_course_skills"): API_ADMIN,
    ("POST", "api.create_position"): API_ADMIN,
    ("PUT", "api.set_position_people"): API_ADMIN,
    ("GET", "api.position_coverage"): API_ADMIN,
    ("GET", "api.person_qualifications"): "UODODO",
    ("POST", "api.grant_qualification"): API_ADMIN,
    ("GET", "api.qualified"): API_ADMIN,
    ("GET", "api.matrix_xlsx"): API_ADMIN,
}

# Outcomes for (co, co2). A route not listed gets tr2's outcome for both: a
# coordinator has nothing of theirs in this world but what is listed here.
COORDINATOR_EXPECTED: dict[tuple[str, str], str] = {
    ("POST", "enrolment.enrol"): "DD",  # coordinators enrol their people, not themselves
    ("POST", "api.enrol"): "DD",
    ("POST", "enrolment.cancel"): "OD",  # the company's enrolment: its coordinator may cancel it
    ("DELETE", "api.cancel_enrolment"): "OD",
    ("GET", "api.get_enrolment"): "OD",
    ("GET", "attendance.my_attendance"): "OD",  # the company's enrolment: its coordinator follows attendance
    ("GET", "companies.mine"): "OO",  # each to their own company
    ("GET", "companies.home"): "OD",
    ("POST", "companies.reserve"): "DD",  # admins reserve seats (co: sent back with the refusal)
    ("POST", "companies.add_coordinator"): "DD",  # admins name coordinators
    ("GET", "companies.people"): "OD",
    ("POST", "companies.add_person"): "OD",
    ("POST", "companies.import_people"): "OD",  # no file sent: co is told to choose one
    ("GET", "companies.enrolments"): "OD",
    ("POST", "companies.enrol"): "OD",
    ("POST", "companies.cancel"): "OD",
    ("GET", "companies.attendance"): "OD",
    ("GET", "companies.certificates"): "OD",
    ("GET", "companies.report"): "OD",
    ("GET", "companies.qualifications"): "OD",
    ("GET", "companies.report_xlsx"): "OD",
    ("GET", "companies.admin_list"): "DD",
    ("POST", "companies.admin_list"): "DD",
    ("GET", "companies.admin_review"): "DD",
    ("POST", "companies.admin_review"): "DD",
    ("POST", "companies.admin_merge"): "DD",
    ("POST", "companies.admin_reviewed"): "DD",
    ("POST", "api.create_company"): "DD",
    ("GET", "api.get_company"): "OD",
    ("POST", "api.add_coordinator"): "DD",
    ("POST", "api.add_person"): "OD",
    ("GET", "api.list_people"): "OD",
    ("POST", "api.create_allocation"): "DD",
    ("GET", "api.list_allocations"): "OO",  # each coordinator sees their own company's reservation only
    ("GET", "api.company_report"): "OD",
    ("GET", "companies.join"): "DD",
    ("POST", "companies.join"): "DD",
    ("GET", "reports.dashboard"): "OO",  # each coordinator: their company's enrolments
    ("GET", "reports.export"): "OO",
    ("GET", "api.reports_summary"): "OO",
    ("GET", "api.reports_monthly"): "OO",
}


def expected_for(key) -> dict[str, str]:
    """Every person's expected outcome for a route: the table's six, then the two coordinators."""
    row = dict(zip(PEOPLE, EXPECTED[key], strict=False))
    row.update(zip(COORDINATORS, COORDINATOR_EXPECTED.get(key, row["tr2"] * 2), strict=False))
    return row


METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
FORM = {
    "email": "someone@example.com",
    "password": "correct horse battery staple",
    "name": "Mallory",
    "current": "correct horse battery staple",
    "confirm": "correct horse battery staple",
    "reason": "test",
    "status": "cancelled",
    "title": "Changed",
    "code": "NEW-1",
    "hours": "8",
    "role": "admin",
    "holder_name": "Someone Else",
}
# A URL argument whose value depends on the route.
ARGUMENT_OVERRIDES = {
    "bootstrap.static": lambda w: {"filename": "css/bootstrap.min.css"},
    "admin.category_delete": lambda w: {"category_id": w.free_category.id},
    "admin.course_delete": lambda w: {"course_id": w.free_course.id},
    "admin.enrolment_approve": lambda w: {"enrolment_id": w.pending.id},
    "companies.admin_merge": lambda w: {"company_id": w.spare_company.id},
    "admin.enrolment_reject": lambda w: {"enrolment_id": w.pending.id},
    "admin.enrolment_offer": lambda w: {"enrolment_id": w.offerable.id},
    "api.offer_seat": lambda w: {"enrolment_id": w.offerable.id},
    "enrolment.offer": lambda w: {"enrolment_id": w.offered.id},
    "enrolment.accept_offer": lambda w: {"enrolment_id": w.offered.id},
    "enrolment.decline_offer": lambda w: {"enrolment_id": w.offered.id},
    "api.accept_offer": lambda w: {"enrolment_id": w.offered.id},
    "api.decline_offer": lambda w: {"enrolment_id": w.offered.id},
    "certificates.status_list": lambda w: {"number": 1},
    "qualifications.skill": lambda w: {"code": "PLC-BASICS"},
    **{
        endpoint: (lambda w: {"user_id": w.trainee.id})
        for endpoint in (
            "qualifications.person",
            "qualifications.evidence",
            "qualifications.add_grant",
            "qualifications.enrol_gap",
            "api.person_qualifications",
            "api.grant_qualification",
        )
    },
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & METHODS):
            yield method, rule


def test_every_route_is_in_the_table(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database)
    routed = {(method, rule.endpoint) for method, rule in _routes(app)}
    missing = sorted(routed - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - routed)
    assert not missing, f"routes without a row in EXPECTED: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"
    assert all(len(v) == len(PEOPLE) and set(v) <= set("OLUD") for v in EXPECTED.values())
    assert COORDINATOR_EXPECTED.keys() <= routed
    company_routes = {
        k
        for k in routed
        if k[1].startswith("companies.")
        or "compan" in k[1]
        or "allocation" in k[1]
        or k[1] == "api.list_people"
        or k[1] == "api.add_person"
        or k[1] == "api.add_coordinator"
    }
    assert company_routes <= COORDINATOR_EXPECTED.keys(), "decide the coordinators' outcome of every company route"
    assert all(len(v) == len(COORDINATORS) and set(v) <= set("OLUD") for v in COORDINATOR_EXPECTED.values())


def _outcome(response, flashes=()) -> str:
    status = response.status_code
    if status >= 500:
        return "5xx"
    if status == 401:
        return "U"
    if status in (403, 404):
        return "D"
    if status in (301, 302, 303, 307, 308):
        location = response.location or ""
        if "/login?" in location and "next=" in location:
            return "L"
        if any(category == "danger" for category, _message in flashes):
            return "D"
    if status < 400 or status in (400, 409, 422):
        return "O"
    return str(status)


def _call(app, world, who: str, method: str, rule) -> str:
    ids = dict(world.ids(), **ARGUMENT_OVERRIDES.get(rule.endpoint, lambda w: {})(world))
    url = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
    client = app.test_client()
    user = getattr(world, ACTOR[who]) if who != "anon" else None
    g.pop("_login_user", None)
    if rule.rule.startswith("/api/"):
        caller = ApiClient(client, user)
        response = caller._call(method, url, json={} if method != "GET" else None)
    else:
        if user is not None:
            login(client, user)
        is_json = url.endswith(".json") and method != "GET"
        form = dict(
            FORM,
            run_id=world.run.id,
            company_id=world.company.id,
            into=world.company.id,
            seats="1",
            key="somewhere else",
        )
        response = client.open(
            url, method=method, **({"json": {"records": []}} if is_json else {"data": form} if method != "GET" else {})
        )
    response.close()
    flashes = ()
    if not rule.rule.startswith("/api/") and response.status_code in (301, 302, 303, 307, 308):
        with client.session_transaction() as session:
            flashes = tuple(session.get("_flashes", ()))
    return _outcome(response, flashes)


@pytest.fixture
def matrix_app(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, CATCH_IN_TESTS=True)
    with app.app_context():
        yield app
        db.session.remove()


def test_authorisation_matrix(matrix_app):
    """Read-only routes share one world; each state-changing route gets a fresh
    one, called by the people expected to be refused first."""
    problems = []
    reading = build_world(Factory())
    for method, rule in sorted(_routes(matrix_app), key=lambda mr: (mr[0] != "GET", mr[1].rule)):
        key = (method, rule.endpoint)
        if key not in EXPECTED:
            continue  # reported by test_every_route_is_in_the_table
        expected = expected_for(key)
        if method == "GET":
            world = reading
        else:
            _reset(matrix_app)
            world = build_world(Factory())
        order = sorted(PEOPLE + COORDINATORS, key=lambda p: expected[p] == "O")  # refusals first, on untouched data
        allowed_ran = False
        for who in order:
            if method != "GET" and expected[who] == "O":
                if allowed_ran:  # the previous allowed person may have changed the world
                    _reset(matrix_app)
                    world = build_world(Factory())
                allowed_ran = True
            must_not_change = expected[who] != "O"
            before = snapshot() if must_not_change and method != "GET" else None
            got = _call(matrix_app, world, who, method, rule)
            db.session.expire_all()
            if got != expected[who]:
                problems.append(f"{method} {rule.rule} ({rule.endpoint}) as {who}: expected {expected[who]}, got {got}")
            elif before is not None and snapshot() != before:
                problems.append(f"{method} {rule.rule} ({rule.endpoint}) as {who}: refused but changed data")
    assert not problems, "\n".join(problems)


def _reset(app):
    """Empty every table for the next route's fresh world (DELETE: on a few
    rows it is much faster than TRUNCATE on PostgreSQL)."""
    db.session.remove()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
