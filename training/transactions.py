"""The unit of work: one service call, one transaction.

A public service function commits once when it succeeds. When it refuses (a
``DomainError``) or fails, ``@unit_of_work`` rolls the session back before the
exception leaves the service, so the caller (a route, an API view, a CLI
command, a job) never sees half-changed objects and never has to call
``rollback()`` itself — the way pretix runs an operation in one atomic block
and Indico commits or rolls back once per request.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from .extensions import db

P = ParamSpec("P")
R = TypeVar("R")


def unit_of_work(fn: Callable[P, R]) -> Callable[P, R]:
    """Roll the session back when ``fn`` raises; the exception goes on unchanged.

    A service that can also run as one step of a larger unit of work takes
    ``commit=False``; called that way it neither commits nor rolls back, and
    the caller that owns the transaction decides.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("commit", True) is False:
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise

    return wrapper
