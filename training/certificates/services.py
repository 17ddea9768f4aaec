"""Certificates: issuing (never early, never twice), revoking, reissuing, verifying."""
from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..admin.models import record
from ..attendance.services import eligibility_for_run
from ..catalogue.models import Run
from ..catalogue.services import get_run, run_end
from ..enrolment.models import Enrolment
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can
from ..types import utcnow
from . import codes
from .models import Certificate


def _snapshot(enrolment: Enrolment, percent: float | None) -> Certificate:
    run, course = enrolment.run, enrolment.run.course
    completed = run_end(run).astimezone(run.tz).date()
    expires = completed + relativedelta(months=course.validity_months) if course.validity_months else None
    return Certificate(
        code=codes.generate(), enrolment_id=enrolment.id, current_for_enrolment_id=enrolment.id,
        holder_name=enrolment.user.display_name, course_code=course.code, course_title=course.title,
        hours=course.hours, run_starts_on=run.starts_on, run_ends_on=run.ends_on, completed_on=completed,
        trainer_names="; ".join(t.display_name for t in run.trainers),
        issuer_name=current_app.config["ORG_NAME"], attendance_pct=percent, expires_on=expires)


def issue_for_run(actor, run_id: int) -> dict:
    """Issue every eligible certificate of the run not issued yet.

    The run row is locked for the whole transaction and the database allows one
    current certificate per enrolment, so two admins issuing at once get one
    certificate per enrolment between them.
    """
    if actor is not None and not can(actor, "issue_certificates"):
        raise Forbidden("Only an admin can issue certificates.")
    run = get_run(run_id, lock=True)
    if run.status == "cancelled":
        raise Conflict("This run was cancelled.", code="run_cancelled")
    existing = set(db.session.scalars(select(Certificate.current_for_enrolment_id).join(
        Enrolment, Certificate.enrolment_id == Enrolment.id).where(
        Enrolment.run_id == run.id, Certificate.current_for_enrolment_id.is_not(None))))
    issued, skipped, new = [], [], []
    for enrolment, verdict in eligibility_for_run(run.id):
        if enrolment.id in existing:
            skipped.append({"enrolment_id": enrolment.id, "reason": "already_issued",
                            "message": "A certificate was already issued."})
        elif not verdict.eligible:
            skipped.append({"enrolment_id": enrolment.id, "reason": verdict.code, "message": verdict.reason})
        else:
            certificate = _snapshot(enrolment, verdict.progress.percent if verdict.progress else None)
            certificate.issued_by_id = getattr(actor, "id", None)
            new.append(certificate)
    db.session.add_all(new)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Certificates for this run are being issued by someone else; try again.",
                       code="issue_in_progress") from None
    for certificate in new:
        issued.append({"code": certificate.code, "enrolment_id": certificate.enrolment_id})
    if new:
        record(actor, "certificate.issue", run, f"{len(new)} certificates")
    db.session.commit()
    return {"issued": issued, "skipped": skipped}


def get_by_code(text: str) -> Certificate:
    code = codes.normalise(text)
    if code is None:
        raise NotFound("No certificate has this code.")
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code).options(
        selectinload(Certificate.superseded_by)))
    if certificate is None:
        raise NotFound("No certificate has this code.")
    return certificate


def revoke(actor, code: str, reason: str) -> Certificate:
    if not can(actor, "revoke_certificate"):
        raise Forbidden("Only an admin can revoke certificates.")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed("Give a reason for revoking.", fields={"reason": "required"})
    if len(reason) > 2000:
        raise ValidationFailed("The reason is longer than 2000 characters.", fields={"reason": "too long"})
    certificate = get_by_code(code)
    if certificate.revoked_at is not None:
        raise Conflict("This certificate is already revoked.", code="already_revoked")
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason.strip()
    certificate.revoked_by_id = actor.id
    record(actor, "certificate.revoke", certificate, reason.strip())
    db.session.commit()
    return certificate


def reissue(actor, code: str, holder_name: str | None = None) -> Certificate:
    """A new certificate for the same completion (e.g. after a name correction):
    new code, the original completion date, the old one marked superseded."""
    if not can(actor, "issue_certificates"):
        raise Forbidden("Only an admin can reissue certificates.")
    old = get_by_code(code)
    if old.superseded_by_id is not None:
        raise Conflict("This certificate was already superseded.", code="superseded")
    if old.revoked_at is not None:
        raise Conflict("A revoked certificate cannot be reissued.", code="already_revoked")
    get_run(old.enrolment.run_id, lock=True)
    enrolment = old.enrolment
    name = (holder_name or enrolment.user.display_name).strip()
    if not name or len(name) > 200:
        raise ValidationFailed("The name must be 1 to 200 characters.", fields={"holder_name": "invalid"})
    old.current_for_enrolment_id = None
    db.session.flush()
    new = Certificate(
        code=codes.generate(), enrolment_id=enrolment.id, current_for_enrolment_id=enrolment.id,
        holder_name=name, course_code=old.course_code, course_title=old.course_title, hours=old.hours,
        run_starts_on=old.run_starts_on, run_ends_on=old.run_ends_on, completed_on=old.completed_on,
        trainer_names=old.trainer_names, issuer_name=old.issuer_name, attendance_pct=old.attendance_pct,
        expires_on=old.expires_on, issued_by_id=actor.id)
    db.session.add(new)
    db.session.flush()
    old.superseded_by_id = new.id
    record(actor, "certificate.reissue", new, f"replaces {old.code}")
    db.session.commit()
    return new


def certificates_of(user) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).join(Enrolment, Certificate.enrolment_id == Enrolment.id)
                                   .where(Enrolment.user_id == user.id).order_by(Certificate.issued_at.desc())))


def run_certificates(run_id: int) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).join(Enrolment, Certificate.enrolment_id == Enrolment.id)
                                   .where(Enrolment.run_id == run_id).options(selectinload(Certificate.enrolment))
                                   .order_by(Certificate.holder_name)))


def public_view(certificate: Certificate, today: date | None = None) -> dict:
    """What anyone may see of a certificate: no e-mail, no other personal data."""
    status = certificate.status_on(today or utcnow().date())
    data = {
        "code": certificate.code, "display_code": codes.display(certificate.code), "status": status,
        "holder_name": certificate.holder_name, "course_code": certificate.course_code,
        "course_title": certificate.course_title, "hours": certificate.hours,
        "starts_on": certificate.run_starts_on.isoformat(), "ends_on": certificate.run_ends_on.isoformat(),
        "completed_on": certificate.completed_on.isoformat(),
        "issued_on": certificate.issued_at.date().isoformat(), "trainers": certificate.trainers,
        "issuer": certificate.issuer_name,
        "expires_on": certificate.expires_on.isoformat() if certificate.expires_on else None,
        "revoked_on": certificate.revoked_at.date().isoformat() if certificate.revoked_at else None,
        "revoked_reason": certificate.revoked_reason if certificate.revoked_at else None,
        "superseded_by": certificate.superseded_by.code if certificate.superseded_by else None,
    }
    return data
