"""The session cookie, read and written as Flask does, without the work that repeats.

Flask builds a signing serializer for every request that opens or saves a session, and a browser sends
the same signed cookie with each of its requests, which Flask verifies and decodes each time (HMAC,
base64, zlib, tagged JSON). Here the serializer is built once per set of keys, and a cookie that
verified is decoded once per process: the next request with the very same cookie (the whole string,
signature included) gets a copy of the data it held. Its age is still checked on every request against
the session lifetime, as itsdangerous does, and only data of plain values (text, numbers, true/false,
none) is kept, so no request can change what another gets. A cookie that does not verify is never kept:
what is kept was signed by this server's keys. The cookie written is Flask's own.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

_PLAIN = (str, int, float, bool, type(None))
COOKIE_LIMIT = 10_000  # cookies kept per process (a few hundred bytes each)


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}
        self._cookies: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        found = self._serializers.get(keys)
        if found is None:
            found = super().get_signing_serializer(app)
            if found is None:
                return None
            with self._lock:
                self._serializers = {keys: found}  # keys changed (tests): the old ones are of no use
        return found

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        s = self.get_signing_serializer(app)
        if s is None:
            return None
        val = request.cookies.get(self.get_cookie_name(app))
        if not val:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key = (tuple(s.secret_keys), val)
        kept = self._cookies.get(key)
        if kept is not None:
            data, signed_at = kept
            age = int(time.time()) - signed_at
            if 0 <= age <= max_age:
                return self.session_class(data)
            return self.session_class()  # expired, as itsdangerous would say
        try:
            data, signed = s.loads(val, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(value, _PLAIN) for value in data.values()):
            with self._lock:
                if len(self._cookies) >= COOKIE_LIMIT:
                    self._cookies.clear()
                self._cookies[key] = (dict(data), int(signed.timestamp()))
        return self.session_class(data)
