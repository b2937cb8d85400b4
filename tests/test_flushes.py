"""How often the unlock's actions flush the session: a flush costs the unit of work about a thousand
Python calls even when it writes nothing, so an action flushes only where something is to be written.
The statement counts (tests/test_statement_counts.py) cannot see a flush that sends nothing."""
from contextlib import contextmanager

import pytest

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from engine.db import db
from handlers.applications import Upload, apply_status
from handlers.models import (
    APPROVED, DISCARDED, DRAFT, LOCKED, NORMAL, REPORTED, Assignment, LockRecord, Person, UnlockApplication,
)
from handlers.processes.unlock import UNLOCK_FORM

from .world import PDF_BYTES, locked_person


@contextmanager
def flushes():
    seen = []

    def count(session, _context, _instances):
        seen.append(sorted(type(o).__name__ for o in (*session.new, *session.dirty)))
    event.listen(Session, "before_flush", count)
    try:
        yield seen
    finally:
        event.remove(Session, "before_flush", count)


def test_creating_an_application_flushes_it_once_and_links_its_instance_by_a_statement(world, services):
    locked_person(world, "张三")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    with flushes() as seen:
        app = services.unlock.create(applicant, lock.id)
    assert seen == [["UnlockApplication"]]   # the new row; its instance's id is not a second flush
    assert not inspect(app).modified
    db.session.expire_all()
    stored = db.session.get(UnlockApplication, app.id)
    assert stored.instance_id is not None and stored.status == DRAFT
    assert stored.case_no.startswith("RJ-")   # read through the link, from the instance


def test_a_status_the_application_already_has_leaves_it_unchanged(world, services):
    locked_person(world, "李四")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)

    class Result:   # the step result's part apply_status reads
        status, completed = "草稿", False
    apply_status(app, Result())
    assert app.status == DRAFT and not inspect(app).modified and app not in db.session.dirty


def test_reporting_writes_the_application_without_a_flush(world, services):
    locked_person(world, "赵六")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app_id = services.unlock.create(applicant, lock.id).id
    services.unlock.save(applicant, app_id, {"reason": "项目已停工"}, [Upload(UNLOCK_FORM, "申请表.pdf", PDF_BYTES)])
    db.session.remove()
    with flushes() as seen:
        app = services.unlock.report(applicant, app_id)
    assert seen == []   # the status and the report time: one UPDATE of the row, no flush
    assert app.status == REPORTED and app.reported_at is not None and not inspect(app).modified
    db.session.remove()
    stored = db.session.get(UnlockApplication, app_id)
    assert (stored.status, stored.reported_at is not None) == (REPORTED, True)


def test_a_discarded_draft_is_written_as_discarded(world, services):
    locked_person(world, "钱七")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app_id = services.unlock.create(applicant, lock.id).id
    db.session.remove()
    services.unlock.withdraw(applicant, app_id)
    db.session.remove()
    stored = db.session.get(UnlockApplication, app_id)
    assert (stored.status, stored.open_key, stored.finished_at is not None) == (DISCARDED, None, True)


def test_approval_writes_its_effect_and_its_certificate_by_statements_without_a_flush(world, services):
    pm, _project = locked_person(world, "王五")
    pm_id = pm.id
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")
    [lock] = services.unlock.lockable(applicant)
    lock_id = lock.id
    app = services.unlock.create(applicant, lock.id)
    app_id = app.id
    services.unlock.save(applicant, app_id, {"reason": "项目已停工"}, [Upload(UNLOCK_FORM, "申请表.pdf", PDF_BYTES)])
    services.unlock.report(applicant, app_id)
    task_id = services.unlock.open_task(app).id
    services.reviews.claim(reviewer, task_id)
    db.session.remove()   # as the next request finds it
    with flushes() as seen:
        services.reviews.approve(reviewer, task_id, "同意")
    # the operator's changes (the lock closed, the assignment ended, the person's status, the
    # application's) are one UPDATE each, written as the operator makes them, and the certificate
    # one INSERT: nothing is left for a flush
    assert seen == []
    db.session.remove()
    assert db.session.get(UnlockApplication, app_id).status == APPROVED
    assert db.session.get(LockRecord, lock_id).closed_at is not None
    assert db.session.get(Person, pm_id).status == NORMAL
    assert not db.session.scalars(select(Assignment).where(Assignment.person_id == pm_id,
                                                           Assignment.ended_at.is_(None))).all()


def test_only_columns_of_the_row_are_written_now(world, services):
    from engine.db import write_now
    locked_person(world, "孙八")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)
    with pytest.raises(TypeError, match="case_no"):
        write_now(app, {"case_no": "RJ-2026-999999"})   # the instance's column, read with the row


def test_a_rolled_back_savepoint_takes_back_what_was_written_now(world, services):
    """A failing operator's savepoint is rolled back (engine.runtime): a column it wrote by its own
    statement is read again, as a flushed change would be, so the command goes on with the row as
    stored."""
    from engine.db import unit_of_work, write_now
    pm, _project = locked_person(world, "周九")
    pm_id = pm.id
    db.session.remove()
    with unit_of_work():
        person = db.session.get(Person, pm_id)
        savepoint = db.session.begin_nested()
        assert write_now(person, {"status": NORMAL})
        assert person.status == NORMAL and person not in db.session.dirty
        savepoint.rollback()
        assert person.status == LOCKED
        kept = db.session.begin_nested()
        write_now(person, {"status": NORMAL})
        kept.commit()
    db.session.remove()
    assert db.session.get(Person, pm_id).status == NORMAL
