"""nginx (Debian's package) in front of gunicorn servers of the app, all on 127.0.0.1, started and stopped by
process id. Used by tests/ops/test_nginx_proxy.py and benchmarks/proxy_load.py.

The nginx configuration is the README's documented block ("Reverse proxy"), changed only where a test must:
the upstream servers become the test's gunicorn ports, ``listen 443 ssl`` becomes a free loopback port without
TLS (the certificate lines go, and with them the port-80 redirect), and the static alias points at this
checkout's ``static/``. Every other line (headers set or cleared, retries, timeouts) is run as documented.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# Clients talk to nginx from another loopback address than nginx uses towards gunicorn, so the address the
# app sees shows whether it came from X-Forwarded-For (the client's) or from the connection (nginx's).
CLIENT_ADDRESS = "127.0.0.2"
SERVER_NAME = "training.example.com"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def readme_nginx_block(readme: str | None = None) -> str:
    """The ```nginx block of the README's "Reverse proxy" section."""
    text = readme if readme is not None else (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Reverse proxy", 1)[1]
    match = re.search(r"```nginx\n(.*?)```", section, re.S)
    assert match, "README: no ```nginx block under 'Reverse proxy'"
    return match.group(1)


def _replace(pattern: str, repl, text: str, *, flags=0, expect: int | None = 1) -> str:
    new, count = re.subn(pattern, repl, text, flags=flags)
    assert count and (expect is None or count == expect), f"README nginx block changed shape: {pattern!r} x{count}"
    return new


def derive_server_config(block: str, *, listen_port: int, upstream_ports: list[int], static_dir: Path) -> str:
    """The documented block, runnable on loopback without TLS."""
    first = re.search(r"^(\s*)server\s+[\w.\-]+:\d+([^;\n]*);", block, re.M)
    assert first, "README nginx block: no 'server host:port ...;' line in the upstream"
    indent, params = first.group(1), first.group(2)
    servers = "".join(f"{indent}server {HOST}:{port}{params};\n" for port in upstream_ports)
    # All the upstream's server lines, replaced by the test's (the first one's parameters kept).
    config = _replace(r"(?:^\s*server\s+[\w.\-]+:\d+[^;\n]*;[^\n]*\n)+", lambda _m: servers, block, flags=re.M)
    config = _replace(r"listen\s+443\b[^;]*;", f"listen {HOST}:{listen_port};", config)
    config = _replace(r"^\s*ssl_certificate(?:_key)?\s[^\n]*\n", "", config, flags=re.M, expect=2)
    config = _replace(r"^server\s*\{\s*listen\s+80;[^\n]*\n", "", config, flags=re.M)
    config = _replace(r"alias\s+/srv/training/static/;", lambda _m: f"alias {static_dir}/;", config)
    return config


def write_nginx_conf(workdir: Path, *, listen_port: int, upstream_ports: list[int]) -> Path:
    """A whole nginx.conf around the derived server block, everything under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = derive_server_config(
        readme_nginx_block(), listen_port=listen_port, upstream_ports=upstream_ports, static_dir=ROOT / "static"
    )
    mime = Path("/etc/nginx/mime.types")
    types = (
        f"include {mime};"
        if mime.exists()
        else "types { text/css css; application/javascript js; image/svg+xml svg; text/html html; }"
    )
    # Run as root (CI), the master drops its workers to nobody; otherwise nginx runs as whoever started it.
    # The workers write large bodies to the temp paths: as nobody they need a directory they can reach
    # (a test's own tmp dir is private to root), made here and removed by stop().
    user, temp_root = "", workdir
    if os.geteuid() == 0:
        user = "user nobody nogroup;\n"
        temp_root = Path(tempfile.mkdtemp(prefix="training-nginx-"))
        temp_root.chmod(0o755)
        (workdir / "temp-root").write_text(str(temp_root))
    temp = "\n".join(
        f"    {kind}_temp_path {temp_root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} info;\n"
        f"events {{ worker_connections 512; }}\n"
        f"http {{\n    {types}\n    default_type application/octet-stream;\n"
        f"    access_log {workdir / 'access.log'};\n{temp}\n\n{server}}}\n"
    )
    return conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict | None = None,
    body: bytes | None = None,
    host: str = SERVER_NAME,
    source: str | None = CLIENT_ADDRESS,
    timeout: float = 60,
):
    """One HTTP/1.1 request on its own connection: (status, headers as a dict, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def wait_until(check, what: str, timeout: float = 120.0, process: subprocess.Popen | None = None):
    """Poll ``check`` until it returns something truthy (never a timed assertion: the limit is generous)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        try:
            result = check()
            if result:
                return result
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f}s ({last!r})")


def start_gunicorn(env: dict, port: int, workdir: Path, *, workers: int = 2, host: str = SERVER_NAME):
    """gunicorn as the README runs it (sync workers, from the repository root), its access log and stderr
    (the app's request log) in ``workdir``; returns once /healthz answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr = open(workdir / "stderr.log", "ab")  # noqa: SIM115 - handed to the child, closed in stop()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{port}",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
            "--access-logfile",
            str(workdir / "access.log"),
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    process._log = stderr  # type: ignore[attr-defined]
    try:
        wait_until(
            lambda: request(port, "GET", "/healthz", host=host, source=None, timeout=10)[0] == 200,
            f"gunicorn on port {port}",
            process=process,
        )
    except BaseException:
        stop(process)
        raise
    return process


def start_nginx(conf: Path, port: int):
    workdir = conf.parent
    process = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    process._temp_root_marker = workdir / "temp-root"  # type: ignore[attr-defined]

    def ready():
        with socket.create_connection((HOST, port), timeout=5):
            return True

    try:
        wait_until(ready, f"nginx on port {port}", timeout=60, process=process)
    except BaseException:
        err = process.stderr.read().decode(errors="replace") if process.poll() is not None else ""
        stop(process)
        raise RuntimeError(f"nginx did not start: {err.strip()}") from None
    return process


def _remove_temp_root(process: subprocess.Popen) -> None:
    marker = getattr(process, "_temp_root_marker", None)
    if marker is not None and marker.exists():
        shutil.rmtree(marker.read_text().strip(), ignore_errors=True)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the process and everything it started (its own session), by its process id."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM by process id (nginx: fast shutdown; gunicorn: graceful), SIGKILL if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            kill(process)
    for stream in (getattr(process, "_log", None), process.stderr):
        if stream is not None:
            stream.close()
    _remove_temp_root(process)
