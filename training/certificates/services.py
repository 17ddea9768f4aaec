"""Certificates: issuing (never early, never twice), revoking, reissuing, verifying."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import content_i18n, mail, signals
from ..accounts.models import User
from ..accounts.services import clean_name
from ..attendance.services import eligibility_for_run
from ..audit import record
from ..catalogue.models import Run, RunStatus
from ..catalogue.services import get_run, run_end
from ..enrolment import services as enrolment_services
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import Conflict, DomainError, Forbidden, NotEligible, NotFound, ValidationFailed
from ..extensions import db
from ..jobs import Job, Progress
from ..permissions import Viewer, can
from ..transactions import fetch_row_alone, read_alone, unit_of_work
from ..types import local_date, org_today, utcnow
from . import bulk, codes, documents, pdf, signing, templates
from .models import Certificate


def check_prerequisite(run: Run, user: User) -> None:
    """A course with a prerequisite takes only trainees who hold a valid
    certificate of the prerequisite course (an enrolment rule this domain adds)."""
    prereq = run.course.prerequisite_course
    if prereq is None:
        return
    certs = db.session.scalars(
        select(Certificate)
        .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
        .where(Enrolment.user_id == user.id, Certificate.course_code == prereq.code)
    )
    if not any(c.status == "valid" for c in certs):
        raise NotEligible(
            _("This course requires a valid certificate of %(code)s %(title)s.", code=prereq.code, title=prereq.title),
            code="prerequisite_missing",
            prerequisite=prereq.code,
        )


enrolment_services.ENROL_CHECKS.append(check_prerequisite)


def _snapshot(enrolment: Enrolment, percent: float | None) -> Certificate:
    run, course = enrolment.run, enrolment.run.course
    completed = run_end(run).astimezone(run.tz).date()
    expires = completed + relativedelta(months=course.validity_months) if course.validity_months else None
    titles, original = content_i18n.texts(course, "title"), content_i18n.original_language(course)
    return Certificate(
        code=codes.generate(),
        enrolment_id=enrolment.id,
        current_for_enrolment_id=enrolment.id,
        holder_name=enrolment.user.display_name,
        course_code=course.code,
        course_title=titles[original],
        course_title_language=original,
        course_title_translation=titles[content_i18n.other(original)],
        hours=course.hours,
        run_starts_on=run.starts_on,
        run_ends_on=run.ends_on,
        completed_on=completed,
        trainer_names="; ".join(t.display_name for t in run.trainers),
        issuer_name=current_app.config["ORG_NAME"],
        attendance_pct=percent,
        expires_on=expires,
    )


def issue_for_run(
    actor: User | None, run_id: int, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Issue every eligible certificate of the run not issued yet.

    The run row is locked for the whole transaction and the database allows one
    current certificate per enrolment, so two admins issuing at once get one
    certificate per enrolment between them.
    """
    if actor is not None and not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can issue certificates."))
    templates.default_template()  # made (and committed) on first use: before the lock, not inside the issue
    run = get_run(run_id, lock=True)
    if run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run was cancelled."), code="run_cancelled")
    existing = set(
        db.session.scalars(
            select(Certificate.current_for_enrolment_id)
            .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
            .where(Enrolment.run_id == run.id, Certificate.current_for_enrolment_id.is_not(None))
        )
    )
    issued: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    new: list[Certificate] = []
    for enrolment, verdict in eligibility_for_run(run.id):
        if enrolment.id in existing:
            skipped.append(
                {
                    "enrolment_id": enrolment.id,
                    "reason": "already_issued",
                    "message": _("A certificate was already issued."),
                }
            )
        elif not verdict.eligible:
            skipped.append({"enrolment_id": enrolment.id, "reason": verdict.code, "message": verdict.reason})
        else:
            certificate = _snapshot(enrolment, verdict.progress.percent if verdict.progress else None)
            certificate.issued_by_id = getattr(actor, "id", None)
            new.append(certificate)
    if progress:
        return _issue_in_batches(actor, run_id, run.course_id, new, issued, skipped, progress)
    db.session.add_all(new)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _("Certificates for this run are being issued by someone else; try again."), code="issue_in_progress"
        ) from None
    _make_documents([(certificate, run.course_id) for certificate in new])
    for certificate in new:
        issued.append({"code": certificate.code, "enrolment_id": certificate.enrolment_id})
        signals.certificate_issued.send(certificate)  # issue 14: subscribers write in this transaction
    if new:
        record(actor, "certificate.issue", run, f"{len(new)} certificates")
    db.session.commit()
    return {"issued": issued, "skipped": skipped}


def _issue_in_batches(
    actor: User | None,
    run_id: int,
    course_id: int | None,
    new: list[Certificate],
    issued: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    progress: Callable[[int, int], None],
) -> dict[str, Any]:
    """The job's way: ``CERT_ISSUE_BATCH`` certificates per transaction, each
    committed with its documents, so a runner killed halfway (``kill -9``)
    loses at most one batch and the job, run again, issues only what is left.

    A pipeline: the next batch's documents are rendered on the workers while this
    batch's rows, grants and audit entry are written (its documents, rendered
    meanwhile, are stored before its commit). The run lock is held only while
    a batch's rows are written, never while documents render.

    Progress counts the enrolments that hold a certificate, of those that are
    due one (already held + issued now), read from the database after each
    batch: it never goes past the total, and stays true when a resumed job or a
    second runner shares the work (the run lock serialises the batches)."""
    held = [s["enrolment_id"] for s in skipped if s["reason"] == "already_issued"]
    due = held + [c.enrolment_id for c in new]
    total = len(due)

    def holding() -> int:
        count = 0
        for i in range(0, len(due), 1000):
            count += (
                db.session.scalar(
                    select(func.count())
                    .select_from(Certificate)
                    .where(Certificate.current_for_enrolment_id.in_(due[i : i + 1000]))
                )
                or 0
            )
        return min(count, total)

    def drop_taken(batch: list[Certificate]) -> None:
        """Leave out the enrolments that another runner gave a certificate meanwhile."""
        taken = set(
            db.session.scalars(
                select(Certificate.current_for_enrolment_id).where(
                    Certificate.current_for_enrolment_id.in_([c.enrolment_id for c in batch])
                )
            )
        )
        for certificate in [c for c in batch if c.enrolment_id in taken]:
            batch.remove(certificate)
            skipped.append(
                {
                    "enrolment_id": certificate.enrolment_id,
                    "reason": "already_issued",
                    "message": _("A certificate was already issued."),
                }
            )

    designs = templates.designs_for_courses({course_id})
    design = designs.get(course_id) or designs[None]

    def start(batch: list[Certificate]) -> bulk.Pending:
        drop_taken(batch)
        issued_at = utcnow()  # the document shows the issue date: fixed before it is drawn
        for certificate in batch:
            certificate.issued_at = issued_at
        return _submit_documents([(_issued_doc(c), design) for c in batch])

    progress(holding(), total)  # commits: the run lock is taken again for each batch
    size = max(1, int(current_app.config.get("CERT_ISSUE_BATCH", 100)))
    batches = [new[i : i + size] for i in range(0, len(new), size)]
    pending = [start(batches[0])] if batches else []
    try:
        for index, batch in enumerate(batches):
            if index + 1 < len(batches):
                pending.append(start(batches[index + 1]))  # renders while this batch is written
            digests = _documents_of(pending.pop(0))
            for certificate, digest in zip(batch, digests, strict=True):
                certificate.document_sha256 = digest
            run = get_run(run_id, lock=True)
            drop_taken(batch)  # again, under the lock: a rendered document of a dropped one is never used
            if batch:
                db.session.add_all(batch)
                try:
                    db.session.flush()
                except IntegrityError:
                    db.session.rollback()
                    raise Conflict(
                        _("Certificates for this run are being issued by someone else; try again."),
                        code="issue_in_progress",
                    ) from None
                # the holders' enrolments, in one query: the grant subscribers read them per certificate
                enrolments = list(
                    db.session.scalars(select(Enrolment).where(Enrolment.id.in_([c.enrolment_id for c in batch])))
                )
                for certificate in batch:
                    issued.append({"code": certificate.code, "enrolment_id": certificate.enrolment_id})
                    signals.certificate_issued.send(certificate)  # issue 14: subscribers write in this transaction
                del enrolments
                record(actor, "certificate.issue", run, f"{len(batch)} certificates")
            db.session.commit()
            progress(holding(), total)
    finally:
        for waiting in pending:
            waiting.cancel()
    return {"issued": issued, "skipped": skipped}


def get_by_code(text: str, *, for_display: bool = False, lock: bool = False) -> Certificate:
    """The certificate with this code (NotFound otherwise). ``for_display``: in
    one statement, without the enrolment (the public pages show only the record;
    a reissue's successor is read by its key only when the record names one).
    ``lock``: its row locked until the transaction ends and read afresh (revoke)."""
    code = codes.normalise(text)
    if code is None:
        raise NotFound(_("This is not a valid certificate code: check it and try again."), code="invalid_code")
    query = select(Certificate).where(Certificate.code == code)
    if not for_display:
        query = query.options(selectinload(Certificate.superseded_by), selectinload(Certificate.enrolment))
    if lock:
        query = query.with_for_update(of=Certificate).execution_options(populate_existing=True)
    certificate = db.session.scalar(query)
    if certificate is None:
        raise NotFound(_("No certificate has this code."))
    return certificate


@unit_of_work
def revoke(actor: User, code: str, reason: object) -> Certificate:
    if not can(actor, "revoke_certificate"):
        raise Forbidden(_("Only an admin can revoke certificates."))
    # Shown to anyone on the verification page: zero-width and direction marks alone are no reason.
    if not isinstance(reason, str) or not any(unicodedata.category(c)[0] in "LNPS" for c in reason):
        raise ValidationFailed(_("Give a reason for revoking."), fields={"reason": _("Give a reason for revoking.")})
    if len(reason) > 2000:
        raise ValidationFailed(_("The reason is longer than 2000 characters."), fields={"reason": "too long"})
    # Locked before the check: a second revocation (or a reissue) waits for this one and then sees it.
    certificate = get_by_code(code, lock=True)
    if certificate.revoked_at is not None:
        raise Conflict(_("This certificate is already revoked."), code="already_revoked")
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason.strip()
    certificate.revoked_by_id = actor.id
    record(actor, "certificate.revoke", certificate, reason.strip())
    signals.certificate_revoked.send(certificate)  # issue 14: subscribers write in this transaction
    db.session.commit()
    return certificate


@unit_of_work
def reissue(actor: User, code: str, holder_name: str | None = None) -> Certificate:
    """A new certificate for the same completion (e.g. after a name correction):
    new code, the original completion date, the old one marked superseded."""
    if not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can reissue certificates."))
    if holder_name is not None and not isinstance(holder_name, str):
        raise ValidationFailed(_("The name must be text."), fields={"holder_name": "invalid"})
    templates.default_template()
    old = get_by_code(code)
    get_run(old.enrolment.run_id, lock=True)
    # Locked and read afresh, as revoke locks it: a revocation being written is waited for, then seen.
    db.session.refresh(old, with_for_update=True)
    if old.superseded_by_id is not None:
        raise Conflict(_("This certificate was already superseded."), code="superseded")
    if old.revoked_at is not None:
        raise Conflict(_("A revoked certificate cannot be reissued."), code="already_revoked")
    enrolment = old.enrolment
    try:
        name = clean_name(holder_name or enrolment.user.display_name)  # the one rule for a person's name
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, fields={"holder_name": exc.message}) from None
    old.current_for_enrolment_id = None
    db.session.flush()
    new = Certificate(
        code=codes.generate(),
        enrolment_id=enrolment.id,
        current_for_enrolment_id=enrolment.id,
        holder_name=name,
        course_code=old.course_code,
        course_title=old.course_title,
        course_title_language=old.course_title_language,
        course_title_translation=old.course_title_translation,
        hours=old.hours,
        run_starts_on=old.run_starts_on,
        run_ends_on=old.run_ends_on,
        completed_on=old.completed_on,
        trainer_names=old.trainer_names,
        issuer_name=old.issuer_name,
        attendance_pct=old.attendance_pct,
        expires_on=old.expires_on,
        issued_by_id=actor.id,
        reissue_of_code=old.code,
    )
    db.session.add(new)
    db.session.flush()
    _make_documents([(new, _course_id(old))])  # the old one keeps its document
    old.superseded_by_id = new.id
    signals.certificate_superseded.send(old, new=new)  # issue 14: subscribers write in this transaction
    record(actor, "certificate.reissue", new, f"replaces {old.code}")
    db.session.commit()
    return new


def certificates_of(user: User) -> list[Certificate]:
    return list(
        db.session.scalars(
            select(Certificate)
            .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
            .where(Enrolment.user_id == user.id)
            .options(selectinload(Certificate.superseded_by))
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        )
    )


def public_view(certificate: Certificate, today: date | None = None) -> dict[str, Any]:
    """What anyone may see of a certificate: no e-mail, no other personal data."""
    status = certificate.status_on(today or org_today())
    data = {
        "code": certificate.code,
        "display_code": codes.display(certificate.code),
        "status": status,
        "holder_name": certificate.holder_name,
        "course_code": certificate.course_code,
        "course_title": certificate.course_title,
        "course_title_i18n": certificate.course_titles,
        "hours": certificate.hours,
        "starts_on": certificate.run_starts_on.isoformat(),
        "ends_on": certificate.run_ends_on.isoformat(),
        "completed_on": certificate.completed_on.isoformat(),
        "issued_on": certificate.issued_on.isoformat(),
        "trainers": certificate.trainers,
        "issuer": certificate.issuer_name,
        "expires_on": certificate.expires_on.isoformat() if certificate.expires_on else None,
        "revoked_on": local_date(certificate.revoked_at).isoformat() if certificate.revoked_at else None,
        "revoked_reason": certificate.revoked_reason if certificate.revoked_at else None,
        "superseded_by": certificate.superseded_by.code if certificate.superseded_by else None,
        "reissue_of": certificate.reissue_of_code,
        "sha256": certificate.document_sha256,
        "verify_url": verify_url(certificate.code),
        "badge_url": verify_url(certificate.code) + "/badge.json",
    }
    return data


# --- documents ----------------------------------------------------------------------


def verify_url(code: str) -> str:
    from ..urls import public_base_url

    return f"{public_base_url()}/verify/{code}"


def doc_for(certificate: Certificate, today: date | None = None) -> pdf.CertificateDoc:
    return pdf.CertificateDoc(
        code=certificate.code,
        holder_name=certificate.holder_name,
        course_title=certificate.course_title,
        course_title_translation=certificate.course_title_translation or "",
        course_title_language=certificate.course_title_language or "en",
        course_code=certificate.course_code,
        hours=certificate.hours,
        starts_on=certificate.run_starts_on,
        ends_on=certificate.run_ends_on,
        completed_on=certificate.completed_on,
        issued_on=certificate.issued_on,
        verify_url=verify_url(certificate.code),
        trainers=tuple(certificate.trainers),
        expires_on=certificate.expires_on,
        reissue_of=certificate.reissue_of_code,
        status=certificate.status_on(today or org_today()),
    )


def _course_id(certificate: Certificate) -> int | None:
    return certificate.enrolment.run.course_id if certificate.enrolment and certificate.enrolment.run else None


def filename_for(certificate: Certificate) -> str:
    return f"certificate-{certificate.course_code}-{codes.display(certificate.code)}.pdf"


def _issued_doc(certificate: Certificate) -> pdf.CertificateDoc:
    """The document as issued: never stamped with a later status."""
    from dataclasses import replace

    return replace(doc_for(certificate), status="valid")


def _signing_failed(exc: Exception) -> DomainError:
    current_app.logger.error("certificate signing failed: %s", exc)
    return DomainError(
        _(
            "Certificates cannot be signed right now (the signing key or the timestamp authority "
            "is unavailable); nothing was issued. Try again later."
        ),
        code="signing_unavailable",
        status=503,
    )


def _make_documents(pairs: list[tuple[Certificate, int | None]]) -> None:
    """Render, sign and store the issued document of each (certificate, course id);
    sets ``document_sha256``. Many at once are rendered on every core."""
    if not pairs:
        return
    designs = templates.designs_for_courses({course_id for _c, course_id in pairs})
    items = [(_issued_doc(c), designs.get(course_id) or designs[None]) for c, course_id in pairs]
    try:
        digests = _render_stored(items)
    except signing.SigningUnavailable as exc:
        db.session.rollback()
        raise _signing_failed(exc) from None
    for (certificate, _course), digest in zip(pairs, digests, strict=True):
        certificate.document_sha256 = digest


def _submit_documents(items: list[tuple[pdf.CertificateDoc, pdf.Design]]) -> bulk.Pending:
    """Start rendering, signing and storing each document on the workers (see bulk)."""
    config = current_app.config
    return bulk.submit_signed_stored(
        items, signing.signer_settings(config), bulk.store_settings(config), bulk.processes_wanted(config)
    )


def _documents_of(pending: bulk.Pending) -> list[str]:
    """The SHA-256 digests of submitted documents, once they are stored."""
    try:
        return pending.result()
    except signing.SigningUnavailable as exc:
        db.session.rollback()
        raise _signing_failed(exc) from None


def _render_stored(items: list[tuple[pdf.CertificateDoc, pdf.Design]]) -> list[str]:
    """Render, sign and store each document (on every core when there are many); their SHA-256."""
    config = current_app.config
    return bulk.render_signed_stored(
        items, signing.signer_settings(config), bulk.store_settings(config), bulk.processes_wanted(config)
    )


def ensure_documents(certificates: list[Certificate]) -> None:
    """Certificates issued before documents were stored get theirs now, once:
    made, stored and recorded only where no other process recorded one first
    (the update is conditional), then committed."""
    from sqlalchemy import update

    missing = [c for c in certificates if c.document_sha256 is None]
    if not missing:
        return
    designs = templates.designs_for_courses({_course_id(c) for c in missing})
    items = [(_issued_doc(c), designs.get(_course_id(c)) or designs[None]) for c in missing]
    try:
        digests = _render_stored(items)
    except signing.SigningUnavailable as exc:
        db.session.rollback()
        raise _signing_failed(exc) from None
    for certificate, digest in zip(missing, digests, strict=True):
        db.session.execute(
            update(Certificate)
            .where(Certificate.id == certificate.id, Certificate.document_sha256.is_(None))
            .values(document_sha256=digest)
        )
    db.session.commit()
    for certificate in missing:
        db.session.refresh(certificate, ["document_sha256"])


def _stored_digest(certificate: Certificate) -> str:
    """The SHA-256 of a certificate's stored document, once ensure_documents has stored it."""
    assert certificate.document_sha256 is not None  # ensure_documents sets it for every certificate given
    return certificate.document_sha256


def document_for(certificate: Certificate) -> bytes:
    """The issued document's bytes, the same on every call."""
    ensure_documents([certificate])
    try:
        return documents.store().get(_stored_digest(certificate))
    except documents.DocumentMissing as exc:
        current_app.logger.error("certificate %s: %s", certificate.code, exc)
        raise DomainError(
            _("The document of this certificate is unavailable right now; the training office has been told."),
            code="document_unavailable",
            status=503,
        ) from None


def public_record(code: str) -> dict[str, Any]:
    """What anyone may see of a certificate, with the SHA-256 of its issued document."""
    certificate = get_by_code(code)
    ensure_documents([certificate])
    return public_view(certificate)


def pdf_for(actor: Viewer, code: str) -> tuple[str, bytes]:
    """The issued, signed PDF of one certificate, for its holder and admins: the
    bytes stored at issue, whatever happened since (its status is on the record)."""
    certificate = get_by_code(code)
    if not can(actor, "download_certificate", certificate):
        raise Forbidden(_("Only the holder and admins can download this certificate."))
    return filename_for(certificate), document_for(certificate)


def status_pdf_for(actor: Viewer, code: str) -> tuple[str, bytes]:
    """A copy stamped with the current status (REVOKED, SUPERSEDED, EXPIRED) for
    the holder and admins; for a valid certificate, the issued document."""
    certificate = get_by_code(code)
    if not can(actor, "download_certificate", certificate):
        raise Forbidden(_("Only the holder and admins can download this certificate."))
    doc = doc_for(certificate, org_today())
    if doc.status == "valid":
        return filename_for(certificate), document_for(certificate)
    design = templates.designs_for_courses([_course_id(certificate)])
    try:
        data = pdf.render(doc, design.get(_course_id(certificate)) or design[None], signer=signing.current_signer())
    except signing.SigningUnavailable as exc:
        raise _signing_failed(exc) from None
    return filename_for(certificate).replace(".pdf", f"-{doc.status}.pdf"), data


def verification_page(code: str, today: date | None = None) -> dict[str, Any]:
    """What the public verification page shows: the record (with the document's
    SHA-256) and, for relying parties, the issuer's DID and the credential's status entry."""
    return verification_page_and_record(code, today)[0]


def verification_page_and_record(code: str, today: date | None = None) -> tuple[dict[str, Any], PageRecord]:
    """``verification_page`` and the ``page_record`` it was made from."""
    from ..urls import public_base_url
    from . import badges

    certificate = get_by_code(code, for_display=True)
    ensure_documents([certificate])
    page = {
        "cert": public_view(certificate, today),
        "issuer_did": badges.issuer_did(),
        "status_entry": badges.status_entry(certificate, public_base_url()),
        "check": None,
    }
    return page, page_record_of(certificate)


# Every column of the certificate's row, in the mapper's order, then the code of its successor (a reissue's
# code never changes): everything ``public_view`` and the verification page are made from, besides the date,
# the language and the links' base.
PageRecord = tuple[Any, ...]
_RECORD_STATEMENT: list[Select[Any]] = []


def _record_statement() -> Select[Any]:
    if not _RECORD_STATEMENT:
        table = Certificate.__table__
        successor = table.alias("successor")
        columns = [prop.columns[0] for prop in sa_inspect(Certificate).column_attrs]
        _RECORD_STATEMENT.append(
            select(*columns, successor.c.code.label("successor_code"))
            .select_from(table.outerjoin(successor, successor.c.id == table.c.superseded_by_id))
            .where(table.c.code == bindparam("code"))
        )
    return _RECORD_STATEMENT[0]


def page_record(code: str) -> PageRecord | None:
    """The ``PageRecord`` of the certificate with this code (None: no such certificate), read in one
    statement, alone (``read_alone``: no transaction of its own unless the request has one open)."""
    canonical = codes.normalise(code)
    if canonical is None:
        return None
    rows = read_alone(_record_statement(), {"code": canonical})
    return tuple(rows[0]) if rows else None


# On PostgreSQL the version of a certificate's row is its xmin (the transaction that wrote this version: a
# new one with every change, never an earlier one again) and a SHA-256 of its text (every column; not MD5,
# which a FIPS-mode server refuses): two short values, read in a fraction of the cost of the 28 columns
# (``benchmarks/request_cost.py``). The successor's code is not needed: ``superseded_by_id`` is in the row
# and a code never changes.
_VERSION_SQL = (
    "SELECT xmin::text, sha256(convert_to(certificates::text, 'UTF8')) FROM certificates WHERE code = %(code)s"
)


def page_version(code: str) -> Hashable | None:
    """What the kept verification page of ``code`` is keyed on (None: no such certificate), in one statement
    read alone: on PostgreSQL the row version (``_VERSION_SQL``, through the driver: ``fetch_row_alone``),
    elsewhere the ``page_record``. ``version_to_keep`` says under which version a page made afterwards is kept."""
    canonical = codes.normalise(code)
    if canonical is None:
        return None
    if db.engine.dialect.name != "postgresql":
        return page_record(canonical)
    row = fetch_row_alone(_VERSION_SQL, {"code": canonical})
    return None if row is None else ("row", *row)


def version_to_keep(read_before: Hashable | None, record: PageRecord) -> Hashable | None:
    """The version a page made from ``record`` is kept under (None: not kept), ``read_before`` being the
    ``page_version`` read before the page was made.

    PostgreSQL: ``read_before``. The page was made from that version of the row or a newer one; a newer one
    has another xmin, and xmin never comes back, so whoever reads ``read_before`` later reads the very row the
    page was made from, and whoever read it just before a change gets the newer page. Elsewhere: the record the
    page was made from (a record's values can come back, say a field changed and changed back, so the page
    goes under exactly the values it shows)."""
    if db.engine.dialect.name != "postgresql":
        return record
    return read_before


def page_record_of(certificate: Certificate) -> PageRecord:
    """The ``PageRecord`` of a loaded certificate: equal to ``page_record`` of its code while nothing changed."""
    values = [getattr(certificate, prop.key) for prop in sa_inspect(Certificate).column_attrs]
    successor = certificate.superseded_by if certificate.superseded_by_id is not None else None
    return (*values, successor.code if successor is not None else None)


def check_document(code: str, data: bytes) -> dict[str, Any]:
    """Is this file the document issued for the certificate? (hash), is its
    signature intact? (pyHanko), and the certificate's current status: the
    verification page with ``check`` filled in. The file is only read, never kept."""
    page = verification_page(code)
    digest = documents.sha256(data)
    matches = digest == page["cert"]["sha256"]
    other = None
    if not matches:
        other = db.session.scalar(select(Certificate.code).where(Certificate.document_sha256 == digest).limit(1))
    page["check"] = {"sha256": digest, "matches": matches, "other_code": other, "signature": signature_verdict(data)}
    return page


def check_any_document(data: bytes) -> dict[str, Any]:
    """A PDF without a code: the certificate it belongs to (by hash, else by the
    code its title names) checked as by ``check_document``; ``cert`` is None when
    it belongs to none (then ``check`` has the hash and the signature alone)."""
    code = certificate_code_for_document(data)
    if code is not None:
        return check_document(code, data)
    return {
        "cert": None,
        "check": {
            "sha256": documents.sha256(data),
            "matches": False,
            "other_code": None,
            "signature": signature_verdict(data),
        },
    }


def certificate_code_for_document(data: bytes) -> str | None:
    """The certificate a PDF belongs to: the one whose issued document has its
    hash, else the one its title names (a changed copy still names its code)."""
    import re

    digest = documents.sha256(data)
    code = db.session.scalar(select(Certificate.code).where(Certificate.document_sha256 == digest).limit(1))
    if code is not None:
        return code
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        title = str(PdfFileReader(io.BytesIO(data), strict=False).trailer_view["/Info"]["/Title"])
    except Exception:  # noqa: BLE001 - an unreadable upload names no certificate
        title = ""
    match = re.search(r"Certificate ([0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4}){5,9})", title)
    if match:
        candidate = codes.normalise(match.group(1))
        if candidate and db.session.scalar(select(Certificate.id).where(Certificate.code == candidate)):
            return candidate
    return None


def credential_jwt(code: str) -> str:
    """The certificate's credential as a VC-JWT. A revoked or superseded certificate's is signed with the
    key that signed its issued document, while the key ring holds it: the credential handed out before,
    byte for byte (signatures are deterministic), never one freshly signed by a key that came after it
    (``flask signing rotate``). Its status list entry says revoked."""
    from . import badges

    certificate = get_by_code(code)
    material = None
    if certificate.revoked_at is not None or certificate.superseded_by_id is not None:
        material = _document_key(certificate)
    return badges.credential_jwt(certificate, material)


def _document_key(certificate: Certificate) -> signing.KeyMaterial | None:
    """The ring's key that signed the certificate's stored document (None: no stored document, no
    readable signature, or a key the ring does not hold)."""
    import io
    import logging

    from pyhanko.pdf_utils.reader import PdfFileReader

    if certificate.document_sha256 is None:
        return None
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    try:
        data = documents.store().get(certificate.document_sha256)
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
        signer = signatures[-1].signer_cert if signatures else None
    except Exception:  # noqa: BLE001 - a missing or unreadable document: the current key signs
        return None
    return signing.ring_key(signing.key_id(signer), current_app.config) if signer is not None else None


def signature_verdict(data: bytes) -> dict[str, Any]:
    """The PDF's signature as a verifier sees it: ``state`` is intact, broken,
    unsigned or unreadable; ``ours`` whether a key of this issuer made it."""
    import io
    import logging

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    if not data.startswith(b"%PDF"):
        return {"state": "unreadable"}
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # noqa: BLE001 - any malformed upload is "unreadable", never a 500
        return {"state": "unreadable"}
    if not signatures:
        return {"state": "unsigned"}
    roots = signing.published_certificates(current_app.config)
    try:
        status = validate_pdf_signature(signatures[-1], ValidationContext(trust_roots=roots))
    except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
        return {"state": "broken"}
    intact = bool(
        status.intact and status.valid and status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    )
    verdict = {
        "state": "intact" if intact else "broken",
        "ours": bool(intact and status.trusted),
        "signer": status.signing_cert.subject.human_friendly if status.signing_cert else None,
        "timestamp": None,
    }
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None and ts.intact and ts.valid:
        verdict["timestamp"] = ts.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return verdict


def run_certificates(run_id: int, *, current_only: bool = True) -> list[Certificate]:
    stmt = (
        select(Certificate)
        .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
        .where(Enrolment.run_id == run_id)
        .options(
            selectinload(Certificate.enrolment).selectinload(Enrolment.user),
            selectinload(Certificate.enrolment).selectinload(Enrolment.run),
            selectinload(Certificate.superseded_by),
        )
        .order_by(Certificate.holder_name, Certificate.id)
    )
    if current_only:
        stmt = stmt.where(Certificate.current_for_enrolment_id.is_not(None))
    return list(db.session.scalars(stmt))


def _run_items(run_id: int) -> list[tuple[Certificate, pdf.CertificateDoc, pdf.Design]]:
    certificates = [c for c in run_certificates(run_id) if c.revoked_at is None]
    designs = templates.designs_for_courses({_course_id(c) for c in certificates})
    today = org_today()
    return [(c, doc_for(c, today), designs.get(_course_id(c)) or designs[None]) for c in certificates]


def _stored_for_run(run_id: int) -> list[tuple[Certificate, str]]:
    """Every current, unrevoked certificate of the run with its file name; their documents are stored."""
    certificates = [c for c in run_certificates(run_id) if c.revoked_at is None]
    ensure_documents(certificates)
    return [(c, filename_for(c)) for c in certificates]


def zip_for_run(actor: User, run_id: int) -> Iterator[bytes]:
    """The ZIP of every current, unrevoked certificate's issued PDF, as pieces to
    stream: read from the document store one at a time, never held whole. Every
    document is checked to be in the store before the first byte, so a missing one
    is a 503 rather than a cut-off download."""
    if not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can download a run's certificates."))
    get_run(run_id)
    named = [(name, _stored_digest(c)) for c, name in _stored_for_run(run_id)]
    store = documents.store()
    missing = next((digest for _name, digest in named if not store.exists(digest)), None)
    if missing is not None:
        current_app.logger.error("run %s: document %s is not in the store", run_id, missing)
        raise DomainError(
            _("The document of this certificate is unavailable right now; the training office has been told."),
            code="document_unavailable",
            status=503,
        )
    return bulk.zip_stream(named, store)


def print_pdf_for_run(actor: User, run_id: int) -> bytes:
    """One PDF with every current certificate of the run, one per page, for printing (unsigned)."""
    if not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can download a run's certificates."))
    run = get_run(run_id)
    items = _run_items(run_id)
    if not items:
        raise NotFound(_("This run has no certificates yet."), code="no_certificates")
    return pdf.render_many([(doc, design) for _c, doc, design in items], title=f"{run.course.code} certificates")


# --- e-mail -----------------------------------------------------------------------


def email_holders(
    actor: User | None, run_id: int, *, only_new: bool = True, progress: Callable[[int, int], None] | None = None
) -> int:
    """E-mail each holder of a current certificate of the run their signed PDF,
    in their language. With ``only_new``, those already e-mailed are left out."""
    if actor is not None and not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can e-mail certificates."))
    if actor is not None:
        get_run(run_id)
    pdfs = _stored_for_run(run_id)
    sent = 0
    now = utcnow()
    for i, (certificate, name) in enumerate(pdfs, 1):
        if only_new and certificate.emailed_at is not None:
            continue
        data = document_for(certificate)  # one document in memory at a time
        user = certificate.enrolment.user
        mail.queue(
            mail.build(
                user.email,
                "Your certificate: %(course)s",
                "certificate_issued",
                locale=user.locale,
                attachments=[(name, "application/pdf", data)],
                user=user,
                certificate=certificate,
                course=certificate.course_title_in(user.locale or "en"),
                verify_url=verify_url(certificate.code),
                display_code=codes.display(certificate.code),
            )
        )
        certificate.emailed_at = now
        sent += 1
        if progress and i % 50 == 0:
            db.session.commit()
            progress(i, len(pdfs))
    db.session.commit()
    return sent


# --- background jobs ----------------------------------------------------------------

from .. import jobs  # noqa: E402 - the job handlers are kept together at the end of the module


@jobs.job("certificates.issue_run")
def issue_run_job(progress: Progress, run_id: int, actor_id: int | None, email: bool = False) -> dict[str, Any]:
    """Issue, then (with ``email``) e-mail the holders not e-mailed yet. Run
    again after a crash it finishes the work: issuing skips what is issued, and
    e-mailing skips who was e-mailed. Progress counts certificates of the stage
    at hand ("issuing", then "emailing"), never the two added up."""
    actor = db.session.get(User, actor_id) if actor_id else None
    _warm_workers(run_id)
    result = issue_for_run(actor, run_id, progress=lambda done, total: progress(done, total, "issuing"))
    if email:
        result["emailed"] = email_holders(actor, run_id, progress=lambda done, total: progress(done, total, "emailing"))
        progress(result["emailed"], result["emailed"], "emailing")
    return result


def _warm_workers(run_id: int) -> None:
    """When the run has enough trainees without a certificate for the render
    workers, start them now (in the background): they get ready while the
    eligibility is read instead of after it."""
    config = current_app.config
    processes = bulk.processes_wanted(config)
    if processes <= 1:
        return
    holds = select(Certificate.id).where(Certificate.current_for_enrolment_id == Enrolment.id).exists()
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .where(Enrolment.run_id == run_id, Enrolment.status == EnrolmentStatus.confirmed.value, ~holds)
    )
    if (waiting or 0) >= bulk.SERIAL_BELOW:
        bulk.warm_pool(signing.signer_settings(config), processes)


@jobs.job("certificates.email_run")
def email_run_job(progress: Progress, run_id: int, actor_id: int | None, only_new: bool = True) -> dict[str, int]:
    actor = db.session.get(User, actor_id) if actor_id else None
    return {"emailed": email_holders(actor, run_id, only_new=only_new, progress=progress)}


def start_issue(actor: User, run_id: int, *, email: bool = False) -> Job:
    """Issue a run's certificates as a background job (returns the Job)."""
    if not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can issue certificates."))
    get_run(run_id)
    return jobs.submit("certificates.issue_run", created_by=actor, run_id=run_id, actor_id=actor.id, email=email)


def start_email(actor: User, run_id: int, *, only_new: bool = True) -> Job:
    if not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can e-mail certificates."))
    get_run(run_id)
    return jobs.submit("certificates.email_run", created_by=actor, run_id=run_id, actor_id=actor.id, only_new=only_new)


def eligible_count(run_id: int) -> int:
    existing = set(
        db.session.scalars(
            select(Certificate.current_for_enrolment_id)
            .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
            .where(Enrolment.run_id == run_id, Certificate.current_for_enrolment_id.is_not(None))
        )
    )
    return sum(1 for e, verdict in eligibility_for_run(run_id) if verdict.eligible and e.id not in existing)


def issue_page(run_id: int) -> dict[str, Any]:
    """What the admin issue page shows: each confirmed trainee, their verdict and certificate."""
    run = get_run(run_id)
    rows = eligibility_for_run(run_id)
    by_enrolment: dict[int, Certificate] = {}
    for certificate in run_certificates(run_id, current_only=False):
        current = by_enrolment.get(certificate.enrolment_id)
        if current is None or certificate.current_for_enrolment_id is not None:
            by_enrolment[certificate.enrolment_id] = certificate
    rows.sort(key=lambda pair: pair[0].user.display_name.casefold())
    return {
        "run": run,
        "rows": [(e, v, by_enrolment.get(e.id)) for e, v in rows],
        "eligible": sum(
            1
            for e, v in rows
            if v.eligible and (by_enrolment.get(e.id) is None or by_enrolment[e.id].current_for_enrolment_id is None)
        ),
        "issued": sum(1 for c in by_enrolment.values() if c.current_for_enrolment_id is not None),
    }


# --- renewals and automatic issuing -------------------------------------------------------


def renewals(within_days: int = 90, today: date | None = None) -> list[Certificate]:
    """Current, unrevoked certificates that expire within ``within_days`` or expired
    in the last year: the people to invite to a refresher."""
    today = today or org_today()
    return list(
        db.session.scalars(
            select(Certificate)
            .where(
                Certificate.current_for_enrolment_id.is_not(None),
                Certificate.revoked_at.is_(None),
                Certificate.expires_on.is_not(None),
                Certificate.expires_on <= today + timedelta(days=within_days),
                Certificate.expires_on >= today - timedelta(days=365),
            )
            .options(selectinload(Certificate.enrolment).selectinload(Enrolment.user))
            .order_by(Certificate.expires_on)
        )
    )


def send_expiry_reminders(actor: User | None = None, within_days: int = 60, today: date | None = None) -> int:
    """E-mail holders whose certificate lapses within ``within_days`` (once per certificate)."""
    if actor is not None and not can(actor, "issue_certificates"):
        raise Forbidden(_("Only an admin can send reminders."))
    today = today or org_today()
    sent = 0
    for certificate in renewals(within_days, today):
        expires_on = certificate.expires_on  # never None here: renewals() leaves those out
        if certificate.expiry_reminder_sent_at is not None or expires_on is None or expires_on < today:
            continue
        user = certificate.enrolment.user
        mail.queue(
            mail.build(
                user.email,
                "Your certificate expires on %(date)s",
                "certificate_expiring",
                locale=user.locale,
                user=user,
                certificate=certificate,
                course=certificate.course_title_in(user.locale or "en"),
                date=expires_on.isoformat(),
                verify_url=verify_url(certificate.code),
                display_code=codes.display(certificate.code),
            )
        )
        certificate.expiry_reminder_sent_at = utcnow()
        sent += 1
    if sent:
        record(actor, "certificate.expiry_reminders", None, f"{sent} reminders")
    db.session.commit()
    return sent


def auto_issue_due(now: datetime | None = None) -> dict[int, int]:
    """Issue certificates of ended runs whose course issues automatically and
    whose registers are all finalised; e-mail the new holders."""
    from sqlalchemy import func

    from ..catalogue.models import Course, Meeting

    now = now or utcnow()
    # Never before every register of the run (cancelled meetings aside) is finalised.
    held = Meeting.cancelled_at.is_(None)
    ended = select(Meeting.run_id).where(held).group_by(Meeting.run_id).having(func.max(Meeting.ends_at) <= now)
    open_registers = select(Meeting.run_id).where(held, Meeting.finalised_at.is_(None))
    run_ids = list(
        db.session.scalars(
            select(Run.id)
            .join(Course, Run.course_id == Course.id)
            .where(
                Course.auto_issue.is_(True),
                Run.status != RunStatus.cancelled.value,
                Run.id.in_(ended),
                Run.id.not_in(open_registers),
            )
        )
    )
    summary: dict[int, int] = {}
    for run_id in run_ids:
        result = issue_for_run(None, run_id)
        if result["issued"]:
            email_holders(None, run_id)
            summary[run_id] = len(result["issued"])
    return summary


def runs_to_certify(limit: int = 20) -> list[tuple[Run, int, int]]:
    """Recently ended runs with their confirmed trainees and current certificates,
    for the admin's list (three queries)."""
    from sqlalchemy import func

    from ..catalogue.models import Meeting
    from ..enrolment.models import EnrolmentStatus

    ended = select(Meeting.run_id).group_by(Meeting.run_id).having(func.max(Meeting.ends_at) <= utcnow())
    runs = list(
        db.session.scalars(
            select(Run)
            .where(Run.id.in_(ended), Run.status != RunStatus.cancelled.value)
            .options(selectinload(Run.course))
            .order_by(Run.ends_on.desc())
            .limit(limit)
        )
    )
    ids = [r.id for r in runs]
    if not ids:
        return []
    trainees = dict(
        db.session.execute(
            select(Enrolment.run_id, func.count())
            .where(Enrolment.run_id.in_(ids), Enrolment.status == EnrolmentStatus.confirmed.value)
            .group_by(Enrolment.run_id)
        ).all()
    )
    issued = dict(
        db.session.execute(
            select(Enrolment.run_id, func.count())
            .join(Certificate, Certificate.enrolment_id == Enrolment.id)
            .where(Enrolment.run_id.in_(ids), Certificate.current_for_enrolment_id.is_not(None))
            .group_by(Enrolment.run_id)
        ).all()
    )
    return [(r, trainees.get(r.id, 0), issued.get(r.id, 0)) for r in runs]
