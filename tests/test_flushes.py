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


def draft(world, services, name):
    """A locked project manager's unlock application, created by the contractor: (applicant, its id)."""
    locked_person(world, name)
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app_id = services.unlock.create(applicant, lock.id).id
    db.session.remove()
    return applicant, app_id


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


def test_creating_an_application_writes_it_and_its_link_by_statements_without_a_flush(world, services):
    locked_person(world, "张三")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    with flushes() as seen:
        app = services.unlock.create(applicant, lock.id)
    assert seen == []   # the new row is one INSERT of its own; its instance's id one UPDATE
    assert not inspect(app).modified and app in db.session and app not in db.session.new
    assert (app.status, app.reason, app.reported_at) == (DRAFT, "", None)   # the defaults, as a flush fills them
    db.session.expire_all()
    stored = db.session.get(UnlockApplication, app.id)
    assert stored.instance_id is not None and stored.status == DRAFT and stored.created_at is not None
    assert stored.case_no.startswith("RJ-")   # read through the link, from the instance


def test_saving_the_form_and_a_file_writes_both_without_a_flush(world, services):
    applicant, app_id = draft(world, services, "郑十")
    with flushes() as seen:
        app = services.unlock.save(applicant, app_id, {"reason": "项目已停工"},
                                   [Upload(UNLOCK_FORM, "申请表.pdf", PDF_BYTES)])
    assert seen == []   # the fields: one UPDATE of the application; the file: one INSERT
    assert not inspect(app).modified
    [attachment] = services.unlock.attachments(app)
    assert (attachment.kind, attachment.filename, attachment.uploaded_at is not None) == (
        UNLOCK_FORM, "申请表.pdf", True)
    db.session.remove()
    assert db.session.get(UnlockApplication, app_id).reason == "项目已停工"


def test_a_refused_save_keeps_neither_the_fields_nor_the_file(world, services):
    from handlers.errors import FieldErrors
    applicant, app_id = draft(world, services, "冯十一")
    with pytest.raises(FieldErrors):   # the reason is kept, the form file missing: nothing is
        services.unlock.report(applicant, app_id, {"reason": "项目已停工"})
    db.session.remove()
    stored = db.session.get(UnlockApplication, app_id)
    assert stored.reason == "" and services.unlock.attachments(stored) == []


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
    applicant, app_id = draft(world, services, "赵六")
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
    applicant, app_id = draft(world, services, "钱七")
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


def test_a_row_inserted_now_leaves_the_session_with_its_rolled_back_transaction(world, services):
    """As a flushed new object: the savepoint's or the transaction's rollback takes the row back, and
    the object is new again (added again, it is inserted again)."""
    from engine.db import insert_now, unit_of_work
    from handlers.models import Attachment

    def attachment(name):
        return Attachment(owner_type="unlock", owner_id=1, sha256="0" * 64, size=3, content_type="application/pdf",
                          filename=name, org_id=1, uploaded_by_user_id=1)
    kept, undone, dropped = attachment("kept.pdf"), attachment("undone.pdf"), attachment("dropped.pdf")
    with unit_of_work():
        assert insert_now(kept) and kept.id is not None and kept.kind == "attachment"
        savepoint = db.session.begin_nested()
        insert_now(undone)
        savepoint.rollback()
        assert kept in db.session and undone not in db.session and inspect(undone).transient
    db.session.remove()
    insert_now(dropped)
    db.session.rollback()
    assert inspect(dropped).transient
    db.session.remove()
    names = db.session.scalars(select(Attachment.filename).where(Attachment.owner_id == 1)).all()
    assert names == ["kept.pdf"]


def test_a_new_row_takes_the_keys_of_the_rows_its_relationships_name(world, services):
    from engine.db import insert_now
    pm, project = locked_person(world, "陈十二")
    lock = db.session.scalar(select(LockRecord).where(LockRecord.person_id == pm.id))
    applicant = world.who("contractor_user")
    app = UnlockApplication(lock_record=lock, person=pm, project=project, applicant_org_id=applicant.org_id,
                            created_by_user_id=applicant.user_id)
    assert insert_now(app)
    assert (app.lock_record_id, app.person_id, app.project_id) == (lock.id, pm.id, project.id)
    wrong = UnlockApplication(lock_record=lock, lock_record_id=lock.id + 1000, person=pm, project=project,
                              applicant_org_id=applicant.org_id, created_by_user_id=applicant.user_id)
    with pytest.raises(ValueError, match="lock_record_id"):
        insert_now(wrong)


def test_changes_written_now_leave_the_object_clean_and_a_relationship_change_to_the_flush(world, services):
    from engine.db import write_changes
    pm, _project = locked_person(world, "褚十三")
    other = world.add_project("另一工程")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)
    db.session.commit()
    pm.name = "褚十四"
    assert write_changes(pm) and not inspect(pm).modified and pm not in db.session.dirty
    assert not write_changes(pm)   # nothing left to write
    app.project = other   # a relationship: the flush's
    assert not write_changes(app) and inspect(app).modified
    db.session.rollback()
    assert pm.name == "褚十三"   # what was written went with the transaction
