"""Smart-manufacturing training platform: the app factory."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request, session
from flask import Request as FlaskRequest
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter
from werkzeug.utils import cached_property

from . import config as config_module
from .extensions import babel, csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("training.request")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
    )
    from .json_provider import StrictJSONProvider

    app.json = StrictJSONProvider(app)
    app.request_class = _Request
    from .sessions import SessionInterface

    app.session_interface = SessionInterface()  # Flask's cookie, decoded once per process
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.url_map.converters["int"] = _DatabaseInt
    app.config.update(config_module.load(Path(app.instance_path)))
    if config:
        app.config.update(config)
    _refuse_private_state(app, config or {})
    from . import urls

    urls.configure_trusted_hosts(app)
    _configure_cookies(app, config or {})
    _configure_test_defaults(app, config or {})

    _configure_logging(app)
    from . import logs

    logs.configure(app)
    _init_database(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from flask_bootstrap import Bootstrap5

    Bootstrap5(app)

    from . import pagecache

    pagecache.init_app(app)
    from . import metrics

    metrics.init_app(app)

    _register_models()
    _register_blueprints(app)
    _register_handlers(app)
    _register_templating(app)
    from . import cli

    cli.register(app)
    _trust_proxies(app)
    from . import limits

    limits.check_app(app)
    return app


def _configure_cookies(app: Flask, given: dict) -> None:
    """The remember cookie is as secure as the session cookie and lasts no longer than a login."""
    from datetime import timedelta

    if "REMEMBER_COOKIE_SECURE" not in given:
        app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE"))
    if "REMEMBER_COOKIE_DURATION" not in given:
        app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=float(app.config.get("LOGIN_SESSION_DAYS", 30)))


def _configure_test_defaults(app: Flask, given: dict) -> None:
    """What a TESTING app does by default, as settings (the way Flask derives PROPAGATE_EXCEPTIONS), so
    no code path asks whether it is under test: an unexpected error propagates to the test instead of
    becoming a 500 page (``RAISE_UNEXPECTED_ERRORS``; ``CATCH_IN_TESTS`` asks for the 500), and no
    scheduler thread starts in the web process (``SCHEDULER_IN_WEB``)."""
    testing = bool(app.config.get("TESTING"))
    if "RAISE_UNEXPECTED_ERRORS" not in given:
        app.config["RAISE_UNEXPECTED_ERRORS"] = testing and not app.config.get("CATCH_IN_TESTS")
    if testing and "SCHEDULER_IN_WEB" not in given:
        app.config["SCHEDULER_IN_WEB"] = False


def _refuse_private_state(app: Flask, given: dict) -> None:
    """Production (PostgreSQL, not testing) runs on several servers: each must
    use the same secret key, signing key and document store instead of
    generating its own under instance/. Refuse to start until they are
    configured (``ALLOW_LOCAL_STATE=1`` for a deliberate single server)."""
    import os

    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not uri.startswith("postgresql") or app.config.get("TESTING"):
        return
    if str(os.environ.get("ALLOW_LOCAL_STATE", given.get("ALLOW_LOCAL_STATE", ""))).lower() in (
        "1",
        "true",
        "yes",
        "on",
    ):
        return
    wanted = ["SECRET_KEY", "SIGNING_DIR"]
    if str(app.config.get("DOCUMENT_STORE") or "file") == "file":
        wanted.append("DOCUMENT_DIR")
    missing = [name for name in wanted if not os.environ.get(name) and name not in given]
    if missing:
        raise RuntimeError(
            "Refusing to start on PostgreSQL without shared state: set "
            + ", ".join(missing)
            + " (the same on every server: a secret key, and directories on shared storage for the signing key "
            "and the issued documents), or ALLOW_LOCAL_STATE=1 for a single server."
        )


def _trust_proxies(app: Flask) -> None:
    """Behind a reverse proxy, TRUSTED_PROXIES=<how many> makes the client's
    address (rate limits, logs), scheme (HSTS, secure links) and host come from
    X-Forwarded-*. Off by default: without a proxy those headers are forged.
    The forwarded host is checked against TRUSTED_HOSTS like a direct one.
    X-Forwarded-Prefix (a path prefix in every link of every page) is trusted
    only with TRUSTED_PROXY_PREFIX=<how many>: a proxy that neither sets nor
    clears it would let one forged request rewrite the links of cached pages."""
    import os

    def count(name: str) -> int:
        raw = app.config.get(name, os.environ.get(name, "0"))
        try:
            value = int(raw or 0)
        except (TypeError, ValueError):
            raise RuntimeError(f"{name} must be a number of proxies, not {raw!r}") from None
        if value < 0:
            raise RuntimeError(f"{name} must be a number of proxies, not {raw!r}")
        return value

    proxies, prefix = count("TRUSTED_PROXIES"), count("TRUSTED_PROXY_PREFIX")
    if proxies > 0 or prefix > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to add middleware; mypy sees a method being replaced.
        proxied = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=prefix)
        app.wsgi_app = proxied  # type: ignore[method-assign]


def _configure_logging(app: Flask) -> None:
    """The request log (``training.request``, one line per request) and errors
    go to stderr at LOG_LEVEL (default INFO) unless logging is configured
    already (gunicorn --log-config, a test runner): Python's default would
    drop every INFO line in production."""
    import os

    logger = logging.getLogger("training")
    if logger.level == logging.NOTSET:
        level = str(app.config.get("LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO").upper()
        logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    _ = app.logger  # Flask adds its stderr handler to "training" when nothing handles these records yet


class _Request(FlaskRequest):
    """A query string with bytes that are not UTF-8 (``?q=\\xff``, sent raw by a client)
    read as Werkzeug reads ``%FF``: the bad bytes stay percent-encoded. Werkzeug decodes
    the raw string strictly, so ``args`` and ``full_path`` raised on every page (the
    language is chosen from ``args``, the page caches key on ``full_path``): a 500, and
    the error page itself failed the same way."""

    def _query(self) -> str:
        return self.query_string.decode("utf-8", "werkzeug.url_quote")

    @cached_property
    def args(self) -> MultiDict[str, str]:
        from urllib.parse import parse_qsl

        return self.parameter_storage_class(
            parse_qsl(self._query(), keep_blank_values=True, errors="werkzeug.url_quote")
        )

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self._query()}"


class _DatabaseInt(IntegerConverter):
    """``<int:...>`` limited to what an INTEGER column holds: a larger id is a
    404 from routing instead of an overflow error (a 500) in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _register_models() -> None:
    # Import every model module so metadata is complete (migrations, create_all).
    from . import audit as _ad  # noqa: F401 - imported for its tables (metadata) and listeners
    from . import jobs as _j  # noqa: F401 - imported for its tables (metadata) and listeners
    from . import mail as _m  # noqa: F401 - imported for its tables (metadata) and listeners
    from . import outbox as _o  # noqa: F401 - imported for its tables (metadata) and listeners
    from . import recurring_tasks as _rt  # noqa: F401 - imported for its tables (metadata) and listeners
    from . import scheduler as _s  # noqa: F401 - imported for its tables (metadata) and listeners
    from .accounts import models as _a  # noqa: F401 - imported for its tables (metadata) and listeners
    from .attendance import models as _at  # noqa: F401 - imported for its tables (metadata) and listeners
    from .catalogue import models as _c  # noqa: F401 - imported for its tables (metadata) and listeners
    from .certificates import models as _ce  # noqa: F401 - imported for its tables (metadata) and listeners
    from .companies import models as _co  # noqa: F401 - imported for its tables (metadata) and listeners
    from .enrolment import models as _e  # noqa: F401 - imported for its tables (metadata) and listeners
    from .figures import models as _f  # noqa: F401 - imported for its tables (metadata) and listeners
    from .figures import summaries as _fs  # noqa: F401 - imported for its tables (metadata) and listeners
    from .qualifications import models as _q  # noqa: F401 - imported for its tables (metadata) and listeners
    from .reports import models as _r  # noqa: F401 - imported for its tables (metadata) and listeners


def _init_database(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine)
        if not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
            from .dbpool import ping_idle_connections

            ping_idle_connections(engine, float(app.config.get("DB_PING_IDLE_SECONDS", 5)))


def _sqlite_setup(engine: Engine) -> None:
    """Foreign keys on, WAL, and BEGIN IMMEDIATE: SQLite has no row locks, so
    every transaction takes the write lock up front and writers are
    serialised instead of failing half-way (the same guarantee the
    PostgreSQL row lock gives)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database and engine.url.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _select_locale():
    from flask import current_app, has_request_context

    if not has_request_context():  # jobs, CLI: messages in the default language
        return None
    languages = list(current_app.config["LANGUAGES"])
    chosen = request.args.get("lang") if request else None
    if chosen in languages:
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    user = getattr(g, "_login_user", None) or (current_user if _has_user() else None)
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    return request.accept_languages.best_match(languages) or "en"


def _has_user() -> bool:
    try:
        return bool(current_user)
    except Exception:  # outside a request or before login is set up
        return False


def _select_timezone():
    return None


def _register_blueprints(app: Flask) -> None:
    from .accounts.routes import bp as accounts_bp
    from .admin.routes import bp as admin_bp
    from .api import bp as api_bp
    from .attendance.routes import bp as attendance_bp
    from .catalogue.routes import bp as catalogue_bp
    from .certificates.routes import bp as certificates_bp
    from .companies.routes import bp as companies_bp
    from .dashboard.routes import bp as dashboard_bp
    from .enrolment.routes import bp as enrolment_bp
    from .qualifications.routes import bp as qualifications_bp
    from .reports.routes import bp as reports_bp
    from .trainers.routes import bp as trainers_bp

    app.register_blueprint(catalogue_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(trainers_bp)
    app.register_blueprint(enrolment_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(attendance_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(companies_bp)
    app.register_blueprint(qualifications_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # bearer-token API: no cookies, no CSRF

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        from sqlalchemy import text

        checks = {}
        try:
            db.session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # report, don't crash: this is the readiness probe
            checks["database"] = f"error: {type(exc).__name__}"
        if app.config.get("REDIS_URL"):
            try:
                from redis import Redis

                Redis.from_url(app.config["REDIS_URL"], socket_timeout=2).ping()
                checks["redis"] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                checks["redis"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _register_handlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, SecurityError

    from .errors import DomainError

    @login_manager.user_loader
    def load_user(session_id: str):
        from .accounts.services import load_session_user

        return load_session_user(session_id)

    @login_manager.request_loader
    def load_user_from_request(req):
        header = req.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            from .accounts.services import user_for_token

            return user_for_token(header[7:].strip())
        return None

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import flash, redirect, url_for
        from flask_babel import gettext

        if _wants_json():
            return _json_error("unauthorized", "Authentication required: send Authorization: Bearer <token>.", 401)
        flash(gettext("Please log in to see this page."), "info")
        return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        if _wants_json():
            return _json_error(exc.code, exc.message, exc.status, exc.fields, exc.extra)
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if _wants_json():
            return _json_error("csrf_failed", exc.description, 400)
        return render_template("error.html", status=400, message=exc.description), 400

    @app.before_request
    def refuse_untrusted_host():
        # Flask found the Host (or X-Forwarded-Host) outside TRUSTED_HOSTS while
        # routing; stop before anything else runs for this request.
        if isinstance(request.routing_exception, SecurityError):
            raise request.routing_exception

    app.before_request_funcs[None].insert(0, app.before_request_funcs[None].pop())

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError):
        # No URLs can be built for an untrusted host: a page without links.
        from flask_babel import gettext

        message = gettext("This server does not answer to that host name (see TRUSTED_HOSTS and PUBLIC_BASE_URL).")
        if _wants_json():
            return _json_error("untrusted_host", message, 400)
        from markupsafe import escape

        return (
            f"<!doctype html><title>400 Bad Request</title><h1>400 Bad Request</h1><p>{escape(message)}</p>",
            400,
            {"Content-Type": "text/html; charset=utf-8"},
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _wants_json():
            code = (exc.name or "error").lower().replace(" ", "_")
            return _json_error(code, exc.description or exc.name, exc.code or 500)
        return render_template("error.html", status=exc.code, message=exc.description), exc.code

    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception):
        """The database is unreachable or restarting: 503 with Retry-After (a
        load balancer or the client tries again), never a 500."""
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone already
            db.session.remove()
        # The signed-in user's row cannot be read again now (the rollback expired it, or it was never
        # loaded): the page and the request log treat this response as a visitor's, rather than failing
        # once more (a 500) on the layout's menu.
        g._login_user = login_manager.anonymous_user()
        app.logger.warning(
            "database unavailable (%s), request id %s: %s",
            type(exc).__name__,
            g.get("request_id", "-"),
            str(getattr(exc, "orig", exc)).splitlines()[0][:200],
        )
        from flask_babel import gettext

        message = gettext("The service is briefly unavailable. Please try again in a moment.")
        if _wants_json():
            response, status = _json_error("service_unavailable", message, 503)
        else:
            response, status = render_template("error.html", status=503, message=message), 503
        return response, status, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error, request id %s", getattr(g, "request_id", "-"))
        if app.config.get("RAISE_UNEXPECTED_ERRORS"):
            raise exc
        if _wants_json():
            return _json_error("internal_error", f"Something went wrong (request id {g.get('request_id')}).", 500)
        return render_template(
            "error.html", status=500, message=f"Something went wrong. Request id: {g.get('request_id')}"
        ), 500

    @app.before_request
    def start_scheduler():
        # The embedded set-up runs recurring work in the web process (one
        # leader among all processes); production runs `flask scheduler run`.
        if app.config.get("SCHEDULER_IN_WEB"):
            from . import scheduler

            scheduler.start_in_process(app)

    @app.before_request
    def start_timer():
        # Tests reuse one app context across requests; the user is per request.
        g.pop("_login_user", None)
        g.pop("_flask_babel", None)
        g.request_started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.before_request
    def refuse_nul_characters():
        # No database stores NUL in text (PostgreSQL refuses it): a clear 400, never a 500.
        from flask import abort

        # (Query strings are the pages' business: search and filters ignore what they cannot use.)
        if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype not in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            return None
        if any("\x00" in value for _name, values in request.form.lists() for value in values):
            abort(400, "Text must not contain NUL characters.")

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
            f"script-src 'self' 'nonce-{g.get('csp_nonce', '')}'; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        response.headers["X-Request-Id"] = g.get("request_id", "")
        started = g.get("request_started")
        elapsed = (time.perf_counter() - started) * 1000 if started else 0.0
        user_id = current_user.get_id().split(":")[0] if _has_user() and current_user.is_authenticated else "-"
        path = request.path
        secret = (request.view_args or {}).get("token")
        if isinstance(secret, str) and secret:
            path = path.replace(secret, "[secret]")  # calendar feeds, password resets
        log.info(
            "%s %s %s %.1fms user=%s client=%s rid=%s",
            request.method,
            path,
            response.status_code,
            elapsed,
            user_id,
            request.remote_addr or "-",
            g.get("request_id"),
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(elapsed, 1),
                "user_id": None if user_id == "-" else user_id,
            },
        )
        return response


def _json_error(code: str, message: str, status: int, fields=None, extra=None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    if extra:
        body["error"].update({k: v for k, v in extra.items() if v is not None})
    return jsonify(body), status


def _register_templating(app: Flask) -> None:
    from . import permissions
    from .certificates.codes import display as display_code
    from .labels import label
    from .markdown import render_markdown
    from .paging import Page

    app.jinja_env.globals.update(
        can=permissions.can,
        display_code=display_code,
        label=label,
        Page=Page,
        languages=lambda: app.config["LANGUAGES"],
        current_locale=lambda: str(get_locale() or "en"),
        csp_nonce=lambda: g.get("csp_nonce", ""),
    )
    app.jinja_env.filters["markdown"] = render_markdown
    from . import rendering

    rendering.init_app(app)  # translations resolved once per request, cached icons and dates
    from . import content_i18n

    content_i18n.init_app(app)  # ltext(): course titles etc. in the reader's language

    def dateskeleton(value, skeleton: str = "yMMMd") -> str:
        """A date in the reader's language from a CLDR skeleton ("MMMEd": Sat, Dec 5 / 12月5日周六)."""
        from babel.dates import format_skeleton

        if value is None:
            return ""
        return format_skeleton(skeleton, value, locale=str(get_locale() or "en"))

    app.jinja_env.filters["dateskeleton"] = dateskeleton

    def org_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A moment not tied to a run (audit entries, account dates) on the
        organisation's clock (``ORG_TIMEZONE``), never the server's."""
        from .types import org_tz

        if value is None:
            return ""
        return value.astimezone(org_tz()).strftime(fmt)

    app.jinja_env.filters["org_time"] = org_time
