"""Log records that say where they come from: request id, user id and client
address for a request, the job id for a job. ``LOG_FORMAT=json`` writes one
JSON object per line (for a log shipper); the default is plain text."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("training_job_id", default=None)


def _request_fields() -> dict:
    try:
        from flask import g, has_request_context, request

        if not has_request_context():
            return {}
        fields = {"request_id": g.get("request_id"), "client": request.remote_addr}
        user = g.get("_login_user")
        if user is not None and getattr(user, "is_authenticated", False):
            fields["user_id"] = getattr(user, "id", None)
        return fields
    except Exception:  # noqa: BLE001 - logging never fails
        return {}


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, client and job_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _request_fields()
        record.request_id = getattr(record, "request_id", None) or fields.get("request_id")
        record.user_id = getattr(record, "user_id", None) or fields.get("user_id")
        record.client = getattr(record, "client", None) or fields.get("client")
        job = getattr(record, "job_id", None) or job_id.get()
        record.job_id = job
        record.context = "".join(f" {k}={v}" for k, v in (("job", job),) if v)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "user_id", "client", "job_id", "method", "path", "status", "duration_ms"):
            value = getattr(record, key, None)
            if value not in (None, ""):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


TEXT_FORMAT = "[%(asctime)s] %(levelname)s %(name)s%(context)s: %(message)s"


def configure(app) -> None:
    """Called by the app factory: the context filter always; the JSON or
    text handler on the ``training`` logger when nothing else configured it."""
    import os

    logger = logging.getLogger("training")
    if not any(isinstance(f, ContextFilter) for f in logger.filters):
        logger.addFilter(ContextFilter())
    fmt = str(app.config.get("LOG_FORMAT") or os.environ.get("LOG_FORMAT") or "text").lower()
    ours = [h for h in logger.handlers if getattr(h, "_training", False)]
    if fmt == "json":
        if not ours:
            handler = logging.StreamHandler()
            handler._training = True  # type: ignore[attr-defined]  # our marker, read back with getattr above
            handler.addFilter(ContextFilter())
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            logger.propagate = False
    else:
        from flask.logging import default_handler

        if default_handler in logger.handlers:
            default_handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for each in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in each.filters):
            each.addFilter(ContextFilter())
