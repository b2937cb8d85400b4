"""The applicant's preview before 上报 agrees with what approval then does, for every process:
both are the approval's operators (handlers.applicant_preview), recorded the same way."""
from datetime import date, timedelta

from engine.db import db
from handlers import lock_rule
from handlers.applicant_preview import applicant_preview
from handlers.applications import Upload
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B
from handlers.preview import describe, record_changes
from handlers.processes.unlock import UNLOCK_FORM

from .world import PDF_BYTES, locked_person


def _approve_recorded(world, services, svc, applicant, app):
    """Report, claim and approve; the domain changes the approval made, described."""
    svc.report(applicant, app.id)
    reviewer = world.who("agency_reviewer")
    task = services.reviews.inbox(reviewer).rows[0]
    services.reviews.claim(reviewer, task.id)
    with record_changes() as changes:
        services.reviews.approve(reviewer, task.id, "同意")
    return describe(changes)


def test_unlock_preview_agrees_with_the_approval(world, services):
    pm, project = locked_person(world, "张三", contract_no="HT-2026-001")
    world.add_project("张三的工程（二期）", contract_no="HT-2026-001")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    services.unlock.save(applicant, app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    preview = applicant_preview(services.engine, app, applicant)
    assert preview.applied and "将关闭 张三 在 张三的工程 的锁定记录（项目经理）" in preview.sentences
    [counted] = preview.counted
    assert counted.person == "张三" and counted.count == 0 and not counted.locked
    assert _approve_recorded(world, services, services.unlock, applicant, app) == preview.sentences


def test_change_preview_agrees_and_names_the_counted_projects_with_contract_merging(world, services):
    old, project = locked_person(world, "张三")
    new = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant = world.who("contractor_user")
    [pick] = services.change.picks(applicant)
    app = services.change.create(applicant, pick.id)
    services.change.save(applicant, app.id, {"new_person_id": str(new.id), "reason": "调岗"})
    preview = applicant_preview(services.engine, app, applicant)
    assert preview.applied
    assert f"王五 将成为 {project.name} 项目经理" in preview.sentences
    assert any(s.startswith("王五 将因担任项目经理被锁定") for s in preview.sentences)
    [counted] = preview.counted
    assert (counted.person, counted.role, counted.count, counted.locked) == ("王五", "项目经理", 1, True)
    assert counted.groups == [(project.contract_no, [project.name])]
    assert _approve_recorded(world, services, services.change, applicant, app) == preview.sentences


def test_a_chief_supervisors_projects_sharing_a_contract_count_once(world, services):
    from handlers.models import CHIEF_SUPERVISOR, SUPERVISION_ENGINEER
    old, project = locked_person(world, "原总监", org_key="firm", role=CHIEF_SUPERVISOR)
    for name in ("乙工程", "丙工程"):   # a chief supervisor is locked at 3 projects
        world.assign(old, world.add_project(name), CHIEF_SUPERVISOR)
    new = world.add_person("周总监", "firm", SUPERVISION_ENGINEER)
    world.assign(new, world.add_project("一期", contract_no="HT-9"), CHIEF_SUPERVISOR)
    world.assign(new, world.add_project("二期", contract_no="HT-9"), CHIEF_SUPERVISOR)
    db.session.commit()
    applicant = world.who("firm_user")
    pick = [p for p in services.change.picks(applicant) if p.name == "原总监" and project.name in p.detail][0]
    app = services.change.create(applicant, pick.id)
    services.change.save(applicant, app.id, {"new_person_id": str(new.id), "reason": "调岗"})
    [counted] = applicant_preview(services.engine, app, applicant).counted
    assert counted.count == 2 and not counted.locked   # 一期 and 二期 are one contract
    assert sorted(counted.groups, key=lambda g: g[0] or "") == [
        (project.contract_no, [project.name]), ("HT-9", ["一期", "二期"])]


def test_an_unlock_preview_counts_the_projects_left_and_writes_nothing_to_say_so(world, services):
    """A chief supervisor locked at 3 projects, two of them one contract: unlocking the lock releases
    that contract's projects, and the preview counts what is left (1 of 3), as the approval then
    leaves it. The rehearsal changes only rows it loaded, so it sends no UPDATE to say so."""
    from sqlalchemy import event

    from handlers.models import CHIEF_SUPERVISOR, SUPERVISION_ENGINEER
    old = world.add_person("赵总监", "firm", SUPERVISION_ENGINEER)
    for name, contract_no in (("丁工程", None), ("戊工程", None), ("一期", "HT-7"), ("二期", "HT-7")):
        world.assign(old, world.add_project(name, contract_no=contract_no), CHIEF_SUPERVISOR)
    db.session.commit()
    applicant = world.who("firm_user")
    [lock] = lock_rule.open_locks(old.id)   # taken at the third contract: 一期's
    assert lock.project.contract_no == "HT-7"
    app = services.unlock.create(applicant, lock.id)
    services.unlock.save(applicant, app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    statements = []

    def sent(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())
    event.listen(db.engine, "before_cursor_execute", sent)
    try:
        preview = applicant_preview(services.engine, app, applicant)
    finally:
        event.remove(db.engine, "before_cursor_execute", sent)
    assert preview.applied and "UPDATE" not in statements
    [counted] = preview.counted
    assert (counted.count, counted.locked) == (2, False)
    assert sorted(counted.groups, key=lambda g: g[1]) == [(None, ["丁工程"]), (None, ["戊工程"])]
    assert _approve_recorded(world, services, services.unlock, applicant, app) == preview.sentences
    db.session.expire_all()
    assert lock_rule.counted_projects(old.id, CHIEF_SUPERVISOR) == counted.groups


def test_completion_preview_agrees_with_the_approval(world, services):
    pm, project = locked_person(world, "张三")
    owner = world.who("owner_user")
    app = services.completion.create(owner, project.id)
    services.completion.save(owner, app.id, {"acceptance_date": (date.today() - timedelta(days=1)).isoformat(),
                                             "conclusion": "合格", "permit_no": "XK-1"})
    preview = applicant_preview(services.engine, app, owner)
    assert preview.applied and f"{project.name} 状态变为竣工" in preview.sentences
    assert _approve_recorded(world, services, services.completion, owner, app) == preview.sentences


def test_a_preview_of_an_incomplete_change_says_why_approval_would_not_apply(world, services):
    locked_person(world, "张三")
    applicant = world.who("contractor_user")
    [pick] = services.change.picks(applicant)
    app = services.change.create(applicant, pick.id)
    preview = applicant_preview(services.engine, app, applicant)
    assert not preview.applied and "请选择变更后人员" in preview.text
    db.session.expire_all()
    assert services.change.get_own(applicant, app.id).status == "draft"   # the rehearsal changed nothing


def test_after_a_preview_the_objects_it_changed_hold_what_the_rows_hold_without_reading_them_again(world, services):
    """The rehearsal's savepoint is rolled back; the objects it wrote get their loaded values back
    (engine.db), so the page shows the lock still open and the application still a draft, without a
    statement. (SQLite: the rehearsal has a session and connection of its own, a write transaction,
    and the page's objects are not touched at all.)"""
    from sqlalchemy import event, select

    from handlers.models import DRAFT, LOCKED, LockRecord, Person, UnlockApplication
    pm, _project = locked_person(world, "张三")
    applicant = world.who("contractor_user")
    app_id = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id).id
    services.unlock.save(applicant, app_id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    db.session.remove()
    app = db.session.get(UnlockApplication, app_id)
    lock, person = app.lock_record, app.person
    assert applicant_preview(services.engine, app, applicant).applied
    statements = []

    def sent(_conn, _cursor, statement, *_args):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", sent)
    try:
        seen = (app.status, lock.closed_at, lock.close_reason, person.status, app.lock_record is lock)
    finally:
        event.remove(db.engine, "before_cursor_execute", sent)
    assert statements == []   # given back, or never touched: not read again
    assert seen == (DRAFT, None, None, LOCKED, True)
    db.session.rollback()
    rows = db.session.execute(select(UnlockApplication.status, LockRecord.closed_at, Person.status)
                              .join(LockRecord, LockRecord.id == UnlockApplication.lock_record_id)
                              .join(Person, Person.id == UnlockApplication.person_id)
                              .where(UnlockApplication.id == app_id)).one()
    assert tuple(rows) == (DRAFT, None, LOCKED)
