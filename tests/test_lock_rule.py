"""The province-wide lock rule (domain.md §4.3)."""
from handlers import lock_rule
from handlers.models import (
    CHIEF_SUPERVISOR, COMPLETED, CONSTRUCTOR, LOCKED, NORMAL, PROJECT_MANAGER, SAFETY_B, SAFETY_C,
    SAFETY_OFFICER, SUPERVISION_ENGINEER, Assignment,
)
from engine.db import db


def test_project_manager_is_locked_on_the_first_project(world):
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    assert pm.status == NORMAL
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(pm, project, PROJECT_MANAGER)
    assert pm.status == LOCKED
    [lock] = lock_rule.open_locks(pm.id)
    assert lock.role == PROJECT_MANAGER
    assert lock.project_id == project.id           # 添加锁定的工程
    assert lock.locked_at is not None
    assert "项目经理" in lock.reason and "1" in lock.reason


def test_safety_officer_limit_is_one(world):
    so = world.add_person("李安", "contractor", SAFETY_C)
    world.assign(so, world.add_project("安宁市综合楼"), SAFETY_OFFICER)
    assert so.status == LOCKED
    assert lock_rule.open_locks(so.id)[0].role == SAFETY_OFFICER


def test_chief_supervisor_locks_only_at_the_third_project(world):
    cs = world.add_person("王总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"呈贡新区 {i} 号地块") for i in range(3)]
    world.assign(cs, projects[0], CHIEF_SUPERVISOR)
    world.assign(cs, projects[1], CHIEF_SUPERVISOR)
    assert cs.status == NORMAL
    assert lock_rule.open_locks(cs.id) == []
    assert lock_rule.project_count(cs.id, CHIEF_SUPERVISOR) == 2
    world.assign(cs, projects[2], CHIEF_SUPERVISOR)
    assert cs.status == LOCKED
    [lock] = lock_rule.open_locks(cs.id)
    assert lock.project_id == projects[2].id      # the assignment that reached the limit


def test_projects_sharing_a_contract_number_count_once(world):
    cs = world.add_person("赵总监", "firm", SUPERVISION_ENGINEER)
    a = world.add_project("滇池路一期", contract_no="HT2022-001")
    b = world.add_project("滇池路二期", contract_no="HT2022-001")
    c = world.add_project("滇池路三期", contract_no="HT2022-001")
    d = world.add_project("北京路改造", contract_no="HT2022-002")
    for project in (a, b, c, d):
        world.assign(cs, project, CHIEF_SUPERVISOR)
    assert lock_rule.project_count(cs.id, CHIEF_SUPERVISOR) == 2
    assert cs.status == NORMAL
    assert lock_rule.open_locks(cs.id) == []


def test_completed_projects_do_not_count(world):
    cs = world.add_person("钱总监", "firm", SUPERVISION_ENGINEER)
    done = world.add_project("已竣工的工程")
    done.status = COMPLETED
    db.session.commit()
    for project in (done, world.add_project("在建一"), world.add_project("在建二")):
        world.assign(cs, project, CHIEF_SUPERVISOR)
    assert lock_rule.project_count(cs.id, CHIEF_SUPERVISOR) == 2
    assert cs.status == NORMAL


def test_person_stays_locked_while_any_lock_record_is_open(world):
    person = world.add_person("孙多岗", "contractor", CONSTRUCTOR, SAFETY_B, SAFETY_C)
    world.assign(person, world.add_project("工程甲"), PROJECT_MANAGER)
    world.assign(person, world.add_project("工程乙"), SAFETY_OFFICER)
    pm_lock, so_lock = lock_rule.open_locks(person.id)
    assert {pm_lock.role, so_lock.role} == {PROJECT_MANAGER, SAFETY_OFFICER}
    lock_rule.close_lock(pm_lock, "测试")
    db.session.flush()
    lock_rule.apply_lock_rule(person)
    # the PM assignment still counts, so the rule adds a new PM lock; the SO lock stays open anyway
    assert person.status == LOCKED
    lock_rule.end_assignment(person.id, PROJECT_MANAGER, pm_lock.project_id, "离任")
    for lock in lock_rule.open_locks(person.id):
        if lock.role == PROJECT_MANAGER:
            lock_rule.close_lock(lock, "离任")
    db.session.flush()
    lock_rule.apply_lock_rule(person)
    assert person.status == LOCKED                  # the safety-officer lock is still open
    assert [lk.role for lk in lock_rule.open_locks(person.id)] == [SAFETY_OFFICER]


def test_apply_lock_rule_closes_locks_below_the_limit(world):
    pm = world.add_person("周经理", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("官渡区安置房")
    world.assign(pm, project, PROJECT_MANAGER)
    [lock] = lock_rule.open_locks(pm.id)
    assert lock_rule.end_assignment(pm.id, PROJECT_MANAGER, project.id, "离任") == 1
    db.session.flush()
    added = lock_rule.apply_lock_rule(pm)
    assert added == []
    assert lock.closed_at is not None
    assert "自动解锁" in lock.close_reason
    assert pm.status == NORMAL
    db.session.commit()


def test_apply_lock_rule_does_not_add_a_second_lock_for_the_same_role(world):
    pm = world.add_person("吴经理", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("盘龙区学校")
    world.assign(pm, project, PROJECT_MANAGER)
    assert lock_rule.apply_lock_rule(pm) == []
    assert len(lock_rule.open_locks(pm.id)) == 1


def test_ended_assignments_do_not_count(world):
    pm = world.add_person("郑经理", "contractor", CONSTRUCTOR, SAFETY_B)
    old = world.add_project("老工程")
    db.session.add(Assignment(person_id=pm.id, project_id=old.id, role=PROJECT_MANAGER))
    db.session.flush()
    lock_rule.end_assignment(pm.id, PROJECT_MANAGER, old.id, "离任")
    lock_rule.apply_lock_rule(pm)
    assert lock_rule.project_count(pm.id, PROJECT_MANAGER) == 0
    assert pm.status == NORMAL
