"""The OpenAPI 3.1 description of JSON API v1, as plain data.

One entry per operation in PATHS, built with ``op(...)`` so that auth, the
error responses and the JSON body read the same everywhere. When you add a
route under /api/v1, add it here too: tests/api/test_openapi.py fails for any
route of the app's url_map that this document does not describe, and a
schemathesis run checks that the answers match the schemas below.
"""

from __future__ import annotations

import copy
from typing import Any

# --- small builders -----------------------------------------------------------


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema_type: str, **extra) -> dict:
    return {"type": [schema_type, "null"], **extra}


def obj(properties: dict, required: tuple[str, ...] | list[str] = (), *, extra: bool = True, **more) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    schema.update(more)
    return schema


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
ID = {"type": "integer", "minimum": 1}

ERROR_TEXT = {
    400: "The request is malformed (for instance, the body is not JSON).",
    401: "No valid bearer token was sent.",
    403: "The caller may not do this.",
    404: "No such resource (or the caller may not know it exists).",
    405: "The method is not allowed on this path.",
    409: "The request conflicts with the current state (already enrolled, run full, ...).",
    413: "The body is too large.",
    415: "The body has the wrong media type.",
    422: "A value is missing or invalid; `fields` names each field and what is wrong.",
    429: "Too many requests: slow down (see the Retry-After header).",
}

# Every answer may be one of these errors; each operation adds its own.
COMMON_ERRORS = (400, 405, 429)


def error(status: int) -> dict:
    return {"$ref": f"#/components/responses/Error{status}"}


def path_id(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or STRING}


PAGE_PARAMS = [
    query("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "maximum": 1000000}),
    query("per_page", "Items per page.", {"type": "integer", "minimum": 1, "maximum": 100}),
]

AUTH_NONE = "none"  # no token needed
AUTH_OPTIONAL = "optional"  # works without a token; a token may show more (admins see drafts)
AUTH_USER = "user"  # any valid token
AUTH_ADMIN = "admin"  # an admin's token


def op(
    summary: str,
    *,
    tag: str,
    auth: str,
    description: str = "",
    params: list | None = None,
    body: dict | None = None,
    body_required: bool = True,
    ok: int = 200,
    ok_schema: dict | None = None,
    ok_description: str = "Success.",
    ok_content: dict | None = None,
    errors: tuple[int, ...] = (),
    headers: dict | None = None,
    who: str = "",
    also: dict | None = None,
) -> dict:
    """One operation. ``auth`` is one of the AUTH_* names; ``who`` says in words
    who may call it (checked by ``permissions.can`` in the code)."""
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "x-auth": auth}
    text = description
    if who:
        text = (text + "\n\n" if text else "") + f"**Who:** {who}"
    if text:
        operation["description"] = text
    if auth == AUTH_NONE:
        operation["security"] = []
    elif auth == AUTH_OPTIONAL:
        operation["security"] = [{}, {"bearerAuth": []}]
    else:
        operation["security"] = [{"bearerAuth": []}]
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    ok_response: dict[str, Any] = {"description": ok_description}
    if ok_content is not None:
        ok_response["content"] = ok_content
    elif ok_schema is not None:
        ok_response["content"] = {"application/json": {"schema": ok_schema}}
    if headers:
        ok_response["headers"] = headers
    responses: dict[str, Any] = {str(ok): ok_response}
    for status, extra in (also or {}).items():  # other successful answers (e.g. 202 with a job)
        responses[str(status)] = extra
    statuses = set(errors) | set(COMMON_ERRORS)
    if auth in (AUTH_USER, AUTH_ADMIN):
        statuses.add(401)
    if auth == AUTH_ADMIN:
        statuses.add(403)
    if body is not None:
        statuses |= {413, 415, 422}
    for status in sorted(statuses):
        responses[str(status)] = error(status)
    operation["responses"] = responses
    return operation


def _with_multipart(operation: dict) -> dict:
    """The JSON body's fields may also come as multipart/form-data with a file part."""
    schema = copy.deepcopy(operation["requestBody"]["content"]["application/json"]["schema"])
    multipart = {
        "allOf": [
            schema,
            obj(
                {
                    "file": {
                        "type": "string",
                        "contentMediaType": "application/octet-stream",
                        "description": "The evidence file (PDF, JPEG, PNG, WebP).",
                    }
                }
            ),
        ]
    }
    operation["requestBody"]["content"]["multipart/form-data"] = {"schema": multipart}
    return operation


LOCATION = {"Location": {"description": "The URL of the new resource.", "schema": STRING}}

# --- schemas --------------------------------------------------------------------

LANGUAGE = {"type": "string", "enum": ["en", "zh"]}
ORIGINAL_LANGUAGE = {
    "type": "string",
    "enum": ["en", "zh"],
    "description": "The language the texts were written in: `title` etc. are in it; the other "
    "language of each text is a translation (possibly empty).",
}


def i18n(description: str = "", max_length: int | None = None, *, output: bool = True) -> dict:
    """Both languages of a text: {"en": ..., "zh": ...}; "" where a language is missing."""
    text = {"type": "string"} if max_length is None else {"type": "string", "maxLength": max_length}
    schema = obj({"en": text, "zh": text}, ("en", "zh") if output else (), extra=False)
    schema["description"] = description or (
        'The text in English and in Simplified Chinese ("" when missing).'
        if output
        else "The text by language; a language left out keeps its text. Wins over the plain field for the "
        "language it names. The original language's text may not be empty when a translation is given."
    )
    return schema


def i18n_inputs(limits: dict[str, int]) -> dict:
    out = {
        "original_language": {
            **ORIGINAL_LANGUAGE,
            "description": (
                "Which language is the original (default: unchanged, `en` for new records). The plain fields "
                "(e.g. `title`) write the original's text; texts move with their language when it changes."
            ),
        }
    }
    for name, limit in limits.items():
        out[f"{name}_i18n"] = i18n(max_length=limit, output=False)
    return out


TRAINER_FIELDS = {
    "id": INTEGER,
    "name": STRING,
    "title": nullable("string"),
    "organisation": nullable("string"),
    "title_i18n": i18n(),
    "original_language": ORIGINAL_LANGUAGE,
    "expertise": array(STRING),
    "photo_url": nullable("string"),
    "thumbnail_url": nullable("string"),
    "url": STRING,
}

SCHEMAS: dict[str, dict] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code, e.g. `validation_failed`.",
                    },
                    "message": {"type": "string", "description": "A sentence to show a person."},
                    "fields": {
                        "type": "object",
                        "description": "Field name to what is wrong with it.",
                        "additionalProperties": True,
                    },
                },
                ("code", "message", "fields"),
                description="Some errors add keys, e.g. `enrolment_id` on `already_enrolled`.",
            ),
        },
        ("error",),
    ),
    "Page": obj(
        {
            "page": INTEGER,
            "per_page": INTEGER,
            "pages": INTEGER,
            "total": INTEGER,
        },
        ("page", "pages", "total"),
    ),
    "RunSummary": obj(
        {
            "id": INTEGER,
            "starts_on": DATE,
            "ends_on": DATE,
            "mode": STRING,
            "city": nullable("string"),
            "status": {"type": "string", "enum": ["draft", "open", "closed", "cancelled"]},
            "seats_left": nullable("integer"),
        },
        ("id", "starts_on", "ends_on", "status"),
    ),
    "Course": obj(
        {
            "id": INTEGER,
            "code": STRING,
            "title": STRING,
            "summary": nullable("string"),
            "description": nullable("string"),
            "category": nullable("string", description="The category's slug."),
            "category_name": nullable("string"),
            "category_name_i18n": {**i18n(), "type": ["object", "null"]},
            "original_language": ORIGINAL_LANGUAGE,
            **{
                f"{name}_i18n": i18n()
                for name in ("title", "summary", "description", "outcomes", "prerequisites", "audience")
            },
            "level": {"type": "string", "enum": ["beginner", "intermediate", "advanced"]},
            "hours": NUMBER,
            "language": STRING,
            "min_attendance_pct": INTEGER,
            "published": BOOLEAN,
            "archived": BOOLEAN,
            "prerequisite_course_id": nullable("integer"),
            "validity_months": nullable("integer"),
            "upcoming_runs": array(ref("RunSummary")),
        },
        ("id", "code", "title", "hours", "level", "language", "published"),
    ),
    "CourseInput": obj(
        {
            "code": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9._-]+$"},
            "title": {"type": "string", "maxLength": 200},
            "hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
            "summary": {"type": "string", "maxLength": 500},
            "description": {"type": "string", "maxLength": 50000, "description": "Markdown."},
            "outcomes": {"type": "string", "maxLength": 20000},
            "prerequisites": {"type": "string", "maxLength": 20000},
            "audience": {"type": "string", "maxLength": 20000},
            "category": {"type": "string", "maxLength": 120, "description": "A category slug or name."},
            "level": {"type": "string", "enum": ["beginner", "intermediate", "advanced"]},
            "language": {"type": "string", "description": "A language code such as en or zh."},
            "min_attendance_pct": {"type": "integer", "minimum": 0, "maximum": 100},
            "pass_mark": nullable("integer", minimum=0, maximum=100),
            "validity_months": nullable("integer", minimum=1, maximum=600),
            "excused_counts": BOOLEAN,
            "weight_by_length": BOOLEAN,
            "auto_issue": BOOLEAN,
            "published": BOOLEAN,
            "prerequisite_course_id": nullable("integer"),
            **i18n_inputs(
                {
                    "title": 200,
                    "summary": 500,
                    "description": 50000,
                    "outcomes": 20000,
                    "prerequisites": 20000,
                    "audience": 20000,
                }
            ),
        },
        ("code", "hours"),
        description="`title` (the original language's title) or `title_i18n` with the "
        "original language's title is required when creating.",
    ),
    "Meeting": obj(
        {
            "id": INTEGER,
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "title": nullable("string"),
            "cancelled_at": nullable(
                "string", format="date-time", description="Set when the meeting was cancelled; it counts for no one."
            ),
            "finalised_at": nullable("string", format="date-time", description="When its register was signed off."),
        },
        ("id", "starts_at", "ends_at"),
    ),
    "MeetingInput": obj(
        {"starts_at": DATETIME, "ends_at": DATETIME, "title": {"type": "string", "maxLength": 200}},
        ("starts_at", "ends_at"),
    ),
    "Run": obj(
        {
            "id": INTEGER,
            "course_id": INTEGER,
            "course_code": STRING,
            "course_title": STRING,
            "course_title_i18n": i18n(),
            "original_language": ORIGINAL_LANGUAGE,
            "location_i18n": i18n(),
            "starts_on": DATE,
            "ends_on": DATE,
            "timezone": {"type": "string", "description": "IANA name."},
            "mode": {"type": "string", "enum": ["in_person", "online", "blended"]},
            "location": nullable("string"),
            "city": nullable("string"),
            "capacity": INTEGER,
            "seats_left": INTEGER,
            "status": {"type": "string", "enum": ["draft", "open", "closed", "cancelled"]},
            "requires_approval": BOOLEAN,
            "enrol_deadline": nullable("string", format="date-time"),
            "cancel_cutoff": nullable("string", format="date-time"),
            "trainers": array(obj({"id": INTEGER, "name": STRING}, ("id", "name"))),
            "meetings": array(ref("Meeting")),
            "confirmed": INTEGER,
            "waitlisted": INTEGER,
        },
        ("id", "course_id", "starts_on", "ends_on", "capacity", "seats_left", "status", "meetings"),
    ),
    "RunInput": obj(
        {
            "starts_on": DATE,
            "ends_on": DATE,
            "capacity": {"type": "integer", "minimum": 1, "maximum": 100000},
            "timezone": {"type": "string", "description": "IANA name, default Asia/Shanghai."},
            "location": {"type": "string", "maxLength": 300},
            "city": {"type": "string", "maxLength": 100},
            "notes": {"type": "string", "maxLength": 5000},
            "mode": {"type": "string", "enum": ["in_person", "online", "blended"]},
            "enrol_deadline": nullable(
                "string",
                format="date-time",
                description="Default: the start of the first meeting; at most the end of the run.",
            ),
            "cancel_cutoff": nullable("string", format="date-time"),
            "requires_approval": BOOLEAN,
            "status": {"type": "string", "enum": ["draft", "open", "closed"]},
            "trainer_emails": array({"type": "string", "format": "email"}),
            "meetings": array(ref("MeetingInput")),
            **i18n_inputs({"location": 300, "notes": 5000}),
        },
        ("starts_on", "ends_on", "capacity"),
    ),
    "RunCancelled": obj(
        {"run_id": INTEGER, "status": {"const": "cancelled"}, "enrolments_cancelled": INTEGER},
        ("run_id", "status", "enrolments_cancelled"),
    ),
    "EnrolmentStatus": {
        "type": "string",
        "enum": [
            "confirmed",
            "waitlisted",
            "pending",
            "rejected",
            "cancelled",
            "offered",
            "offer_declined",
            "offer_expired",
        ],
        "description": "`offered`: a seat freed after the enrolment deadline is held for this "
        "trainee until `offer_expires_at`; `offer_declined`/`offer_expired`: the "
        "trainee said no or did not answer in time, and left the waitlist.",
    },
    "EnrolmentCreated": obj(
        {
            "id": INTEGER,
            "run_id": INTEGER,
            "status": ref("EnrolmentStatus"),
            "company_id": nullable("integer", description="The member company the enrolment was made for."),
            "waitlist_position": {"type": "integer", "minimum": 1},
        },
        ("id", "run_id", "status"),
    ),
    "EnrolmentInput": obj(
        {
            "email": {
                "type": "string",
                "format": "email",
                "description": "Admins and coordinators only: the person to enrol.",
            },
            "name": {
                "type": "string",
                "maxLength": 200,
                "description": "Admins and coordinators only: their name, for a new account.",
            },
        },
        description="Empty for a trainee enrolling themself; email and name for an admin enrolling someone.",
    ),
    "Enrolment": obj(
        {
            "id": INTEGER,
            "run_id": INTEGER,
            "user_id": INTEGER,
            "status": ref("EnrolmentStatus"),
            "created_at": DATETIME,
            "confirmed_at": nullable("string", format="date-time"),
            "cancelled_at": nullable("string", format="date-time"),
            "source": STRING,
            "reason": STRING,
            "company_id": nullable("integer", description="The member company the trainee was in when enrolling."),
            "waitlist_position": {"type": "integer", "minimum": 1},
            "offered_at": DATETIME,
            "offer_expires_at": DATETIME,
            "trainee": obj(
                {"id": INTEGER, "name": STRING, "email": STRING, "company": nullable("string")}, ("id", "name", "email")
            ),
        },
        ("id", "run_id", "user_id", "status", "created_at"),
    ),
    "ImportInput": obj(
        {
            "trainees": array(
                obj(
                    {
                        "email": {"type": "string", "format": "email"},
                        "name": {"type": "string", "maxLength": 200},
                        "company": {"type": "string", "maxLength": 200},
                        "phone": {"type": "string", "maxLength": 50},
                    },
                    ("email", "name"),
                ),
                maxItems=5000,
            ),
        },
        ("trainees",),
    ),
    "ImportResult": obj(
        {
            "run_id": INTEGER,
            "enrolled": INTEGER,
            "waitlisted": INTEGER,
            "existing": INTEGER,
            "accounts_created": INTEGER,
            "errors": array(obj({"row": INTEGER, "email": nullable("string"), "message": STRING}, ("row", "message"))),
        },
        ("run_id", "enrolled", "waitlisted", "existing", "accounts_created", "errors"),
    ),
    "AttendanceStatus": {"type": "string", "enum": ["present", "late", "absent", "excused"]},
    "Person": obj({"id": INTEGER, "name": STRING}, ("id", "name")),
    "MeetingState": obj(
        {
            "id": INTEGER,
            "run_id": INTEGER,
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "title": nullable("string"),
            "course_code": STRING,
            "course_title": STRING,
            "cancelled_at": nullable("string", format="date-time", description="Set when the meeting was cancelled."),
            "cancel_reason": STRING,
            "sequence": {"type": "integer", "description": "The calendar SEQUENCE: raised on every move or cancel."},
            "finalised_at": nullable("string", format="date-time"),
            "finalised_by": {"anyOf": [ref("Person"), {"type": "null"}]},
        },
        ("id", "run_id", "starts_at", "ends_at"),
    ),
    "AttendanceRoster": obj(
        {
            "meeting": ref("MeetingState"),
            "finalised_at": nullable(
                "string", format="date-time", description="When the register was signed off; null while it is open."
            ),
            "finalised_by": {"anyOf": [ref("Person"), {"type": "null"}]},
            "cancelled": BOOLEAN,
            "counts": obj(
                {"present": INTEGER, "late": INTEGER, "absent": INTEGER, "excused": INTEGER, "unmarked": INTEGER},
                ("unmarked",),
            ),
            "items": array(
                obj(
                    {
                        "enrolment_id": INTEGER,
                        "user_id": INTEGER,
                        "name": STRING,
                        "status": {"anyOf": [ref("AttendanceStatus"), {"type": "null"}]},
                        "note": nullable("string"),
                        "marked_by": {"anyOf": [ref("Person"), {"type": "null"}]},
                        "marked_at": nullable("string", format="date-time"),
                        "recorded_at": nullable(
                            "string",
                            format="date-time",
                            description="When the mark was made on the device; the newest wins.",
                        ),
                        "source": {"anyOf": [ref("AttendanceSource"), {"type": "null"}]},
                        "self_checkin": BOOLEAN,
                        "device_flag": {
                            "type": "boolean",
                            "description": "Another account tried to check in from the same browser.",
                        },
                    },
                    ("enrolment_id", "user_id", "name", "status"),
                )
            ),
            "changed": {"type": "integer", "description": "After a PUT: how many records changed."},
            "conflicts": array(
                ref("AttendanceConflict"),
                description="After a PUT: marks not applied because a newer one was recorded.",
            ),
        },
        ("meeting", "finalised_at", "counts", "items"),
    ),
    "AttendanceSource": {
        "type": "string",
        "enum": ["roster", "offline", "checkin", "api", "admin"],
        "description": "Decided by the server, never by the client.",
    },
    "AttendanceConflict": obj(
        {
            "enrolment_id": INTEGER,
            "kept": obj(
                {
                    "status": ref("AttendanceStatus"),
                    "note": STRING,
                    "source": STRING,
                    "recorded_at": DATETIME,
                    "marked_by": nullable("string"),
                },
                ("status", "recorded_at"),
            ),
            "offered": obj(
                {"status": ref("AttendanceStatus"), "note": STRING, "recorded_at": DATETIME}, ("status", "recorded_at")
            ),
        },
        ("enrolment_id", "kept", "offered"),
    ),
    "AttendanceInput": obj(
        {
            "records": array(
                obj(
                    {
                        "enrolment_id": INTEGER,
                        "status": ref("AttendanceStatus"),
                        "note": {"type": "string", "maxLength": 1000},
                        "idempotency_key": {
                            "type": "string",
                            "minLength": 8,
                            "maxLength": 64,
                            "description": "A record whose key was already received is skipped (safe retries).",
                        },
                        "recorded_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "When the mark was made on the device (ISO 8601 with offset); "
                            "default: when it arrives. An older mark than the one held is not "
                            "applied and comes back in `conflicts`.",
                        },
                    },
                    ("enrolment_id", "status"),
                )
            ),
        },
        ("records",),
    ),
    "Finalised": obj(
        {
            "finalised_at": nullable("string", format="date-time"),
            "finalised_by": {"anyOf": [ref("Person"), {"type": "null"}]},
            "meeting": ref("MeetingState"),
        },
        ("finalised_at", "finalised_by"),
    ),
    "RequiredReason": obj({"reason": {"type": "string", "minLength": 3, "maxLength": 500}}, ("reason",)),
    "CheckinCode": obj(
        {
            "code": {"type": "string", "description": "The 6-character code to type (or scan via `url`)."},
            "expires_at": {
                "type": "string",
                "format": "date-time",
                "description": "The last moment this code is accepted (its period plus a small grace).",
            },
            "period_seconds": {"type": "integer", "description": "How often the code changes."},
            "url": {"type": "string", "description": "The link the room's QR code holds."},
        },
        ("code", "expires_at", "period_seconds"),
    ),
    "CheckinInput": obj({"code": {"type": "string", "maxLength": 32}}, ("code",)),
    "CheckinResult": obj(
        {
            "enrolment_id": INTEGER,
            "status": {"type": "string", "enum": ["present", "late", "excused", "absent"]},
            "already": {"type": "boolean", "description": "The trainee was already marked; nothing changed."},
        },
        ("enrolment_id", "status"),
    ),
    "MoveInput": obj({"starts_at": DATETIME, "ends_at": DATETIME}, ("starts_at", "ends_at")),
    "Certificate": obj(
        {
            "code": STRING,
            "display_code": {"type": "string", "description": "The code grouped for reading aloud."},
            "status": {"type": "string", "enum": ["valid", "revoked", "superseded", "expired"]},
            "holder_name": STRING,
            "course_code": STRING,
            "course_title": STRING,
            "hours": NUMBER,
            "course_title_i18n": obj(
                {"en": STRING, "zh": STRING},
                ("en", "zh"),
                description=(
                    'The course title as issued in each language ("" where the course had none); '
                    "course_title is the original."
                ),
            ),
            "starts_on": DATE,
            "ends_on": DATE,
            "completed_on": DATE,
            "issued_on": DATE,
            "trainers": array(STRING),
            "issuer": STRING,
            "expires_on": nullable("string", format="date"),
            "revoked_on": nullable("string", format="date"),
            "revoked_reason": nullable("string"),
            "superseded_by": nullable("string", description="The code of the certificate that replaced this one."),
            "reissue_of": nullable("string"),
            "verify_url": {"type": "string", "format": "uri"},
            "badge_url": {"type": "string", "format": "uri"},
            "sha256": nullable(
                "string",
                pattern="^[0-9a-f]{64}$",
                description="SHA-256 (hex) of the signed PDF issued for this certificate: every download "
                "is exactly these bytes.",
            ),
            "enrolment_id": {"type": "integer", "description": "Only in an admin's list of a run's certificates."},
        },
        ("code", "status", "holder_name", "course_title", "hours", "issued_on"),
        description="What anyone may see of a certificate: no e-mail or other personal data.",
    ),
    "CertificateList": obj({"items": array(ref("Certificate"))}, ("items",)),
    "IssueInput": obj({"email": {"type": "boolean", "description": "Also e-mail each new certificate to its holder."}}),
    "IssueResult": obj(
        {
            "issued": array(obj({"code": STRING, "enrolment_id": INTEGER}, ("code", "enrolment_id"))),
            "skipped": array(
                obj({"enrolment_id": INTEGER, "reason": STRING, "message": STRING}, ("enrolment_id", "reason"))
            ),
            "emailed": INTEGER,
        },
        ("issued", "skipped"),
    ),
    "IssueStarted": obj({"job": ref("Job"), "location": STRING}, ("job", "location")),
    "ReissueInput": obj(
        {
            "holder_name": {
                "type": "string",
                "maxLength": 200,
                "description": "The corrected name; default the current one.",
            }
        }
    ),
    "RevokeInput": obj({"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, ("reason",)),
    "OpenBadgeCredential": {
        "type": "object",
        "description": "An Open Badges 3.0 credential (JSON-LD).",
        "required": ["@context", "type", "issuer", "credentialSubject"],
    },
    "TrainerSummary": obj(
        dict(TRAINER_FIELDS, upcoming_runs={"type": "integer", "description": "How many upcoming runs they teach."}),
        ("id", "name", "expertise", "url"),
    ),
    "Trainer": obj(
        dict(
            TRAINER_FIELDS,
            bio=STRING,
            bio_html={"type": "string", "description": "The bio as sanitised HTML."},
            bio_i18n=i18n(),
            upcoming_runs=array(ref("RunSummary")),
            courses_taught=array(
                obj(
                    {
                        "id": INTEGER,
                        "code": STRING,
                        "title": STRING,
                        "title_i18n": i18n(),
                        "runs": INTEGER,
                        "last_run_ended_on": nullable("string", format="date"),
                    },
                    ("id", "code", "title"),
                )
            ),
        ),
        ("id", "name", "expertise", "url", "bio", "upcoming_runs", "courses_taught"),
    ),
    "ReasonInput": obj({"reason": {"type": "string", "maxLength": 2000}}),
    "Job": obj(
        {
            "id": STRING,
            "kind": STRING,
            "state": {"type": "string", "enum": ["queued", "running", "finished", "failed"]},
            "done": INTEGER,
            "total": INTEGER,
            "result": {"description": "What the job returned, when finished."},
            "stage": nullable("string"),
            "error": nullable("string"),
        },
        ("id", "state", "done", "total"),
    ),
}


# --- qualifications (issue 14) ----------------------------------------------------------

LEVEL = {"type": "integer", "minimum": 1, "maximum": 9}
QUALIFICATION_STATE = {
    "type": "string",
    "enum": ["valid", "expiring", "expired", "revoked"],
    "description": "On the date asked: expiring = valid, but lapses within the window "
    "(default 90 days); expired and revoked count as not qualified.",
}
SCHEMAS.update(
    {
        "SkillLevel": obj(
            {"level": INTEGER, "code": STRING, "name": STRING, "name_zh": nullable("string")}, ("level", "code", "name")
        ),
        "Skill": obj(
            {
                "id": INTEGER,
                "code": STRING,
                "name": STRING,
                "name_zh": nullable("string"),
                "category": nullable("string"),
                "levels": array(ref("SkillLevel")),
                "validity_months": nullable("integer"),
            },
            ("id", "code", "name", "levels", "validity_months"),
        ),
        "SkillList": obj({"items": array(ref("Skill"))}, ("items",)),
        "SkillInput": obj(
            {
                "code": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9._-]+$"},
                "name": {"type": "string", "maxLength": 200},
                "name_zh": {"type": "string", "maxLength": 200},
                "category": {"type": "string", "maxLength": 100},
                "levels": array(
                    {
                        "anyOf": [
                            {"type": "string", "maxLength": 100},
                            obj(
                                {
                                    "code": {"type": "string", "maxLength": 8},
                                    "name": {"type": "string", "maxLength": 100},
                                    "name_zh": {"type": "string", "maxLength": 100},
                                },
                                ("name",),
                            ),
                        ]
                    },
                    minItems=1,
                    maxItems=9,
                    description="Default: I-L-U-O (four levels).",
                ),
                "validity_months": nullable(
                    "integer",
                    minimum=1,
                    maximum=600,
                    description="A grant lapses this many months after it starts; null: never.",
                ),
            },
            ("code", "name"),
        ),
        "CourseSkillsInput": obj(
            {"grants": array(obj({"skill_id": INTEGER, "level": LEVEL}, ("skill_id", "level")), maxItems=300)},
            ("grants",),
        ),
        "CourseSkills": obj(
            {
                "course_id": INTEGER,
                "grants": array(
                    obj({"skill_id": INTEGER, "skill_code": STRING, "level": INTEGER}, ("skill_id", "level"))
                ),
            },
            ("course_id", "grants"),
        ),
        "Position": obj(
            {
                "id": INTEGER,
                "code": STRING,
                "name": STRING,
                "name_zh": nullable("string"),
                "site": nullable("string"),
                "department": nullable("string"),
                "requirements": array(
                    obj(
                        {"skill_id": INTEGER, "level": INTEGER, "min_people": INTEGER},
                        ("skill_id", "level", "min_people"),
                    )
                ),
                "user_ids": array(INTEGER),
            },
            ("id", "code", "name", "requirements", "user_ids"),
        ),
        "PositionInput": obj(
            {
                "code": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9._-]+$"},
                "name": {"type": "string", "maxLength": 200},
                "name_zh": {"type": "string", "maxLength": 200},
                "site": {"type": "string", "maxLength": 100},
                "department": {"type": "string", "maxLength": 100},
                "requirements": array(
                    obj(
                        {
                            "skill_id": INTEGER,
                            "level": LEVEL,
                            "min_people": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 10000,
                                "description": "Qualified people needed per shift; default 1.",
                            },
                        },
                        ("skill_id", "level"),
                    ),
                    maxItems=300,
                ),
            },
            ("code", "name"),
        ),
        "PositionPeopleInput": obj({"user_ids": array(INTEGER, maxItems=5000)}, ("user_ids",)),
        "Qualification": obj(
            {
                "id": INTEGER,
                "skill_id": INTEGER,
                "skill_code": STRING,
                "level": INTEGER,
                "source": {"type": "string", "enum": ["certificate", "assessment", "manual"]},
                "certificate_code": nullable("string"),
                "valid_from": DATE,
                "valid_until": nullable("string", format="date"),
                "state": {"anyOf": [QUALIFICATION_STATE, {"type": "null"}]},
                "evidence_file": {
                    "anyOf": [
                        obj(
                            {
                                "name": STRING,
                                "mimetype": {
                                    "type": "string",
                                    "enum": ["application/pdf", "image/jpeg", "image/png", "image/webp"],
                                },
                                "size": INTEGER,
                                "sha256": STRING,
                                "url": STRING,
                            },
                            ("name", "mimetype", "size", "sha256", "url"),
                        ),
                        {"type": "null"},
                    ],
                    "description": "The file attached as evidence (manual grants), if any.",
                },
            },
            ("skill_id", "skill_code", "level", "source", "certificate_code", "valid_from", "valid_until", "state"),
        ),
        "QualificationList": obj({"user_id": INTEGER, "on": DATE, "items": array(ref("Qualification"))}, ("items",)),
        "GrantInput": obj(
            {
                "skill_id": INTEGER,
                "level": LEVEL,
                "valid_from": {
                    "type": "string",
                    "format": "date",
                    "description": "Default: today (organisation's zone).",
                },
                "valid_until": nullable("string", format="date", description="Default: the skill's validity."),
                "source": {"type": "string", "enum": ["assessment", "manual"], "description": "Default: assessment."},
                "evidence": {"type": "string", "minLength": 1, "maxLength": 2000},
            },
            ("skill_id", "level", "evidence"),
        ),
        "Coverage": obj(
            {
                "position_id": INTEGER,
                "on": DATE,
                "requirements": array(
                    obj(
                        {
                            "skill_id": INTEGER,
                            "level": INTEGER,
                            "min_people": INTEGER,
                            "qualified": array(
                                INTEGER, description="People of the position qualified on the date (expiring included)."
                            ),
                            "expiring": array(
                                INTEGER,
                                description="Those of `qualified` whose qualification lapses within the window.",
                            ),
                            "gap": {"type": "integer", "minimum": 0, "description": "max(0, min_people - qualified)."},
                        },
                        ("skill_id", "level", "min_people", "qualified", "expiring", "gap"),
                    )
                ),
            },
            ("position_id", "on", "requirements"),
        ),
        "QualifiedList": obj(
            {
                "items": array(
                    obj(
                        {
                            "user_id": INTEGER,
                            "name": STRING,
                            "level": INTEGER,
                            "valid_until": nullable("string", format="date"),
                        },
                        ("user_id", "name", "level", "valid_until"),
                    )
                )
            },
            ("items",),
        ),
    }
)


def changes_of(name: str) -> dict:
    """The same fields as ``name``, none required: the body of a PATCH."""
    schema = copy.deepcopy(SCHEMAS[name])
    schema.pop("required", None)
    schema["description"] = "Only the fields to change."
    return schema


RATE = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "A fraction from 0 to 1; null when its denominator is 0 (see the glossary).",
}
SCHEMAS["ReportSummary"] = obj(
    {
        "runs": {"type": "integer", "description": "Runs starting in the period, cancelled runs left out."},
        "capacity": {"type": "integer", "description": "Their seats."},
        "confirmed": {"type": "integer", "description": "Their confirmed enrolments."},
        "attendance_rate": dict(
            RATE,
            description="Attended ÷ planned participant-meetings of confirmed enrolments "
            "(meetings held, cancelled ones excluded).",
        ),
        "no_show_rate": dict(
            RATE,
            description="Confirmed enrolments with no attended meeting ÷ confirmed "
            "enrolments, in runs whose registers are complete.",
        ),
        "fill_rate": dict(RATE, description="Confirmed at the first meeting ÷ capacity."),
        "completion_rate": dict(
            RATE,
            description="Confirmed enrolments holding a certificate ÷ confirmed "
            "enrolments, in runs whose registers are complete.",
        ),
        "certificates_issued": {"type": "integer", "description": "Issued in the period (reissues not counted again)."},
        "as_of": DATETIME,
    },
    (
        "runs",
        "capacity",
        "confirmed",
        "attendance_rate",
        "no_show_rate",
        "fill_rate",
        "completion_rate",
        "certificates_issued",
        "as_of",
    ),
    extra=False,
)
SCHEMAS["ReportMonthly"] = obj(
    {
        "from": DATE,
        "to": DATE,
        "as_of": DATETIME,
        "months": array(
            obj(
                {
                    "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                    "enrolments": {"type": "integer", "description": "Enrolments confirmed in the month."},
                    "certificates": {"type": "integer", "description": "Certificates first issued in the month."},
                    "attendance_rate": dict(RATE, description="The attendance rate of the meetings held in the month."),
                },
                ("month", "enrolments", "certificates", "attendance_rate"),
            )
        ),
    },
    ("from", "to", "as_of", "months"),
)

SCHEMAS["CourseChanges"] = changes_of("CourseInput")
SCHEMAS["RunChanges"] = changes_of("RunInput")


def page_of(item: str) -> dict:
    return {"allOf": [ref("Page"), obj({"items": array(ref(item))}, ("items",))]}


SCHEMAS.update(
    {
        "Company": obj(
            {
                "id": INTEGER,
                "code": STRING,
                "name": STRING,
                "name_zh": nullable("string"),
                "credit_code": nullable("string"),
                "address": STRING,
                "tier": {"type": "string", "enum": ["member", "associate", "founding"]},
                "contact_name": STRING,
                "contact_email": STRING,
                "contact_phone": STRING,
            },
            ("id", "code", "name", "tier"),
        ),
        "CompanyInput": obj(
            {
                "code": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9._-]+$"},
                "name": {"type": "string", "maxLength": 200},
                "name_zh": {"type": "string", "maxLength": 200},
                "credit_code": {
                    "type": "string",
                    "maxLength": 32,
                    "description": "Unified social credit code (18 characters) or a VAT id.",
                },
                "tier": {"type": "string", "enum": ["member", "associate", "founding"]},
                "address": {"type": "string", "maxLength": 2000},
                "contact_name": {"type": "string", "maxLength": 200},
                "contact_email": {"type": "string", "format": "email"},
                "contact_phone": {"type": "string", "maxLength": 50},
            },
            ("code", "name"),
        ),
        "PersonInput": obj(
            {"email": {"type": "string", "format": "email"}, "name": {"type": "string", "maxLength": 200}},
            ("email", "name"),
        ),
        "Person": obj(
            {
                "id": nullable("integer", description="The account's id; null while the invitation is pending."),
                "email": STRING,
                "name": STRING,
                "role": {"type": "string", "enum": ["trainee", "coordinator"]},
                "status": {
                    "type": "string",
                    "enum": ["member", "pending"],
                    "description": "pending: an existing account, invited; it joins when the person signs in.",
                },
                "company_id": INTEGER,
            },
            ("id", "email", "name", "role", "status", "company_id"),
        ),
        "AllocationInput": obj(
            {
                "company_id": ID,
                "seats": {"type": "integer", "minimum": 0, "maximum": 100000},
                "release_at": nullable(
                    "string",
                    format="date-time",
                    description="Unused reserved seats return to the public then; without an offset "
                    "in the run's time zone.",
                ),
                "overflow": {
                    "type": "boolean",
                    "description": "Coordinators may also take public seats (default true).",
                },
            },
            ("company_id", "seats"),
        ),
        "Allocation": obj(
            {
                "id": INTEGER,
                "run_id": INTEGER,
                "company_id": INTEGER,
                "seats": INTEGER,
                "used": INTEGER,
                "overflow": BOOLEAN,
                "release_at": nullable("string", format="date-time"),
                "released_at": nullable("string", format="date-time"),
                "released_seats": INTEGER,
            },
            ("id", "run_id", "company_id", "seats", "used", "released_seats"),
        ),
        "CompanyReport": obj(
            {
                "from": DATE,
                "to": DATE,
                "company_id": nullable("integer"),
                "seats_reserved": INTEGER,
                "seats_used": INTEGER,
                "seats_released": INTEGER,
                "enrolments": INTEGER,
                "by_status": {"type": "object", "additionalProperties": INTEGER},
                "attended_marks": INTEGER,
                "marks": INTEGER,
                "attendance_rate": nullable("number"),
                "no_shows": INTEGER,
                "completed": INTEGER,
                "ended": INTEGER,
                "completion_rate": nullable("number"),
                "no_show_rate": nullable("number"),
                "as_of": nullable("string"),
                "certificates_valid": INTEGER,
                "certificates_expiring": INTEGER,
                "certificates_expired": INTEGER,
                "monthly": array(obj({"month": STRING, "enrolments": INTEGER}, ("month", "enrolments"))),
                "position_requirements": INTEGER,
                "requirements_covered": INTEGER,
                "coverage_rate": nullable("number"),
            },
            (
                "from",
                "to",
                "seats_reserved",
                "seats_used",
                "seats_released",
                "enrolments",
                "attendance_rate",
                "no_shows",
                "completion_rate",
                "certificates_valid",
                "certificates_expiring",
                "certificates_expired",
            ),
        ),
    }
)
SCHEMAS["CoursePage"] = page_of("Course")
SCHEMAS["PersonPage"] = page_of("Person")
SCHEMAS["AllocationPage"] = page_of("Allocation")
SCHEMAS["EnrolmentPage"] = page_of("Enrolment")
SCHEMAS["TrainerPage"] = page_of("TrainerSummary")

# --- paths ------------------------------------------------------------------------

COURSE_ID = path_id("course_id", "The course's id.")
RUN_ID = path_id("run_id", "The run's id.")
ENROLMENT_ID = path_id("enrolment_id", "The enrolment's id.")
MEETING_ID = path_id("meeting_id", "The meeting's id.")
COMPANY_ID = path_id("company_id", "The company's id.")
CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "The certificate code, with or without its dashes and in any case.",
    "schema": {"type": "string", "maxLength": 64},
}

REPORT_PARAMS = [
    query("from", "First day (YYYY-MM-DD); default: the first day of the month eleven months ago.", DATE),
    query("to", "Last day (YYYY-MM-DD); default: today. At most ten years after from.", DATE),
    query("course_id", "Only this course.", ID),
    query("category_id", "Only courses of this category.", ID),
    query("city", "Only runs in this city (any case).", {"type": "string", "maxLength": 100}),
    query("trainer_id", "Only runs this trainer teaches.", ID),
    query("company_id", "Only enrolments of this company.", ID),
    query("run_id", "Only this run.", ID),
]
POSITION_ID = path_id("position_id", "The position's id.")
ON_PARAM = query("on", "The date (YYYY-MM-DD); default today in the organisation's time zone.", DATE)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PATHS: dict[str, dict] = {
    "/courses": {
        "get": op(
            "Search the catalogue",
            tag="Courses",
            auth=AUTH_OPTIONAL,
            params=[
                query(
                    "q",
                    "Words to search for in code, title, summary and description, in English and Chinese "
                    "(either language's text matches).",
                ),
                query("category", "A category slug."),
                query("level", "Course level.", {"type": "string", "enum": ["beginner", "intermediate", "advanced"]}),
                query("language", "Language code of the course."),
                query(
                    "mode",
                    "Only courses with a run in this mode.",
                    {"type": "string", "enum": ["in_person", "online", "blended"]},
                ),
                query("city", "Only courses with a run in this city."),
                query(
                    "month",
                    "Only courses with a run starting in this month (YYYY-MM).",
                    {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                ),
                query(
                    "open_only",
                    "Only courses with a run open for enrolment.",
                    {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", "on", "off"]},
                ),
                query("sort", "Order.", {"type": "string", "enum": ["relevance", "next", "title", "newest"]}),
                query("missing", "Only courses with a text that lacks this language while the other has it.", LANGUAGE),
                *PAGE_PARAMS,
            ],
            ok_schema=ref("CoursePage"),
            errors=(422,),
            description="Published courses with their upcoming runs; an admin's token also shows unpublished ones. "
            "Unknown filter values are refused with 422.",
            who="anyone",
        ),
        "post": op(
            "Create a course",
            tag="Courses",
            auth=AUTH_ADMIN,
            body=ref("CourseInput"),
            ok=201,
            ok_schema=ref("Course"),
            headers=LOCATION,
            errors=(409,),
            who="admins",
        ),
    },
    "/courses/{course_id}": {
        "parameters": [COURSE_ID],
        "get": op(
            "A course with its runs",
            tag="Courses",
            auth=AUTH_OPTIONAL,
            ok_schema=ref("Course"),
            errors=(404,),
            who="anyone for a published course; admins for any",
        ),
        "patch": op(
            "Change a course",
            tag="Courses",
            auth=AUTH_ADMIN,
            body=ref("CourseChanges"),
            ok_schema=ref("Course"),
            errors=(404, 409),
            description="Send only the fields to change.",
            who="admins",
        ),
    },
    "/courses/{course_id}/runs": {
        "parameters": [COURSE_ID],
        "post": op(
            "Schedule a run of a course",
            tag="Runs",
            auth=AUTH_ADMIN,
            body=ref("RunInput"),
            ok=201,
            ok_schema=ref("Run"),
            headers=LOCATION,
            errors=(404, 409),
            description="Times in ISO 8601 with an offset; the timezone is an IANA name.",
            who="admins",
        ),
    },
    "/runs/{run_id}": {
        "parameters": [RUN_ID],
        "get": op(
            "A run with its meetings and seats left",
            tag="Runs",
            auth=AUTH_OPTIONAL,
            ok_schema=ref("Run"),
            errors=(404,),
            who="anyone for an open run of a published course; admins for any",
        ),
        "patch": op(
            "Change a run",
            tag="Runs",
            auth=AUTH_ADMIN,
            body=ref("RunChanges"),
            ok_schema=ref("Run"),
            errors=(404, 409),
            description="Send only the fields to change. Capacity never drops below the confirmed "
            "trainees; added seats promote the waitlist.",
            who="admins",
        ),
    },
    "/runs/{run_id}/cancel": {
        "parameters": [RUN_ID],
        "post": op(
            "Cancel a run and every enrolment in it",
            tag="Runs",
            auth=AUTH_ADMIN,
            body=ref("ReasonInput"),
            body_required=False,
            ok_schema=ref("RunCancelled"),
            errors=(404, 409),
            who="admins",
        ),
    },
    "/runs/{run_id}/enrolments": {
        "parameters": [RUN_ID],
        "post": op(
            "Enrol in a run",
            tag="Enrolments",
            auth=AUTH_USER,
            body=ref("EnrolmentInput"),
            body_required=False,
            ok=201,
            ok_schema=ref("EnrolmentCreated"),
            headers=LOCATION,
            errors=(403, 404, 409),
            description="A trainee with `{}` enrols themself; an admin with `{email, name}` enrols that "
            "person, creating the account when needed; a coordinator with `{email, name}` enrols "
            "a person of their company (a new address joins the company) into the company's "
            "reserved seats first, then public seats; 409 `no_company_seat` when none is left. When the run is full the trainee is "
            "waitlisted. Enrolling again answers 409 `already_enrolled` with `enrolment_id`.",
            who="trainees (themselves), admins (anyone)",
        ),
        "get": op(
            "The run's enrolments",
            tag="Enrolments",
            auth=AUTH_USER,
            params=[
                query("status", "Only enrolments in this state.", ref("EnrolmentStatus")),
                PAGE_PARAMS[0],
                query("per_page", "Items per page.", {"type": "integer", "minimum": 1, "maximum": 500}),
            ],
            ok_schema=ref("EnrolmentPage"),
            errors=(403, 404, 422),
            who="the run's trainers, admins",
        ),
    },
    "/runs/{run_id}/enrolments/import": {
        "parameters": [RUN_ID],
        "post": op(
            "Enrol many trainees at once",
            tag="Imports",
            auth=AUTH_ADMIN,
            body=ref("ImportInput"),
            ok_schema=ref("ImportResult"),
            errors=(404, 409),
            description="At most 5,000 rows. Valid rows are enrolled in one transaction (seats first, "
            "then the waitlist in the given order), creating accounts when needed; invalid "
            "rows are reported by their position (from 1) and change nothing. Sending the "
            "same list again changes nothing.",
            who="admins",
        ),
    },
    "/enrolments/{enrolment_id}": {
        "parameters": [ENROLMENT_ID],
        "get": op(
            "An enrolment",
            tag="Enrolments",
            auth=AUTH_USER,
            ok_schema=ref("Enrolment"),
            errors=(403, 404),
            who="the trainee, the run's trainers, admins",
        ),
        "delete": op(
            "Cancel an enrolment",
            tag="Enrolments",
            auth=AUTH_USER,
            body=ref("ReasonInput"),
            body_required=False,
            ok_schema=ref("Enrolment"),
            errors=(403, 404, 409),
            description="Until the run's enrolment deadline the first waitlisted trainee takes the freed "
            "seat; after it an admin offers the seat (see `/enrolments/{enrolment_id}/offer`), "
            "and after the run's end nobody moves up. Trainees may cancel until "
            "the run's cancellation cut-off; admins at any time.",
            who="the trainee, admins",
        ),
    },
    "/enrolments/{enrolment_id}/offer": {
        "parameters": [ENROLMENT_ID],
        "post": op(
            "Offer a free seat to the next on the waitlist",
            tag="Enrolments",
            auth=AUTH_ADMIN,
            ok_schema=ref("Enrolment"),
            errors=(403, 404, 409),
            description="After the run's enrolment deadline freed seats are not handed to the waitlist by "
            "themselves: an admin offers each one. The enrolment becomes `offered` and holds "
            "the seat until `offer_expires_at` (`SEAT_OFFER_HOURS` later, never after the run's "
            "end); the trainee is e-mailed a link. 409 `before_deadline`, `run_ended`, "
            "`run_cancelled`, `run_full` (no free seat), `not_waitlisted`, `already_offered`, "
            "`not_next_in_line` (someone is ahead on the waitlist).",
            who="admins",
        ),
    },
    "/enrolments/{enrolment_id}/accept-offer": {
        "parameters": [ENROLMENT_ID],
        "post": op(
            "Accept a seat offered to you",
            tag="Enrolments",
            auth=AUTH_USER,
            ok_schema=ref("Enrolment"),
            errors=(403, 404, 409),
            description="The enrolment becomes `confirmed` and the calendar is e-mailed. 409 `no_offer` "
            "(nothing on offer, e.g. a replay) or `offer_expired`.",
            who="the trainee, admins",
        ),
    },
    "/enrolments/{enrolment_id}/decline-offer": {
        "parameters": [ENROLMENT_ID],
        "post": op(
            "Decline a seat offered to you",
            tag="Enrolments",
            auth=AUTH_USER,
            ok_schema=ref("Enrolment"),
            errors=(403, 404, 409),
            description="The enrolment becomes `offer_declined` (off the waitlist) and the seat is offered "
            "to the next in line. 409 `no_offer`.",
            who="the trainee, admins",
        ),
    },
    "/meetings/{meeting_id}/attendance": {
        "parameters": [MEETING_ID],
        "get": op(
            "A meeting's roster with attendance",
            tag="Attendance",
            auth=AUTH_USER,
            ok_schema=ref("AttendanceRoster"),
            errors=(403, 404),
            who="the run's trainers, admins",
        ),
        "put": op(
            "Mark attendance",
            tag="Attendance",
            auth=AUTH_USER,
            body=ref("AttendanceInput"),
            ok_schema=ref("AttendanceRoster"),
            errors=(403, 404, 409),
            description="Trainers of the run may mark from 30 minutes before the meeting starts "
            "(403 `too_early` before); admins at any time. The newest mark by `recorded_at` "
            "wins: an older one is not applied and is listed in `conflicts`. 409 "
            "`register_finalised` once the register is finalised, `meeting_cancelled` on a "
            "cancelled meeting. Answers the roster after the change with `changed`.",
            who="the run's trainers, admins",
        ),
    },
    "/meetings/{meeting_id}/attendance/finalise": {
        "parameters": [MEETING_ID],
        "post": op(
            "Finalise (sign off) the register",
            tag="Attendance",
            auth=AUTH_USER,
            ok_schema=ref("Finalised"),
            errors=(403, 404, 409),
            description="From the meeting's start. A finalised register takes no self check-ins and no "
            "changes until an admin reopens it. Finalising again changes nothing. 409 "
            "`too_early`, `meeting_cancelled`, `run_cancelled`.",
            who="the run's trainers, admins",
        ),
    },
    "/meetings/{meeting_id}/attendance/reopen": {
        "parameters": [MEETING_ID],
        "post": op(
            "Reopen a finalised register",
            tag="Attendance",
            auth=AUTH_ADMIN,
            body=ref("RequiredReason"),
            ok_schema=ref("Finalised"),
            errors=(404, 409),
            description="The reason is kept in the audit log. 409 `register_open` if it is not finalised.",
            who="admins",
        ),
    },
    "/meetings/{meeting_id}/checkin-code": {
        "parameters": [MEETING_ID],
        "get": op(
            "The current self check-in code",
            tag="Attendance",
            auth=AUTH_USER,
            ok_schema=ref("CheckinCode"),
            errors=(403, 404, 409),
            description="409 `checkin_closed` outside the check-in window (from before the start until the "
            "scheduled end), on a cancelled meeting or a finalised register.",
            who="the run's trainers, admins",
        ),
    },
    "/meetings/{meeting_id}/checkin": {
        "parameters": [MEETING_ID],
        "post": op(
            "Check in with the room's code",
            tag="Attendance",
            auth=AUTH_USER,
            body=ref("CheckinInput"),
            ok_schema=ref("CheckinResult"),
            errors=(403, 404, 409),
            description="The signed-in trainee, confirmed on the run, marks themself present (late after "
            "the late threshold). Refusals: 422 `code_invalid` (wrong or expired code), 409 "
            "`checkin_closed` (before the window, after the scheduled end, cancelled, "
            "finalised), `not_enrolled`, `device_used` (another account already checked in "
            "from this browser), `network_not_allowed`, `other_meeting`.",
            who="the trainee",
        ),
    },
    "/meetings/{meeting_id}/cancel": {
        "parameters": [MEETING_ID],
        "post": op(
            "Cancel a meeting",
            tag="Attendance",
            auth=AUTH_ADMIN,
            body=ref("RequiredReason"),
            ok_schema=ref("MeetingState"),
            errors=(404, 409),
            description="The meeting stays on record as cancelled and counts toward no one's completion; "
            "its marks stay in the audit trail. Confirmed trainees and trainers are e-mailed "
            "with the cancelled calendar event (SEQUENCE raised).",
            who="admins",
        ),
    },
    "/meetings/{meeting_id}/move": {
        "parameters": [MEETING_ID],
        "post": op(
            "Move a meeting",
            tag="Attendance",
            auth=AUTH_ADMIN,
            body=ref("MoveInput"),
            ok_schema=ref("MeetingState"),
            errors=(404, 409),
            description="New times (ISO 8601 with offset). Confirmed trainees and trainers are e-mailed "
            "with the updated calendar event. 409 `register_finalised`, `meeting_cancelled`.",
            who="admins",
        ),
    },
    "/runs/{run_id}/certificates": {
        "parameters": [RUN_ID],
        "post": op(
            "Issue every eligible certificate of a run",
            tag="Certificates",
            auth=AUTH_ADMIN,
            body=ref("IssueInput"),
            body_required=False,
            ok_schema=ref("IssueResult"),
            errors=(404, 409),
            description="Eligible: the register of every meeting that was not cancelled is finalised "
            "(else skipped with `register_open`) and the trainee attended at least the "
            "course's minimum. One certificate per enrolment. When many "
            "are due the answer is 202 with the job to poll in `Location` "
            "(`GET /jobs/{job_id}`).",
            who="admins",
            also={
                202: {
                    "description": "Many certificates are due: they are issued by a background job; "
                    "poll it at `Location`.",
                    "headers": {"Location": {"description": "The job to poll.", "schema": STRING}},
                    "content": {"application/json": {"schema": ref("IssueStarted")}},
                }
            },
        ),
        "get": op(
            "The certificates of a run",
            tag="Certificates",
            auth=AUTH_ADMIN,
            ok_schema=ref("CertificateList"),
            errors=(404,),
            who="admins",
        ),
    },
    "/runs/{run_id}/certificates.zip": {
        "parameters": [RUN_ID],
        "get": op(
            "Every certificate PDF of a run, in one ZIP",
            tag="Certificates",
            auth=AUTH_ADMIN,
            ok_content={"application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}},
            errors=(404, 409),
            who="admins",
        ),
    },
    "/certificates/{code}": {
        "parameters": [CODE],
        "get": op(
            "Verify a certificate",
            tag="Certificates",
            auth=AUTH_NONE,
            ok_schema=ref("Certificate"),
            errors=(404,),
            description="Unknown or malformed codes answer 404. Rate-limited per client.",
            who="anyone",
        ),
    },
    "/certificates/{code}/pdf": {
        "parameters": [CODE],
        "get": op(
            "Download the certificate PDF",
            tag="Certificates",
            auth=AUTH_USER,
            ok_content={"application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}},
            errors=(403, 404),
            who="the holder, admins",
        ),
    },
    "/certificates/{code}/revoke": {
        "parameters": [CODE],
        "post": op(
            "Revoke a certificate",
            tag="Certificates",
            auth=AUTH_ADMIN,
            body=ref("RevokeInput"),
            ok_schema=ref("Certificate"),
            errors=(404, 409),
            who="admins",
        ),
    },
    "/certificates/{code}/reissue": {
        "parameters": [CODE],
        "post": op(
            "Reissue a certificate (e.g. a corrected name); the old one is superseded",
            tag="Certificates",
            auth=AUTH_ADMIN,
            body=ref("ReissueInput"),
            body_required=False,
            ok=201,
            ok_schema=ref("Certificate"),
            headers=LOCATION,
            errors=(404, 409),
            who="admins",
        ),
    },
    "/certificates/{code}/badge": {
        "parameters": [CODE],
        "get": op(
            "The certificate as an Open Badges 3.0 credential",
            tag="Certificates",
            auth=AUTH_NONE,
            ok_content={"application/ld+json": {"schema": ref("OpenBadgeCredential")}},
            errors=(404,),
            who="anyone",
        ),
    },
    "/trainers": {
        "get": op(
            "The trainer directory",
            tag="Trainers",
            auth=AUTH_NONE,
            params=[
                query("q", "Words in the name, organisation or expertise."),
                PAGE_PARAMS[0],
                query("per_page", "Items per page.", {"type": "integer", "minimum": 1, "maximum": 100}),
            ],
            ok_schema=ref("TrainerPage"),
            errors=(422,),
            who="anyone",
        ),
    },
    "/trainers/{user_id}": {
        "parameters": [path_id("user_id", "The trainer's user id.")],
        "get": op(
            "A trainer's public profile",
            tag="Trainers",
            auth=AUTH_OPTIONAL,
            ok_schema=ref("Trainer"),
            errors=(404,),
            description="No e-mail address or other contact data.",
            who="anyone, for a public profile",
        ),
    },
    "/jobs/{job_id}": {
        "parameters": [
            {
                "name": "job_id",
                "in": "path",
                "required": True,
                "description": "The job's id (a UUID).",
                "schema": {"type": "string", "maxLength": 36},
            }
        ],
        "get": op(
            "Progress of a background job",
            tag="Jobs",
            auth=AUTH_USER,
            ok_schema=ref("Job"),
            errors=(403, 404),
            who="the user who started it, admins",
        ),
    },
    "/reports/summary": {
        "get": op(
            "The glossary's figures for a period",
            tag="Reports",
            auth=AUTH_USER,
            params=REPORT_PARAMS,
            ok_schema=ref("ReportSummary"),
            errors=(403, 422),
            description="Months and dates in the organisation's time zone; a run belongs to the period "
            "in which it starts. Trainers see only the runs they teach, company coordinators "
            "their company; asking for more is a 403. A bad period (not a date, `from` after "
            "`to`, more than ten years) is a 400; a malformed or unknown id a 422. The figures "
            "come from summaries refreshed every minute: `as_of` is the moment they describe. "
            "The same filters give the dashboard (`/reports`) and its XLSX "
            "(`/reports/export.xlsx`, signed-in pages).",
            who="admins, trainers (their runs), coordinators (their company)",
        ),
    },
    "/reports/monthly": {
        "get": op(
            "Enrolments, certificates and attendance rate per month",
            tag="Reports",
            auth=AUTH_USER,
            params=REPORT_PARAMS,
            ok_schema=ref("ReportMonthly"),
            errors=(403, 422),
            who="admins, trainers (their runs), coordinators (their company)",
        ),
    },
    "/companies": {
        "post": op(
            "Add a member company",
            tag="Companies",
            auth=AUTH_ADMIN,
            body=ref("CompanyInput"),
            ok=201,
            ok_schema=ref("Company"),
            headers=LOCATION,
            errors=(409,),
            description="Users whose free-text company equals the code or a name (ignoring case and "
            "full-width letters) join it.",
            who="admins",
        ),
    },
    "/companies/{company_id}": {
        "parameters": [COMPANY_ID],
        "get": op(
            "A member company",
            tag="Companies",
            auth=AUTH_USER,
            ok_schema=ref("Company"),
            errors=(404,),
            description="404 for a company the caller may not see.",
            who="admins, the company's coordinators",
        ),
    },
    "/companies/{company_id}/coordinators": {
        "parameters": [COMPANY_ID],
        "post": op(
            "Name a coordinator of the company",
            tag="Companies",
            auth=AUTH_USER,
            body=ref("PersonInput"),
            ok=201,
            ok_schema=ref("Person"),
            errors=(403, 404, 409),
            description="A new address gets a coordinator account in the company; the invitation e-mail "
            "leads to a page that sets the password (or `flask users create --role "
            "coordinator --company CODE`).",
            who="admins",
        ),
    },
    "/companies/{company_id}/people": {
        "parameters": [COMPANY_ID],
        "post": op(
            "Add a person to the company",
            tag="Companies",
            auth=AUTH_USER,
            body=ref("PersonInput"),
            ok=201,
            ok_schema=ref("Person"),
            errors=(403, 404, 409),
            description="A new address gets an account in the company and an invitation; an existing "
            "account is invited (`pending`) and joins when the person signs in.",
            who="admins, the company's coordinators",
        ),
        "get": op(
            "The company's people",
            tag="Companies",
            auth=AUTH_USER,
            ok_schema=ref("PersonPage"),
            errors=(404,),
            who="admins, the company's coordinators",
        ),
    },
    "/companies/{company_id}/report": {
        "parameters": [COMPANY_ID],
        "get": op(
            "The company report for a period",
            tag="Companies",
            auth=AUTH_USER,
            params=[
                query("from", "First day (runs starting on or after it).", DATE),
                query("to", "Last day (runs starting on or before it).", DATE),
            ],
            ok_schema=ref("CompanyReport"),
            errors=(404, 422),
            description="The glossary's figures (the same as `GET /reports/summary?company_id=`), rates as "
            "percentages 0-100 with one decimal, each with its numerator and denominator: "
            "`attended_marks` / `marks` are attended / planned participant-meetings; `no_shows`, "
            "`completed` / `ended` count confirmed enrolments of runs whose registers are complete; "
            "`certificates_expiring` are current certificates expiring within 90 days from today; "
            "`as_of` is the moment the figures describe.",
            who="admins, the company's coordinators",
        ),
    },
    "/runs/{run_id}/allocations": {
        "parameters": [RUN_ID],
        "post": op(
            "Reserve seats of a run for a company",
            tag="Companies",
            auth=AUTH_ADMIN,
            body=ref("AllocationInput"),
            ok=201,
            ok_schema=ref("Allocation"),
            errors=(404, 409),
            description="Sending it again for the same company changes the reservation (answered with "
            "200). Refused with 409: more seats than are free, fewer than the company's "
            "confirmed trainees, a cancelled run.",
            who="admins",
        ),
        "get": op(
            "A run's reserved seats",
            tag="Companies",
            auth=AUTH_USER,
            ok_schema=ref("AllocationPage"),
            errors=(403, 404),
            who="admins (all), coordinators (their company's)",
        ),
    },
    "/skills": {
        "get": op(
            "The skills", tag="Qualifications", auth=AUTH_USER, ok_schema=ref("SkillList"), who="anyone signed in"
        ),
        "post": op(
            "Define a skill",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            body=ref("SkillInput"),
            ok=201,
            ok_schema=ref("Skill"),
            errors=(409,),
            who="admins",
        ),
    },
    "/courses/{course_id}/skills": {
        "parameters": [COURSE_ID],
        "put": op(
            "Set the skills a course grants",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            body=ref("CourseSkillsInput"),
            ok_schema=ref("CourseSkills"),
            errors=(404, 409),
            description="Replaces the list. Each certificate of the course issued from now on grants these "
            "skills at these levels, in the certificate's own transaction.",
            who="admins",
        ),
    },
    "/positions": {
        "post": op(
            "Define a position (station, machine, line or role) and its requirements",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            body=ref("PositionInput"),
            ok=201,
            ok_schema=ref("Position"),
            headers=LOCATION,
            errors=(409,),
            who="admins",
        ),
    },
    "/positions/{position_id}/people": {
        "parameters": [POSITION_ID],
        "put": op(
            "Set who works on a position",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            body=ref("PositionPeopleInput"),
            ok_schema=ref("Position"),
            errors=(404, 409),
            who="admins",
        ),
    },
    "/positions/{position_id}/coverage": {
        "parameters": [POSITION_ID],
        "get": op(
            "Coverage of a position on a date",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            params=[ON_PARAM],
            ok_schema=ref("Coverage"),
            errors=(403, 404, 422),
            who="assessors, admins",
        ),
    },
    "/people/{user_id}/qualifications": {
        "parameters": [path_id("user_id", "The person's user id.")],
        "get": op(
            "A person's qualifications on a date",
            tag="Qualifications",
            auth=AUTH_USER,
            params=[ON_PARAM],
            ok_schema=ref("QualificationList"),
            errors=(403, 404, 422),
            description="Every grant that exists on the date, with its state; expired and revoked ones "
            "included (they count as not qualified).",
            who="the person, trainers of their runs, assessors, admins",
        ),
        "post": _with_multipart(
            op(
                "Grant a qualification (assessment or sign-off)",
                tag="Qualifications",
                auth=AUTH_ADMIN,
                body=ref("GrantInput"),
                ok=201,
                ok_schema=ref("Qualification"),
                errors=(403, 404, 409),
                description="With evidence (a note, an attached file, or both); audited. Nobody grants to themself. "
                "To attach a file, send multipart/form-data with the same fields and the file in a "
                "part named `file`: a PDF, or a JPEG, PNG or WebP image, at most 10 MB (413 when "
                "larger; 422 when it is not a readable PDF or image).",
                who="assessors, admins",
            )
        ),
    },
    "/qualifications/{grant_id}/evidence": {
        "parameters": [path_id("grant_id", "The grant's id (`id` of a qualification).")],
        "get": op(
            "The file attached to a grant as evidence",
            tag="Qualifications",
            auth=AUTH_USER,
            ok_content={
                kind: {"schema": {"type": "string", "contentMediaType": kind}}
                for kind in ("application/pdf", "image/jpeg", "image/png", "image/webp")
            },
            errors=(403, 404),
            description="An attachment, of the type checked on upload.",
            who="the person, trainers of their runs, assessors, admins",
        ),
    },
    "/qualified": {
        "get": op(
            "Who is qualified in a skill on a date",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            params=[
                {
                    "name": "skill",
                    "in": "query",
                    "required": True,
                    "description": "The skill's code.",
                    "schema": {"type": "string", "maxLength": 32},
                },
                query("level", "At least this level (default 1).", {"type": "integer", "minimum": 1, "maximum": 9}),
                ON_PARAM,
            ],
            ok_schema=ref("QualifiedList"),
            errors=(403, 404, 422),
            who="assessors, admins",
        ),
    },
    "/matrix.xlsx": {
        "get": op(
            "The qualification matrix as an Excel file",
            tag="Qualifications",
            auth=AUTH_ADMIN,
            params=[
                query("position", "A position's id.", {"type": "integer", "minimum": 1}),
                query("site", "A site's name (one of the two is required)."),
                ON_PARAM,
            ],
            ok_content={XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}}},
            errors=(403, 404, 422),
            description="The counts of the matrix page, bilingual headers.",
            who="assessors, admins",
        ),
    },
    "/openapi.json": {
        "get": op(
            "This document",
            tag="Documentation",
            auth=AUTH_NONE,
            ok_content={"application/json": {"schema": {"type": "object"}}},
            who="anyone",
        ),
    },
    "/docs": {
        "get": op(
            "This document as a web page",
            tag="Documentation",
            auth=AUTH_NONE,
            ok_content={"text/html": {"schema": {"type": "string"}}},
            who="anyone",
        ),
    },
}

DESCRIPTION = """\
The JSON API of the training platform, for HR systems, MES, mobile check-in and integrators.

**Authentication.** Send `Authorization: Bearer <token>`. A user creates tokens on their account
page (or an operator with `flask users token EMAIL`); only a hash is stored, and the user can
revoke each token or all of them at once.

**Errors.** Every error is JSON: `{"error": {"code": "...", "message": "...", "fields": {...}}}`
with status 400, 401, 403, 404, 405, 409, 413, 415, 422 or 429. `code` is stable; `message`
is for people; `fields` maps a field name to what is wrong with it.

**Times.** Date-times are ISO 8601 with an offset and are answered in UTC; dates are `YYYY-MM-DD`.
"""


def _responses() -> dict:
    return {
        f"Error{status}": {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
        for status, text in sorted(ERROR_TEXT.items())
    }


def build_document(server_url: str = "/api/v1") -> dict:
    """The whole document (a fresh copy each call, so callers may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {"title": "Smart Manufacturing Training API", "version": "1.0.0", "description": DESCRIPTION},
            "servers": [{"url": server_url}],
            "tags": [{"name": name} for name in TAGS],
            "paths": PATHS,
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A personal API token."}
                },
                "schemas": SCHEMAS,
                "responses": _responses(),
            },
        }
    )


TAGS = [
    "Courses",
    "Runs",
    "Enrolments",
    "Attendance",
    "Certificates",
    "Imports",
    "Companies",
    "Trainers",
    "Jobs",
    "Qualifications",
    "Reports",
    "Documentation",
]
