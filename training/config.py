"""Settings from the environment, with safe defaults for the embedded SQLite set-up."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance / 'training.db'}"
    # Accept the common short forms and use the psycopg 3 driver.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _secret_key(instance: Path) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load(instance: Path) -> dict:
    """The configuration for one app, read when the app is created."""
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # A pooled connection is pinged before use only after this many idle seconds, or when its
        # server closed it meanwhile (see training/dbpool.py), not on every checkout.
        "DB_PING_IDLE_SECONDS": float(os.environ.get("DB_PING_IDLE_SECONDS", 5)),
        "REDIS_URL": redis_url,
        # Background jobs: "thread" runs them in this process, "rq" on RQ workers,
        # "inline" runs them at once (tests).
        "JOBS_MODE": os.environ.get("JOBS_MODE") or ("rq" if redis_url else "thread"),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Redis down: count in this process's memory until it is back, never fail the request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2} if redis_url else {},
        "RQ_QUEUE": os.environ.get("RQ_QUEUE") or "training",
        # A running job's lease (renewed while it runs): a dead worker's job is handed out again after it.
        "JOB_LEASE_SECONDS": float(os.environ.get("JOB_LEASE_SECONDS", 60)),
        "JOB_MAX_ATTEMPTS": int(os.environ.get("JOB_MAX_ATTEMPTS", 3)),
        # Recurring work: in the web process in the embedded set-up; with REDIS_URL run `flask scheduler run`.
        "SCHEDULER_IN_WEB": _bool("SCHEDULER_IN_WEB", not redis_url),
        "SCHEDULER_INTERVAL_SECONDS": float(os.environ.get("SCHEDULER_INTERVAL_SECONDS", 10)),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT") or "text",
        # /metrics: with a token, only with it; without, only from loopback and private addresses.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # REMEMBER_COOKIE_SECURE follows SESSION_COOKIE_SECURE (set in create_app).
        # A login (session or remember cookie) lasts at most this many days; logout ends it at once.
        "LOGIN_SESSION_DAYS": float(os.environ.get("LOGIN_SESSION_DAYS", 30)),
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", 60 * 1024 * 1024)),
        "BOOTSTRAP_SERVE_LOCAL": True,
        "LANGUAGES": {"en": "English", "zh": "中文"},
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "ORG_NAME": os.environ.get("ORG_NAME", "Smart Manufacturing Training Alliance"),
        "ORG_NAME_ZH": os.environ.get("ORG_NAME_ZH", "智能制造培训联盟"),
        # Issue and expiry dates, report months and "today" on pages are dates in this zone.
        "ORG_TIMEZONE": os.environ.get("ORG_TIMEZONE") or "Asia/Shanghai",
        # After a run's enrolment deadline a freed seat is offered; the trainee has this many hours to accept.
        "SEAT_OFFER_HOURS": max(1, int(os.environ.get("SEAT_OFFER_HOURS") or 48)),
        # A qualification lapsing within this many days is shown as "expiring".
        "QUALIFICATION_EXPIRING_DAYS": int(os.environ.get("QUALIFICATION_EXPIRING_DAYS") or 90),
        # Absolute base of every link (certificates, QR codes, e-mails, calendars, credentials); see
        # training/urls.py. Unset: a request's own host, and only hosts in TRUSTED_HOSTS are served.
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL") or None,
        # Host names served (comma-separated; a port is ignored, ".example.com" admits subdomains).
        # Unset: loopback only when PUBLIC_BASE_URL is unset, any host when it is set.
        "TRUSTED_HOSTS": os.environ.get("TRUSTED_HOSTS") or None,
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", 25)),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "training@localhost"),
        "MAIL_DIR": str(instance / "mail"),
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR") or str(instance / "uploads"),
        "SIGNING_DIR": os.environ.get("SIGNING_DIR") or str(instance / "signing"),
        # Issued certificate PDFs, write-once by SHA-256 (see certificates/documents.py). Back it up.
        "DOCUMENT_STORE": os.environ.get("DOCUMENT_STORE") or "file",
        "DOCUMENT_DIR": os.environ.get("DOCUMENT_DIR") or str(instance / "documents"),
        # RFC 3161 timestamp authority for PAdES B-T signatures; unset: no timestamp.
        "TSA_URL": os.environ.get("TSA_URL") or None,
        "TRAINER_MARK_LEAD_MINUTES": 30,
        "CHECKIN_CODE_SECONDS": 30,
        "CHECKIN_MARGIN_MINUTES": int(os.environ.get("CHECKIN_MARGIN_MINUTES", 15)),
        "CHECKIN_LATE_AFTER_MINUTES": int(os.environ.get("CHECKIN_LATE_AFTER_MINUTES", 10)),
        # A check-in code is accepted during its period plus this grace for clock skew and typing.
        "CHECKIN_GRACE_SECONDS": int(os.environ.get("CHECKIN_GRACE_SECONDS", 15)),
        # Optional: where check-in is accepted, by run location: {"Plant 2, Suzhou": ["10.20.0.0/16"]}.
        # A location not listed accepts check-in from any network.
        "CHECKIN_NETWORKS": {},
        # A roster mark recorded on the device this long before it arrives is an offline replay.
        "OFFLINE_MARK_AFTER_SECONDS": 60,
        "CERT_SYNC_LIMIT": 50,
        # Anonymous catalogue pages are kept this many seconds (see training/pagecache.py); 0 turns it off.
        "PUBLIC_PAGE_CACHE_SECONDS": float(os.environ.get("PUBLIC_PAGE_CACHE_SECONDS", 10)),
        # Rendered verification pages kept per process (see training/certificates/pages.py); 0 turns it off.
        "VERIFY_PAGE_CACHE_SIZE": int(os.environ.get("VERIFY_PAGE_CACHE_SIZE", 256)),
    }
