"""项目主要管理人员变更 (domain.md §4.5): the replacement checks, the approval effect, the re-check."""
import pytest
from sqlalchemy import select

from engine.db import db
from engine.models import AuditEntry, HumanTask, ProcessInstance
from handlers import lock_rule
from handlers.applications import Upload
from handlers.errors import DomainError, FieldErrors, Forbidden, NotFound
from handlers.models import (
    APPROVED, CHIEF_SUPERVISOR, CONSTRUCTOR, DRAFT, LOCKED, NORMAL, PROJECT_MANAGER, REPORTED, RETURNED,
    SAFETY_B, SAFETY_C, SAFETY_OFFICER, SUPERVISION_ENGINEER, SUPERVISOR, Assignment, LockRecord,
    ManagerChangeApplication,
)

from .world import PDF_BYTES, locked_person, row_counts


def _active(person_id, project_id=None):
    stmt = select(Assignment).where(Assignment.person_id == person_id, Assignment.ended_at.is_(None))
    if project_id is not None:
        stmt = stmt.where(Assignment.project_id == project_id)
    return db.session.scalars(stmt).all()


def _draft(world, services, person, project, applicant_key="contractor_user"):
    applicant = world.who(applicant_key)
    [assignment] = _active(person.id, project.id)
    assert assignment in services.change.changeable(applicant)
    return applicant, services.change.create(applicant, assignment.id)


def _refused(services, applicant, app, candidate):
    before = row_counts(ManagerChangeApplication, AuditEntry)
    with pytest.raises(DomainError) as exc:
        services.change.save(applicant, app.id, {"new_person_id": candidate.id, "reason": "工作调动"})
    assert row_counts(ManagerChangeApplication, AuditEntry) == before
    db.session.refresh(app)
    assert app.new_person_id is None
    assert exc.value.field == "new_person_id"
    message = services.change.check_replacement(applicant, app.id, candidate.id)
    assert exc.value.message == f"变更后人员：{message}"
    return message


def _approve(world, services, reviewer_key="agency_reviewer"):
    reviewer = world.who(reviewer_key)
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    return services.reviews.approve(reviewer, task.id, "同意变更")


# -- the replacement checks --------------------------------------------------------------
def test_project_manager_replacement_messages(world, services):
    old, project = locked_person(world, "原经理")
    applicant, app = _draft(world, services, old, project)
    busy, _ = locked_person(world, "忙碌经理")
    no_constructor = world.add_person("无建造师", "contractor", SAFETY_B)
    no_b = world.add_person("无B证", "contractor", CONSTRUCTOR)
    locked_elsewhere = world.add_person("安全员兼职", "contractor", CONSTRUCTOR, SAFETY_B, SAFETY_C)
    world.assign(locked_elsewhere, world.add_project("另一工程"), SAFETY_OFFICER)
    foreign = world.add_person("外单位经理", "contractor2", CONSTRUCTOR, SAFETY_B)
    db.session.commit()
    assert _refused(services, applicant, app, busy) == "该项目经理已有项目管理工作，请重新选择"
    assert _refused(services, applicant, app, no_constructor) == "该项目经理未取得注册建造师证书，请重新选择"
    assert _refused(services, applicant, app, no_b) == "该项目经理未取得安全生产考核合格证书（B证），请重新选择"
    assert _refused(services, applicant, app, locked_elsewhere) == "该人员已被锁定，请重新选择"
    assert _refused(services, applicant, app, foreign) == "该人员不属于本单位，请重新选择"
    assert _refused(services, applicant, app, old) == "变更后人员不能与变更前人员相同，请重新选择"


def test_safety_officer_replacement_messages(world, services):
    old, project = locked_person(world, "原安全员", role=SAFETY_OFFICER)
    applicant, app = _draft(world, services, old, project)
    busy, _ = locked_person(world, "忙碌安全员", role=SAFETY_OFFICER)
    no_c = world.add_person("无C证", "contractor", CONSTRUCTOR, SAFETY_B)
    locked_pm, _ = locked_person(world, "经理兼安全员")
    from handlers.models import Certificate
    db.session.add(Certificate(person_id=locked_pm.id, kind=SAFETY_C, number="C-extra"))
    db.session.commit()
    db.session.refresh(locked_pm)
    assert _refused(services, applicant, app, busy) == "该安全员已有项目管理工作，请重新选择"
    assert _refused(services, applicant, app, no_c) == "该安全员未取得安全生产考核合格证书（C证），请重新选择"
    assert _refused(services, applicant, app, locked_pm) == "该人员已被锁定，请重新选择"


def test_chief_supervisor_replacement_messages(world, services):
    old = world.add_person("原总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"监理工程{i}") for i in range(3)]
    for p in projects:
        world.assign(old, p, CHIEF_SUPERVISOR)
    assert old.status == LOCKED
    applicant, app = _draft(world, services, old, projects[2], "firm_user")
    three = world.add_person("三项目总监", "firm", SUPERVISION_ENGINEER)
    for i in range(3):
        world.assign(three, world.add_project(f"三项目{i}"), CHIEF_SUPERVISOR)
    no_cert = world.add_person("无证总监", "firm")
    db.session.commit()
    assert _refused(services, applicant, app, three) == "该项目总监已有 3 个及以上项目请重新选择"
    assert _refused(services, applicant, app, no_cert) == "该项目总监未取得注册监理工程师或监理员证书，请重新选择"
    # a 监理员 with two projects is acceptable (fewer than 3)
    two = world.add_person("两项目监理员", "firm", SUPERVISOR)
    for i in range(2):
        world.assign(two, world.add_project(f"两项目{i}"), CHIEF_SUPERVISOR)
    assert services.change.check_replacement(applicant, app.id, two.id) is None
    choices = dict((p.name, msg) for p, msg in services.change.replacement_choices(applicant, app))
    assert choices["三项目总监"] == "该项目总监已有 3 个及以上项目请重新选择"
    assert choices["两项目监理员"] is None
    assert "原总监" not in choices


def test_only_own_assignments_can_be_changed(world, services):
    other, project = locked_person(world, "外单位经理", org_key="contractor2")
    [assignment] = _active(other.id, project.id)
    before = row_counts(ManagerChangeApplication, ProcessInstance)
    with pytest.raises(NotFound):
        services.change.create(world.who("contractor_user"), assignment.id)
    # a supervising firm cannot change a contractor's project manager either
    with pytest.raises(NotFound):
        services.change.create(world.who("firm_user"), assignment.id)
    assert row_counts(ManagerChangeApplication, ProcessInstance) == before


# -- the approval effect ----------------------------------------------------------------
def test_approved_change_swaps_the_people_and_applies_the_lock_rule(world, services):
    old, project = locked_person(world, "原经理", project_name="五华区保障房")
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant, app = _draft(world, services, old, project)
    assert [e.action for e in services.change.operation_log(app)] == ["新建"]
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原经理调离"},
                         [Upload("attachment", "任命文件.pdf", PDF_BYTES)])
    assert app.new_person_id == new.id and app.status == DRAFT
    services.change.report(applicant, app.id)
    assert app.status == REPORTED
    [task] = services.reviews.inbox(world.who("auth_reviewer")).rows
    assert task.subject == "项目经理变更：原经理 → 新经理"
    assert task.scope == "五华区保障房"
    _approve(world, services)

    assert app.status == APPROVED
    old_lock = db.session.scalar(select(LockRecord).where(LockRecord.person_id == old.id))
    assert old_lock.closed_at is not None
    assert _active(old.id) == []
    assert old.status == NORMAL
    [new_assignment] = _active(new.id, project.id)
    assert new_assignment.role == PROJECT_MANAGER
    [new_lock] = lock_rule.open_locks(new.id)
    assert (new_lock.project_id, new_lock.role) == (project.id, PROJECT_MANAGER)
    assert new.status == LOCKED
    log = services.change.operation_log(app)
    assert [e.action for e in log] == ["新建", "暂存", "上报", "签收", "审核通过", "变更生效"]
    for entry in log:                                  # 操作时间 · 操作人 · 操作 · 意见
        assert entry.at is not None and entry.user_name and entry.action
        assert hasattr(entry, "opinion")
    assert log[4].opinion == "同意变更" and log[4].org_name == "昆明市建设工程质量安全监督站"
    assert "新经理当前状态：锁定" in log[5].opinion


def test_chief_supervisor_replacement_below_the_limit_stays_normal(world, services):
    old = world.add_person("原总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"监理工程{i}") for i in range(3)]
    for p in projects:
        world.assign(old, p, CHIEF_SUPERVISOR)
    new = world.add_person("新总监", "firm", SUPERVISOR)
    applicant, app = _draft(world, services, old, projects[0], "firm_user")
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "调整"})
    services.change.report(applicant, app.id)
    _approve(world, services, "auth_reviewer")
    assert app.status == APPROVED
    assert old.status == NORMAL                        # 2 projects left: below the limit
    assert lock_rule.open_locks(old.id) == []
    assert len(_active(old.id)) == 2
    assert new.status == NORMAL and lock_rule.open_locks(new.id) == []
    assert len(_active(new.id, projects[0].id)) == 1


def test_report_requires_replacement_and_reason(world, services):
    old, project = locked_person(world, "原经理")
    applicant, app = _draft(world, services, old, project)
    with pytest.raises(FieldErrors) as exc:   # both at once
        services.change.report(applicant, app.id)
    assert list(exc.value.errors.values()) == ["变更后人员：请选择变更后人员", "变更原因：请填写变更原因"]
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    services.change.save(applicant, app.id, {"new_person_id": new.id})
    with pytest.raises(DomainError) as exc:
        services.change.report(applicant, app.id)
    assert exc.value.message == "变更原因：请填写变更原因"
    assert app.status == DRAFT


# -- the approval-time re-check ---------------------------------------------------------
def test_replacement_that_became_ineligible_goes_back_to_the_applicant(world, services):
    old, project = locked_person(world, "原经理")
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant, app = _draft(world, services, old, project)
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原经理调离"})
    services.change.report(applicant, app.id)
    # meanwhile the replacement takes another project
    world.assign(new, world.add_project("新经理的其他工程"), PROJECT_MANAGER)
    before = row_counts(Assignment, LockRecord)
    _approve(world, services)

    assert app.status == RETURNED and app.status_label == "已退回"
    entry = services.change.operation_log(app)[-1]
    assert entry.action == "复核未通过" and entry.user_name == "系统"
    assert entry.opinion == "审核通过时复核未通过：该项目经理已有项目管理工作，请重新选择"
    assert row_counts(Assignment, LockRecord) == before
    assert len(_active(old.id, project.id)) == 1 and old.status == LOCKED
    assert _active(new.id, project.id) == []
    # the application waits for the applicant again, not for a reviewer
    task = services.change.open_task(app)
    assert task.form_key == "manager_change.edit"
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "running" and instance.incident_message is None
    # the applicant picks someone else and the change then goes through
    other = world.add_person("另一新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    services.change.save(applicant, app.id, {"new_person_id": other.id})
    services.change.report(applicant, app.id)
    _approve(world, services, "auth_reviewer")
    assert app.status == APPROVED
    assert len(_active(other.id, project.id)) == 1 and old.status == NORMAL


def test_duplicate_open_change_for_the_same_person_is_refused(world, services):
    old, project = locked_person(world, "原经理")
    applicant, _app = _draft(world, services, old, project)
    [assignment] = _active(old.id, project.id)
    before = row_counts(ManagerChangeApplication, HumanTask)
    with pytest.raises(DomainError) as exc:
        services.change.create(applicant, assignment.id)
    assert exc.value.message == "该人员在该工程已有未办结的变更申请"
    assert row_counts(ManagerChangeApplication, HumanTask) == before


def test_unlocked_person_cannot_be_changed(world, services):
    cs = world.add_person("一项目总监", "firm", SUPERVISION_ENGINEER)
    project = world.add_project("单个监理工程")
    world.assign(cs, project, CHIEF_SUPERVISOR)
    [assignment] = _active(cs.id, project.id)
    assert services.change.changeable(world.who("firm_user")) == []
    with pytest.raises(DomainError) as exc:
        services.change.create(world.who("firm_user"), assignment.id)
    assert exc.value.message == "只能为被锁定的人员申请变更"


def test_chief_supervisor_replacement_reaching_three_is_locked_on_that_project(world, services):
    old = world.add_person("原总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"原总监工程{i}") for i in range(3)]
    for p in projects:
        world.assign(old, p, CHIEF_SUPERVISOR)
    new = world.add_person("两项目总监", "firm", SUPERVISION_ENGINEER)
    for i in range(2):
        world.assign(new, world.add_project(f"两项目总监工程{i}"), CHIEF_SUPERVISOR)
    assert new.status == NORMAL
    applicant, app = _draft(world, services, old, projects[1], "firm_user")
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原总监工作量过大"})
    services.change.report(applicant, app.id)
    _approve(world, services)
    assert app.status == APPROVED
    assert new.status == LOCKED
    [lock] = lock_rule.open_locks(new.id)
    assert (lock.project_id, lock.role) == (projects[1].id, CHIEF_SUPERVISOR)
    assert old.status == NORMAL and lock_rule.open_locks(old.id) == []


# -- who files it, and for whom -------------------------------------------------------------------
def test_the_add_dialog_offers_the_contractors_managers_and_safety_officers_and_the_firms_chief_supervisors(
        world, services):
    """2.2.1.2 step 2: the 添加 dialog lists the three kinds of people, each to the enterprise that
    employs them: the contractor changes its project managers and safety officers, the supervising
    firm its chief supervisors. Only people locked on a project under construction are offered."""
    pm, pm_project = locked_person(world, "甲经理", project_name="一号楼")
    so, so_project = locked_person(world, "乙安全员", role=SAFETY_OFFICER, project_name="二号楼")
    cs = world.add_person("丙总监", "firm", SUPERVISION_ENGINEER)
    cs_projects = [world.add_project(f"三号楼{i}期") for i in range(3)]
    for p in cs_projects:
        world.assign(cs, p, CHIEF_SUPERVISOR)
    free = world.add_person("丁总监", "firm", SUPERVISION_ENGINEER)
    world.assign(free, world.add_project("四号楼"), CHIEF_SUPERVISOR)    # one project: not locked
    contractor = world.who("contractor_user")
    picks = services.change.picks(contractor)
    assert sorted((p.group, p.name, p.detail) for p in picks) == [
        ("安全员", "乙安全员", "安全员 · 二号楼"), ("项目经理", "甲经理", "项目经理 · 一号楼")]
    firm_picks = services.change.picks(world.who("firm_user"))
    assert {p.group for p in firm_picks} == {"项目总监"}
    assert sorted(p.detail for p in firm_picks) == [f"项目总监 · 三号楼{i}期" for i in range(3)]
    assert services.change.picks(world.who("contractor2_user")) == []
    with pytest.raises(Forbidden):              # a construction unit files no change
        services.change.picks(world.who("owner_user"))


def test_a_chief_supervisor_on_a_completed_project_is_not_changed_there(world, services):
    """The change is for a person locked on a project under construction. 戊总监 supervises four
    projects; the first one's completion filing is approved, which ends his assignment there. He is
    still locked by the other three, but the first is no longer offered, and choosing it is refused."""
    from datetime import date
    cs = world.add_person("戊总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"戊总监工程{i}") for i in range(4)]
    for p in projects:
        world.assign(cs, p, CHIEF_SUPERVISOR)
    [assignment] = _active(cs.id, projects[0].id)
    owner = world.who("owner_user")
    filing = services.completion.create(owner, projects[0].id)
    services.completion.save(owner, filing.id, {"acceptance_date": date.today(), "conclusion": "合格"})
    services.completion.report(owner, filing.id)
    _approve(world, services)
    assert projects[0].status_label == "竣工" and cs.status == LOCKED   # 3 projects under construction
    firm = world.who("firm_user")
    assert sorted(a.project.name for a in services.change.changeable(firm)) == [
        f"戊总监工程{i}" for i in range(1, 4)]
    before = row_counts(ManagerChangeApplication, ProcessInstance)
    with pytest.raises(DomainError) as exc:
        services.change.create(firm, assignment.id)
    assert exc.value.message == "该人员已不在该在建工程任职"
    assert row_counts(ManagerChangeApplication, ProcessInstance) == before


def test_a_replacement_that_became_ineligible_before_report_is_refused_at_report(world, services):
    """The checks of step 3 run again at 上报: a replacement chosen in a draft who has since been
    locked elsewhere is refused with the same message, and the draft stays a draft."""
    old, project = locked_person(world, "原安全员", role=SAFETY_OFFICER)
    new = world.add_person("新安全员", "contractor", SAFETY_C)
    applicant, app = _draft(world, services, old, project)
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原安全员调离"})
    world.assign(new, world.add_project("新安全员的其他工程"), SAFETY_OFFICER)
    before = row_counts(HumanTask, AuditEntry)
    with pytest.raises(DomainError) as exc:
        services.change.report(applicant, app.id)
    assert exc.value.message == "变更后人员：该安全员已有项目管理工作，请重新选择"
    assert exc.value.field == "new_person_id"
    assert app.status == DRAFT and row_counts(HumanTask, AuditEntry) == before
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []


def test_the_certificate_rule_is_kept_in_one_place(world, services, monkeypatch):
    """domain.md §9: the manual accepts a 监理员 as the replacement chief supervisor; GB/T 50319-2013
    would require a 注册监理工程师. Changing the one rule (lock_rule.REQUIRED_CERTIFICATES) changes the
    picker, the check on 暂存 and 上报, and the re-check when the approval is applied."""
    old = world.add_person("原总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"监理工程{i}") for i in range(3)]
    for p in projects:
        world.assign(old, p, CHIEF_SUPERVISOR)
    supervisor = world.add_person("监理员小李", "firm", SUPERVISOR)
    engineer = world.add_person("注册监理工程师老王", "firm", SUPERVISION_ENGINEER)
    applicant, app = _draft(world, services, old, projects[0], "firm_user")
    services.change.save(applicant, app.id, {"new_person_id": supervisor.id, "reason": "原总监工作量过大"})
    services.change.report(applicant, app.id)               # the province's rule: a 监理员 is accepted

    stricter = "该项目总监未取得注册监理工程师证书，请重新选择"
    monkeypatch.setitem(lock_rule.REQUIRED_CERTIFICATES, CHIEF_SUPERVISOR, [((SUPERVISION_ENGINEER,), stricter)])
    choices = dict((p.name, msg) for p, msg in services.change.replacement_choices(applicant, app))
    assert choices["监理员小李"] == stricter and choices["注册监理工程师老王"] is None
    _approve(world, services)                               # the re-check applies the same rule
    assert app.status == RETURNED
    assert services.change.operation_log(app)[-1].opinion == f"审核通过时复核未通过：{stricter}"
    assert _active(supervisor.id) == [] and len(_active(old.id, projects[0].id)) == 1
    with pytest.raises(DomainError) as exc:
        services.change.save(applicant, app.id, {"new_person_id": supervisor.id})
    assert exc.value.message == f"变更后人员：{stricter}"
    services.change.save(applicant, app.id, {"new_person_id": engineer.id})
    services.change.report(applicant, app.id)
    _approve(world, services, "auth_reviewer")
    assert app.status == APPROVED and len(_active(engineer.id, projects[0].id)) == 1
