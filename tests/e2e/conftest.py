"""Browser test fixtures: the app served on 127.0.0.1 from a background thread
against the test's own database, and a Playwright page in Debian's Chromium.

``live_server`` yields an object with ``url`` (base URL, no trailing slash)
and ``app``; data made with the ``factory`` fixture in the test is visible to
the server (same database). End the test's own transaction before the
browser acts (``db.session.commit()`` after building data, ``rollback()``
after reading): on SQLite every transaction holds the write lock.
``page`` is a phone-sized page by default; ask for
another viewport with ``@pytest.mark.viewport(width, height)``. Without
/usr/bin/chromium the browser tests skip, unless REQUIRE_BROWSER=1, when they fail.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
PHONE = {"width": 390, "height": 844}
# How long a browser step may wait (clicks, navigations, expect()). Generous on purpose: the suite must
# pass on a loaded machine, and a step that succeeds returns as soon as it can.
TIMEOUT_MS = 60_000


# The roster's status line says "Saved" and clears itself 2.5 s later, so a test that polls for it can miss
# it when the machine is slow. Every page records each state of that line as it changes (an init script),
# and tests wait on the record with ``saw_roster_status`` instead of racing the timer.
ROSTER_STATUS_RECORDER = """
(() => {
  const seen = [];
  Object.defineProperty(window, '__rosterStatusSeen', { value: seen });
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.target.id === 'roster-status') seen.push(m.target.className);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['class'] });
})();
"""


def record_roster_status(context) -> None:
    """Keep every state the roster's status line takes on the pages of ``context``."""
    context.add_init_script(ROSTER_STATUS_RECORDER)


def saw_roster_status(page, kind: str) -> None:
    """Wait until the roster's status line has shown ``alert-<kind>`` since the last call, however briefly."""
    page.wait_for_function(
        """(kind) => {
            const seen = window.__rosterStatusSeen || [];
            const at = seen.findIndex((classes) => classes.split(' ').includes('alert-' + kind));
            if (at < 0) return false;
            seen.splice(0, at + 1);
            return true;
        }""",
        arg=kind,
    )


def _generous_expect() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)


def pytest_configure(config):
    config.addinivalue_line("markers", "viewport(width, height): browser viewport for the page fixture")
    try:
        _generous_expect()
    except ImportError:  # without Playwright the browser tests skip (or fail under REQUIRE_BROWSER)
        pass


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # Absolute links (QR codes, e-mails) come from PUBLIC_BASE_URL: point it at this server.
    app.config["PUBLIC_BASE_URL"] = url
    try:
        yield LiveServer(url, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (set REQUIRE_BROWSER=1 to make this a failure)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(request, browser, live_server):
    marker = request.node.get_closest_marker("viewport")
    viewport = {"width": marker.args[0], "height": marker.args[1]} if marker else PHONE
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport,
        base_url=live_server.url,
        is_mobile=mobile,
        has_touch=mobile,
        device_scale_factor=2 if mobile else 1,
        locale="en-GB",
    )
    context.set_default_timeout(TIMEOUT_MS)
    record_roster_status(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    try:
        yield page
    finally:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state()


def open_registration_link(page, live_server: LiveServer, email: str) -> None:
    """Registering sends a link by e-mail: open the one sent to ``email`` and
    press the page's button that creates the account."""
    import re
    from email import message_from_bytes, policy
    from urllib.parse import urlsplit

    page.wait_for_load_state()
    folder = Path(live_server.app.config["MAIL_DIR"])
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
    bodies = [m.get_body(("plain",)).get_content() for m in mails if m["To"] == email]
    link = re.search(r"https?://\S+/register/confirm/\S+", bodies[-1]).group(0)
    page.goto(urlsplit(link).path)
    page.locator("main form button[type=submit], form button[type=submit]").last.click()
    page.wait_for_load_state()
