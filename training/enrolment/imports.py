"""Bulk enrolment by admins: read a CSV of trainees, preview each row's
outcome, then enrol them all in one transaction.

The same planning runs for the preview (read only) and for the commit (under
the run lock, so the outcome is decided on the data as it is then). Rules:

- Admins are the approvers: imported trainees are confirmed while seats are
  free (waitlist first), then waitlisted in file order; prerequisites and the
  enrolment deadline are not checked, as for any admin enrolment.
- Re-importing the same file changes nothing: a trainee with an enrolment in
  the run (active, or cancelled/declined earlier) is left as they are; enrol a
  cancelled trainee again one by one from the roster if that is wanted.
- New accounts are trainee accounts without a password (they set one with
  "forgot password"); a name written in CJK script sets the account's
  language to Chinese, so their e-mails arrive in Chinese.
- The CSV commit is all-or-nothing: with any invalid row nothing is saved.
  The JSON import saves the valid rows and reports the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..accounts.services import ensure_trainees, normalise_email
from ..audit import record
from ..catalogue.models import Run, RunStatus
from ..catalogue.seats import seats_left
from ..catalogue.services import get_run
from ..errors import Conflict, EnrolmentClosed, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can
from ..types import utcnow
from . import notifications, services
from .models import Enrolment, EnrolmentStatus

S = EnrolmentStatus
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
LIMITS = {"name": 200, "company": 200, "phone": 50}

HEADERS = {
    "email": {
        "email",
        "e-mail",
        "emailaddress",
        "e-mailaddress",
        "mail",
        "邮箱",
        "电子邮件",
        "电子邮箱",
        "邮件",
        "邮箱地址",
    },
    "name": {"name", "fullname", "displayname", "trainee", "participant", "姓名", "名字", "学员", "学员姓名"},
    "company": {"company", "organisation", "organization", "employer", "公司", "单位", "工作单位", "企业"},
    "phone": {"phone", "mobile", "tel", "telephone", "phonenumber", "电话", "手机", "手机号", "联系电话"},
}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class ImportRefused(ValidationFailed):
    """The file as a whole cannot be read; nothing was looked at, nothing saved."""

    code = "import_refused"
    status = 422


# --- reading a CSV --------------------------------------------------------------


def decode(data: bytes, size: int | None = None) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without BOM), UTF-16 with BOM
    (Excel "Unicode text"), or GB18030/GBK (Chinese Excel's "CSV").
    ``size``: the whole upload's size when only its start was read."""
    size = max(size or 0, len(data))
    if size > MAX_BYTES:
        raise ImportRefused(
            _(
                "The file is %(size)s MB; at most %(max)s MB can be imported at once. Split it into smaller files.",
                size=f"{size / 1024 / 1024:.1f}",
                max=MAX_BYTES // 1024 // 1024,
            )
        )
    if not data.strip():
        raise ImportRefused(_("The file is empty."))
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRefused(
            _(
                "This is an Excel workbook, not a CSV file. In Excel choose "
                "File › Save As › CSV UTF-8, then upload that file."
            )
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRefused(_("The file could not be read as UTF-16 text.")) from None
    if b"\x00" in data:
        raise ImportRefused(_("This is not a text file (it contains binary data). Upload a CSV file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise ImportRefused(
                _(
                    "The file's encoding could not be recognised. Save it as CSV UTF-8 "
                    "(or GBK/GB18030) and upload it again."
                )
            ) from None
    controls = sum(1 for c in text[:20000] if unicodedata.category(c) == "Cc" and c not in "\r\n\t")
    if controls:
        raise ImportRefused(_("This is not a text file (it contains control characters). Upload a CSV file."))
    return text


def _header_key(cell: str) -> str | None:
    norm = re.sub(r"[\s_*]+", "", cell.strip().lower())
    norm = re.sub(r"\(.*\)|（.*）", "", norm)
    for key, names in HEADERS.items():
        if norm in names:
            return key
    return None


def read_csv(data: bytes, size: int | None = None) -> list[dict]:
    """Rows as dicts {row, email, name, company, phone}; ``row`` is the line of
    the spreadsheet (the header is row 1). Raises ImportRefused for a file
    that is not a readable CSV of trainees."""
    text = decode(data, size)
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if any(d in first_line for d in ",;\t") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[dict] = []
    columns: dict[str, int] | None = None
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                keys = [_header_key(c) for c in cells]
                if "email" in keys:
                    if "name" not in keys:
                        raise ImportRefused(
                            _(
                                "The header has no name column. The columns are: email, name, "
                                "and optionally company and phone."
                            )
                        )
                    columns = {k: keys.index(k) for k in HEADERS if k in keys}
                    continue
                if "@" in cells[0]:
                    columns = {"email": 0, "name": 1, "company": 2, "phone": 3}
                else:
                    raise ImportRefused(
                        _(
                            "The first row must be a header naming the columns: email, name, "
                            "and optionally company and phone."
                        )
                    )
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(_("The file has more than %(n)s rows; split it into smaller files.", n=MAX_ROWS))
            rows.append({"row": line, **{k: (cells[i].strip() if i < len(cells) else "") for k, i in columns.items()}})
    except csv.Error as exc:
        raise ImportRefused(
            _(
                "The file is not valid CSV (line %(line)s: %(error)s). Check the quotes and save it again as CSV.",
                line=reader.line_num,
                error=str(exc),
            )
        ) from None
    if not rows:
        raise ImportRefused(_("The file has a header but no trainees."))
    return rows


def rows_from_json(items) -> list[dict]:
    """Rows from the API body's ``trainees`` list (row = position, from 1)."""
    if not isinstance(items, list):
        raise ValidationFailed(_("trainees must be a list of {email, name} objects."), fields={"trainees": "required"})
    if not items:
        raise ValidationFailed(_("trainees is empty."), fields={"trainees": "empty"})
    if len(items) > MAX_ROWS:
        raise ValidationFailed(
            _("At most %(n)s trainees in one call; send the rest in another.", n=MAX_ROWS),
            fields={"trainees": "too many"},
        )
    rows = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            rows.append({"row": i, "email": "", "name": "", "invalid": _("Each trainee must be an object.")})
            continue
        row: dict[str, object] = {"row": i}
        for key in ("email", "name", "company", "phone"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                row["invalid"] = _("%(field)s must be text.", field=key)
                value = ""
            row[key] = (value or "").strip()
        rows.append(row)
    return rows


# --- planning -----------------------------------------------------------------

OUTCOMES = ("confirmed", "waitlisted", "existing", "cancelled_before", "invalid")


@dataclass
class PlannedRow:
    row: int
    email: str
    name: str
    company: str = ""
    phone: str = ""
    outcome: str = "invalid"  # one of OUTCOMES
    account: str = ""  # new, existing
    message: str = ""
    enrolment_status: str = ""  # of an existing enrolment


@dataclass
class Plan:
    run_id: int
    rows: list[PlannedRow]
    seats_free: int
    counts: dict = field(default_factory=dict)

    @property
    def errors(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.outcome == "invalid"]

    @property
    def new_accounts(self) -> int:
        return sum(1 for r in self.rows if r.account == "new" and r.outcome in ("confirmed", "waitlisted"))


def _validate(raw: dict, seen: dict[str, int], known: dict[str, str]) -> PlannedRow:
    row = PlannedRow(
        row=raw["row"],
        email=raw.get("email", "")[:254],
        name=raw.get("name", "")[:300],
        company=raw.get("company", "") or "",
        phone=raw.get("phone", "") or "",
    )
    if raw.get("invalid"):
        row.message = raw["invalid"]
        return row
    if not raw.get("email"):
        row.message = _("The e-mail address is missing.")
        return row
    try:
        if raw["email"] not in known:
            known[raw["email"]] = normalise_email(raw["email"])
        row.email = known[raw["email"]]
    except ValidationFailed:
        row.message = _("Invalid e-mail address: %(email)s", email=raw["email"][:100])
        return row
    name = " ".join((raw.get("name") or "").split())
    for key, limit in LIMITS.items():
        value = name if key == "name" else " ".join((raw.get(key) or "").split())
        if len(value) > limit:
            row.message = _(
                "The %(field)s is %(length)s characters long; at most %(max)s are allowed.",
                field=_field_label(key),
                length=len(value),
                max=limit,
            )
            return row
    row.name, row.company, row.phone = name, " ".join(row.company.split()), " ".join(row.phone.split())
    if row.email in seen:
        row.message = _("The same e-mail address as row %(row)s.", row=seen[row.email])
        return row
    seen[row.email] = row.row
    row.outcome = ""
    return row


def _field_label(key: str) -> str:
    return {"name": _("name"), "company": _("company"), "phone": _("phone")}[key]


def plan(run: Run, raw_rows: list[dict], *, seats_free: int | None = None, known: dict[str, str] | None = None) -> Plan:
    """Decide each row's outcome without writing anything. ``seats_free`` is
    given under the run lock at commit; for a preview it is computed as the
    seats a newcomer would get (the waitlist is served first)."""
    seen: dict[str, int] = {}
    known = {} if known is None else known  # addresses already normalised: {as typed: normalised}
    rows = [_validate(raw, seen, known) for raw in raw_rows]
    valid = [r for r in rows if r.outcome == ""]
    emails = [r.email for r in valid]
    users: dict[str, User] = {}
    for start in range(0, len(emails), 500):
        for found in db.session.scalars(select(User).where(User.email.in_(emails[start : start + 500]))):
            users[found.email] = found
    enrolments: dict[int, Enrolment] = {}
    user_ids = [u.id for u in users.values()]
    for start in range(0, len(user_ids), 500):
        for e in db.session.scalars(
            select(Enrolment).where(Enrolment.run_id == run.id, Enrolment.user_id.in_(user_ids[start : start + 500]))
        ):
            enrolments[e.user_id] = e
    if seats_free is None:
        counts = dict(
            db.session.execute(
                select(Enrolment.status, func.count()).where(Enrolment.run_id == run.id).group_by(Enrolment.status)
            ).all()
        )
        seats_free = max(seats_left(run, counts.get("confirmed", 0)) - counts.get("waitlisted", 0), 0)
    free = seats_free
    for r in valid:
        user = users.get(r.email)
        r.account = "existing" if user else "new"
        if user is not None and not user.active:
            r.outcome, r.message = "invalid", _("This account is deactivated.")
            continue
        existing = enrolments.get(user.id) if user else None
        if existing is not None:
            r.enrolment_status = existing.status
            r.outcome = "existing" if existing.is_active else "cancelled_before"
            continue
        if free > 0:
            r.outcome = "confirmed"
            free -= 1
        else:
            r.outcome = "waitlisted"
    result = Plan(run_id=run.id, rows=rows, seats_free=seats_free)
    result.counts = {o: sum(1 for r in rows if r.outcome == o) for o in OUTCOMES}
    return result


def preview(actor, run_id: int, raw_rows: list[dict]) -> Plan:
    _require(actor)
    run = get_run(run_id)
    _check_run(run)
    return plan(run, raw_rows)


def _require(actor) -> None:
    if not can(actor, "import_enrolments"):
        raise Forbidden(_("Only an admin can import enrolments."))


def _check_run(run: Run) -> None:
    if run.status == RunStatus.cancelled.value:
        raise EnrolmentClosed(_("This run has been cancelled."), code="run_cancelled")


# --- committing -------------------------------------------------------------------


@dataclass
class ImportResult:
    enrolled: int
    waitlisted: int
    existing: int
    accounts_created: int
    errors: list[dict]
    plan: Plan


def commit(
    actor, run_id: int, raw_rows: list[dict], *, all_or_nothing: bool = True, source: str = "import"
) -> ImportResult:
    """Enrol the planned rows in one transaction under the run lock.

    Missing accounts are made first, before the run lock, by
    ``ensure_trainees`` (one account per address even when an admin enrols
    the same person at the same moment); the rows are then planned again on
    the locked run, so someone enrolled meanwhile is "existing", never a
    duplicate. Invalid rows are found before anything is written."""
    _require(actor)
    run = get_run(run_id)
    _check_run(run)
    known: dict[str, str] = {}
    first = plan(run, raw_rows, known=known)
    errors = _errors(first)
    todo = [r for r in first.rows if r.outcome in ("confirmed", "waitlisted")]
    missing = [r for r in todo if r.account == "new" and not r.name]
    for r in missing:
        errors.append({"row": r.row, "email": r.email, "message": _("A name is needed for a new account.")})
    if errors and all_or_nothing:
        db.session.rollback()
        raise ValidationFailed(
            _("%(n)s rows are invalid; nothing was imported. Correct them and upload the file again.", n=len(errors)),
            code="import_invalid",
            rows=errors,
        )
    skip = {r.email for r in missing}
    people = [
        {
            "email": r.email,
            "name": r.name,
            "company": r.company,
            "phone": r.phone,
            "locale": "zh" if _CJK.search(r.name) else None,
        }
        for r in todo
        if r.account == "new" and r.email not in skip
    ]
    # The import's own audit entry counts the new accounts (no entry per account: thousands of rows).
    _users, new_emails = ensure_trainees(people) if people else ({}, set())

    run = get_run(run_id, lock=True)
    _check_run(run)
    result = plan(run, raw_rows, seats_free=services.free_seats(run), known=known)
    late = [e for e in _errors(result) if e["row"] not in {x["row"] for x in errors}]
    if late and all_or_nothing:
        db.session.rollback()
        raise ValidationFailed(
            _("%(n)s rows are invalid; nothing was imported. Correct them and upload the file again.", n=len(late)),
            code="import_invalid",
            rows=late,
        )
    errors += late
    todo = [r for r in result.rows if r.outcome in ("confirmed", "waitlisted") and r.email not in skip]
    users: dict[str, User] = {}
    emails = [r.email for r in todo]
    for start in range(0, len(emails), 500):
        for found in db.session.scalars(select(User).where(User.email.in_(emails[start : start + 500]))):
            users[found.email] = found
    now = utcnow()
    created: list[Enrolment] = []
    for i, r in enumerate(todo):
        user = users[r.email]
        # Strictly increasing times keep the file's order on the waitlist.
        at = now + timedelta(microseconds=i)
        e = Enrolment(
            run_id=run.id,
            user_id=user.id,
            source=source,
            company=user.company,
            company_id=user.company_id,
            status=r.outcome,
            created_at=at,
            confirmed_at=at if r.outcome == "confirmed" else None,
            waitlisted_at=at if r.outcome == "waitlisted" else None,
        )
        created.append(e)
    db.session.add_all(created)
    try:
        db.session.flush()
    except IntegrityError:  # only if the run lock was bypassed
        db.session.rollback()
        raise Conflict(
            _("Some of these trainees were enrolled by someone else at the same moment; import the file again."),
            code="import_conflict",
        ) from None
    confirmed = [e for e in created if e.status == S.confirmed.value]
    waitlisted = [e for e in created if e.status == S.waitlisted.value]
    new_ids = {users[email].id for email in new_emails if email in users}
    for group, kind in ((confirmed, "enrol_confirmed"), (waitlisted, "enrol_waitlisted")):
        notifications.notify_later([e.id for e in group if e.user_id in new_ids], kind, new_account=True)
        notifications.notify_later([e.id for e in group if e.user_id not in new_ids], kind)
    unchanged = result.counts["existing"] + result.counts["cancelled_before"]
    record(
        actor,
        "enrolment.import",
        run,
        f"{len(confirmed)} confirmed, {len(waitlisted)} waitlisted, {len(new_emails)} new accounts, "
        f"{unchanged} unchanged, {len(errors)} invalid",
    )
    db.session.commit()
    return ImportResult(
        enrolled=len(confirmed),
        waitlisted=len(waitlisted),
        existing=unchanged,
        accounts_created=len(new_emails),
        errors=errors,
        plan=result,
    )


def _errors(p: Plan) -> list[dict]:
    return [{"row": r.row, "email": r.email, "message": r.message} for r in p.errors]


# --- uploads kept between preview and commit ---------------------------------------

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _folder() -> Path:
    folder = Path(current_app.config["UPLOAD_DIR"]) / "enrolment-imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stash(actor, run_id: int, filename: str, rows: list[dict]) -> str:
    """Keep parsed rows until the admin commits (a day at most)."""
    folder = _folder()
    cutoff = time.time() - 86400
    for old in folder.glob("*.json"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    token = secrets.token_urlsafe(18)
    (folder / f"{token}.json").write_text(
        json.dumps(
            {"run_id": run_id, "actor_id": actor.id, "filename": filename[:200], "rows": rows}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    return token


def unstash(actor, run_id: int, token: str) -> tuple[str, list[dict]]:
    path = _folder() / f"{token}.json" if _TOKEN.match(token or "") else None
    if path is None or not path.exists():
        raise NotFound(_("This import has expired or was already imported. Upload the file again."))
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("run_id") != run_id or data.get("actor_id") != actor.id:
        raise NotFound(_("This import has expired or was already imported. Upload the file again."))
    return data.get("filename", ""), data["rows"]


def discard(token: str) -> None:
    if _TOKEN.match(token or ""):
        (_folder() / f"{token}.json").unlink(missing_ok=True)
