"""API: member companies, their people and coordinators, reserved seats, the company report.

Every company path answers 404 for a company the caller may not see (another
company's coordinator gets the same answer as for one that does not exist)."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _

from ..companies import reports, services
from ..companies.models import Company
from ..errors import Forbidden, ValidationFailed
from . import bp
from .helpers import body, caller, page_body
from .serializers import iso


def company_to_dict(company: Company) -> dict:
    return {
        "id": company.id,
        "code": company.code,
        "name": company.name,
        "name_zh": company.name_zh,
        "credit_code": company.credit_code,
        "address": company.address or "",
        "tier": company.tier,
        "contact_name": company.contact_name or "",
        "contact_email": company.contact_email or "",
        "contact_phone": company.contact_phone or "",
    }


def person_to_dict(person: services.Person, company_id: int) -> dict:
    user = person.user
    return {
        "id": user.id if user else None,
        "email": person.email,
        "name": person.name,
        "role": person.role,
        "status": "pending" if person.pending else "member",
        "company_id": company_id,
    }


def allocation_to_dict(allocation, used: int) -> dict:
    return {
        "id": allocation.id,
        "run_id": allocation.run_id,
        "company_id": allocation.company_id,
        "seats": allocation.seats,
        "used": used,
        "overflow": allocation.overflow,
        "release_at": iso(allocation.release_at),
        "released_at": iso(allocation.released_at),
        "released_seats": allocation.released_seats,
    }


@bp.post("/companies")
def create_company():
    company = services.create_company(caller(), body())
    return company_to_dict(company), 201, {"Location": url_for("api.get_company", company_id=company.id)}


@bp.get("/companies/<int:company_id>")
def get_company(company_id):
    return company_to_dict(services.visible_company(company_id, caller()))


@bp.post("/companies/<int:company_id>/coordinators")
def add_coordinator(company_id):
    data = body()
    person, _created = services.add_coordinator(caller(), company_id, data.get("email"), data.get("name"))
    return person_to_dict(person, company_id), 201


@bp.post("/companies/<int:company_id>/people")
def add_person(company_id):
    data = body()
    person, _created = services.add_person(caller(), company_id, data.get("email"), data.get("name"))
    return person_to_dict(person, company_id), 201


@bp.get("/companies/<int:company_id>/people")
def list_people(company_id):
    rows = services.people(company_id, caller())
    items = [person_to_dict(p, company_id) for p in rows]
    return page_body(items, 1, max(len(items), 1), len(items))


@bp.post("/runs/<int:run_id>/allocations")
def create_allocation(run_id):
    allocation, created = services.reserve_seats(caller(), run_id, body())
    used = services.allocation_usage([allocation])[allocation.id]
    return allocation_to_dict(allocation, used), 201 if created else 200


@bp.get("/runs/<int:run_id>/allocations")
def list_allocations(run_id):
    allocations = services.allocations_for_run(run_id, caller())
    usage = services.allocation_usage(allocations)
    items = [allocation_to_dict(a, usage[a.id]) for a in allocations]
    return page_body(items, 1, max(len(items), 1), len(items))


@bp.get("/companies/<int:company_id>/report")
def company_report(company_id):
    viewer = caller()
    first, last = reports.parse_period(request.args.get("from"), request.args.get("to"))
    report = reports.company_report(services.visible_company(company_id, viewer), first, last)
    return reports.report_to_dict(report)


def enrol_for_company(actor, run_id: int, data: dict):
    """POST /runs/<id>/enrolments with {email, name} by a coordinator."""
    if not isinstance(data.get("email"), str) or not data["email"].strip():
        raise ValidationFailed(_("email is required to enrol someone else."), fields={"email": "required"})
    if data.get("name") is not None and not isinstance(data.get("name"), str):
        raise ValidationFailed(_("name must be text."), fields={"name": "not text"})
    if actor.company_id is None:
        raise Forbidden(_("Only an admin can enrol someone else."))
    return services.enrol_person(actor, run_id, data["email"], data.get("name") or "")
