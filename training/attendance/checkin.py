"""Self check-in with rotating codes.

Each meeting has a random 256-bit secret (``Meeting.checkin_secret``), created
the first time its check-in screen is opened. Every ``CHECKIN_CODE_SECONDS``
(30 s) a new code is derived from it with HMAC-SHA256 over the meeting id and
the time step, so a code is bound to one meeting and one half-minute and
cannot be computed without the secret, which never leaves the server.

* The QR code on the room's screen holds ``/checkin/<meeting>?c=<16 chars>``:
  80 bits, valid for the current and the previous step only (30 to 60 s).
* The short code typed where there is no camera is the first 6 characters
  (30 bits; Crockford base32, no I/L/O/U), checked against the same steps and
  rate-limited per user, so guessing within a minute is hopeless.
* A valid scan by someone not yet logged in is turned into a signed ticket
  (meeting and step, 3 minutes) so the log-in in between does not make the
  code expire; the ticket is bound to the meeting and, once logged in, to the
  user.

Check-in is accepted from ``CHECKIN_MARGIN_MINUTES`` before the start until
that long after the end; after ``CHECKIN_LATE_AFTER_MINUTES`` past the start
the trainee is marked late. A trainer's mark (present, late, excused) is never
downgraded by a check-in.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from ..catalogue.models import Meeting, Run, RunStatus
from ..enrolment.models import Enrolment
from ..errors import DomainError, NotFound
from ..extensions import db
from ..types import utcnow
from . import services
from .models import Attendance

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
SHORT_LENGTH = 6
LONG_LENGTH = 16
ACCEPTED_STEPS = 2  # the current code and the one before it
LOOKBACK_STEPS = 40  # recognise codes up to 20 minutes old, to say "expired" rather than "wrong"
TICKET_SECONDS = 180
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})


class CheckinRefused(DomainError):
    code = "checkin_refused"
    status = 409


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


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // _seconds()


def window(meeting: Meeting) -> tuple[datetime, datetime]:
    margin = timedelta(minutes=int(current_app.config.get("CHECKIN_MARGIN_MINUTES", 15)))
    return meeting.starts_at - margin, meeting.ends_at + margin


def ensure_secret(meeting: Meeting) -> str:
    if not meeting.checkin_secret:
        meeting.checkin_secret = secrets.token_hex(32)
        db.session.commit()
    return meeting.checkin_secret


def code_at(meeting: Meeting, step: int, length: int = LONG_LENGTH) -> str:
    digest = hmac.new(bytes.fromhex(meeting.checkin_secret), f"checkin:{meeting.id}:{step}".encode(),
                      hashlib.sha256).digest()
    number = int.from_bytes(digest[:10], "big")  # 80 bits
    chars = []
    for _i in range(LONG_LENGTH):
        number, index = divmod(number, 32)
        chars.append(ALPHABET[index])
    return "".join(chars)[:length]


def normalise(text) -> str | None:
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
    if now > closes:
        return ScreenCode("ended", None, None, left, opens, closes)
    ensure_secret(meeting)
    long_code = code_at(meeting, step_at(now))
    return ScreenCode("open", long_code[:SHORT_LENGTH], long_code, left, opens, closes)


def qr_data_uri(url: str) -> str:
    """The URL as an SVG QR code in a data: URI (allowed by the CSP for images)."""
    import qrcode
    import qrcode.image.svg
    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2,
                      error_correction=qrcode.constants.ERROR_CORRECT_M)
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
    return list(db.session.scalars(select(Meeting).join(Run).where(
        Meeting.checkin_secret.is_not(None), Run.status != RunStatus.cancelled.value,
        Meeting.starts_at <= now + timedelta(hours=12), Meeting.ends_at >= now - margin - lookback
    ).limit(2000)))


def _find(code: str, now: datetime, meeting_id: int | None) -> tuple[Meeting, int]:
    step = step_at(now)
    if meeting_id is not None:
        meeting = db.session.get(Meeting, meeting_id)
        matched = _matching_step(meeting, code, step) if meeting is not None else None
        if matched is not None:
            return meeting, matched
        for other in _live_meetings(now):
            if other.id != meeting_id and _matching_step(other, code, step) is not None:
                raise CheckinRefused(_("This code belongs to another meeting. Scan the code shown in your room."),
                                     code="other_meeting")
    else:
        for meeting in _live_meetings(now):
            matched = _matching_step(meeting, code, step)
            if matched is not None:
                return meeting, matched
    raise CheckinRefused(_("This check-in code is not right. Check the code on the screen and try again."),
                         code="code_invalid", status=422)


def verify_code(code_text, *, meeting_id: int | None = None, now: datetime | None = None) -> tuple[Meeting, int]:
    """The meeting a code belongs to and its time step, or a refusal in words."""
    now = now or utcnow()
    code = normalise(code_text)
    if code is None:
        raise CheckinRefused(_("A check-in code has 6 letters and digits, like K7Q-M2X."),
                             code="code_invalid", status=422)
    meeting, matched = _find(code, now, meeting_id)
    if matched <= step_at(now) - ACCEPTED_STEPS:
        raise CheckinRefused(_("This code has expired: the code changes every %(n)s seconds. "
                               "Use the code on the screen now.", n=_seconds()), code="code_expired")
    _check_window(meeting, now)
    return meeting, matched


def _check_window(meeting: Meeting, now: datetime) -> None:
    opens, closes = window(meeting)
    if now < opens:
        raise CheckinRefused(_("Check-in for this meeting has not started yet; it opens %(n)s minutes before "
                               "the start.", n=current_app.config.get("CHECKIN_MARGIN_MINUTES", 15)),
                             code="not_started", opens_at=opens.isoformat())
    if now > closes:
        raise CheckinRefused(_("Check-in for this meeting has closed."), code="ended")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="attendance.checkin-ticket")


def make_ticket(meeting: Meeting, step: int, user_id: int | None = None) -> str:
    return _serializer().dumps({"m": meeting.id, "s": step, "u": user_id})


def read_ticket(ticket: str, user=None) -> Meeting:
    try:
        data = _serializer().loads(ticket, max_age=TICKET_SECONDS)
    except SignatureExpired:
        raise CheckinRefused(_("This check-in link has expired. Scan the code on the screen again."),
                             code="code_expired") from None
    except BadSignature:
        raise CheckinRefused(_("This check-in link is not valid. Scan the code on the screen again."),
                             code="code_invalid", status=422) from None
    if data.get("u") is not None and user is not None and data["u"] != user.id:
        raise CheckinRefused(_("This check-in link was opened by someone else. Scan the code yourself."),
                             code="other_user", status=403)
    meeting = db.session.get(Meeting, data.get("m"))
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return meeting


def check_in(user, *, code: str | None = None, ticket: str | None = None, meeting_id: int | None = None,
             now: datetime | None = None) -> CheckinResult:
    """Mark the logged-in trainee present (or late) at the meeting the code or
    ticket belongs to; refusals say why in words."""
    now = now or utcnow()
    if ticket:
        meeting = read_ticket(ticket, user)
        _check_window(meeting, now)
    else:
        meeting, _step = verify_code(code, meeting_id=meeting_id, now=now)
    meeting = services.get_meeting(meeting.id)
    if meeting.run.status == RunStatus.cancelled.value:
        raise CheckinRefused(_("This run was cancelled."), code="run_cancelled")
    enrolment = db.session.scalar(select(Enrolment).where(
        Enrolment.run_id == meeting.run_id, Enrolment.user_id == user.id))
    if enrolment is None or enrolment.status != services.CONFIRMED:
        raise CheckinRefused(_("You are not a confirmed trainee of %(course)s, so you cannot check in to it.",
                               course=meeting.run.course.title), code="not_enrolled", status=403)
    current = {a.enrolment_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id, Attendance.enrolment_id == enrolment.id))}
    row = current.get(enrolment.id)
    if row is not None and row.status != "absent":
        return CheckinResult(meeting, row, True)
    late_after = timedelta(minutes=int(current_app.config.get("CHECKIN_LATE_AFTER_MINUTES", 10)))
    status = "late" if now > meeting.starts_at + late_after else "present"
    row = services.write_record(meeting.id, current, enrolment.id, status, row.note if row else "", user.id, now,
                          "checkin", None)
    db.session.commit()
    return CheckinResult(meeting, row, False)
