"""竣工验收备案 (domain.md §4.6)."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine.db import db
from engine.models import ProcessInstance
from handlers import lock_rule
from handlers.applications import Upload
from handlers.errors import DomainError, FieldErrors, Forbidden, NotFound
from handlers.models import (
    APPROVED, CHIEF_SUPERVISOR, COMPLETED, DRAFT, LOCKED, NORMAL, REPORTED, SAFETY_C,
    SAFETY_OFFICER, SUPERVISION_ENGINEER, UNDER_CONSTRUCTION, Assignment, CompletionFiling,
)

from .world import PDF_BYTES, locked_person, row_counts


def _active(project_id):
    return db.session.scalars(select(Assignment).where(
        Assignment.project_id == project_id, Assignment.ended_at.is_(None))).all()


def test_approved_filing_completes_the_project_and_releases_its_people(world, services):
    pm, project = locked_person(world, "张经理", project_name="昆明南站综合体")
    so = world.add_person("李安全", "contractor", SAFETY_C)
    world.assign(so, project, SAFETY_OFFICER)
    cs = world.add_person("王总监", "firm", SUPERVISION_ENGINEER)
    others = [world.add_project(f"王总监其他工程{i}") for i in range(2)]
    for p in [project, *others]:
        world.assign(cs, p, CHIEF_SUPERVISOR)
    assert (pm.status, so.status, cs.status) == (LOCKED, LOCKED, LOCKED)
    owner = world.who("owner_user")
    assert project in services.completion.projects(owner)

    app = services.completion.create(owner, project.id)
    assert app.permit_no == project.permit_no               # prefilled from the project
    services.completion.save(owner, app.id, {"acceptance_date": date.today().isoformat(),
                                             "conclusion": "合格", "permit_no": "530100202201010101"},
                             [Upload("attachment", "竣工验收报告.pdf", PDF_BYTES)])
    services.completion.report(owner, app.id)
    assert app.status == REPORTED
    reviewer = world.who("auth_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    assert task.subject == "昆明南站综合体竣工验收备案"
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "准予备案")

    assert app.status == APPROVED
    assert project.status == COMPLETED and project.status_label == "竣工"
    assert project.completed_at == date.today()
    assert project.permit_no == "530100202201010101"
    assert _active(project.id) == []
    assert (pm.status, so.status) == (NORMAL, NORMAL)
    assert lock_rule.open_locks(pm.id) == [] and lock_rule.open_locks(so.id) == []
    assert cs.status == NORMAL                              # 2 projects left, below 3
    assert lock_rule.open_locks(cs.id) == []
    assert len(db.session.scalars(select(Assignment).where(
        Assignment.person_id == cs.id, Assignment.ended_at.is_(None))).all()) == 2
    assert project not in services.completion.projects(owner)
    log = services.completion.operation_log(app)
    assert [e.action for e in log] == ["新建", "暂存", "上报", "签收", "审核通过", "竣工备案生效"]
    assert log[-1].opinion == "昆明南站综合体已竣工，3 名人员解除任职"


def test_person_locked_by_another_project_stays_locked(world, services):
    cs = world.add_person("赵总监", "firm", SUPERVISION_ENGINEER)
    projects = [world.add_project(f"赵总监工程{i}") for i in range(4)]
    for p in projects:
        world.assign(cs, p, CHIEF_SUPERVISOR)
    [lock] = lock_rule.open_locks(cs.id)
    assert lock.project_id == projects[2].id
    owner = world.who("owner_user")
    app = services.completion.create(owner, projects[0].id)
    services.completion.save(owner, app.id, {"acceptance_date": date.today(), "conclusion": "合格"})
    services.completion.report(owner, app.id)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id)
    assert projects[0].status == COMPLETED
    assert cs.status == LOCKED                 # still 3 projects under construction
    assert lock.closed_at is None


def test_only_the_construction_units_own_projects(world, services):
    from handlers.models import CONSTRUCTION_UNIT
    world.add_org("owner2", CONSTRUCTION_UNIT, "昆明市城建投资开发有限公司")
    world.add_account("owner2_user", "owner2", "何建设")
    foreign = world.add_project("别家工程", owner="owner2")
    db.session.commit()
    owner = world.who("owner_user")
    before = row_counts(CompletionFiling, ProcessInstance)
    with pytest.raises(NotFound):
        services.completion.create(owner, foreign.id)
    with pytest.raises(Forbidden):
        services.completion.create(world.who("contractor_user"), foreign.id)
    assert row_counts(CompletionFiling, ProcessInstance) == before
    assert foreign.status == UNDER_CONSTRUCTION
    assert services.completion.projects(owner) == []


def test_report_requires_date_conclusion_and_permit(world, services):
    project = world.add_project("必填项检查工程")
    db.session.commit()
    owner = world.who("owner_user")
    app = services.completion.create(owner, project.id)
    services.completion.save(owner, app.id, {"permit_no": ""})
    with pytest.raises(FieldErrors) as exc:   # every missing field at once, each under its field
        services.completion.report(owner, app.id)
    assert list(exc.value.errors.values()) == ["竣工验收日期：请填写竣工验收日期", "验收结论：请填写验收结论",
                                               "施工许可证号：请填写施工许可证号"]
    services.completion.save(owner, app.id, {"acceptance_date": "2022-07-01"})
    with pytest.raises(FieldErrors) as exc:
        services.completion.report(owner, app.id)
    assert list(exc.value.errors.values()) == ["验收结论：请填写验收结论", "施工许可证号：请填写施工许可证号"]
    services.completion.save(owner, app.id, {"conclusion": "合格"})
    with pytest.raises(DomainError) as exc:
        services.completion.report(owner, app.id)
    assert exc.value.message == "施工许可证号：请填写施工许可证号"
    assert app.status == DRAFT
    with pytest.raises(DomainError) as exc:
        services.completion.save(owner, app.id, {"acceptance_date": "2022-13-40"})
    assert exc.value.message == "竣工验收日期：日期格式不正确"
    with pytest.raises(DomainError) as exc:
        services.completion.save(owner, app.id, {"acceptance_date": date.today() + timedelta(days=1)})
    assert exc.value.message == "竣工验收日期：不能晚于今天"
    db.session.refresh(app)
    assert app.acceptance_date == date(2022, 7, 1)
    services.completion.save(owner, app.id, {"permit_no": "XK-补录-001"})
    services.completion.report(owner, app.id)
    assert app.status == REPORTED
    assert project.status == UNDER_CONSTRUCTION            # nothing happens before approval


def test_second_filing_for_the_same_project_is_refused(world, services):
    project = world.add_project("重复备案工程")
    db.session.commit()
    owner = world.who("owner_user")
    services.completion.create(owner, project.id)
    with pytest.raises(DomainError) as exc:
        services.completion.create(owner, project.id)
    assert exc.value.message == "该工程已有未办结的竣工验收备案"


def test_a_completed_project_is_not_offered_again_and_cannot_be_filed(world, services):
    """2.3.2 step 2: 添加 picks one of the unit's projects under construction. Once the filing is
    approved by the authority (either regulator may), the project is 竣工 and no longer offered."""
    project = world.add_project("官渡区体育中心")
    db.session.commit()
    owner = world.who("owner_user")
    app = services.completion.create(owner, project.id)
    services.completion.save(owner, app.id, {"acceptance_date": date.today(), "conclusion": "合格"},
                             [Upload("attachment", "竣工验收报告.pdf", PDF_BYTES)])
    services.completion.report(owner, app.id)
    reviewer = world.who("auth_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "准予备案")
    assert project.status == COMPLETED
    assert services.reviews.inbox(world.who("agency_reviewer"), "open").rows == []
    assert project.id not in [p.id for p in services.completion.picks(owner)]
    before = row_counts(CompletionFiling, ProcessInstance)
    with pytest.raises(DomainError) as exc:
        services.completion.create(owner, project.id)
    assert exc.value.message == "该工程已竣工"
    assert row_counts(CompletionFiling, ProcessInstance) == before
