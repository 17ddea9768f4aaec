"""The shared test toolkit: helpers every test folder uses.

``count_queries()`` counts the SQL statements a block of code sends (the N+1
guard on list pages and bulk services); transaction control (BEGIN, COMMIT,
SAVEPOINT, PRAGMA) is not counted. Factories live in ``tests/factories.py``,
logging in and API clients in ``tests/conftest.py``.

``app_pushed()`` holds a test app's context for a fixture and closes what the app opened.

``lock_waiters()`` counts the PostgreSQL connections of the test's database waiting for a lock: a test
that holds a transaction open until a second request has either ended or queued behind it.

``wait_until()`` waits for a condition another thread or process brings about (a relay that
delivers after the response, a server that starts); ``join_all()`` waits for the threads of a
concurrency test; ``BARRIER_SECONDS`` is how long
they wait for each other at the start line. Both are bounds on a hang, not budgets: on a
loaded machine a thread may take long to start or finish, and the test waits for it.
"""

import time
from contextlib import contextmanager

from sqlalchemy import event

from training.extensions import db


class Counter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self):
        return iter(self.statements)


@contextmanager
def count_queries():
    counter = Counter()
    engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")):
            counter.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


@contextmanager
def postgres_wire(path):
    """What this process sends PostgreSQL from here on, as a callable giving the message lines so far
    (libpq's trace of the pool's one connection, written to ``path``). PostgreSQL only."""
    db.session.remove()
    db.engine.dispose()
    pooled = db.engine.raw_connection()  # the pool's only connection from here on
    driver = pooled.driver_connection
    pooled.close()
    with path.open("w") as handle:
        driver.pgconn.trace(handle.fileno())
        try:
            yield lambda: [line.split("\t", 3)[3] for line in path.read_text().splitlines() if "\tF\t" in line]
        finally:
            driver.pgconn.untrace()


@contextmanager
def app_pushed(app):
    """``app`` with its application context pushed while inside (what a test's ``app`` fixture yields);
    on the way out its session is removed, the context popped and its engine's pooled connections
    closed, so a test leaves no connection open on the test database (PostgreSQL drops it at the end)."""
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        db.session.remove()
        ctx.pop()
        with app.app_context():
            db.engine.dispose()


# How long threads of one test wait for each other at a barrier, and for each other to end.
BARRIER_SECONDS = 120
JOIN_SECONDS = 600


def join_all(threads, seconds: float = JOIN_SECONDS) -> None:
    """Wait for every thread to end; a thread still running after ``seconds`` is a hang, reported as one
    (rather than read as missing results)."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"still running after {seconds:.0f} s (a hang): {alive}"


def wait_until(condition, what: str, seconds: float = JOIN_SECONDS, interval: float = 0.05):
    """Poll ``condition`` until it returns something true and return that; fail naming ``what`` after
    ``seconds``. A bound on a hang, not a budget: it returns as soon as the condition holds."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {seconds:.0f} s")
        time.sleep(interval)


def lock_waiters() -> int:
    """Connections to this test's database waiting for a lock another transaction holds (PostgreSQL)."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


# Settings a second app on the test's database takes from the test's app.
_SHARED = (
    "TESTING",
    "SECRET_KEY",
    "WTF_CSRF_ENABLED",
    "RATELIMIT_ENABLED",
    "ARGON2_FAST",
    "JOBS_MODE",
    "PUBLIC_PAGE_CACHE_SECONDS",
    "SERVER_NAME",
    "PUBLIC_BASE_URL",
    "MAIL_SERVER",
    "MAIL_DIR",
    "UPLOAD_DIR",
    "SIGNING_DIR",
    "DOCUMENT_DIR",
    "SQLALCHEMY_DATABASE_URI",
)


@contextmanager
def another_server(app):
    """A second app on the same database: another worker process or server, with caches of its own."""
    from training import create_app

    other = create_app({name: app.config[name] for name in _SHARED})
    try:
        yield other
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@contextmanager
def templates_rendered(app):
    """The names of the templates rendered while inside, in order (Flask's template_rendered signal)."""
    from flask import template_rendered

    names: list[str] = []

    def seen(_sender, template, context, **_extra):
        names.append(template.name)

    template_rendered.connect(seen, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(seen, app)


@contextmanager
def fragments_uncached(app):
    """Every kept fragment (training/rendering.py: fragment) rendered afresh while inside, the layout's
    viewer parts (rendering.viewer_part) included."""
    from markupsafe import Markup

    from training import rendering

    kept, kept_here = app.jinja_env.globals["fragment"], rendering.fragment
    app.jinja_env.globals["fragment"] = lambda key, render, *args: render(*args)
    rendering.fragment = lambda key, render, *args: Markup(render(*args))  # type: ignore[assignment]
    try:
        yield
    finally:
        app.jinja_env.globals["fragment"] = kept
        rendering.fragment = kept_here  # type: ignore[assignment]
