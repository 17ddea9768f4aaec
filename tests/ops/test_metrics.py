"""/metrics for Prometheus: who may read it and what it says."""

from __future__ import annotations

from tests.certificates.conftest import completed_run
from tests.conftest import make_test_app
from training.extensions import db


def _value(text: str, prefix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_from_loopback_only_without_a_token(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "8.8.4.4"}).status_code == 404


def test_metrics_token(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, METRICS_TOKEN="s3cret")
    with app.app_context():
        client = app.test_client()
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        assert (
            client.get(
                "/metrics", headers={"Authorization": "Bearer s3cret"}, environ_base={"REMOTE_ADDR": "8.8.4.4"}
            ).status_code
            == 200
        )
        db.session.remove()


def test_metrics_count_requests_mail_certificates_and_backlog(app, client, factory):
    from training.certificates import services

    before = client.get("/metrics").get_data(as_text=True)
    client.get("/healthz")
    admin = factory.admin()
    run, _ = completed_run(factory, ["A One", "B Two"])
    services.issue_for_run(admin, run.id)
    services.email_holders(admin, run.id)
    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, 'training_http_request_duration_seconds_count{endpoint="healthz"') >= 1
    assert (
        _value(text, "training_certificates_issued_total") - _value(before, "training_certificates_issued_total") == 2
    )
    assert (
        _value(text, 'training_mail_total{outcome="sent"}') - _value(before, 'training_mail_total{outcome="sent"}') == 2
    )
    assert "training_outbox_pending 0.0" in text and "training_outbox_oldest_pending_seconds" in text
    assert 'training_dependency_up{dependency="database"} 1.0' in text
