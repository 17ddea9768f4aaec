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
