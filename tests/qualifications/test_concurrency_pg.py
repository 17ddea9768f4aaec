"""Two at once on PostgreSQL: reminders sent by two schedulers go out once; two admins
setting a position's people leave one consistent list, never a 500."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import api
from tests.toolkit import BARRIER_SECONDS, join_all
from training.errors import Conflict
from training.extensions import db
from training.qualifications import services
from training.qualifications.models import PositionPerson, QualificationReminder
from training.types import org_today

pytestmark = pytest.mark.postgres


def _both(app, work):
    barrier, results = threading.Barrier(2), []

    def run(i):
        with app.app_context():
            barrier.wait(timeout=BARRIER_SECONDS)
            try:
                results.append(work(i))
            except Conflict as exc:
                results.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    join_all(threads)
    return results


def test_two_schedulers_send_each_reminder_once(app, plant, client, mailbox):
    today = org_today()
    api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={
            "skill_id": plant.skill.id,
            "level": 2,
            "evidence": "e",
            "valid_until": (today + timedelta(days=25)).isoformat(),
        },
    )
    db.session.commit()
    results = _both(app, lambda i: services.send_renewal_reminders(today=today))
    assert sorted(r if isinstance(r, int) else -1 for r in results) in ([-1, 1], [0, 1])
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(QualificationReminder)) == 2  # the 90 and 30 stages
    assert len(mailbox()) == 2  # the person and the admin, once


def test_two_admins_set_a_positions_people_at_once(app, plant, factory):
    a, b = factory.trainee(), factory.trainee()
    admin2 = factory.admin()
    position_id, admins = plant.position.id, [plant.admin.id, admin2.id]
    wanted = [[a.id], [b.id, a.id]]
    db.session.commit()

    def work(i):
        from training.accounts.models import User

        actor = db.session.get(User, admins[i])
        return [p.user_id for p in services.set_position_people(actor, position_id, {"user_ids": wanted[i]}).people]

    results = _both(app, work)
    db.session.expire_all()
    final = sorted(db.session.scalars(select(PositionPerson.user_id).where(PositionPerson.position_id == position_id)))
    assert final in (sorted(wanted[0]), sorted(wanted[1]))
    assert all(isinstance(r, (list, Conflict)) for r in results)
