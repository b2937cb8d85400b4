"""The regulators' side (domain.md §5), the operation log (§6) and service-task incidents."""
import pytest
from sqlalchemy import select

from engine import EngineError, NotCandidate, TaskAlreadyClaimed, TaskClosed, TaskNotClaimed
from engine.db import db
from engine.inbox import InboxFilter
from engine.models import AuditEntry, ProcessInstance
from handlers import lock_rule, processes
from handlers.errors import Forbidden
from handlers.models import APPROVED, LOCKED, NORMAL, REPORTED

from .world import approve_into_an_incident, locked_person, reported_unlock


@pytest.fixture()
def reported(world, services):
    pm, project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    return pm, app, task


def test_claim_is_exclusive_and_others_see_who_holds_it(world, services, reported):
    pm, app, task = reported
    agency, authority, colleague = (world.who(k) for k in ("agency_reviewer", "auth_reviewer", "auth_reviewer2"))
    services.reviews.claim(agency, task.id)
    # gone from everyone else's open inbox, shown as held with the holder's name
    for other in (authority, colleague):
        page = services.reviews.inbox(other, "open")
        assert page.rows == [] and page.counts["open"] == 0 and page.counts["held"] == 1
        [held] = services.reviews.inbox(other, "held").rows
        assert (held.claimed_by_name, held.claimed_by_org_name) == ("赵监督", "昆明市建设工程质量安全监督站")
    assert [t.id for t in services.reviews.inbox(agency, "mine").rows] == [task.id]
    with pytest.raises(TaskAlreadyClaimed) as exc:
        services.reviews.claim(authority, task.id)
    assert exc.value.message == "该任务已由昆明市建设工程质量安全监督站的赵监督签收"
    assert exc.value.holder == "赵监督"
    # claiming again by the holder is harmless
    services.reviews.claim(agency, task.id)
    assert [e.action for e in services.unlock.operation_log(app)].count("签收") == 1


def test_non_holder_cannot_approve_or_return(world, services, reported):
    pm, app, task = reported
    agency, authority = world.who("agency_reviewer"), world.who("auth_reviewer")
    with pytest.raises(TaskNotClaimed) as exc:
        services.reviews.approve(agency, task.id)
    assert exc.value.message == "请先签收该任务再办理"
    services.reviews.claim(agency, task.id)
    with pytest.raises(TaskAlreadyClaimed):
        services.reviews.approve(authority, task.id, "抢先通过")
    with pytest.raises(TaskAlreadyClaimed):
        services.reviews.return_(authority, task.id, "抢先退回")
    with pytest.raises(TaskAlreadyClaimed):
        services.reviews.release(authority, task.id)
    assert app.status == REPORTED and pm.status == LOCKED
    assert [e.action for e in services.unlock.operation_log(app)] == ["新建", "暂存", "上报", "签收"]


def test_release_puts_the_task_back_for_both(world, services, reported):
    pm, app, task = reported
    agency, authority = world.who("agency_reviewer"), world.who("auth_reviewer")
    with pytest.raises(TaskNotClaimed) as exc:
        services.reviews.release(agency, task.id)
    assert exc.value.message == "该任务尚未签收"
    services.reviews.claim(agency, task.id)
    services.reviews.release(agency, task.id)
    for reviewer in (agency, authority):
        assert [t.id for t in services.reviews.inbox(reviewer, "open").rows] == [task.id]
        assert services.reviews.inbox(reviewer, "held").rows == []
    services.reviews.claim(authority, task.id)
    services.reviews.approve(authority, task.id)
    assert app.status == APPROVED and pm.status == NORMAL
    actions = [e.action for e in services.unlock.operation_log(app)]
    assert actions == ["新建", "暂存", "上报", "签收", "退回签收", "签收", "审核通过", "自动解锁"]


def test_return_requires_an_opinion(world, services, reported):
    pm, app, task = reported
    agency = world.who("agency_reviewer")
    services.reviews.claim(agency, task.id)
    with pytest.raises(EngineError) as exc:
        services.reviews.return_(agency, task.id, "")
    assert exc.value.message == "意见：退回时必须填写意见"
    assert services.reviews.inbox(agency, "mine").rows[0].state == "open"
    assert app.status == REPORTED


def test_done_list_shows_what_each_reviewer_did(world, services, reported):
    pm, app, task = reported
    agency, authority = world.who("agency_reviewer"), world.who("auth_reviewer")
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "请补充材料")
    applicant = world.who("contractor_user")
    services.unlock.report(applicant, app.id)
    [task2] = services.reviews.inbox(authority).rows
    services.reviews.claim(authority, task2.id)
    services.reviews.approve(authority, task2.id)
    [done_agency] = services.reviews.inbox(agency, "done").rows
    assert (done_agency.id, done_agency.outcome, done_agency.completed_by_name) == (task.id, "return", "赵监督")
    [done_auth] = services.reviews.inbox(authority, "done").rows
    assert (done_auth.id, done_auth.outcome) == (task2.id, "approve")
    assert services.reviews.inbox(world.who("auth_reviewer2"), "done").rows == []
    assert services.reviews.inbox(agency, "done", InboxFilter(scope="第一中学")).rows == [done_agency]
    assert services.reviews.inbox(agency, "done", InboxFilter(scope="不存在的工程")).rows == []


def test_a_finished_task_cannot_be_worked_again(world, services, reported):
    pm, app, task = reported
    agency = world.who("agency_reviewer")
    services.reviews.claim(agency, task.id)
    services.reviews.approve(agency, task.id)
    with pytest.raises(TaskClosed):
        services.reviews.approve(agency, task.id)
    with pytest.raises(TaskClosed):
        services.reviews.claim(world.who("auth_reviewer"), task.id)
    assert [e.action for e in services.unlock.operation_log(app)].count("自动解锁") == 1


def test_only_regulators_review(world, services, reported):
    _pm, _app, task = reported
    with pytest.raises(Forbidden):
        services.reviews.inbox(world.who("contractor_user"))
    with pytest.raises(Forbidden):
        services.reviews.claim(world.who("contractor_user"), task.id)
    with pytest.raises(NotCandidate):
        services.engine.claim(task.id, world.who("contractor_user").actor)


def test_operation_log_is_append_only(world, services, reported):
    _pm, app, _task = reported
    entry = services.unlock.operation_log(app)[0]
    entry.opinion = "篡改"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    entry = services.unlock.operation_log(app)[0]
    assert entry.opinion is None
    db.session.delete(entry)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert len(services.unlock.operation_log(app)) == 3


# -- a failing service task is an incident, retried by an operator ------------------------
def test_failing_operator_marks_an_incident_and_retry_applies_the_effect(world, services, reported, monkeypatch):
    pm, app, task = reported
    agency = world.who("agency_reviewer")
    lock = lock_rule.open_locks(pm.id)[0]
    approve_into_an_incident(services, monkeypatch, agency, task.id, "同意")

    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "errored"
    assert instance.incident_element_id == "Service_Apply"
    assert "数据库连接中断" in instance.incident_message
    assert lock.closed_at is None and pm.status == LOCKED      # no domain effect applied
    assert app.status == REPORTED
    db.session.refresh(task)
    assert task.state == "completed"                          # the reviewer's decision stands
    assert services.reviews.inbox(agency, "mine").rows == []
    failed = services.unlock.operation_log(app)[-1]
    assert (failed.action, failed.element_id) == ("服务任务失败", "Service_Apply")

    admin = world.who("admin")
    with services.engine.command():
        result = services.engine.retry(instance.id, admin.actor)
    assert result.completed and result.end_element_id == "End_Done"
    db.session.expire_all()
    app = services.unlock.get(world.who("contractor_user"), app.id)
    assert app.status == APPROVED
    assert lock_rule.open_locks(pm.id) == []
    assert db.session.get(type(pm), pm.id).status == NORMAL
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.incident_message is None and instance.status == "completed"
    actions = [e.action for e in services.unlock.operation_log(app)]
    assert actions[-3:] == ["服务任务失败", "重试", "自动解锁"]
    assert actions.count("自动解锁") == 1
    with pytest.raises(EngineError) as exc:
        with services.engine.command():
            services.engine.retry(instance.id, admin.actor)
    assert exc.value.message == "该流程实例没有待处理的异常"
    assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.instance_id == instance.id,
                                                         AuditEntry.action == "重试").offset(1)) is None


def test_a_half_applied_effect_is_rolled_back_with_the_failing_step(world, services, reported, monkeypatch):
    pm, app, task = reported
    agency = world.who("agency_reviewer")
    lock = lock_rule.open_locks(pm.id)[0]

    def half_done(call):
        lock_rule.close_lock(lock, "部分生效")
        lock_rule.end_assignment(lock.person_id, lock.role, lock.project_id, "部分生效")
        db.session.flush()
        pm.status = NORMAL
        raise ValueError("生效过程中出错")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", half_done)
    services.reviews.claim(agency, task.id)
    services.reviews.approve(agency, task.id)
    db.session.expire_all()
    from handlers.models import Assignment, LockRecord, Person
    assert db.session.get(LockRecord, lock.id).closed_at is None
    assert db.session.get(Person, pm.id).status == LOCKED
    assert db.session.scalar(select(Assignment.ended_at).where(Assignment.person_id == pm.id)) is None
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "errored" and "生效过程中出错" in instance.incident_message


def test_the_inbox_counts_under_a_search_match_its_text_literally(world, services):
    """搜索 by 工程名称 or 申请单位 counts the tasks whose text contains the words as typed: % and _
    are characters there, not wildcards (the counts' statement is built once, its values parameters)."""
    for person, project in (("甲", "一期_A区工程"), ("乙", "一期BA区工程"), ("丙", "进度100%工程"), ("丁", "进度1000工程")):
        pm, _ = locked_person(world, person, project_name=project)
        reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")

    def counted(**flt):
        page = services.reviews.inbox(agency, "open", InboxFilter(**flt))
        return page.counts["open"], len(page.rows)
    assert counted() == (4, 4)
    assert counted(scope="期_A") == (1, 1)      # not 一期BA区工程
    assert counted(scope="100%") == (1, 1)      # not 进度1000工程
    assert counted(scope="一期") == (2, 2)
    assert counted(scope="期_A", process_key="personnel_unlock") == (1, 1)
    assert counted(scope="期_A", applicant="不存在的单位") == (0, 0)
    assert counted(process_key="completion_filing") == (0, 0)
