"""Bad input is refused with a clear message and leaves the database unchanged."""
import pytest
from sqlalchemy import select

from engine import InvalidFormData
from engine.db import db
from engine.models import AuditEntry, HumanTask, ProcessInstance, TaskCandidate
from handlers import lock_rule
from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM
from handlers.errors import DomainError, NotFound
from handlers.models import (
    Assignment, Attachment, CONSTRUCTOR, LockRecord, ManagerChangeApplication, SAFETY_B, UnlockApplication,
)

from .world import PDF_BYTES, locked_person, reported_unlock, row_counts

TABLES = (UnlockApplication, ManagerChangeApplication, Attachment, AuditEntry, HumanTask, TaskCandidate,
          ProcessInstance, LockRecord, Assignment)


@pytest.fixture()
def draft(world, services):
    pm, _ = locked_person(world, "张三")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    return applicant, app


@pytest.mark.parametrize("filename, data, message", [
    ("申请表.exe", b"MZ\x90\x00 not a document", "建设工程项目人员解锁申请表：不支持的文件类型，仅允许 "
                                                "PDF、图片（PNG/JPG/GIF）、Office 文档（Word/Excel/PowerPoint）"),
    ("申请表.pdf", b"\x89PNG\r\n\x1a\n a png named pdf", "建设工程项目人员解锁申请表：文件内容与扩展名不符"),
    ("申请表.pdf", b"MZ\x90\x00 a program", "建设工程项目人员解锁申请表：文件内容与扩展名不符"),
    ("申请表.pdf", b"", "建设工程项目人员解锁申请表：文件为空"),
])
def test_upload_of_a_wrong_type_is_refused(services, draft, filename, data, message):
    applicant, app = draft
    before = row_counts(*TABLES)
    with pytest.raises(DomainError) as exc:
        services.unlock.save(applicant, app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, filename, data)])
    assert exc.value.message.startswith(message)
    assert row_counts(*TABLES) == before
    db.session.refresh(app)
    assert app.reason == "" and services.unlock.attachments(app) == []


def test_upload_too_large_is_refused(services, draft):
    applicant, app = draft
    big = b"%PDF-1.4 " + b"0" * services.uploads.max_bytes
    before = row_counts(*TABLES)
    with pytest.raises(DomainError) as exc:
        services.unlock.save(applicant, app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", big)])
    assert exc.value.message == "建设工程项目人员解锁申请表：文件大小不能超过 10 MB"
    assert row_counts(*TABLES) == before


def test_a_good_file_with_a_bad_one_saves_nothing(services, draft):
    applicant, app = draft
    before = row_counts(*TABLES)
    with pytest.raises(DomainError):
        services.unlock.save(applicant, app.id, {"reason": "停工"},
                             [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES), Upload("attachment", "x.sh", b"#!/bin/sh")])
    assert row_counts(*TABLES) == before


def test_forged_review_decision_is_refused(world, services):
    pm, _ = locked_person(world, "李四")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    before = row_counts(*TABLES)
    for forged in ({"decision": "delete"}, {}, {"decision": "approve", "opinion": "长" * 501}):
        with pytest.raises(InvalidFormData) as exc:
            with services.engine.command():
                services.engine.complete(task.id, reviewer.actor, forged, action="审核通过")
        assert exc.value.field in ("decision", "opinion")
    assert row_counts(*TABLES) == before
    db.session.refresh(task)
    assert task.state == "open" and task.claimed_by_user_id == reviewer.user_id
    assert app.status == "reported" and pm.status == "locked"


def test_someone_elses_application_is_not_found(world, services, draft):
    _applicant, app = draft
    other = world.who("contractor2_user")
    before = row_counts(*TABLES)
    with pytest.raises(NotFound):
        services.unlock.get(other, app.id)
    with pytest.raises(NotFound):
        services.unlock.save(other, app.id, {"reason": "冒名修改"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    with pytest.raises(NotFound):
        services.unlock.report(other, app.id)
    with pytest.raises(NotFound):
        services.unlock.withdraw(other, app.id)
    with pytest.raises(NotFound):
        services.unlock.get(world.who("contractor_user"), 987654)
    # a regulator sees nothing before it is reported
    with pytest.raises(NotFound):
        services.unlock.get(world.who("agency_reviewer"), app.id)
    assert row_counts(*TABLES) == before
    assert services.unlock.list_own(other) == ([], 0)


def test_application_for_another_enterprises_person_is_refused(world, services):
    foreign, _ = locked_person(world, "外单位人员", org_key="contractor2")
    mine, _ = locked_person(world, "本单位人员")
    applicant = world.who("contractor_user")
    before = row_counts(*TABLES)
    with pytest.raises(NotFound):
        services.unlock.create(applicant, lock_rule.open_locks(foreign.id)[0].id)
    foreign_assignment = db.session.scalar(select(Assignment).where(Assignment.person_id == foreign.id))
    with pytest.raises(NotFound):
        services.change.create(applicant, foreign_assignment.id)
    assert row_counts(*TABLES) == before
    # as a replacement, too
    own_assignment = db.session.scalar(select(Assignment).where(Assignment.person_id == mine.id))
    app = services.change.create(applicant, own_assignment.id)
    outsider = world.add_person("外单位候选人", "contractor2", CONSTRUCTOR, SAFETY_B)
    db.session.commit()
    before = row_counts(*TABLES)
    with pytest.raises(DomainError) as exc:
        services.change.save(applicant, app.id, {"new_person_id": outsider.id, "reason": "调动"})
    assert exc.value.message == "变更后人员：该人员不属于本单位，请重新选择"
    with pytest.raises(DomainError) as exc:
        services.change.save(applicant, app.id, {"new_person_id": 999999})
    assert exc.value.message == "变更后人员：该人员不属于本单位，请重新选择"
    assert row_counts(*TABLES) == before
    db.session.refresh(app)
    assert app.new_person_id is None and app.reason == ""


def test_overlong_text_is_refused(services, draft):
    applicant, app = draft
    before = row_counts(*TABLES)
    with pytest.raises(DomainError) as exc:
        services.unlock.save(applicant, app.id, {"reason": "长" * 501}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    assert exc.value.message == "解锁原因：不能超过 500 个字"
    assert row_counts(*TABLES) == before
