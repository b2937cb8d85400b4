"""人员解锁申请 (domain.md §4.4): the applicant's walk and both regulators' reviews."""
import pytest

from engine import EngineError
from engine.db import db
from engine.inbox import open_tasks
from engine.models import AuditEntry, HumanTask, ProcessInstance
from handlers import lock_rule
from handlers.invariants import check_invariants
from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM
from handlers.errors import DomainError, NotFound
from handlers.models import (
    APPROVED, DISCARDED, DRAFT, LOCKED, NORMAL, PROJECT_MANAGER, REPORTED, RETURNED, SAFETY_OFFICER, WITHDRAWN,
    Assignment, LockRecord, UnlockApplication,
)

from .world import PDF_BYTES, locked_person, reported_unlock, row_counts

FORM = Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", PDF_BYTES)


def _task(services, reviewer):
    [task] = services.reviews.inbox(reviewer).rows
    return task


def _active(person_id, project_id):
    from engine.db import db
    from sqlalchemy import select
    return db.session.scalars(select(Assignment).where(
        Assignment.person_id == person_id, Assignment.project_id == project_id,
        Assignment.ended_at.is_(None))).all()


@pytest.mark.parametrize("reviewer_key", ["auth_reviewer", "agency_reviewer"])
def test_either_regulator_of_the_project_approves_and_the_lock_closes(world, services, reviewer_key):
    pm, project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    assert lock.person_id == pm.id and lock.project_id == project.id

    app = services.unlock.create(applicant, lock.id)
    assert app.status == DRAFT
    assert services.unlock.lockable(applicant) == []          # already has an open application
    services.unlock.save(applicant, app.id, {"reason": "项目已停工", "explanation": "停工证明见附件"}, [FORM])
    assert app.status == DRAFT
    services.unlock.report(applicant, app.id)
    assert app.status == REPORTED

    # offered to both the authority and the agency of the project that added the lock
    for key in ("auth_reviewer", "auth_reviewer2", "agency_reviewer"):
        assert [t.subject for t in services.reviews.inbox(world.who(key)).rows] == ["张三（项目经理）解锁"]
    reviewer = world.who(reviewer_key)
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意解锁")

    assert app.status == APPROVED and app.finished_at is not None
    assert lock.closed_at is not None
    assert _active(pm.id, project.id) == []                   # the assignment no longer counts
    assert pm.status == NORMAL
    log = services.unlock.operation_log(app)
    assert [e.action for e in log] == ["新建", "暂存", "上报", "签收", "审核通过", "自动解锁"]
    approved = log[4]
    assert approved.user_name == reviewer.user_name and approved.org_name == reviewer.org_name
    assert approved.opinion == "同意解锁" and approved.at is not None
    assert "已解锁" in log[5].opinion
    # the task has left every inbox
    for key in ("auth_reviewer", "agency_reviewer"):
        assert services.reviews.inbox(world.who(key)).rows == []


def test_person_with_another_open_lock_stays_locked(world, services):
    person = world.add_person("孙多岗", "contractor", "constructor", "safety_b", "safety_c")
    pm_project = world.add_project("工程甲")
    so_project = world.add_project("工程乙")
    world.assign(person, pm_project, PROJECT_MANAGER)
    world.assign(person, so_project, SAFETY_OFFICER)
    pm_lock = next(lk for lk in lock_rule.open_locks(person.id) if lk.role == PROJECT_MANAGER)
    app = reported_unlock(world, services, person, lock=pm_lock)
    reviewer = world.who("agency_reviewer")
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id)
    assert app.status == APPROVED
    assert pm_lock.closed_at is not None
    assert person.status == LOCKED
    assert [lk.role for lk in lock_rule.open_locks(person.id)] == [SAFETY_OFFICER]
    assert "锁定" in services.unlock.operation_log(app)[-1].opinion


def test_save_requires_reason_and_the_unlock_form(world, services):
    pm, _ = locked_person(world, "李四")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    with pytest.raises(DomainError) as exc:
        services.unlock.save(applicant, app.id, {"reason": ""}, [FORM])
    assert exc.value.message == "解锁原因：请填写解锁原因"
    with pytest.raises(DomainError) as exc:
        services.unlock.save(applicant, app.id, {"reason": "项目停工"}, [])
    assert exc.value.message == "请上传“建设工程项目人员解锁申请表”"
    # neither refused save left anything behind
    assert services.unlock.attachments(app) == []
    assert [e.action for e in services.unlock.operation_log(app)] == ["新建"]
    with pytest.raises(DomainError):
        services.unlock.report(applicant, app.id)
    assert app.status == DRAFT


def test_return_then_edit_and_report_again_then_approved(world, services):
    pm, _ = locked_person(world, "王五")
    applicant = world.who("contractor_user")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("auth_reviewer")
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    with pytest.raises(EngineError) as exc:
        services.reviews.return_(reviewer, task.id, "  ")
    assert exc.value.message == "意见：退回时必须填写意见"
    services.reviews.return_(reviewer, task.id, "请补充停工证明")
    assert app.status == RETURNED and app.status_label == "已退回"
    assert pm.status == LOCKED
    returned = services.unlock.operation_log(app)[-1]
    assert (returned.action, returned.opinion, returned.user_name) == ("退回", "请补充停工证明", "李审核")
    assert services.reviews.inbox(reviewer).rows == []

    services.unlock.save(applicant, app.id, {"reason": "项目停工，已补充停工证明"})
    services.unlock.report(applicant, app.id)
    assert app.status == REPORTED
    agency = world.who("agency_reviewer")
    task = _task(services, agency)
    services.reviews.claim(agency, task.id)
    services.reviews.approve(agency, task.id)
    assert app.status == APPROVED and pm.status == NORMAL
    assert [e.action for e in services.unlock.operation_log(app)] == [
        "新建", "暂存", "上报", "签收", "退回", "暂存", "上报", "签收", "审核通过", "自动解锁"]


def test_withdraw_after_return_changes_nothing(world, services):
    pm, project = locked_person(world, "赵六")
    applicant = world.who("contractor_user")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "材料不全")
    services.unlock.withdraw(applicant, app.id)
    assert app.status == WITHDRAWN and app.status_label == "已撤回"
    assert pm.status == LOCKED
    assert lock_rule.open_locks(pm.id)[0].project_id == project.id
    assert len(_active(pm.id, project.id)) == 1
    assert open_tasks(app.instance_id) == []
    # once withdrawn, the lock may be applied for again
    assert [lk.person_id for lk in services.unlock.lockable(applicant)] == [pm.id]
    with pytest.raises(DomainError) as exc:
        services.unlock.report(applicant, app.id)
    assert exc.value.message == "该申请已上报，请勿重复提交"


def test_only_own_locked_people_can_be_chosen(world, services):
    other, _ = locked_person(world, "外单位人员", org_key="contractor2")
    mine, _ = locked_person(world, "本单位人员")
    applicant = world.who("contractor_user")
    assert [lk.person_id for lk in services.unlock.lockable(applicant)] == [mine.id]
    foreign_lock = lock_rule.open_locks(other.id)[0]
    before = row_counts(UnlockApplication, ProcessInstance, HumanTask, AuditEntry)
    with pytest.raises(NotFound):
        services.unlock.create(applicant, foreign_lock.id)
    with pytest.raises(NotFound):
        services.unlock.create(applicant, 999999)
    assert row_counts(UnlockApplication, ProcessInstance, HumanTask, AuditEntry) == before


def test_person_no_longer_locked_is_refused(world, services):
    pm, project = locked_person(world, "钱七")
    applicant = world.who("contractor_user")
    lock = lock_rule.open_locks(pm.id)[0]
    lock_rule.end_assignment(pm.id, PROJECT_MANAGER, project.id, "离任")
    lock_rule.apply_lock_rule(pm)
    from engine.db import db
    db.session.commit()
    assert lock.closed_at is not None
    before = row_counts(UnlockApplication, ProcessInstance)
    with pytest.raises(DomainError) as exc:
        services.unlock.create(applicant, lock.id)
    assert exc.value.message == "该人员已不再锁定，无需申请解锁"
    assert row_counts(UnlockApplication, ProcessInstance) == before


def test_lock_that_closes_after_the_draft_cannot_be_reported(world, services):
    pm, project = locked_person(world, "冯八")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    services.unlock.save(applicant, app.id, {"reason": "停工"}, [FORM])
    lock_rule.end_assignment(pm.id, PROJECT_MANAGER, project.id, "离任")
    lock_rule.apply_lock_rule(pm)
    db.session.commit()   # the lock closed by an action of its own
    with pytest.raises(DomainError) as exc:
        services.unlock.report(applicant, app.id)
    assert exc.value.message == "该人员已不再锁定，无需申请解锁"
    assert app.status == DRAFT


def test_double_add_for_the_same_lock_is_refused(world, services):
    pm, _ = locked_person(world, "陈九")
    applicant = world.who("contractor_user")
    lock = lock_rule.open_locks(pm.id)[0]
    services.unlock.create(applicant, lock.id)
    before = row_counts(UnlockApplication, ProcessInstance)
    with pytest.raises(DomainError) as exc:
        services.unlock.create(applicant, lock.id)
    assert exc.value.message == "该锁定记录已有未办结的解锁申请"
    assert row_counts(UnlockApplication, ProcessInstance) == before


def test_report_twice_is_refused(world, services):
    pm, _ = locked_person(world, "褚十")
    applicant = world.who("contractor_user")
    app = reported_unlock(world, services, pm)
    before = row_counts(HumanTask, AuditEntry)
    with pytest.raises(DomainError) as exc:
        services.unlock.report(applicant, app.id)
    assert exc.value.message == "该申请已上报，请勿重复提交"
    assert row_counts(HumanTask, AuditEntry) == before
    assert app.status == REPORTED


def test_regulators_of_another_project_neither_see_nor_work_the_task(world, services):
    pm, _ = locked_person(world, "卫十一")
    app = reported_unlock(world, services, pm)
    task = _task(services, world.who("agency_reviewer"))
    for key in ("agency2_reviewer", "auth2_reviewer"):
        outsider = world.who(key)
        assert services.reviews.inbox(outsider).rows == []
        assert services.reviews.inbox(outsider).counts == {"open": 0, "mine": 0, "held": 0, "done": 0}
        with pytest.raises(NotFound):
            services.reviews.claim(outsider, task.id)
        with pytest.raises(NotFound):
            services.reviews.approve(outsider, task.id)
        with pytest.raises(NotFound):
            services.unlock.get(outsider, app.id)
        # the engine itself refuses a non-candidate too
        with pytest.raises(EngineError) as exc:
            services.engine.claim(task.id, outsider.actor)
        assert exc.value.message == "您所在的单位无权办理该任务"
    assert app.status == REPORTED and pm.status == LOCKED
    assert services.reviews.inbox(world.who("agency_reviewer")).rows[0].claimed_by_user_id is None


def test_unlock_goes_to_the_regulators_of_the_project_that_added_the_lock(world, services):
    pm, project = locked_person(world, "蒋十二", authority="authority2", agency="agency2")
    reported_unlock(world, services, pm)
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []
    assert services.reviews.inbox(world.who("auth_reviewer")).rows == []
    assert len(services.reviews.inbox(world.who("agency2_reviewer")).rows) == 1
    assert len(services.reviews.inbox(world.who("auth2_reviewer")).rows) == 1


def test_lock_record_rows_are_not_touched_by_a_return(world, services):
    pm, _ = locked_person(world, "沈十三")
    app = reported_unlock(world, services, pm)
    before = row_counts(LockRecord, Assignment)
    reviewer = world.who("agency_reviewer")
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "退回补充")
    assert row_counts(LockRecord, Assignment) == before
    assert app.lock_record.closed_at is None


def test_lock_closed_elsewhere_before_approval_goes_back_to_the_applicant(world, services):
    pm, project = locked_person(world, "韩十四")
    applicant = world.who("contractor_user")
    app = reported_unlock(world, services, pm)
    # meanwhile the project's completion filing is approved, which closes the lock
    from datetime import date
    owner = world.who("owner_user")
    filing = services.completion.create(owner, project.id)
    services.completion.save(owner, filing.id, {"acceptance_date": date.today(), "conclusion": "合格"})
    services.completion.report(owner, filing.id)
    reviewer = world.who("auth_reviewer")
    filing_task = next(t for t in services.reviews.inbox(reviewer).rows if t.process_key == "completion_filing")
    services.reviews.claim(reviewer, filing_task.id)
    services.reviews.approve(reviewer, filing_task.id)
    assert pm.status == NORMAL
    unlock_task = _task(services, reviewer)
    services.reviews.claim(reviewer, unlock_task.id)
    services.reviews.approve(reviewer, unlock_task.id)
    assert app.status == RETURNED
    last = services.unlock.operation_log(app)[-1]
    assert (last.action, last.opinion) == ("复核未通过", "该锁定记录已解除，无需再解锁")
    assert last.user_name == "系统"
    with pytest.raises(DomainError) as exc:
        services.unlock.report(applicant, app.id)
    assert exc.value.message == "该人员已不再锁定，无需申请解锁"
    services.unlock.withdraw(applicant, app.id)
    assert app.status == WITHDRAWN


def test_a_draft_never_reported_is_discarded_not_withdrawn(world, services):
    """作废: the draft ends, is kept as 已作废 with 作废 in its log, and its lock can be added again."""
    pm, _ = locked_person(world, "杨十五")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    assert not services.unlock.can_withdraw(app)   # the page offers 作废 instead
    services.unlock.discard(applicant, app.id)
    assert app.status == DISCARDED and app.status_label == "已作废" and app.open_key is None
    assert [e.action for e in services.unlock.operation_log(app)] == ["新建", "作废"]
    assert pm.status == LOCKED
    again = services.unlock.create(applicant, app.lock_record_id)
    assert again.id != app.id and again.status == DRAFT
    services.unlock.withdraw(applicant, again.id)   # the API's 撤回 of a draft discards it as well
    assert again.status == DISCARDED
    assert check_invariants() == []


def test_only_a_draft_can_be_discarded(world, services):
    pm, _ = locked_person(world, "杨十六")
    app = reported_unlock(world, services, pm)
    with pytest.raises(DomainError) as refused:
        services.unlock.discard(world.who("contractor_user"), app.id)
    assert refused.value.message == "只有尚未上报的草稿可以作废"
    assert app.status == REPORTED


def test_unlock_on_a_shared_contract_releases_the_contract(world, services):
    """Projects sharing a contract registration number count as one: unlocking that one project
    must release the person from it, not immediately lock them again through its sibling."""
    pm = world.add_person("曹十六", "contractor", "constructor", "safety_b")
    first = world.add_project("滇池路一期", contract_no="HT-2022-9")
    second = world.add_project("滇池路二期", contract_no="HT-2022-9")
    world.assign(pm, first, PROJECT_MANAGER)
    world.assign(pm, second, PROJECT_MANAGER)
    [lock] = lock_rule.open_locks(pm.id)
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    task = _task(services, reviewer)
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id)
    assert app.status == APPROVED
    assert lock.closed_at is not None
    assert lock_rule.open_locks(pm.id) == []
    assert pm.status == NORMAL
    assert _active(pm.id, first.id) == [] and _active(pm.id, second.id) == []


def test_supervising_firm_applies_to_unlock_its_chief_supervisor(world, services):
    """The supervising firm files for its chief supervisors (§1, §4.4). 王总监 is locked when the third
    project, in 大理, is added; the unlock goes to the 大理 regulators, whose approval releases that
    project only: two projects are left, below the limit of 3, and 王总监 is normal again."""
    from handlers.models import CHIEF_SUPERVISOR, SUPERVISION_ENGINEER
    chief = world.add_person("王总监", "firm", SUPERVISION_ENGINEER)
    kunming = [world.add_project(f"昆明监理工程{i}") for i in range(2)]
    dali = world.add_project("大理古城保护工程", authority="authority2", agency="agency2")
    for project in (*kunming, dali):
        world.assign(chief, project, CHIEF_SUPERVISOR)
    assert chief.status == LOCKED
    firm = world.who("firm_user")
    assert services.unlock.lockable(world.who("contractor_user")) == []   # not the contractor's person
    [lock] = services.unlock.lockable(firm)
    assert (lock.person_id, lock.role, lock.project_id) == (chief.id, CHIEF_SUPERVISOR, dali.id)

    app = reported_unlock(world, services, chief, applicant_key="firm_user", reason="大理项目已由他人接任")
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []
    reviewer = world.who("auth2_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    assert task.subject == "王总监（项目总监）解锁"
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意")
    assert app.status == APPROVED and lock.closed_at is not None
    assert _active(chief.id, dali.id) == []
    assert all(len(_active(chief.id, p.id)) == 1 for p in kunming)
    assert chief.status == NORMAL and lock_rule.open_locks(chief.id) == []
    assert services.unlock.operation_log(app)[-1].opinion == "王总监已解锁，当前状态：正常"


def test_the_lock_record_and_its_project_are_read_only_on_the_detail(world, services):
    """Step 3: the lock record and the project that added it are shown, not edited. A save that names
    another lock, person or project changes none of them."""
    pm, project = locked_person(world, "严十七", project_name="盘龙区安置房")
    other, other_project = locked_person(world, "朱十八")
    applicant = world.who("contractor_user")
    [lock] = lock_rule.open_locks(pm.id)
    app = services.unlock.create(applicant, lock.id)
    services.unlock.save(applicant, app.id, {"reason": "停工", "lock_record_id": lock_rule.open_locks(other.id)[0].id,
                                              "person_id": other.id, "project_id": other_project.id}, [FORM])
    db.session.expire_all()
    app = services.unlock.get_own(applicant, app.id)
    assert (app.lock_record_id, app.person_id, app.project_id) == (lock.id, pm.id, project.id)
    shown = {c.label: c.value(app) for c in services.unlock.entry.basics}
    assert shown["人员姓名"] == "严十七" and shown["锁定角色"] == "项目经理"
    assert shown["添加锁定的工程"] == f"盘龙区安置房（{project.supervision_no}）"
    assert shown["锁定原因"] == "项目经理在建工程数已达上限（1 个）"
