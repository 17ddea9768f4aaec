"""Self check-in with rotating codes that cannot be forwarded.

Each meeting has a random 256-bit secret (``Meeting.checkin_secret``), created
the first time its check-in screen is opened. Every ``CHECKIN_CODE_SECONDS``
(30 s) a new code is derived from it with HMAC-SHA256 over the meeting id and
the time step, so a code is bound to one meeting and one period and cannot be
computed without the secret, which never leaves the server.

* The QR code on the room's screen holds ``/checkin/<meeting>?c=<16 chars>``
  (80 bits); the short code typed where there is no camera is its first 6
  characters (30 bits; Crockford base32, no I/L/O/U), rate-limited per user.
* A code is accepted during its period plus ``CHECKIN_GRACE_SECONDS`` (clock
  skew, typing), only from a signed-in trainee confirmed on the run, and only
  from ``CHECKIN_MARGIN_MINUTES`` before the start until the meeting's
  scheduled end; never on a cancelled meeting or a finalised register.
* A scan by someone not signed in becomes a signed ticket bound to that
  browser (its device cookie) and to the code's lifetime; it is redeemed once,
  by the account that signs in there, and is not a transferable ticket.
* One browser checks in one account per meeting: another account's attempt
  from the same device cookie is refused and flagged on the trainer's roster.
* Optionally, check-in is accepted only from the networks listed for the
  run's location (``CHECKIN_NETWORKS``).

After ``CHECKIN_LATE_AFTER_MINUTES`` past the start the trainee is marked
late. A trainer's mark (present, late, excused) is never downgraded by a
check-in; an "absent" is replaced (the check-in is the newer fact).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..catalogue.models import Meeting, Run, RunStatus
from ..enrolment.models import Enrolment
from ..errors import DomainError, NotFound
from ..extensions import db
from ..types import utcnow
from . import services
from .models import Attendance, AttendanceSource, CheckinDevice, CheckinTicketUse

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
SHORT_LENGTH = 6
LONG_LENGTH = 16
LOOKBACK_STEPS = 40  # recognise codes up to 20 minutes old, to say "expired" rather than "wrong"
TICKET_MAX_SECONDS = 600  # a hard bound on any ticket; its real lifetime is its code's
DEVICE_COOKIE = "checkin_device"
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})


class CheckinRefused(DomainError):
    code = "checkin_refused"
    status = 409


def _closed(message: str, **extra: Any) -> CheckinRefused:
    return CheckinRefused(message, code="checkin_closed", **extra)


@dataclass
class CheckinResult:
    meeting: Meeting
    attendance: Attendance
    already: bool  # the trainee was already marked; nothing changed


@dataclass
class ScreenCode:
    """What the room's screen shows now."""

    state: str  # open, not_started, ended
    code: str | None  # the short code, for typing
    long_code: str | None  # the code in the QR
    seconds_left: int
    opens_at: datetime
    closes_at: datetime


def _seconds() -> int:
    return int(current_app.config.get("CHECKIN_CODE_SECONDS", 30))


def _grace() -> int:
    return int(current_app.config.get("CHECKIN_GRACE_SECONDS", 15))


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // _seconds()


def expires_at(step: int) -> datetime:
    """The last moment the code of ``step`` is accepted: its period's end plus the grace."""
    return datetime.fromtimestamp((step + 1) * _seconds() + _grace(), UTC)


def window(meeting: Meeting) -> tuple[datetime, datetime]:
    """From the margin before the start until the scheduled end: no check-in after the end."""
    margin = timedelta(minutes=int(current_app.config.get("CHECKIN_MARGIN_MINUTES", 15)))
    return meeting.starts_at - margin, meeting.ends_at


def ensure_secret(meeting: Meeting) -> str:
    if not meeting.checkin_secret:
        meeting.checkin_secret = secrets.token_hex(32)
        db.session.commit()
    return meeting.checkin_secret


def code_at(meeting: Meeting, step: int, length: int = LONG_LENGTH) -> str:
    assert meeting.checkin_secret is not None  # callers pass meetings with a secret (ensure_secret, _matching_step)
    digest = hmac.new(
        bytes.fromhex(meeting.checkin_secret), f"checkin:{meeting.id}:{step}".encode(), hashlib.sha256
    ).digest()
    number = int.from_bytes(digest[:10], "big")  # 80 bits
    chars = []
    for _i in range(LONG_LENGTH):
        number, index = divmod(number, 32)
        chars.append(ALPHABET[index])
    return "".join(chars)[:length]


def normalise(text: object) -> str | None:
    """Upper case, without spaces or dashes, with look-alike letters mapped; None if not a code."""
    if not isinstance(text, str):
        return None
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_TRANSLATE)
    if len(cleaned) not in (SHORT_LENGTH, LONG_LENGTH) or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def display(code: str) -> str:
    return f"{code[:3]}-{code[3:6]}" if len(code) == SHORT_LENGTH else code


def screen_code(meeting: Meeting, now: datetime | None = None) -> ScreenCode:
    now = now or utcnow()
    opens, closes = window(meeting)
    seconds = _seconds()
    left = seconds - int(now.timestamp()) % seconds
    if now < opens:
        return ScreenCode("not_started", None, None, left, opens, closes)
    if now >= closes or meeting.cancelled_at is not None or meeting.finalised_at is not None:
        return ScreenCode("ended", None, None, left, opens, closes)
    ensure_secret(meeting)
    long_code = code_at(meeting, step_at(now))
    return ScreenCode("open", long_code[:SHORT_LENGTH], long_code, left, opens, closes)


@dataclass
class CurrentCode:
    code: str
    expires_at: datetime
    period_seconds: int
    url: str


def current_code(actor: User, meeting_id: int, now: datetime | None = None) -> CurrentCode:
    """The code to show now (the run's trainers and admins), or ``checkin_closed``."""
    from ..errors import Forbidden
    from ..permissions import can
    from ..urls import external_url

    now = now or utcnow()
    meeting = services.get_meeting(meeting_id)
    if not can(actor, "view_checkin_code", meeting):
        raise Forbidden(_("Only the run's trainers and admins can show the check-in code."))
    check_window(meeting, now)
    ensure_secret(meeting)
    step = step_at(now)
    long_code = code_at(meeting, step)
    url = external_url("attendance.scan", meeting_id=meeting.id, c=long_code)
    return CurrentCode(long_code[:SHORT_LENGTH], expires_at(step), _seconds(), url)


def qr_data_uri(url: str) -> str:
    """The URL as an SVG QR code in a data: URI (allowed by the CSP for images)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(
        url, image_factory=qrcode.image.svg.SvgPathImage, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M
    )
    buffer = io.BytesIO()
    img.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _matching_step(meeting: Meeting, code: str, step: int) -> int | None:
    if not meeting.checkin_secret:
        return None
    for candidate in range(step, step - LOOKBACK_STEPS - 1, -1):
        if hmac.compare_digest(code_at(meeting, candidate, len(code)), code):
            return candidate
    return None


def _live_meetings(now: datetime) -> list[Meeting]:
    """Meetings whose codes could be on a screen around now (a handful at any time)."""
    lookback = timedelta(seconds=_seconds() * (LOOKBACK_STEPS + 1))
    margin = timedelta(minutes=int(current_app.config.get("CHECKIN_MARGIN_MINUTES", 15)))
    return list(
        db.session.scalars(
            select(Meeting)
            .join(Run)
            .where(
                Meeting.checkin_secret.is_not(None),
                Run.status != RunStatus.cancelled.value,
                Meeting.starts_at <= now + timedelta(hours=12),
                Meeting.ends_at >= now - margin - lookback,
            )
            .limit(2000)
        )
    )


def _find(code: str, now: datetime, meeting_id: int | None) -> tuple[Meeting, int]:
    step = step_at(now)
    if meeting_id is not None:
        meeting = db.session.get(Meeting, meeting_id)
        if meeting is not None:
            matched = _matching_step(meeting, code, step)
            if matched is not None:
                return meeting, matched
        for other in _live_meetings(now):
            if other.id != meeting_id and _matching_step(other, code, step) is not None:
                raise CheckinRefused(
                    _("This code belongs to another meeting. Scan the code shown in your room."), code="other_meeting"
                )
    else:
        for meeting in _live_meetings(now):
            matched = _matching_step(meeting, code, step)
            if matched is not None:
                return meeting, matched
    raise CheckinRefused(
        _("This check-in code is not right. Check the code on the screen and try again."),
        code="code_invalid",
        status=422,
    )


def verify_code(
    code_text: object, *, meeting_id: int | None = None, now: datetime | None = None
) -> tuple[Meeting, int]:
    """The meeting a code belongs to and its time step, or a refusal in words."""
    now = now or utcnow()
    code = normalise(code_text)
    if code is None:
        raise CheckinRefused(
            _("A check-in code has 6 letters and digits, like K7Q-M2X."), code="code_invalid", status=422
        )
    meeting, matched = _find(code, now, meeting_id)
    if now > expires_at(matched):
        raise CheckinRefused(
            _(
                "This code has expired: the code changes every %(n)s seconds. Use the code on the screen now.",
                n=_seconds(),
            ),
            code="code_invalid",
            status=422,
        )
    check_window(meeting, now)
    return meeting, matched


def check_window(meeting: Meeting, now: datetime) -> None:
    opens, closes = window(meeting)
    if meeting.run.status == RunStatus.cancelled.value:
        raise _closed(_("This run was cancelled."))
    if meeting.cancelled_at is not None:
        raise _closed(_("This meeting was cancelled."))
    if meeting.finalised_at is not None:
        raise _closed(_("The register of this meeting was finalised: check-in is closed. Speak to your trainer."))
    if now < opens:
        raise _closed(
            _(
                "Check-in for this meeting has not started yet; it opens %(n)s minutes before the start.",
                n=current_app.config.get("CHECKIN_MARGIN_MINUTES", 15),
            ),
            opens_at=opens.isoformat(),
        )
    if now >= closes:
        raise _closed(_("Check-in for this meeting has closed: the meeting has ended."))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="attendance.checkin-ticket")


def make_ticket(meeting: Meeting, step: int, user_id: int | None = None, device_hash: str | None = None) -> str:
    return _serializer().dumps({"m": meeting.id, "s": step, "u": user_id, "d": device_hash, "n": secrets.token_hex(12)})


@dataclass
class Ticket:
    meeting: Meeting
    step: int
    user_id: int | None
    device_hash: str | None
    nonce: str


def read_ticket(
    ticket: str, user: User | None = None, *, device_hash: str | None = None, now: datetime | None = None
) -> Ticket:
    """A ticket made by ``scan``: alive for its code's lifetime, in the browser that scanned it."""
    now = now or utcnow()
    try:
        data = _serializer().loads(ticket, max_age=TICKET_MAX_SECONDS)
    except SignatureExpired:
        raise CheckinRefused(
            _("This check-in link has expired. Scan the code on the screen again."), code="code_invalid", status=422
        ) from None
    except BadSignature:
        raise CheckinRefused(
            _("This check-in link is not valid. Scan the code on the screen again."), code="code_invalid", status=422
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("n"), str):
        raise CheckinRefused(
            _("This check-in link is not valid. Scan the code on the screen again."), code="code_invalid", status=422
        )
    if now > expires_at(data["s"]):
        raise CheckinRefused(
            _("This check-in link has expired. Scan the code on the screen again."), code="code_invalid", status=422
        )
    if data.get("u") is not None and user is not None and data["u"] != user.id:
        raise CheckinRefused(
            _("This check-in link was opened by someone else. Scan the code yourself."), code="other_user"
        )
    if data.get("d") is not None and data["d"] != device_hash:
        raise CheckinRefused(
            _("This check-in link was opened on another device. Scan the code yourself."), code="other_device"
        )
    meeting = db.session.get(Meeting, data.get("m"))
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return Ticket(meeting, data["s"], data.get("u"), data.get("d"), data["n"])


def device_hash(cookie_value: object) -> str | None:
    """The stored form of a device cookie (never the cookie itself)."""
    if not isinstance(cookie_value, str) or not 16 <= len(cookie_value) <= 128:
        return None
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def new_device_cookie() -> str:
    return secrets.token_urlsafe(24)


def _check_network(meeting: Meeting, ip: str | None) -> None:
    allowed = (current_app.config.get("CHECKIN_NETWORKS") or {}).get(meeting.run.location)
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        address = None
    if address is None or not any(address in ipaddress.ip_network(net, strict=False) for net in allowed):
        raise CheckinRefused(
            _("Check-in for this meeting works only from the training site's network."), code="network_not_allowed"
        )


def _fail(exc: Exception) -> NoReturn:
    db.session.rollback()
    raise exc


def _claim_device(meeting: Meeting, user: User, dhash: str | None) -> None:
    """One account per browser and meeting; another account's attempt is refused and kept as a flag."""
    if dhash is None:
        return
    rows = list(
        db.session.scalars(
            select(CheckinDevice).where(CheckinDevice.meeting_id == meeting.id, CheckinDevice.device_hash == dhash)
        )
    )
    others = [r for r in rows if r.user_id != user.id and not r.refused]
    mine = next((r for r in rows if r.user_id == user.id), None)
    if others:
        if mine is None:
            db.session.add(CheckinDevice(meeting_id=meeting.id, device_hash=dhash, user_id=user.id, refused=True))
        elif not mine.refused:
            mine.refused = True
        db.session.commit()  # the flag stays, for the trainer to see
        raise CheckinRefused(
            _(
                "Someone else has already checked in to this meeting from this device. "
                "Check in on your own phone, or ask your trainer."
            ),
            code="device_used",
        )
    if mine is None:
        db.session.add(CheckinDevice(meeting_id=meeting.id, device_hash=dhash, user_id=user.id, refused=False))


def check_in(
    user: User,
    *,
    code: str | None = None,
    ticket: str | None = None,
    meeting_id: int | None = None,
    now: datetime | None = None,
    device: str | None = None,
    ip: str | None = None,
) -> CheckinResult:
    """Mark the signed-in trainee present (or late) at the meeting the code or
    ticket belongs to; refusals say why in words and change nothing (except
    that a second account on one device is flagged).

    ``device`` is the browser's device cookie (None for API clients without
    one), ``ip`` the client's address for the optional network rule."""
    now = now or utcnow()
    dhash = device_hash(device)
    nonce = None
    if ticket:
        parsed = read_ticket(ticket, user, device_hash=dhash, now=now)
        if meeting_id is not None and parsed.meeting.id != meeting_id:
            raise CheckinRefused(_("This check-in link belongs to another meeting."), code="code_invalid", status=422)
        meeting, nonce = parsed.meeting, parsed.nonce
    else:
        meeting, _step = verify_code(code, meeting_id=meeting_id, now=now)
    meeting = services.get_meeting(meeting.id)
    check_window(meeting, now)
    enrolment = db.session.scalar(
        select(Enrolment).where(Enrolment.run_id == meeting.run_id, Enrolment.user_id == user.id)
    )
    if enrolment is None or enrolment.status != services.CONFIRMED:
        raise CheckinRefused(
            _(
                "You are not a confirmed trainee of %(course)s, so you cannot check in to it.",
                course=meeting.run.course.title,
            ),
            code="not_enrolled",
        )
    _check_network(meeting, ip)
    try:
        return _record(user, meeting.id, enrolment.id, nonce, dhash, now)
    except IntegrityError:
        # The same trainee checking in twice at once: the other request made the mark.
        db.session.rollback()
    return _record(user, meeting.id, enrolment.id, nonce, dhash, now)


def _record(
    user: User, meeting_id: int, enrolment_id: int, nonce: str | None, dhash: str | None, now: datetime
) -> CheckinResult:
    meeting = services.lock_meeting(meeting_id)  # check-ins, marks and finalising of a meeting queue here
    try:
        check_window(meeting, now)
    except CheckinRefused as exc:
        _fail(exc)
    if nonce is not None:
        used = db.session.get(CheckinTicketUse, nonce)
        if used is not None and used.user_id != user.id:
            _fail(CheckinRefused(_("This check-in link was used already. Scan the code yourself."), code="ticket_used"))
        if used is None:
            db.session.add(CheckinTicketUse(nonce=nonce, meeting_id=meeting.id, user_id=user.id, used_at=now))
    _claim_device(meeting, user, dhash)
    current = {
        a.enrolment_id: a
        for a in db.session.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting.id, Attendance.enrolment_id == enrolment_id)
            .execution_options(populate_existing=True)
        )
    }
    row = current.get(enrolment_id)
    if row is not None and row.status != "absent":
        db.session.commit()
        return CheckinResult(meeting, row, True)
    late_after = timedelta(minutes=int(current_app.config.get("CHECKIN_LATE_AFTER_MINUTES", 10)))
    status = "late" if now > meeting.starts_at + late_after else "present"
    row = services.write_record(
        meeting.id,
        current,
        enrolment_id,
        status,
        row.note if row else "",
        user.id,
        now,
        AttendanceSource.checkin.value,
        None,
    )
    assert row is not None  # unmarked or absent becomes present or late: the record was written
    db.session.commit()
    return CheckinResult(meeting, row, False)
