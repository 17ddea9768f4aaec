"""deploy/: the Grafana dashboard reads only metrics that /metrics serves."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_uses_served_metrics(client):
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    served = client.get("/metrics").get_data(as_text=True)
    names = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"training_[a-z_]+", t["expr"])}
    assert len(dashboard["panels"]) >= 10 and names
    for name in names:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert f"# TYPE {base} " in served or f"# HELP {base} " in served, name


def test_readme_shows_the_nginx_file_verbatim():
    """The README's reverse-proxy block is deploy/nginx.conf, so what operators copy is what CI runs."""
    from tests.ops.nginx_stack import derive_server_config, readme_nginx_block

    block = readme_nginx_block()
    assert block == (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix"):
        assert f"proxy_set_header {header} " in block
    derived = derive_server_config(block, listen_port=8080, upstream_ports=[9001, 9002], static_dir=ROOT / "static")
    assert "ssl" not in derived and "10.0.0.12" not in derived
    assert "server 127.0.0.1:9001 max_fails=1 fail_timeout=10s;" in derived
