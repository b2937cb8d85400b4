"""BPMN timers as jobs: the review steps' 超期预警 and overdue timers, under a controlled clock."""
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from engine.db import db
from engine.models import AuditEntry, HumanTask, Job
from handlers.models import Notification

from .world import locked_person, reported_unlock

UTC = timezone.utc
# Monday 2026-03-02 10:00 in Kunming (UTC+8): 5 working days make Monday 03-09 the last day, so
# the task falls due at its end (03-10 00:00 local) and the reminder comes as it begins (03-09 00:00)
REPORTED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REMINDER = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
DUE = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def at(moment, seconds=0):
    return time_machine.travel(moment.timestamp() + seconds, tick=False)


def kinds(kind):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == kind))


def log_actions(instance_id):
    return [e.action for e in db.session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                                                  .order_by(AuditEntry.id))]


@pytest.fixture()
def reported(world, services):
    with at(REPORTED):
        pm, _project = locked_person(world, "张三")
        app = reported_unlock(world, services, pm)
    return app


def test_reporting_schedules_both_timers_at_their_fire_times(reported):
    jobs = db.session.scalars(select(Job).order_by(Job.due_at)).all()
    assert [(j.kind, j.due_at) for j in jobs] == [
        ("bpmn.timer", REMINDER.replace(tzinfo=None)), ("bpmn.timer", DUE.replace(tzinfo=None))]


def test_reminder_and_overdue_fire_once_each(services, reported):
    worker = services.worker()
    with at(REMINDER, -60):
        assert worker.run_due() == 0
    with at(REMINDER, 30):
        assert worker.run_due() == 1
        assert worker.run_due() == 0
    # three reviewer accounts in the two regulators; the applicant hears nothing of it
    assert kinds("due_soon") == 3 and kinds("overdue") == 0
    [task] = db.session.scalars(select(HumanTask).where(HumanTask.state == "open")).all()
    assert task.overdue_at is None
    with at(DUE, 30):
        assert worker.run_due() == 1
    with at(DUE, 86400 * 30):
        assert worker.run_due() == 0
    db.session.expire_all()
    assert kinds("due_soon") == 3 and kinds("overdue") == 3
    task = db.session.get(HumanTask, task.id)
    assert task.state == "open" and task.overdue_at is not None   # non-interrupting: still to be reviewed
    actions = log_actions(reported.instance_id)
    assert actions.count("超期预警") == 1 and actions.count("标记超期并督办") == 1


def test_timer_of_a_task_completed_first_never_fires(world, services, reported):
    reviewer = world.who("agency_reviewer")
    with at(REPORTED, 3600):
        [task] = services.reviews.inbox(reviewer).rows
        services.reviews.claim(reviewer, task.id)
        services.reviews.approve(reviewer, task.id, "同意")
    before = kinds("due_soon"), kinds("overdue")
    with at(DUE, 86400):
        assert services.worker().run_due() == 2   # both jobs ran, and found nothing waiting
    assert (kinds("due_soon"), kinds("overdue")) == before == (0, 0)
    assert "超期预警" not in log_actions(reported.instance_id)
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.state != "done")) == 0


def test_returned_and_reported_again_gets_fresh_timers_and_the_old_ones_stay_silent(world, services, reported):
    reviewer, applicant = world.who("agency_reviewer"), world.who("contractor_user")
    with at(REPORTED, 3600):
        [task] = services.reviews.inbox(reviewer).rows
        services.reviews.claim(reviewer, task.id)
        services.reviews.return_(reviewer, task.id, "请补充解锁申请表")
    with at(REMINDER, 3600):   # reported again on Monday 03-09 01:00: the clock stopped with 5 working days left, due 03-16

        services.unlock.report(applicant, reported.id)
        assert services.worker().run_due() == 1   # the first reminder: its task is gone
    assert kinds("due_soon") == 0
    with at(datetime(2026, 3, 15, 16, 0, 30, tzinfo=UTC)):
        assert services.worker().run_due() == 2   # the old overdue job (no-op) and the new reminder
    assert kinds("due_soon") == 3 and kinds("overdue") == 0


def test_a_timer_already_due_when_it_starts_fires_at_once_through_its_job(world, services):
    from datetime import timedelta

    from engine import timers
    with at(DUE, 3600):
        pm, _project = locked_person(world, "李四")
        with timers.backdated(timedelta(days=10)):
            app = reported_unlock(world, services, pm)
        assert kinds("due_soon") == 0
    with at(DUE, 3602):
        assert services.worker().run_due() == 2
        assert services.worker().run_due() == 0
    assert kinds("due_soon") == 3 and kinds("overdue") == 3
    assert log_actions(app.instance_id).count("超期预警") == 1
