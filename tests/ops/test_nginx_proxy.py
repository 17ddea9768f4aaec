"""The README's reverse-proxy block, run for real: nginx (Debian's package) in front of two gunicorn servers of
the app on PostgreSQL, every process on 127.0.0.1, started and stopped by process id.

The app servers run as the README's production section says (TRUSTED_PROXIES=1, TRUSTED_HOSTS, a shared
SECRET_KEY, SIGNING_DIR and DOCUMENT_DIR) and, on purpose, with TRUSTED_PROXY_PREFIX=1 too: the documented block
clears X-Forwarded-Prefix, so even then a client's prefix never reaches a link. PUBLIC_BASE_URL is left unset so
that links come from the forwarded host and scheme, which makes them show what nginx sent.

Needs nginx and PostgreSQL (TEST_DATABASE_URL); skips without them unless REQUIRE_NGINX=1 / REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, _pg_admin_url
from tests.ops import nginx_stack as stack

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ATTACKER = "attacker.example"
FORGED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": ATTACKER,
    "X-Forwarded-Prefix": f"//{ATTACKER}",
}


def _require():
    if stack.NGINX is None:
        if os.environ.get("REQUIRE_NGINX") == "1":
            pytest.fail("REQUIRE_NGINX=1 but nginx is not installed (Debian package nginx)")
        pytest.skip("needs nginx (Debian package nginx; set REQUIRE_NGINX=1 to make this a failure)")
    if not PG_URL:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")


class Stack:
    def __init__(self, workdir: Path, url: str):
        self.workdir = workdir
        self.env = dict(
            os.environ,
            DATABASE_URL=url,
            SECRET_KEY="nginx-test-" + uuid.uuid4().hex,
            SIGNING_DIR=str(workdir / "shared" / "signing"),
            DOCUMENT_DIR=str(workdir / "shared" / "documents"),
            UPLOAD_DIR=str(workdir / "shared" / "uploads"),
            TRUSTED_PROXIES="1",
            TRUSTED_PROXY_PREFIX="1",
            TRUSTED_HOSTS=stack.SERVER_NAME,
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            MAIL_SERVER="",
            JOBS_MODE="thread",
            SCHEDULER_IN_WEB="0",
            RATELIMIT_ENABLED="1",
            PUBLIC_PAGE_CACHE_SECONDS="10",
        )
        for name in (
            "PUBLIC_BASE_URL",
            "REDIS_URL",
            "ALLOW_LOCAL_STATE",
            "PROMETHEUS_MULTIPROC_DIR",
            "WEB_CONCURRENCY",
            "GUNICORN_CMD_ARGS",
        ):
            self.env.pop(name, None)
        self.ports = [stack.free_port(), stack.free_port()]
        self.servers: list = [None, None]
        self.port = stack.free_port()
        self.nginx = None

    def start(self):
        for i in range(2):
            self.servers[i] = stack.start_gunicorn(self.env, self.ports[i], self.workdir / f"app{i}")
        conf = stack.write_nginx_conf(self.workdir / "nginx", listen_port=self.port, upstream_ports=self.ports)
        self.nginx = stack.start_nginx(conf, self.port)

    def stop(self):
        for process in [self.nginx, *self.servers]:
            if process is not None:
                stack.stop(process)

    def get(self, path, **kw):
        return stack.request(self.port, "GET", path, **kw)

    def access_log(self, i: int) -> str:
        path = self.workdir / f"app{i}" / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def request_log(self) -> list[dict]:
        """The app's JSON request log lines of both servers."""
        lines = []
        for i in range(2):
            path = self.workdir / f"app{i}" / "stderr.log"
            for line in path.read_text(errors="replace").splitlines() if path.exists() else ():
                if line.startswith("{"):
                    try:
                        lines.append(json.loads(line))
                    except ValueError:
                        pass
        return lines


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    _require()
    base = _pg_admin_url(PG_URL)
    name = f"{base.database or 'training'}_nginx_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    workdir = tmp_path_factory.mktemp("nginx-proxy")
    running = Stack(workdir, url)
    try:
        running.data = _seed(workdir, url)
        running.start()
        yield running
    finally:
        running.stop()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _seed(workdir: Path, url: str) -> dict:
    """The schema and a published course with a run, and a trainee who can log in."""
    from tests.conftest import make_test_app
    from tests.factories import PASSWORD, Factory
    from training.extensions import db

    app = make_test_app(workdir / "seed", url)
    with app.app_context():
        factory = Factory()
        run = factory.run(factory.course(title="Proxy course"))
        trainee = factory.trainee(name="Proxy Trainee")
        data = {"course_id": run.course_id, "email": trainee.email, "password": PASSWORD}
        db.session.remove()
        db.engine.dispose()
    return data


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


def test_forwarded_headers_are_set_by_nginx_and_a_clients_are_not_trusted(proxy):
    course = f"/courses/{proxy.data['course_id']}"
    for path in ("/", course):
        status, headers, body = proxy.get(path, headers=FORGED)
        html = body.decode()
        assert status == 200, (path, status)
        # Prefix cleared, host and scheme set by nginx: links are this site's, over the scheme nginx was reached by.
        assert ATTACKER not in html
        assert all(not link.startswith("//") for link in _links(html)), path
        assert "strict-transport-security" not in headers  # X-Forwarded-Proto: https was replaced by http
    assert f'<link rel="canonical" href="http://{stack.SERVER_NAME}{course}">' in html
    catalogue = proxy.get("/", headers=FORGED)[2].decode()
    assert f'href="{course}"' in catalogue

    # The client's address is the one nginx saw (X-Forwarded-For as nginx appends it), not the forged one,
    # and not nginx's own address towards gunicorn.
    probe = f"/nginx-probe-{uuid.uuid4().hex}"
    assert proxy.get(probe, headers=FORGED)[0] == 404
    line = stack.wait_until(
        lambda: next((r for r in proxy.request_log() if r.get("path") == probe), None),
        "the request's log line",
        timeout=60,
    )
    assert line["client"] == stack.CLIENT_ADDRESS


def test_a_forged_host_is_refused(proxy):
    for host in (ATTACKER, f"{stack.SERVER_NAME}.{ATTACKER}", "127.0.0.1"):
        status, _headers, body = proxy.get("/", host=host)
        assert status == 400, (host, status)
        assert ATTACKER.encode() not in body
    # A forged X-Forwarded-Host under the right Host is overwritten by nginx, not refused.
    assert proxy.get("/", headers={"X-Forwarded-Host": ATTACKER})[0] == 200


def test_static_files_come_from_nginx(proxy):
    before = [proxy.access_log(i).count("/static/") for i in range(2)]
    for name in ("css/app.css", "js/app.js", "img/favicon.svg"):
        status, headers, body = proxy.get(f"/static/{name}")
        assert status == 200, name
        assert body == (stack.ROOT / "static" / name).read_bytes()
        assert headers.get("cache-control") == "max-age=604800"  # `expires 7d`
        assert "x-request-id" not in headers  # the app sets it on every response it makes
    assert [proxy.access_log(i).count("/static/") for i in range(2)] == before


class Browser:
    """Cookies kept like a browser's, requests through nginx."""

    def __init__(self, proxy):
        self.proxy, self.cookies = proxy, {}

    def _keep(self, headers):
        for value in headers.get("set-cookie-all", []):
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            self.cookies[key.strip()] = val.strip()

    def call(self, method, path, form: dict | None = None):
        import http.client
        from urllib.parse import urlencode

        conn = http.client.HTTPConnection(
            stack.HOST, self.proxy.port, timeout=60, source_address=(stack.CLIENT_ADDRESS, 0)
        )
        try:
            headers = {"Host": stack.SERVER_NAME, "Accept-Language": "en"}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if form is not None:
                body = urlencode(form).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self._keep({"set-cookie-all": response.headers.get_all("Set-Cookie") or []})
            return response.status, response.headers, data.decode(errors="replace")
        finally:
            conn.close()


def test_a_session_needs_no_sticky_routing(proxy):
    browser = Browser(proxy)
    status, _h, html = browser.call("GET", "/login")
    assert status == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    status, headers, _html = browser.call(
        "POST",
        "/login",
        {"csrf_token": token.group(1), "email": proxy.data["email"], "password": proxy.data["password"]},
    )
    assert status == 302, status

    before = [proxy.access_log(i).count("GET /my/training") for i in range(2)]
    for _ in range(4):  # nginx takes the two servers in turn
        status, _h, html = browser.call("GET", "/my/training")
        assert status == 200 and "Proxy Trainee" in html

    def served():  # gunicorn writes its access log line after the answer has gone out: wait for all four
        counts = [proxy.access_log(i).count("GET /my/training") - before[i] for i in range(2)]
        return counts if sum(counts) >= 4 else None

    counts = stack.wait_until(served, "the access log lines", timeout=60)
    assert counts == [2, 2], counts


def test_one_server_killed_under_load_costs_no_request(proxy):
    """Four clients, 3,000 GETs; after the first 500 answers the second gunicorn (master and workers) gets
    SIGKILL. nginx passes every request the dead server refused or dropped before answering to the other.
    Only an answer cut off mid-way (the server died between writing its headers and its body: nginx has
    already passed them on) cannot be retried; there are at most as many of those as the dead server had
    workers, so the error rate stays under 0.1 %."""
    total, clients, kill_after = 3000, 4, 500
    paths = ["/", f"/courses/{proxy.data['course_id']}", "/healthz"]
    lock = threading.Lock()
    results: list[tuple[int, str]] = []
    counter = iter(range(total))
    killed = threading.Event()

    def client():
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            path = paths[index % len(paths)]
            try:
                status = proxy.get(path)[0]
            except Exception as exc:  # noqa: BLE001 - a reset, refused or cut-off answer counts as an error
                status = f"{type(exc).__name__}: {exc}"
            with lock:
                results.append((status, path))
                if len(results) == kill_after and not killed.is_set():
                    killed.set()
                    stack.kill(proxy.servers[1])

    before_survivor = proxy.access_log(0).count("\n")
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert killed.is_set() and proxy.servers[1].poll() is not None

    errors = [(status, path) for status, path in results if status != 200]
    print(
        f"\nnginx + 2 gunicorn, one killed after {kill_after}: {len(results)} requests, {len(errors)} errors "
        f"({100 * len(errors) / len(results):.2f} %)"
    )
    assert len(results) == total
    assert len(errors) * 1000 < total, errors  # under 0.1 %
    # The survivor served the rest; nginx saw the dead one fail and moved on.
    assert proxy.access_log(0).count("\n") > before_survivor
    refused = (proxy.workdir / "nginx" / "error.log").read_text(errors="replace")
    assert re.search(r"connect\(\) failed|prematurely closed|reset by peer", refused)
