"""``flask check-invariants``: a clean database passes, and each broken invariant is named.

The corruptions are made with raw SQL, as a race or a hand edit would leave them.
"""
from datetime import date

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from engine.db import db
from handlers import catalog, lock_rule
from handlers.applications import Upload
from handlers.invariants import CHECKS, check_invariants
from handlers.models import (
    CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B, LockRecord,
)

from .world import PDF_BYTES, locked_person, reported_unlock


def _approve(world, services, app_service, app, reviewer_key="agency_reviewer"):
    reviewer = world.who(reviewer_key)
    task = app_service.open_task(app)
    services.reviews.claim(reviewer, task.id)
    return services.reviews.approve(reviewer, task.id, "同意")


def _sql(statement, **params):
    db.session.execute(text(statement), params)
    db.session.commit()
    db.session.expire_all()


def _invoke(ctx):
    return ctx.test_cli_runner().invoke(args=["check-invariants"])


@pytest.fixture()
def province(world, services):
    """Applications in every state: approved unlock, change and filing, reported, returned, withdrawn, draft."""
    contractor, owner = world.who("contractor_user"), world.who("owner_user")
    unlocked, _ = locked_person(world, "已解锁人员")
    approved_unlock = reported_unlock(world, services, unlocked)
    _approve(world, services, services.unlock, approved_unlock)

    old, project = locked_person(world, "原经理")
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    [assignment] = services.change.changeable(contractor)
    change = services.change.create(contractor, assignment.id)
    services.change.save(contractor, change.id, {"new_person_id": new.id, "reason": "调离"})
    services.change.report(contractor, change.id)
    _approve(world, services, services.change, change)

    _, completed = locked_person(world, "竣工人员", project_name="已竣工工程")
    filing = services.completion.create(owner, completed.id)
    services.completion.save(owner, filing.id, {"acceptance_date": date.today(), "conclusion": "合格"},
                             [Upload("attachment", "报告.pdf", PDF_BYTES)])
    services.completion.report(owner, filing.id)
    _approve(world, services, services.completion, filing, "auth_reviewer")

    reported_person, _ = locked_person(world, "待审核人员")
    reported = reported_unlock(world, services, reported_person)
    returned_person, _ = locked_person(world, "已退回人员")
    returned = reported_unlock(world, services, returned_person)
    reviewer = world.who("auth_reviewer")
    task = services.unlock.open_task(returned)
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "补充材料")
    withdrawn_person, _ = locked_person(world, "已撤回人员")
    withdrawn = reported_unlock(world, services, withdrawn_person)
    task = services.unlock.open_task(withdrawn)
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "不予解锁")
    services.unlock.withdraw(contractor, withdrawn.id)
    draft_person, _ = locked_person(world, "草稿人员")
    draft = services.unlock.create(contractor, lock_rule.open_locks(draft_person.id)[0].id)
    db.session.commit()
    return dict(unlocked=unlocked, approved_unlock=approved_unlock, old=old, new=new, project=project,
                change=change, filing=filing, reported=reported, returned=returned, withdrawn=withdrawn,
                draft=draft, reported_person=reported_person)


def test_a_consistent_database_passes(ctx, province):
    assert check_invariants() == []
    result = _invoke(ctx)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"✓ 所有不变量均成立（{len(CHECKS)} 项检查）"


def test_person_over_the_limit_and_open_lock_without_reason(ctx, province):
    new, project = province["new"], province["project"]
    second = db.session.scalar(select(LockRecord.project_id).where(LockRecord.person_id == province["reported_person"].id))
    _sql("INSERT INTO assignment (project_id, person_id, role, started_at) VALUES (:p, :n, 'project_manager', :t)",
         p=second, n=new.id, t=date.today())
    assert f"人员 {new.id} 担任项目经理的在建工程 2 个，超过上限 1 个" in check_invariants()

    _sql("UPDATE assignment SET ended_at = :t WHERE person_id = :n", t=date.today(), n=new.id)
    [lock] = lock_rule.open_locks(new.id)
    assert check_invariants() == [
        f"锁定记录 {lock.id}（人员 {new.id}，项目经理）未解除，但该人员项目经理的在建工程只有 0 个，低于上限 1 个"]
    result = _invoke(ctx)
    assert result.exit_code == 1
    assert f"锁定记录 {lock.id}（人员 {new.id}，项目经理）未解除" in result.output
    assert "发现 1 处不变量被破坏" in result.output


def test_person_at_the_limit_without_lock_and_wrong_status(ctx, province):
    person = province["reported_person"]
    _sql("UPDATE lock_record SET closed_at = :t WHERE person_id = :p", t=date.today(), p=person.id)
    assert check_invariants() == [
        f"人员 {person.id} 担任项目经理的在建工程已达上限（1 个），但没有未解除的锁定记录",
        f"人员 {person.id} 状态为锁定，按其锁定记录应为正常",
    ]


def test_approved_unlock_whose_lock_is_still_open(ctx, province):
    app = province["approved_unlock"]
    _sql("UPDATE lock_record SET closed_at = NULL, close_reason = NULL WHERE id = :id", id=app.lock_record_id)
    problems = check_invariants()
    assert f"人员解锁申请 {app.id} 已办结，但锁定记录 {app.lock_record_id} 仍未解除" in problems
    assert f"人员 {app.person_id} 状态为正常，按其锁定记录应为锁定" in problems


def test_open_task_on_a_finished_instance(ctx, province):
    app = province["change"]
    task_id = db.session.scalar(text("SELECT id FROM human_task WHERE instance_id = :i AND form_key = 'review'"),
                                {"i": app.instance_id})
    _sql("UPDATE human_task SET state = 'open' WHERE id = :id", id=task_id)
    assert check_invariants() == [f"流程实例 {app.instance_id} 已结束，但任务 {task_id}（审核）仍未关闭"]


@pytest.mark.parametrize("key, table, status, why", [
    ("reported", "unlock_application", "approved", "已办结，但流程实例尚未结束"),
    ("withdrawn", "unlock_application", "reported", "待审核，但流程实例已结束"),
    ("draft", "unlock_application", "reported", "待审核，但流程实例没有待办的审核任务"),
    ("reported", "unlock_application", "returned", "已退回，但流程实例没有待申请人办理的任务"),
    ("change", "manager_change_application", "reported", "待审核，但流程实例已结束"),
    ("filing", "completion_filing", "draft", "草稿，但流程实例已结束"),
])
def test_application_status_that_disagrees_with_its_instance(ctx, province, key, table, status, why):
    app = province[key]
    _sql(f"UPDATE {table} SET status = :s WHERE id = :id", s=status, id=app.id)
    assert f"{catalog.entry_of(app).title} {app.id} 状态为{why}（流程实例 {app.instance_id}）" in check_invariants()


def test_the_database_refuses_a_second_open_lock_for_the_same_role(ctx, province):
    person = province["reported_person"]
    [lock] = lock_rule.open_locks(person.id)
    insert = ("INSERT INTO lock_record (person_id, role, project_id, locked_at, reason) "
              "VALUES (:p, :r, :j, :t, '重复')")
    with pytest.raises(IntegrityError):
        db.session.execute(text(insert), dict(p=person.id, r=PROJECT_MANAGER, j=lock.project_id, t=date.today()))
    db.session.rollback()
    # a closed record for the same role, and an open one for another role, are allowed
    db.session.execute(text("INSERT INTO lock_record (person_id, role, project_id, locked_at, reason, closed_at) "
                            "VALUES (:p, :r, :j, :t, '重复', :t)"),
                       dict(p=person.id, r=PROJECT_MANAGER, j=lock.project_id, t=date.today()))
    db.session.execute(text(insert), dict(p=person.id, r="safety_officer", j=lock.project_id, t=date.today()))
    db.session.rollback()


def test_duplicate_open_locks_are_named_where_the_constraint_is_missing(ctx, province):
    person = province["reported_person"]
    [lock] = lock_rule.open_locks(person.id)
    db.session.commit()
    # DDL is transactional on both databases: the index comes back with the rollback
    db.session.execute(text("DROP INDEX uq_lock_record_open_role"))
    db.session.execute(text("INSERT INTO lock_record (person_id, role, project_id, locked_at, reason) "
                            "VALUES (:p, 'project_manager', :j, :t, '重复')"),
                       dict(p=person.id, j=lock.project_id, t=date.today()))
    try:
        assert check_invariants() == [f"人员 {person.id} 有 2 条未解除的项目经理锁定记录"]
    finally:
        db.session.rollback()
    assert "uq_lock_record_open_role" in {i["name"] for i in inspect(db.engine).get_indexes("lock_record")}
