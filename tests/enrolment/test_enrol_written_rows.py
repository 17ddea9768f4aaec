"""What one enrolment writes, all in its own transaction: the enrolment, its
audit entry, its e-mail in the outbox and the report's change row. A
newcomer's rows are written with statements of their own (not the unit of
work's flush); these tests hold them to what the flush wrote, and to "all or
nothing": a refusal or a failure after the INSERT leaves none of them."""

import json

import pytest
from sqlalchemy import inspect, select

from tests.conftest import api
from training.audit import AuditEntry
from training.enrolment import services
from training.enrolment.models import Enrolment
from training.errors import AlreadyEnrolled
from training.extensions import db
from training.figures.models import SummaryChange
from training.outbox import OutboxMessage


def _rows(run_id: int) -> tuple[list, list, list, list]:
    db.session.rollback()
    enrolments = list(db.session.execute(select(Enrolment.__table__).where(Enrolment.run_id == run_id)))
    audit = list(db.session.execute(select(AuditEntry.__table__).where(AuditEntry.action.like("enrolment.%"))))
    mails = list(db.session.execute(select(OutboxMessage.__table__).where(OutboxMessage.name == "enrolment")))
    changes = list(db.session.execute(select(SummaryChange.kind, SummaryChange.key)))
    db.session.rollback()
    return enrolments, audit, mails, changes


def test_an_api_enrolment_writes_its_row_audit_entry_mail_and_report_change(app, client, factory):
    run = factory.run(capacity=1)
    first, second = factory.trainee(company="ACME 制造"), factory.trainee()
    db.session.commit()
    db.session.execute(SummaryChange.__table__.delete())
    db.session.commit()

    answers = [api(client, t).post(f"/api/v1/runs/{run.id}/enrolments", json={}) for t in (first, second)]

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].get_json() == {
        "id": answers[0].get_json()["id"],
        "run_id": run.id,
        "status": "confirmed",
        "company_id": None,
    }
    assert answers[1].get_json()["status"] == "waitlisted"
    assert answers[1].get_json()["waitlist_position"] == 1
    enrolments, audit, mails, changes = _rows(run.id)
    by_user = {row.user_id: row for row in enrolments}
    confirmed, waiting = by_user[first.id], by_user[second.id]
    assert (confirmed.status, confirmed.source, confirmed.company, confirmed.reason) == (
        "confirmed",
        "api",
        "ACME 制造",
        "",
    )
    assert confirmed.confirmed_at is not None and confirmed.waitlisted_at is None
    assert confirmed.created_at is not None and confirmed.updated_at is not None
    assert waiting.status == "waitlisted" and waiting.waitlisted_at is not None and waiting.confirmed_at is None
    assert sorted((a.action, a.target_type, a.target_id, a.actor_id) for a in audit) == sorted(
        [
            ("enrolment.confirmed", "Enrolment", confirmed.id, first.id),
            ("enrolment.waitlisted", "Enrolment", waiting.id, second.id),
        ]
    )
    assert all(a.at is not None and f"run {run.id} via api" in a.detail for a in audit)
    payloads = {m.recipient: json.loads(bytes(m.payload)) for m in mails}
    assert payloads[first.email]["enrolment_id"] == confirmed.id
    assert payloads[first.email]["kind"] == "enrol_confirmed"
    assert payloads[second.email] == {**payloads[second.email], "enrolment_id": waiting.id, "position": 1}
    assert {(m.kind, m.state) for m in mails} == {("mail", "done")}  # relayed after the commit
    assert changes == [("run", run.id), ("run", run.id)]  # one per transaction, none marking everything


def test_the_enrolment_returned_is_the_row_as_stored(app, factory):
    run = factory.run()
    trainee = factory.trainee(company="Example Ltd")
    db.session.commit()

    enrolment = services.enrol(trainee, run.id, source="api")

    state = inspect(enrolment)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert enrolment.run is run and enrolment.user is trainee
    stored = db.session.execute(select(Enrolment.__table__).where(Enrolment.id == enrolment.id)).one()
    for column in Enrolment.__table__.columns:
        assert getattr(enrolment, column.key) == getattr(stored, column.key), column.key


def test_an_insert_that_meets_an_existing_enrolment_is_a_409_and_writes_nothing(app, factory, monkeypatch):
    """Two requests of one trainee at once both find no enrolment before the lock;
    the second one's INSERT meets the unique (run, trainee) constraint."""
    run = factory.run()
    trainee = factory.trainee()
    db.session.commit()
    first = services.enrol(trainee, run.id)
    before = _rows(run.id)
    looked_up = []

    def enrolled_as_before_the_first_committed(run_id, user_id):
        looked_up.append(run_id)
        return None

    monkeypatch.setattr(services, "_enrolled", enrolled_as_before_the_first_committed)

    with pytest.raises(AlreadyEnrolled) as refused:
        services.enrol(trainee, run.id)

    assert refused.value.status == 409
    assert f"enrolment {first.id}" in refused.value.message
    assert looked_up == [run.id]
    assert _rows(run.id) == before


@pytest.mark.parametrize("failing", ["mail", "audit"])
def test_a_failure_after_the_insert_leaves_no_enrolment_no_audit_entry_and_no_mail(app, factory, monkeypatch, failing):
    from training import audit, outbox

    run = factory.run()
    trainee = factory.trainee()
    db.session.commit()
    db.session.execute(SummaryChange.__table__.delete())
    db.session.commit()

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    if failing == "mail":
        monkeypatch.setattr(outbox, "insert_mail", broken)
    else:
        monkeypatch.setattr(services, "record_now", broken)
        assert audit.record_now is not broken

    with pytest.raises(RuntimeError):
        services.enrol(trainee, run.id)

    assert _rows(run.id) == ([], [], [], [])
    monkeypatch.undo()
    assert services.enrol(trainee, run.id).status == "confirmed"  # nothing half-written blocks a retry


def test_on_postgresql_the_audit_entry_mail_and_report_change_are_one_statement_with_the_commit(app, factory):
    """PostgreSQL: the three rows that go with a newcomer's enrolment are written in one statement
    (data-modifying CTEs) just before the commit; SQLite writes each with an INSERT of its own."""
    from tests.toolkit import count_queries

    run = factory.run()
    trainee = factory.trainee()
    db.session.commit()
    db.session.execute(SummaryChange.__table__.delete())
    db.session.commit()

    with count_queries() as queries:
        enrolment = services.enrol(trainee, run.id, source="api")

    inserts = [s for s in queries if s.lstrip().upper().startswith(("INSERT", "WITH"))]
    written = [s for s in inserts if "audit_log" in s or "outbox" in s or "report_summary_changes" in s]
    if db.engine.dialect.name == "postgresql":
        assert len(written) == 1
        assert all(table in written[0] for table in ("audit_log", "outbox", "report_summary_changes"))
    else:
        assert len(written) == 3
    enrolments, audit, mails, changes = _rows(run.id)
    assert [(a.action, a.target_id, a.actor_id) for a in audit] == [("enrolment.confirmed", enrolment.id, trainee.id)]
    assert audit[0].at is not None and audit[0].detail == f"{trainee.email} run {run.id} via api"
    assert [(m.kind, m.name, m.recipient, m.state) for m in mails] == [("mail", "enrolment", trainee.email, "done")]
    assert mails[0].created_at is not None and mails[0].next_attempt_at is not None
    assert json.loads(bytes(mails[0].payload))["enrolment_id"] == enrolment.id
    assert changes == [("run", run.id)]


def test_a_row_the_database_refuses_at_the_commit_leaves_nothing_written(app, factory, monkeypatch):
    """The outbox refuses the e-mail's row (its key is taken): on PostgreSQL that happens at the commit,
    in the statement that carries the audit entry and the change row too; the enrolment goes with them."""
    import uuid

    from sqlalchemy.exc import IntegrityError

    from training import mail, outbox
    from training.types import utcnow

    run = factory.run()
    trainee = factory.trainee()
    db.session.commit()
    taken = uuid.uuid4()
    db.session.execute(
        OutboxMessage.__table__.insert(),
        {
            "key": f"mail:enrolment:{taken.hex}",
            "kind": "mail",
            "name": "enrolment",
            "payload": b"{}",
            "state": outbox.OutboxState.done,
            "attempts": 1,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        },
    )
    db.session.commit()
    db.session.execute(SummaryChange.__table__.delete())
    db.session.commit()
    before = _rows(run.id)
    monkeypatch.setattr(mail.uuid, "uuid4", lambda: taken)

    with pytest.raises(IntegrityError):
        services.enrol(trainee, run.id)

    assert _rows(run.id) == before
    assert before[0] == [] and before[3] == []
    monkeypatch.undo()
    assert services.enrol(trainee, run.id).status == "confirmed"  # nothing half-written blocks a retry
