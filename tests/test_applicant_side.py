"""The applicants' side of issue 12: 上报 reports what the form shows, every error at once, greyed
picks, 撤回 after 上报 until a reviewer claims it, case numbers, 我的申请."""
import re
from datetime import date

import pytest
from sqlalchemy import select

from engine.db import db
from engine.errors import TaskAlreadyClaimed
from engine.inbox import InboxFilter
from engine.models import AuditEntry, HumanTask, TaskCandidate
from handlers import lock_rule, my_applications
from handlers.applications import Upload
from handlers.errors import FieldErrors
from handlers.models import DRAFT, REPORTED, WITHDRAWN, Notification
from handlers.processes.unlock import UNLOCK_FORM

from .world import PDF_BYTES, locked_person, reported_unlock

YEAR = date.today().year


def _form():
    return Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", PDF_BYTES)


def _draft(world, services, name="张三"):
    pm, _ = locked_person(world, name)
    applicant = world.who("contractor_user")
    return applicant, services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)


def _log(app) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == app.instance_id)
                                   .order_by(AuditEntry.id)))


# -- 上报 reports what the form shows ---------------------------------------------------------------
def test_report_saves_the_edited_fields_in_the_same_command(world, services):
    applicant, app = _draft(world, services)
    services.unlock.save(applicant, app.id, {"reason": "旧的原因"}, [_form()])
    services.unlock.report(applicant, app.id, {"reason": "项目已停工，申请解锁"}, [])
    db.session.expire_all()
    app = services.unlock.get_own(applicant, app.id)
    assert app.status == REPORTED and app.reason == "项目已停工，申请解锁"
    assert _log(app) == ["新建", "暂存", "上报"]   # the edits reported with it are not a second line


def test_a_report_with_edits_is_one_line_in_the_log(world, services):
    """The user did one thing (上报 from the page, with the form filled in): one log line."""
    applicant, app = _draft(world, services)
    services.unlock.report(applicant, app.id, {"reason": "项目已停工"}, [_form()])
    assert app.status == REPORTED
    assert _log(app) == ["新建", "上报"]


def test_a_save_is_logged_as_what_it_did_not_as_the_button_label(world, services):
    """The unlock page's button reads 确定 (the manual's word); the log says 暂存 on every process."""
    applicant, app = _draft(world, services)
    assert services.unlock.entry.save_label == "确定"
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"}, [_form()])
    assert _log(app) == ["新建", "暂存"]


def test_a_refused_report_changes_nothing(world, services):
    applicant, app = _draft(world, services)
    with pytest.raises(FieldErrors) as refused:
        services.unlock.report(applicant, app.id, {"reason": "新的原因"}, [])   # the form is missing
    assert set(refused.value.errors) == {UNLOCK_FORM}
    db.session.expire_all()
    app = services.unlock.get_own(applicant, app.id)
    assert app.status == DRAFT and app.reason == ""


def test_every_missing_field_is_named_at_once(world, services):
    applicant, app = _draft(world, services)
    with pytest.raises(FieldErrors) as refused:
        services.unlock.save(applicant, app.id, {"reason": ""}, [])
    assert list(refused.value.errors) == ["reason", UNLOCK_FORM]


def test_completion_report_names_every_missing_field(world, services):
    world.add_project("昆明市第一中学教学楼")
    owner = world.who("owner_user")
    project_id = services.completion.picks(owner)[0].id
    app = services.completion.create(owner, project_id)
    with pytest.raises(FieldErrors) as refused:
        services.completion.report(owner, app.id, {"acceptance_date": "", "conclusion": "", "permit_no": ""}, [])
    assert {"acceptance_date", "conclusion", "permit_no"} <= set(refused.value.errors)


# -- 添加: records with an open application are greyed with the reason ----------------------------------
def test_picks_of_records_with_an_open_application_carry_the_reason_and_come_last(world, services):
    busy, _ = locked_person(world, "甲")
    free, _ = locked_person(world, "乙")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(busy.id)[0].id)
    picks = services.unlock.picks(applicant)
    assert [p.name for p in picks] == ["乙", "甲"]
    assert picks[0].reason is None
    assert picks[1].reason == f"已有未办结的申请（{app.case_no}，草稿）"


def test_change_and_completion_pickers_grey_busy_records_too(world, services):
    pm, project = locked_person(world, "张三")
    applicant = world.who("contractor_user")
    [pick] = services.change.picks(applicant)
    services.change.create(applicant, pick.id)
    [pick] = services.change.picks(applicant)
    assert pick.reason and pick.reason.startswith("已有未办结的申请（BG-")
    owner = world.who("owner_user")
    first = services.completion.picks(owner)[0]
    services.completion.create(owner, first.id)
    greyed = [p for p in services.completion.picks(owner) if p.id == first.id][0]
    assert greyed.reason.startswith("已有未办结的申请（JG-")


# -- 撤回 after 上报 ---------------------------------------------------------------------------------
def test_withdraw_after_report_before_claim_closes_the_inbox_rows_and_is_logged(world, services):
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    applicant = world.who("contractor_user")
    services.unlock.withdraw(applicant, app.id)
    db.session.expire_all()
    app = services.unlock.get_own(applicant, app.id)
    assert app.status == WITHDRAWN and app.open_key is None
    assert _log(app)[-1] == "撤回"
    assert db.session.scalar(select(HumanTask.state).where(HumanTask.instance_id == app.instance_id,
                                                           HumanTask.element_id == "Task_Review")) == "cancelled"
    assert not db.session.scalars(select(TaskCandidate).join(HumanTask, HumanTask.id == TaskCandidate.task_id)
                                  .where(HumanTask.instance_id == app.instance_id,
                                         TaskCandidate.is_open.is_(True))).all()
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []


def test_withdraw_after_claim_is_refused_naming_the_holder(world, services):
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    task = services.reviews.inbox(reviewer).rows[0]
    services.reviews.claim(reviewer, task.id)
    with pytest.raises(TaskAlreadyClaimed) as refused:
        services.unlock.withdraw(world.who("contractor_user"), app.id)
    assert "赵监督" in refused.value.message and "不能撤回" in refused.value.message
    db.session.expire_all()
    assert services.unlock.get_own(world.who("contractor_user"), app.id).status == REPORTED
    assert db.session.get(HumanTask, task.id).state == "open"


# -- case numbers ------------------------------------------------------------------------------------
def test_each_application_gets_a_case_number_by_process_and_year(world, services):
    applicant, first = _draft(world, services, "甲")
    _, second = _draft(world, services, "乙")
    assert first.case_no == f"RJ-{YEAR}-000001" and second.case_no == f"RJ-{YEAR}-000002"
    owner = world.who("owner_user")
    world.add_project("昆明市第一中学教学楼")
    filing = services.completion.create(owner, services.completion.picks(owner)[0].id)
    assert re.fullmatch(rf"JG-{YEAR}-000001", filing.case_no)


def test_notifications_name_the_case_number(world, services):
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    titles = list(db.session.scalars(select(Notification.title)))
    assert titles and all(app.case_no in t for t in titles)


def test_the_inbox_finds_a_task_by_case_number(world, services):
    first, _ = locked_person(world, "甲")
    second, _ = locked_person(world, "乙")
    reported_unlock(world, services, first)
    wanted = reported_unlock(world, services, second)
    page = services.reviews.inbox(world.who("agency_reviewer"), flt=InboxFilter(case_no=wanted.case_no))
    assert [t.instance_id for t in page.rows] == [wanted.instance_id]


# -- 我的申请 ------------------------------------------------------------------------------------------
def test_my_applications_lists_every_process_with_step_and_holder(world, services):
    pm, _ = locked_person(world, "张三")
    reported = reported_unlock(world, services, pm)
    other, _ = locked_person(world, "李四")
    applicant = world.who("contractor_user")
    [pick] = [p for p in services.change.picks(applicant) if p.name == "李四"]
    change = services.change.create(applicant, pick.id)
    reviewer = world.who("agency_reviewer")
    services.reviews.claim(reviewer, services.reviews.inbox(reviewer).rows[0].id)
    rows, total = my_applications.my_applications(applicant)
    assert total == 2
    assert [(r.entry.kind, r.app.id) for r in rows] == [("change", change.id), ("unlock", reported.id)]
    by_kind = {r.entry.kind: r for r in rows}
    assert by_kind["unlock"].step == "审核" and "赵监督" in by_kind["unlock"].holder
    assert by_kind["change"].app.status == DRAFT and by_kind["change"].holder == ""
    rows, total = my_applications.my_applications(applicant, q=reported.case_no.lower())
    assert total == 1 and rows[0].app.id == reported.id
    # another enterprise sees none of them
    assert my_applications.my_applications(world.who("contractor2_user"))[1] == 0


def test_report_with_an_unchanged_form_logs_no_extra_save(world, services):
    applicant, app = _draft(world, services)
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"}, [_form()])
    services.unlock.report(applicant, app.id, {"reason": "项目已停工", "explanation": ""}, [])
    assert _log(app) == ["新建", "暂存", "上报"]
