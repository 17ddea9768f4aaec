"""Rate limits need storage every worker process shares.

Flask-Limiter counts in ``RATELIMIT_STORAGE_URI``: Redis when ``REDIS_URL`` is
set, otherwise the memory of each process. With several worker processes
(gunicorn ``--workers 4``) and memory storage each process counts on its own,
so a limit of 10 logins a minute lets 40 through. That is said at start-up:
by gunicorn's ``when_ready`` hook (``gunicorn.conf.py``, which gunicorn reads
from the working directory) with the real worker count, and by the app itself
when ``WEB_CONCURRENCY`` or ``GUNICORN_CMD_ARGS`` name more than one worker.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("training.limits")

WARNING = (
    "%s worker processes count rate limits (login, registration, password reset) each on their own: "
    "the limits are %s times as generous as configured. Set REDIS_URL so that every process shares "
    "one count (see README, Redis)."
)


def storage_is_shared(storage_uri: str | None) -> bool:
    return bool(storage_uri) and not str(storage_uri).startswith("memory://")


def workers_from_environment(environ: Mapping[str, str] | None = None) -> int:
    """Worker processes named by WEB_CONCURRENCY or GUNICORN_CMD_ARGS (1 when neither says)."""
    environ = os.environ if environ is None else environ
    workers = 1
    try:
        workers = int(environ.get("WEB_CONCURRENCY") or 1)
    except ValueError:
        pass
    args = shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    for i, arg in enumerate(args):
        value = None
        if arg in ("-w", "--workers") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-w") and arg[2:].isdigit():
            value = arg[2:]
        if value is not None:
            try:
                workers = int(value)
            except ValueError:
                pass
    return workers


def warn_if_not_shared(
    workers: int, storage_uri: str | None, enabled: bool = True, warn: Callable[..., None] | None = None
) -> bool:
    """Say so (once) when several processes would count alone. Returns whether it warned."""
    if not enabled or workers <= 1 or storage_is_shared(storage_uri):
        return False
    (warn or log.warning)(WARNING, workers, workers)
    return True


def check_app(app: Flask) -> None:
    warn_if_not_shared(
        workers_from_environment(),
        app.config.get("RATELIMIT_STORAGE_URI"),
        bool(app.config.get("RATELIMIT_ENABLED", True)),
    )
