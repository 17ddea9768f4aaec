"""Member companies: the rules.

Access. A coordinator is scoped to one company (``User.company_id``): every
loader here takes the viewer and answers NotFound (404) for a company, person
or enrolment of another company, exactly as for one that does not exist, so
nothing tells a coordinator what other companies hold. ``permissions.can``
decides; ``visible_company`` loads and checks in one step.

People. A person belongs to at most one company at a time. Adding a new
address creates the account in the company (no password: the invitation
e-mail leads to a page that sets one); an address that already has an account
becomes a *pending* invitation, and the person joins when they next sign in
or register (``link_invitations``), never silently. Moving a person changes
``User.company_id`` only: each enrolment keeps the company of its time.

Reserved seats. ``reserve_seats`` and ``release`` lock the run row like every
change of who holds a seat; seats are counted by
``catalogue.seats.seat_counts`` and nowhere else.

Each public function is one unit of work: it commits once, or on a domain
error rolls back and raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import mail
from ..accounts.models import Role, User
from ..accounts.services import (
    clean_name,
    create_user,
    ensure_trainees,
    find_user_by_email,
    hash_password,
    normalise_email,
)
from ..audit import record
from ..catalogue.models import Run, RunStatus, SeatAllocation
from ..catalogue.parsing import parse_datetime
from ..catalogue.seats import seat_counts, seats_by_run, unused_reserved
from ..catalogue.services import get_run
from ..content_i18n import localized
from ..enrolment import services as enrolment_services
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..enrolment.offers import pass_on
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import Action, Viewer, can, coordinates, is_admin, is_coordinator
from ..types import org_today, utcnow
from .models import Company, CompanyInvitation, InvitationStatus, MembershipTier, name_key

if TYPE_CHECKING:
    from ..attendance.services import Progress
    from ..certificates.models import Certificate
    from ..qualifications.models import Position, PositionRequirement, Skill
    from ..qualifications.services import Cell

S = EnrolmentStatus
Inv = InvitationStatus
INVITE_MAX_AGE = 30 * 24 * 3600
CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

SUBJECTS = {
    "company_invitation": _l("You are invited to the training of %(company)s"),
    "coordinator_invitation": _l("You are a training coordinator of %(company)s"),
    "seats_release_soon": _l("Reserved seats will be released: %(course)s"),
    "company_report": _l("Training report of %(company)s, %(month)s"),
}


T = TypeVar("T")


def _unit(work: Callable[[], T]) -> T:
    """Run ``work()`` as one unit of work: commit, or roll back on any error."""
    try:
        result = work()
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise


# --- loading and checking ----------------------------------------------------------


def _int_id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
            value = int(value.strip())
        else:
            raise ValidationFailed(_("%(field)s must be a whole number.", field=field), fields={field: "invalid"})
    if not 1 <= value <= 2**31 - 1:
        raise ValidationFailed(_("%(field)s is out of range.", field=field), fields={field: "out of range"})
    return value


def visible_company(company_id: int, viewer: Viewer, action: Action = "view_company") -> Company:
    """The company, if ``viewer`` may do ``action`` on it; otherwise 404 (the
    same answer as for a company that does not exist)."""
    company = db.session.get(Company, company_id) if 0 < company_id < 2**31 else None
    if company is None or not can(viewer, action, company):
        raise NotFound(_("No such company."))
    return company


def company_of(viewer: Viewer) -> Company:
    """The coordinator's own company (404 for anyone else)."""
    if viewer is None or not is_coordinator(viewer) or viewer.company_id is None:
        raise NotFound(_("No such company."))
    return visible_company(viewer.company_id, viewer)


def list_companies(viewer: Viewer) -> list[tuple[Company, int]]:
    """Every company with its number of people (admins)."""
    if not can(viewer, "manage_companies"):
        raise Forbidden(_("Only an admin can see every company."))
    people = (
        select(User.company_id, func.count().label("n"))
        .where(User.company_id.is_not(None))
        .group_by(User.company_id)
        .subquery()
    )
    return [
        (c, n or 0)
        for c, n in db.session.execute(
            select(Company, people.c.n).outerjoin(people, people.c.company_id == Company.id).order_by(Company.name)
        )
    ]


# --- companies ------------------------------------------------------------------------


def _text(data: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValidationFailed(_("%(field)s is required.", field=key), fields={key: "required"})
        return None
    if not isinstance(value, str):
        raise ValidationFailed(_("%(field)s must be text.", field=key), fields={key: "not text"})
    value = " ".join(value.split()) if key != "address" else value.strip()
    if required and not value:
        raise ValidationFailed(_("%(field)s is required.", field=key), fields={key: "required"})
    if len(value) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(n)s characters.", field=key, n=limit), fields={key: "too long"}
        )
    return value or None


def _required_text(data: dict[str, Any], key: str, limit: int) -> str:
    value = _text(data, key, limit, required=True)
    assert value is not None  # required: _text refused an empty value
    return value


def _clean_code(value: object) -> str:
    code = _required_text({"code": value}, "code", 32).upper()
    if not set(code) <= CODE_CHARS:
        raise ValidationFailed(
            _("A company code uses letters A-Z, digits, '-', '_' and '.' only."), fields={"code": "invalid"}
        )
    return code


def _apply(company: Company, data: dict[str, Any], *, creating: bool) -> None:
    if creating or "code" in data:
        company.code = _clean_code(data.get("code"))
    if creating or "name" in data:
        company.name = _required_text(data, "name", 200)
    for key, limit in (("name_zh", 200), ("address", 2000), ("contact_name", 200), ("contact_phone", 50)):
        if key in data:
            setattr(company, key, _text(data, key, limit) or ("" if key != "name_zh" else None))
    if "credit_code" in data:
        code = _text(data, "credit_code", 32)
        if code and not all(c.isalnum() or c == "-" for c in code):
            raise ValidationFailed(
                _("The credit code uses letters and digits only."), fields={"credit_code": "invalid"}
            )
        company.credit_code = code.upper() if code else None
    if "contact_email" in data:
        email = _text(data, "contact_email", 254)
        company.contact_email = normalise_email(email) if email else ""
    if "tier" in data:
        if not isinstance(data["tier"], str) or data["tier"] not in {t.value for t in MembershipTier}:
            raise ValidationFailed(_("Unknown membership tier."), fields={"tier": "unknown"})
        company.tier = data["tier"]


def _check_unique(company: Company) -> None:
    clash = db.session.scalar(
        select(Company).where(
            Company.id != (company.id or 0),
            or_(
                Company.code == company.code,
                (Company.credit_code == company.credit_code) if company.credit_code else false(),
            ),
        )
    )
    if clash is not None:
        field = "code" if clash.code == company.code else "credit_code"
        raise Conflict(
            _("Another company has this %(field)s.", field=field), code="company_exists", fields={field: "taken"}
        )


def create_company(actor: User, data: dict[str, Any]) -> Company:
    """A new member company (admins). Users whose free-text company has the
    same name are linked to it (see ``match_users``)."""
    if not can(actor, "manage_companies"):
        raise Forbidden(_("Only an admin can add companies."))

    def work() -> Company:
        company = Company(
            address="",
            contact_name="",
            contact_email="",
            contact_phone="",
            tier=MembershipTier.member.value,
            reviewed=True,
        )
        _apply(company, data, creating=True)
        _check_unique(company)
        db.session.add(company)
        try:
            db.session.flush()
        except IntegrityError:
            raise Conflict(_("Another company has this code."), code="company_exists") from None
        _match_users(company)
        record(actor, "company.create", company, company.code)
        return company

    return _unit(work)


def update_company(actor: User, company_id: int, data: dict[str, Any]) -> Company:
    def work() -> Company:
        company = visible_company(company_id, actor, "manage_companies")
        _apply(company, data, creating=False)
        _check_unique(company)
        if data.get("reviewed"):
            company.reviewed = True
        record(actor, "company.update", company, ", ".join(sorted(data)))
        return company

    return _unit(work)


def _match_users(company: Company) -> int:
    """Users without a company whose free-text company equals (NFKC, case
    folded) the company's code, name or Chinese name join it."""
    keys = {name_key(v) for v in (company.code, company.name, company.name_zh) if v}
    users = [
        u
        for u in db.session.scalars(select(User).where(User.company_id.is_(None), User.company.is_not(None)))
        if name_key(u.company) in keys
    ]
    for user in users:
        user.company_id = company.id
    return len(users)


def unresolved_free_text(viewer: Viewer) -> list[tuple[str, list[str], int]]:
    """Free-text companies of users who belong to no company, grouped by
    their compared form: (key, spellings, people). The admin page "Companies
    to review" lists them with the companies the migration made."""
    if not can(viewer, "manage_companies"):
        raise Forbidden(_("Only an admin can review companies."))
    groups: dict[str, dict[str, Any]] = {}
    for text, n in db.session.execute(
        select(User.company, func.count())
        .where(User.company_id.is_(None), User.company.is_not(None))
        .group_by(User.company)
    ):
        key = name_key(text)
        if key:
            group = groups.setdefault(key, {"spellings": set(), "n": 0})
            group["spellings"].add(text)
            group["n"] += n
    return [(k, sorted(g["spellings"]), g["n"]) for k, g in sorted(groups.items())]


def resolve_free_text(actor: User, key: str, company_id: int) -> int:
    """Put every person without a company whose free text has ``key`` into the company."""

    def work() -> int:
        company = visible_company(company_id, actor, "manage_companies")
        users = [
            u
            for u in db.session.scalars(select(User).where(User.company_id.is_(None), User.company.is_not(None)))
            if name_key(u.company) == key
        ]
        for user in users:
            user.company_id = company.id
        record(actor, "company.resolve", company, f"{len(users)} people: {key[:100]}")
        return len(users)

    return _unit(work)


def merge_company(actor: User, company_id: int, into_id: int) -> Company:
    """Merge a company (e.g. one the migration made from a variant spelling)
    into another: its people, enrolments and reserved seats move over."""

    def work() -> Company:
        source = visible_company(company_id, actor, "manage_companies")
        target = visible_company(into_id, actor, "manage_companies")
        if source.id == target.id:
            raise ValidationFailed(_("Choose another company to merge into."), fields={"into": "same"})
        if db.session.scalar(
            select(func.count()).select_from(SeatAllocation).where(SeatAllocation.company_id == source.id)
        ):
            raise Conflict(_("This company has reserved seats; remove them before merging."), code="has_allocations")
        for model in (User, Enrolment):
            db.session.execute(
                model.__table__.update().where(model.__table__.c.company_id == source.id).values(company_id=target.id)
            )
        db.session.execute(
            CompanyInvitation.__table__.delete().where(CompanyInvitation.__table__.c.company_id == source.id)
        )
        record(actor, "company.merge", target, f"{source.code} merged")
        db.session.delete(source)
        return target

    return _unit(work)


# --- people ---------------------------------------------------------------------------


@dataclass
class Person:
    """A row of the company's people: an account in the company, or a pending invitation."""

    email: str
    name: str
    user: User | None
    invitation: CompanyInvitation | None

    @property
    def pending(self) -> bool:
        return self.user is None

    @property
    def role(self) -> str:
        """The account's role, or the one the pending invitation offers."""
        if self.user is not None:
            return self.user.role
        assert self.invitation is not None  # a row is an account or a pending invitation
        return self.invitation.role


def people(company_id: int, viewer: Viewer) -> list[Person]:
    """The company's people (accounts, then pending invitations), in two queries."""
    company = visible_company(company_id, viewer)
    users = list(
        db.session.scalars(select(User).where(User.company_id == company.id).order_by(User.display_name, User.id))
    )
    pending = list(
        db.session.scalars(
            select(CompanyInvitation)
            .where(CompanyInvitation.company_id == company.id, CompanyInvitation.status == Inv.pending.value)
            .order_by(CompanyInvitation.created_at, CompanyInvitation.id)
        )
    )
    return [Person(u.email, u.display_name, u, None) for u in users] + [
        Person(i.email, i.name, None, i) for i in pending
    ]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="company-invitation")


def invitation_token(invitation: CompanyInvitation) -> str:
    return _serializer().dumps({"i": invitation.id, "e": invitation.email})


def invitation_for_token(token: str) -> CompanyInvitation:
    try:
        data = _serializer().loads(token, max_age=INVITE_MAX_AGE)
    except (BadSignature, SignatureExpired):
        raise NotFound(_("This invitation link is not valid (any more).")) from None
    invitation = db.session.get(CompanyInvitation, data.get("i")) if isinstance(data, dict) else None
    if invitation is None or invitation.email != data.get("e") or invitation.status == Inv.revoked.value:
        raise NotFound(_("This invitation link is not valid (any more)."))
    return invitation


def _invite_mail(invitation: CompanyInvitation, user: User | None, kind: str = "company_invitation") -> None:
    from ..urls import public_base_url

    company = invitation.company
    locale = (user.locale if user is not None else None) or (
        "zh" if any("\u3400" <= c <= "\u9fff" for c in invitation.name) else None
    )
    url = f"{public_base_url()}/invitations/{invitation_token(invitation)}"
    mail.queue(
        mail.build(
            invitation.email,
            SUBJECTS[kind],
            kind,
            locale=locale,
            subject_args={"company": company.label(locale)},
            invitation=invitation,
            company=company,
            company_name=company.label(locale),
            url=url,
            has_account=user is not None and bool(user.password_hash),
        )
    )


def _add(actor: User, company: Company, email: str, name: str, role: str) -> tuple[Person, bool]:
    """Add one person (in the caller's transaction). Returns (person, created)."""
    email = normalise_email(email)
    name = clean_name(name)
    user = find_user_by_email(email)
    invitation = db.session.scalar(
        select(CompanyInvitation).where(CompanyInvitation.company_id == company.id, CompanyInvitation.email == email)
    )
    if user is not None and user.company_id == company.id and (role != Role.coordinator.value or user.role == role):
        raise Conflict(
            _("%(email)s is already one of this company's people.", email=email),
            code="already_member",
            fields={"email": "already a member"},
        )
    if user is not None and user.role in (Role.admin.value, Role.trainer.value) and role == Role.coordinator.value:
        raise Conflict(
            _("An admin or trainer account cannot become a coordinator."),
            code="role_taken",
            fields={"email": "admin or trainer"},
        )
    if invitation is None:
        invitation = CompanyInvitation(
            company_id=company.id, email=email, name=name, role=role, invited_by_id=getattr(actor, "id", None)
        )
        db.session.add(invitation)
    invitation.name, invitation.role, invitation.status = name, role, Inv.pending.value
    invitation.created_at, invitation.invited_by_id = utcnow(), getattr(actor, "id", None)
    created = False
    if user is None:
        user = create_user(
            email=email,
            name=name,
            password=None,
            role=role,
            commit=False,
            actor=actor,
            locale="zh" if any("\u3400" <= c <= "\u9fff" for c in name) else None,
        )
        user.company_id = company.id
        created = True
    elif user.company_id == company.id and role == Role.coordinator.value:
        user.role = role  # a person of the company becomes its coordinator: an admin decides this
    db.session.flush()
    if created or user.company_id == company.id:
        _link(invitation, user)
    _invite_mail(invitation, user, "coordinator_invitation" if role == Role.coordinator.value else "company_invitation")
    record(actor, f"company.{role}.add", company, f"{email} {'created' if created else invitation.status}")
    return Person(email, name, user if invitation.status == Inv.linked.value else None, invitation), created


def add_person(actor: User, company_id: int, email: object, name: object) -> tuple[Person, bool]:
    """Add a person to the company (admins, its coordinators). A new address
    gets an account in the company; an existing account is invited (pending)."""

    def work() -> tuple[Person, bool]:
        company = visible_company(company_id, actor, "manage_company_people")
        return _add(actor, company, _require_text(email, "email"), _require_text(name, "name"), Role.trainee.value)

    return _retry_once(lambda: _unit(work))


def add_coordinator(actor: User, company_id: int, email: object, name: object) -> tuple[Person, bool]:
    """Name a coordinator of the company (admins)."""

    def work() -> tuple[Person, bool]:
        company = visible_company(company_id, actor)
        if not can(actor, "manage_companies"):
            raise Forbidden(_("Only an admin can name coordinators."))
        return _add(actor, company, _require_text(email, "email"), _require_text(name, "name"), Role.coordinator.value)

    return _retry_once(lambda: _unit(work))


def _retry_once(call: Callable[[], T]) -> T:
    """The same address added twice at once: the loser's unique index answers;
    the second try sees the winner's account (a 409 or a pending invitation)."""
    try:
        return call()
    except IntegrityError:
        return call()


def _require_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(_("%(field)s is required.", field=field), fields={field: "required"})
    return value


def _link(invitation: CompanyInvitation, user: User) -> None:
    if user.role == Role.coordinator.value and user.company_id != invitation.company_id:
        user.role = Role.trainee.value  # as move_person: a coordinator of one company does not carry the role elsewhere
    user.company_id = invitation.company_id
    if invitation.role == Role.coordinator.value and user.role == Role.trainee.value:
        user.role = Role.coordinator.value
    invitation.status = Inv.linked.value
    invitation.user_id = user.id
    invitation.linked_at = utcnow()


def link_invitations(user: User) -> CompanyInvitation | None:
    """On sign-in or registration: the newest pending invitation of the
    address makes the person one of that company's people. A person already
    in another company is not taken out of it by a coordinator's invitation
    (only an admin moves people between companies, as ``move_person``): it
    stays pending."""
    invitation = db.session.scalar(
        select(CompanyInvitation)
        .where(CompanyInvitation.email == user.email, CompanyInvitation.status == Inv.pending.value)
        .order_by(CompanyInvitation.created_at.desc(), CompanyInvitation.id.desc())
        .limit(1)
    )
    if invitation is None:
        return None
    if user.role in (Role.admin.value, Role.trainer.value):
        return None
    if user.company_id is not None and user.company_id != invitation.company_id:
        inviter = db.session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
        if not is_admin(inviter):
            return None
    _link(invitation, user)
    record(user, "company.join", invitation.company, user.email)
    db.session.commit()
    return invitation


def accept_invitation(token: str, name: str | None, password: str | None) -> User:
    """The invitation page: set the password of the account made for the
    person (or create it), and join the company. An account that already has
    a password joins by signing in instead."""
    from ..accounts.services import password_problem

    def work() -> User:
        invitation = invitation_for_token(token)
        user = find_user_by_email(invitation.email)
        if user is not None and user.password_hash:
            raise Conflict(_("This address already has a password: log in to join the company."), code="log_in_instead")
        problem = password_problem(password or "", email=invitation.email, name=name or invitation.name)
        if problem:
            raise ValidationFailed(problem, fields={"password": problem})
        if user is None:
            user = create_user(
                email=invitation.email,
                name=clean_name(name or invitation.name),
                password=None,
                role=Role.trainee.value,
                commit=False,
            )
            db.session.flush()
        user.password_hash = hash_password(password or "")  # password_problem refused a missing one
        _link(invitation, user)
        record(user, "company.join", invitation.company, user.email)
        return user

    return _unit(work)


def move_person(actor: User, user_id: int, company_id: int | None) -> User:
    """Move a person to another company, or out of any (admins). Their
    enrolments keep the company they were made in."""

    def work() -> User:
        if not can(actor, "manage_companies"):
            raise Forbidden(_("Only an admin can move people between companies."))
        user = db.session.get(User, user_id)
        if user is None:
            raise NotFound(_("No such person."))
        company = visible_company(company_id, actor, "manage_companies") if company_id else None
        old = user.company_id
        user.company_id = company.id if company else None
        if user.role == Role.coordinator.value and old != user.company_id:
            user.role = Role.trainee.value  # a coordinator of one company does not carry the role elsewhere
        record(actor, "company.move", user, f"{old} -> {user.company_id}")
        return user

    return _unit(work)


def person_in_company(company: Company, user_id: int, viewer: Viewer) -> User:
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None or user.company_id != company.id or not can(viewer, "view_company", company):
        raise NotFound(_("No such person."))
    return user


# --- import --------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    created: int
    invited: int
    already: int
    errors: list[dict[str, Any]]


def import_people(actor: User, company_id: int, data: bytes, size: int | None = None) -> ImportOutcome:
    """Add the people of a CSV (the enrolment importer reads it: UTF-8 with or
    without BOM, UTF-16, GB18030; headers in English or Chinese). All or
    nothing: with any invalid row nothing is saved and every row is reported."""
    from ..enrolment.imports import read_csv

    def work() -> ImportOutcome:
        company = visible_company(company_id, actor, "manage_company_people")
        rows = read_csv(data, size)
        errors: list[dict[str, Any]] = []
        created, invited, already = 0, 0, 0
        seen: dict[str, int] = {}
        for raw in rows:
            try:
                email = normalise_email(raw.get("email", ""))
                if email in seen:
                    raise ValidationFailed(_("The same e-mail address as row %(row)s.", row=seen[email]))
                seen[email] = raw["row"]
                # _add refuses before it writes anything, so a refused row leaves nothing behind (no savepoint).
                _person, new = _add(actor, company, email, raw.get("name") or "", Role.trainee.value)
                created += new
                invited += not new
            except Conflict as exc:
                if exc.code == "already_member":
                    already += 1
                else:
                    errors.append({"row": raw["row"], "email": raw.get("email", "")[:254], "message": exc.message})
            except DomainError as exc:
                errors.append({"row": raw["row"], "email": raw.get("email", "")[:254], "message": exc.message})
        if errors:
            raise ValidationFailed(
                _(
                    "%(n)s rows are invalid; nothing was imported. Correct them and upload the file again.",
                    n=len(errors),
                ),
                code="import_invalid",
                rows=errors,
            )
        record(actor, "company.import", company, f"{created} created, {invited} invited, {already} already")
        return ImportOutcome(created, invited, already, [])

    return _unit(work)


# --- enrolling on behalf of the company ---------------------------------------------------


def enrol_person(actor: User, run_id: int, email: object, name: object, *, company_id: int | None = None) -> Enrolment:
    """A coordinator (or an admin, naming the company) enrols a person into a
    run for the company: a new address gets an account in the company. A
    person of another company (or of none) is not the coordinator's to enrol
    (404: nothing of theirs shows)."""
    if company_id is not None:
        company = visible_company(company_id, actor, "manage_company_people")
    else:
        company = company_of(actor)
    email_text, name_text = _require_text(email, "email"), name if isinstance(name, str) else ""

    try:
        address = normalise_email(email_text)
        run = get_run(run_id)
        if run.status == RunStatus.cancelled.value:
            raise Conflict(_("This run has been cancelled."), code="run_cancelled")
        user = find_user_by_email(address)
        if user is None:
            # Race-free: simultaneous requests for one new address make one account (accounts.ensure_trainees).
            users, _created = ensure_trainees(
                [
                    {
                        "email": address,
                        "name": clean_name(name_text),
                        "company_id": company.id,
                        "locale": "zh" if any("\u3400" <= c <= "\u9fff" for c in name_text) else None,
                    }
                ],
                actor=actor,
            )
            user = users[address]
        if user.company_id != company.id:
            raise NotFound(
                _("No such person in your company. Add them to your people first."),
                code="not_in_company",
                fields={"email": "not in your company"},
            )
        return enrolment_services.enrol(actor, run_id, user, source="coordinator")
    except Exception:
        db.session.rollback()
        raise


def company_enrolments(company_id: int, viewer: Viewer, *, status: str | None = None) -> list[Enrolment]:
    """Enrolments made while the person was in the company, newest runs first."""
    from ..catalogue.models import Course

    company = visible_company(company_id, viewer)
    stmt = (
        select(Enrolment)
        .join(Run, Run.id == Enrolment.run_id)
        .where(Enrolment.company_id == company.id)
        .options(
            selectinload(Enrolment.user),
            selectinload(Enrolment.run).selectinload(Run.course).selectinload(Course.category),
            selectinload(Enrolment.run).selectinload(Run.meetings),
        )
        .order_by(Run.starts_on.desc(), Enrolment.id)
    )
    if status:
        if not isinstance(status, str) or status not in {s.value for s in S}:
            raise ValidationFailed(_("Unknown status."), fields={"status": "unknown"})
        stmt = stmt.where(Enrolment.status == status)
    return list(db.session.scalars(stmt))


def visible_enrolment(enrolment_id: int, viewer: Viewer) -> Enrolment:
    enrolment = db.session.get(Enrolment, enrolment_id) if 0 < enrolment_id < 2**31 else None
    if enrolment is None or not (is_admin(viewer) or coordinates(viewer, enrolment.company_id)):
        raise NotFound(_("No such enrolment."))
    return enrolment


def cancel_for_company(actor: User, enrolment_id: int, reason: str = "", company_id: int | None = None) -> Enrolment:
    """A coordinator cancels a company enrolment within the usual rules (``company_id``: the company whose
    page asked, which must be the enrolment's: 404 otherwise, for admins too)."""
    enrolment = visible_enrolment(enrolment_id, actor)
    if company_id is not None and enrolment.company_id != company_id:
        raise NotFound(_("No such enrolment."))
    db.session.rollback()
    return enrolment_services.cancel(actor, enrolment_id, reason)


def _attendance_marked(enrolment: Enrolment) -> bool:
    from ..attendance.models import Attendance

    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(Attendance)
            .where(Attendance.enrolment_id == enrolment.id, Attendance.status.is_not(None))
        )
    )


def _guard_cancel(actor: User, enrolment: Enrolment) -> None:
    """A company seat whose trainee has attendance marked cannot be given back
    (only an admin can still cancel it)."""
    if (
        enrolment.company_id is not None
        and not is_admin(actor)
        and enrolment.status == S.confirmed.value
        and _attendance_marked(enrolment)
    ):
        raise Conflict(
            _("Attendance is already marked for this trainee; the seat can no longer be given back."),
            code="attendance_marked",
        )


enrolment_services.CANCEL_CHECKS.append(_guard_cancel)


# --- reserved seats -----------------------------------------------------------------------


def _parse_release_at(value: object, run: Run) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_datetime(value, "release_at", run.tz)


def _seats(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("seats must be a whole number."), fields={"seats": "not an integer"})
    if not 0 <= value <= 100000:
        raise ValidationFailed(_("seats must be between 0 and 100000."), fields={"seats": "out of range"})
    return value


def reserve_seats(actor: User, run_id: int, data: dict[str, Any]) -> tuple[SeatAllocation, bool]:
    """Reserve (or change the reservation of) seats of a run for a company
    (admins). Returns (allocation, created). Refused: more seats than the
    public has free, fewer than the company's confirmed trainees, a cancelled
    run, a release date after the run starts."""
    if not can(actor, "manage_companies"):
        raise Forbidden(_("Only an admin can reserve seats."))

    def work() -> tuple[SeatAllocation, bool]:
        company = visible_company(_int_id(data.get("company_id"), "company_id"), actor, "manage_companies")
        seats = _seats(data.get("seats"))
        overflow = data.get("overflow", True)
        if not isinstance(overflow, bool):
            raise ValidationFailed(_("overflow must be true or false."), fields={"overflow": "not a boolean"})
        run = get_run(run_id, lock=True)
        release_at = _parse_release_at(data.get("release_at"), run)
        if run.status == RunStatus.cancelled.value:
            raise Conflict(_("This run has been cancelled."), code="run_cancelled")
        allocation = db.session.scalar(
            select(SeatAllocation).where(SeatAllocation.run_id == run.id, SeatAllocation.company_id == company.id)
        )
        created = allocation is None
        counts = seat_counts(run)
        used = (
            db.session.scalar(
                select(func.count())
                .select_from(Enrolment)
                .where(
                    Enrolment.run_id == run.id,
                    Enrolment.company_id == company.id,
                    Enrolment.status == S.confirmed.value,
                )
            )
            or 0
        )
        if seats < used:
            raise Conflict(
                _(
                    "%(company)s already has %(n)s confirmed trainees in this run; the reservation cannot be smaller.",
                    company=company.name,
                    n=used,
                ),
                code="below_confirmed",
                fields={"seats": "below confirmed"},
            )
        held_now = counts.reserved_for(company.id) if allocation is not None and allocation.held else 0
        wanted = max(seats - used, 0)
        if wanted - held_now > counts.public:
            raise Conflict(
                _("Only %(n)s seats of this run are free to reserve.", n=counts.public + held_now),
                code="not_enough_seats",
                fields={"seats": "more than free"},
            )
        if allocation is None:
            allocation = SeatAllocation(run_id=run.id, company_id=company.id, seats=seats, released_seats=0)
            db.session.add(allocation)
        elif not allocation.held:
            raise Conflict(_("These reserved seats were released; reserve again in a new run."), code="released")
        allocation.seats, allocation.overflow, allocation.release_at = seats, overflow, release_at
        if "release_at" in data:
            allocation.warned_at = None
        db.session.flush()
        pass_on(run)  # seats given back go to the waitlist in order (offers after the deadline)
        record(actor, "allocation.set", allocation, f"run {run.id} {company.code}: {seats} seats")
        return allocation, created

    return _unit(work)


def allocations_for_run(run_id: int, viewer: Viewer) -> list[SeatAllocation]:
    """A run's reservations: all for admins; a coordinator sees their company's only."""
    get_run(run_id)
    stmt = select(SeatAllocation).where(SeatAllocation.run_id == run_id).order_by(SeatAllocation.id)
    if not is_admin(viewer):
        if viewer is None or not is_coordinator(viewer) or viewer.company_id is None:
            raise Forbidden(_("Only admins and coordinators can see reserved seats."))
        stmt = stmt.where(SeatAllocation.company_id == viewer.company_id)
    return list(db.session.scalars(stmt))


def allocation_usage(allocations: list[SeatAllocation]) -> dict[int, int]:
    """Confirmed trainees of the allocation's company in its run, per allocation, in one query."""
    if not allocations:
        return {}
    pairs: dict[tuple[int, int | None], int] = {(a.run_id, a.company_id): a.id for a in allocations}
    rows = db.session.execute(
        select(Enrolment.run_id, Enrolment.company_id, func.count())
        .where(
            Enrolment.run_id.in_({a.run_id for a in allocations}),
            Enrolment.company_id.in_({a.company_id for a in allocations}),
            Enrolment.status == S.confirmed.value,
        )
        .group_by(Enrolment.run_id, Enrolment.company_id)
    )
    usage = {a.id: 0 for a in allocations}
    for run_id, company_id, n in rows:
        if (run_id, company_id) in pairs:
            usage[pairs[(run_id, company_id)]] = n
    return usage


def company_allocations(company_id: int, viewer: Viewer) -> list[SeatAllocation]:
    company = visible_company(company_id, viewer)
    return list(
        db.session.scalars(
            select(SeatAllocation)
            .where(SeatAllocation.company_id == company.id)
            .options(selectinload(SeatAllocation.run).selectinload(Run.course))
            .order_by(SeatAllocation.id.desc())
        )
    )


def _release(allocation: SeatAllocation, run: Run, now: datetime) -> int:
    used = (
        db.session.scalar(
            select(func.count())
            .select_from(Enrolment)
            .where(
                Enrolment.run_id == run.id,
                Enrolment.company_id == allocation.company_id,
                Enrolment.status == S.confirmed.value,
            )
        )
        or 0
    )
    allocation.released_seats = max(allocation.seats - used, 0)
    allocation.released_at = now
    db.session.flush()
    pass_on(run)
    record(None, "allocation.release", allocation, f"{allocation.released_seats} seats to the public")
    return allocation.released_seats


def release_due(now: datetime | None = None) -> dict[int, int]:
    """Release every reservation whose release date has passed: unused seats go
    to the public pool and to the waitlist in order. Idempotent; one run at a
    time under its lock. Returns {allocation id: seats released}."""
    now = now or utcnow()
    due = list(
        db.session.execute(
            select(SeatAllocation.id, SeatAllocation.run_id)
            .where(
                SeatAllocation.released_at.is_(None),
                SeatAllocation.release_at.is_not(None),
                SeatAllocation.release_at <= now,
            )
            .order_by(SeatAllocation.release_at, SeatAllocation.id)
        )
    )
    db.session.rollback()
    result = {}
    for allocation_id, run_id in due:
        try:
            run = get_run(run_id, lock=True)
            allocation = db.session.get(SeatAllocation, allocation_id, populate_existing=True)
            if allocation is None or allocation.released_at is not None:
                db.session.rollback()
                continue
            result[allocation_id] = _release(allocation, run, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return result


def warn_before_release(now: datetime | None = None, hours: int = 72) -> dict[int, int]:
    """Tell each coordinator once when their company's unused reserved seats
    will be released within ``hours``. Returns {allocation id: mails}."""
    from ..urls import public_base_url

    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(SeatAllocation.id).where(
                SeatAllocation.released_at.is_(None),
                SeatAllocation.warned_at.is_(None),
                SeatAllocation.release_at.is_not(None),
                SeatAllocation.release_at > now,
                SeatAllocation.release_at <= now + timedelta(hours=hours),
            )
        )
    )
    db.session.rollback()
    result = {}
    for allocation_id in due:
        try:
            allocation = db.session.get(SeatAllocation, allocation_id)
            assert allocation is not None  # read a moment ago; a company with reserved seats is never merged away
            run = get_run(allocation.run_id, lock=True)
            db.session.refresh(allocation)
            if allocation.warned_at is not None or allocation.released_at is not None:
                db.session.rollback()
                continue
            unused = seat_counts(run).reserved_for(allocation.company_id)
            allocation.warned_at = now
            coordinators = (
                []
                if not unused
                else list(
                    db.session.scalars(
                        select(User).where(
                            User.company_id == allocation.company_id,
                            User.role == Role.coordinator.value,
                            User.active.is_(True),
                        )
                    )
                )
            )
            company = db.session.get(Company, allocation.company_id)
            assert company is not None  # the allocation's foreign key (deleted with its company)
            for user in coordinators:
                mail.queue(
                    mail.build(
                        user.email,
                        SUBJECTS["seats_release_soon"],
                        "seats_release_soon",
                        locale=user.locale,
                        subject_args={"course": localized(run.course, "title", user.locale or "en")},
                        user=user,
                        run=run,
                        course=run.course,
                        allocation=allocation,
                        unused=unused,
                        company_name=company.label(user.locale),
                        base_url=public_base_url(),
                    )
                )
            result[allocation_id] = len(coordinators)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return result


# --- coordinator pages --------------------------------------------------------------------


@dataclass
class RunChoice:
    run: Run
    reserved: int  # the company's unused reserved seats
    public: int  # seats anyone may take


def runs_to_enrol(company_id: int, viewer: Viewer, limit: int = 100) -> list[RunChoice]:
    """Open runs still to start, with the company's reserved seats first."""
    from ..catalogue.models import Course

    company = visible_company(company_id, viewer)
    today = org_today()
    runs = list(
        db.session.scalars(
            select(Run)
            .join(Course, Course.id == Run.course_id)
            .where(
                Run.status == RunStatus.open.value,
                Run.ends_on >= today,
                Course.published.is_(True),
                Course.archived.is_(False),
            )
            .options(selectinload(Run.course))
            .order_by(Run.starts_on, Run.id)
            .limit(limit)
        )
    )
    public = seats_by_run(runs)
    reserved, _overflow = unused_reserved(r.id for r in runs)
    choices = [RunChoice(r, reserved[r.id].get(company.id, 0), public[r.id]) for r in runs]
    choices.sort(key=lambda c: (c.reserved == 0, c.run.starts_on, c.run.id))
    return choices


def company_attendance(company_id: int, viewer: Viewer) -> list[tuple[Enrolment, Progress | None]]:
    """Confirmed company enrolments with their attendance progress."""
    from ..attendance.services import load_progress

    enrolments = company_enrolments(company_id, viewer, status=S.confirmed.value)
    progress = load_progress(enrolments)
    return [(e, progress.get(e.id)) for e in enrolments]


def company_certificates(company_id: int, viewer: Viewer) -> list[Certificate]:
    """Current certificates of enrolments made for the company, newest first."""
    from ..certificates.models import Certificate

    company = visible_company(company_id, viewer)
    return list(
        db.session.scalars(
            select(Certificate)
            .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
            .where(Enrolment.company_id == company.id, Certificate.superseded_by_id.is_(None))
            .options(selectinload(Certificate.enrolment).selectinload(Enrolment.user))
            .order_by(Certificate.issued_at.desc())
        )
    )


# --- qualifications of the company's people (training.qualifications) -------------------


@dataclass
class RequirementCoverage:
    """One requirement of a position that the company's people work on: how
    many of them qualify on the date, against the position's minimum."""

    position: Position
    requirement: PositionRequirement
    qualified: int
    expiring: int

    @property
    def covered(self) -> bool:
        return self.qualified >= self.requirement.min_people


@dataclass
class CompanyQualifications:
    people: list[User]
    skills: list[Skill]
    cells: dict[tuple[int, int], Cell]  # (user id, skill id) -> the person's qualification in the skill
    coverage: list[RequirementCoverage]

    @property
    def requirements_covered(self) -> int:
        return sum(1 for c in self.coverage if c.covered)


def company_qualifications(company_id: int, viewer: Viewer, on: date) -> CompanyQualifications:
    """The company's people with their qualifications on ``on``, and the
    coverage of the positions they work on, counting only the company's
    people (another company's people on the same position are not shown)."""
    company = visible_company(company_id, viewer)
    return qualifications_of(company.id, on)


def qualifications_of(company_id: int, on: date) -> CompanyQualifications:
    from ..qualifications.models import Position, PositionPerson, PositionRequirement, Skill
    from ..qualifications.services import cells_for

    people = list(
        db.session.scalars(select(User).where(User.company_id == company_id).order_by(User.display_name, User.id))
    )
    ids = [p.id for p in people]
    positions = (
        list(
            db.session.scalars(
                select(Position)
                .where(Position.id.in_(select(PositionPerson.position_id).where(PositionPerson.user_id.in_(ids))))
                .options(
                    selectinload(Position.requirements).selectinload(PositionRequirement.skill),
                    selectinload(Position.people),
                )
                .order_by(Position.code)
            )
        )
        if ids
        else []
    )
    skills = list(db.session.scalars(select(Skill).order_by(Skill.code)))
    cells = cells_for(ids, [s.id for s in skills], on)
    mine = set(ids)
    coverage: list[RequirementCoverage] = []
    for position in positions:
        staff = [pp.user_id for pp in position.people if pp.user_id in mine]
        for req in position.requirements:
            states = [cells[(u, req.skill_id)].qualifies(req.level) for u in staff if (u, req.skill_id) in cells]
            qualified = [s for s in states if s is not None]
            coverage.append(
                RequirementCoverage(position, req, len(qualified), sum(1 for s in qualified if s.value == "expiring"))
            )
    return CompanyQualifications(people, skills, cells, coverage)
