"""Running applications move to another version: the dry run in business terms, migration as jobs,
rollback, and a migration racing a claim."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.audit import verify_all
from engine.bundles import Bundle
from engine.db import db
from engine.definitions import Deployment
from engine.models import AuditEntry, HumanTask, InstanceMigration, Job, ProcessInstance, TaskCandidate
from handlers.errors import DomainError, Forbidden
from handlers.invariants import check_invariants
from handlers.migration import Filters
from handlers.models import APPROVED, WITHDRAWN, UnlockApplication

from .conftest import is_postgres
from .race_helpers import run_at_once
from .world import approve_into_an_incident, locked_person, reported_unlock, row_counts

SITE_CHECK = Path(__file__).parent / "bpmn_site_check"
UNLOCK = "personnel_unlock"
TO_SITE_CHECK = {"Task_Review": "Task_SiteCheck"}   # waiting reviews go through the new step first


def deploy_variant(services, *replacements, note="测试版本"):
    """The current unlock version with text replaced in its diagram (and in its form files, whose
    correction checklists name the review step), deployed as the next version."""
    bundle = services.engine.definitions.bundle(UNLOCK)
    xml = bundle.xml.decode("utf-8")
    files = dict(bundle.files)
    for old, new in replacements:
        assert old in xml
        xml = xml.replace(old, new)
        files = {name: content.replace(old.encode("utf-8"), new.encode("utf-8")) if name.startswith("forms/")
                 else content for name, content in files.items()}
    with services.engine.command():
        definition, created = services.engine.definitions.deploy_bundle(
            Bundle(bundle.diagram_name, xml.encode("utf-8"), files), Deployment(note, "测试"))
    assert created
    return definition.version


def deploy_site_check(services):
    with services.engine.command():
        report = services.engine.definitions.deploy_directory(SITE_CHECK, Deployment("新增现场核查", "测试"))
    assert report.refused == []
    return report.deployed[0].version


def draft_unlock(world, services, name):
    person, _project = locked_person(world, name)
    from handlers import lock_rule
    [lock] = lock_rule.open_locks(person.id)
    return services.unlock.create(world.who("contractor_user"), lock.id)


def engine_rows():
    return row_counts(ProcessInstance, HumanTask, TaskCandidate, AuditEntry, Job, InstanceMigration)


def instances_state():
    return {i.id: (i.version, i.definition_id, i.state, i.audit_seq) for i in db.session.scalars(select(ProcessInstance))}


def test_the_dry_run_reports_a_kept_step_and_a_changed_due_in_business_terms_and_changes_nothing(world, services):
    designer = world.who("designer")
    draft = draft_unlock(world, services, "王五")
    reviewer = world.who("agency_reviewer")
    reported = reported_unlock(world, services, locked_person(world, "张三")[0])
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == reported.instance_id,
                                                     HumanTask.state == "open"))
    services.reviews.claim(reviewer, task.id)
    v2 = deploy_variant(services, ('name="due" value="5 working days"', 'name="due" value="3 working days"'),
                        note="审核时限改为 3 个工作日")
    before_rows, before_state = engine_rows(), instances_state()

    plan = services.migration.plan(designer, UNLOCK, 1, v2)
    rows = {r.case_no: r for r in services.migration.dry_run(designer, plan.id)}

    assert engine_rows() == {**before_rows}   # the plan is a row of its own table, nothing else
    assert instances_state() == before_state
    kept = rows[db.session.get(UnlockApplication, draft.id).case_no]
    assert kept.can_migrate and kept.step_before == "填写解锁申请" and kept.step_after == "填写解锁申请"
    assert "待办保留" in kept.inbox and kept.deadline == "无期限" and kept.timers == "无"
    due = rows[db.session.get(UnlockApplication, reported.id).case_no]
    assert due.can_migrate and due.applicant == "云南建投第一建设有限公司"
    assert (due.step_before, due.claimed_by, due.step_after) == ("审核", "赵监督", "审核")
    assert due.claim == "保留 赵监督 的签收"
    assert due.deadline.startswith("重新计算：") and "从该步骤打开时起算" in due.deadline
    assert "「到期」重新计时" in due.timers and "「到期前 1 个工作日」重新计时" in due.timers

    # the due date recomputed from the step's opening: 3 working days after it, not after today
    services.migration.run_now(plan.id)
    db.session.expire_all()
    moved = db.session.get(HumanTask, task.id)
    assert moved.due_rule == "wd:3" and moved.claimed_by_name == "赵监督"
    from engine.deadlines import due_at
    assert moved.due_at == due_at(moved.created_at, "wd:3").at
    assert {c.due_at for c in moved.candidates} == {moved.due_at}
    overdue_jobs = [j for j in db.session.scalars(select(Job).where(Job.state == "pending"))
                    if "Timer_Review_Overdue" in j.payload]
    assert [j.due_at for j in overdue_jobs] == [moved.due_at]   # the old job cancelled, one new one


def test_a_step_removed_without_a_mapping_cannot_migrate_and_says_why(world, services):
    designer = world.who("designer")
    app = reported_unlock(world, services, locked_person(world, "张三")[0])
    v2 = deploy_variant(services, ("Task_Review", "Task_Audit"), note="审核改名")
    plan = services.migration.plan(designer, UNLOCK, 1, v2)
    [row] = services.migration.dry_run(designer, plan.id)
    assert not row.can_migrate
    assert row.reasons == ["当前步骤「审核」（Task_Review）在目标版本中已删除，且未指定映射"]
    assert row.step_after == "保持不变（仍在第 1 版）"
    assert services.migration.run_now(plan.id)["refused"] == 1
    assert db.session.get(ProcessInstance, app.instance_id).definition.version == 1

    mapped = services.migration.plan(designer, UNLOCK, 1, v2, {"Task_Review": "Task_Audit"})
    [row] = services.migration.dry_run(designer, mapped.id)
    assert row.can_migrate and row.step_after == "审核" and "「到期」保留" in row.timers


def test_a_mapping_to_an_element_of_another_type_is_refused_naming_the_field(world, services):
    designer = world.who("designer")
    reported_unlock(world, services, locked_person(world, "张三")[0])
    v2 = deploy_site_check(services)
    with pytest.raises(DomainError) as refused:
        services.migration.plan(designer, UNLOCK, 1, v2, {"Task_Review": "Gateway_Decision"})
    assert refused.value.field == "mapping" and "类型不同" in refused.value.message
    with pytest.raises(DomainError) as refused:
        services.migration.plan(designer, UNLOCK, 1, v2, filters=Filters(case_nos=("RJ-1999-000001",)))
    assert refused.value.field == "filters"
    with pytest.raises(Forbidden):
        services.migration.plan(world.who("agency_reviewer"), UNLOCK, 1, v2)


def test_filters_choose_a_subset(world, services):
    designer = world.who("designer")
    kunming = reported_unlock(world, services, locked_person(world, "张三")[0])
    dali = reported_unlock(world, services, locked_person(world, "李四", authority="authority2", agency="agency2")[0])
    draft = draft_unlock(world, services, "王五")
    ids = {a.id: db.session.get(UnlockApplication, a.id).instance_id for a in (kunming, dali, draft)}
    choose = services.migration.choose
    assert choose(designer, UNLOCK, 1) == sorted(ids.values())
    assert choose(designer, UNLOCK, 1, Filters(step="Task_Review")) == sorted([ids[kunming.id], ids[dali.id]])
    assert choose(designer, UNLOCK, 1, Filters(region="大理")) == [ids[dali.id]]
    case_no = db.session.get(UnlockApplication, kunming.id).case_no
    assert choose(designer, UNLOCK, 1, Filters.parse(case_nos=f"{case_no}，RJ-1999-000001")) == [ids[kunming.id]]
    from datetime import date, timedelta
    assert choose(designer, UNLOCK, 1, Filters(reported_before=date.today() - timedelta(days=2))) == []
    with pytest.raises(DomainError) as bad:
        Filters.parse(reported_before="2026-13-01")
    assert bad.value.field == "reported_before"


MANY = 200 if is_postgres() else 40   # 200 on PostgreSQL; SQLite runs the same path on fewer


def test_two_hundred_applications_migrate_as_jobs_one_refused_and_the_database_stays_sound(world, services, monkeypatch):
    designer = world.who("designer")
    apps = [reported_unlock(world, services, locked_person(world, f"申请人{i:03d}")[0]) for i in range(MANY)]
    reviewer = world.who("agency_reviewer")
    broken = apps[17]
    task = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == broken.instance_id,
                                                        HumanTask.state == "open"))
    approve_into_an_incident(services, monkeypatch, reviewer, task)
    v2 = deploy_site_check(services)

    plan = services.migration.plan(designer, UNLOCK, 1, v2, TO_SITE_CHECK)
    assert services.migration.start(designer, plan.id) == MANY
    assert services.migration.progress(designer, plan.id)["pending"] == MANY
    worker = services.worker()
    worker.run_due(max_jobs=25)
    assert services.migration.progress(designer, plan.id)["pending"] == MANY - 25
    worker.run_due()
    progress = services.migration.progress(designer, plan.id)
    assert (progress["migrated"], progress["refused"], progress["pending"]) == (MANY - 1, 1, 0)
    [refused] = [r for r in services.migration.results(designer, plan.id) if r.outcome == "未迁移"]
    assert refused.instance_id == broken.instance_id and "异常" in refused.reason

    db.session.expire_all()
    versions = dict(db.session.execute(select(ProcessInstance.id, ProcessInstance.definition_id)).all())
    assert db.session.get(ProcessInstance, broken.instance_id).definition.version == 1
    open_steps = db.session.execute(select(HumanTask.element_id, func.count()).where(HumanTask.state == "open")
                                    .group_by(HumanTask.element_id)).all()
    assert dict(open_steps) == {"Task_SiteCheck": MANY - 1}
    assert len({versions[a.instance_id] for a in apps if a is not broken}) == 1
    entries = db.session.scalars(select(AuditEntry.opinion).where(AuditEntry.action == "流程版本迁移")).all()
    assert len(entries) == MANY - 1 and all(e.startswith(f"v1→v{v2}（审核→现场核查）") for e in entries)
    assert check_invariants() == []
    with db.engine.connect() as conn:
        assert [found for _id, found in verify_all(conn) if found is not None] == []
    # a migrated application goes on through its new step
    app = apps[0]
    agency = world.who("agency_reviewer")
    site = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id, HumanTask.state == "open"))
    services.reviews.claim(agency, site.id)
    from handlers.applications import Upload
    from .world import PDF_BYTES
    services.reviews.submit(agency, site.id, {"check_date": "2026-12-01", "conclusion": "符合", "opinion": "现场已核查"},
                            [Upload("site_check_record", "现场核查记录.pdf", PDF_BYTES)])
    review = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id, HumanTask.state == "open"))
    assert review.element_id == "Task_Review"
    services.reviews.claim(agency, review.id)
    services.reviews.approve(agency, review.id, "同意")
    assert db.session.get(UnlockApplication, app.id).status == APPROVED
    # the new step's own withdraw event came with it: an unclaimed migrated application can be withdrawn
    services.unlock.withdraw(world.who("contractor_user"), apps[1].id)
    assert db.session.get(UnlockApplication, apps[1].id).status == WITHDRAWN


def test_rollback_returns_an_application_and_is_refused_after_a_later_action(world, services):
    designer = world.who("designer")
    first = reported_unlock(world, services, locked_person(world, "张三")[0])
    second = reported_unlock(world, services, locked_person(world, "李四")[0])
    before = {a.instance_id: (db.session.get(ProcessInstance, a.instance_id).state,
                              db.session.get(ProcessInstance, a.instance_id).definition_id) for a in (first, second)}
    jobs_before = {j.id: (j.state, j.due_at) for j in db.session.scalars(select(Job))}
    v2 = deploy_site_check(services)
    plan = services.migration.plan(designer, UNLOCK, 1, v2, TO_SITE_CHECK)
    assert services.migration.run_now(plan.id)["migrated"] == 2

    services.migration.rollback(designer, first.instance_id)
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, first.instance_id)
    assert (instance.state, instance.definition_id) == before[first.instance_id]
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == first.instance_id, HumanTask.state == "open"))
    assert task.element_id == "Task_Review" and len(task.candidates) == 2
    assert {j.id: (j.state, j.due_at) for j in db.session.scalars(select(Job))
            if f'"instance_id": {first.instance_id},' in j.payload} == \
        {k: v for k, v in jobs_before.items() if f'"instance_id": {first.instance_id},' in
         db.session.get(Job, k).payload}
    assert [e.action for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.instance_id == first.instance_id).order_by(AuditEntry.seq))][-2:] == ["流程版本迁移", "流程版本回退"]
    assert check_invariants() == []
    # a second rollback finds no migration to undo
    with pytest.raises(DomainError, match="没有可回退"):
        services.migration.rollback(designer, first.instance_id)

    agency = world.who("agency_reviewer")
    site = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == second.instance_id, HumanTask.state == "open"))
    services.reviews.claim(agency, site.id)
    with pytest.raises(DomainError) as refused:
        services.migration.rollback(designer, second.instance_id)
    assert "迁移后该申请已有新的办理（赵监督：签收）" in refused.value.message
    db.session.expire_all()
    assert db.session.get(ProcessInstance, second.instance_id).definition.version == v2


@pytest.mark.skipif(not is_postgres(), reason="row locks between threads: PostgreSQL")
def test_a_migration_racing_a_claim_leaves_one_consistent_outcome(app, world, services):
    designer = world.who("designer")
    apps = [reported_unlock(world, services, locked_person(world, f"竞争{i}")[0]) for i in range(10)]
    v2 = deploy_site_check(services)
    plan = services.migration.plan(designer, UNLOCK, 1, v2, TO_SITE_CHECK)
    plan_id = plan.id
    tasks = {a.instance_id: db.session.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == a.instance_id, HumanTask.state == "open")) for a in apps}
    authority = world.who("auth_reviewer")   # offered 审核, but not 现场核查
    db.session.commit()
    instance_ids = list(tasks)

    def work(i):
        from engine.models import MigrationPlan
        svc = app.extensions["services"]
        instance_id = instance_ids[i // 2]
        if i % 2 == 0:
            return svc.engine.migration.migrate_in_plan(db.session.get(MigrationPlan, plan_id), instance_id)
        return svc.reviews.claim(authority, tasks[instance_id])
    results = run_at_once(app, 2 * len(instance_ids), work)

    db.session.expire_all()
    from engine import TaskClosed
    claims_first = 0
    for k, instance_id in enumerate(instance_ids):
        migrated, claimed = results[2 * k], results[2 * k + 1]
        assert migrated[0] == "ok", migrated
        # either the claim went first (the migration saw it: 审核 closed, 现场核查 opened without the
        # claim, since the authority is not offered it), or the migration did (the claim met a closed row)
        assert claimed[0] == "ok" or isinstance(claimed[1], TaskClosed), claimed
        claims_first += claimed[0] == "ok"
        old = db.session.get(HumanTask, tasks[instance_id])
        assert old.state == "cancelled" and old.element_id == "Task_Review"
        [new] = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.state == "open")).all()
        assert db.session.get(ProcessInstance, instance_id).definition.version == v2
        assert (new.element_id, new.claimed_by_user_id) == ("Task_SiteCheck", None)
        assert [(c.org_id, c.claimed_by_user_id, c.is_open) for c in new.candidates] == \
            [(world.org("agency").id, None, True)]
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == instance_id)
                                     .order_by(AuditEntry.seq)).all()
        assert actions[-1] == "流程版本迁移" and actions[-2:].count("签收") == (claimed[0] == "ok")
    assert check_invariants() == []
    assert db.session.scalar(select(func.count()).select_from(InstanceMigration)
                             .where(InstanceMigration.outcome == "migrated")) == len(instance_ids)


def test_the_command_line_dry_runs_migrates_and_rolls_back(ctx, world, services, tmp_path):
    apps = [reported_unlock(world, services, locked_person(world, name)[0]) for name in ("张三", "李四")]
    case_nos = [db.session.get(ProcessInstance, a.instance_id).case_no for a in apps]
    v2 = deploy_site_check(services)
    db.session.commit()
    runner = ctx.test_cli_runner()
    before = engine_rows()
    report = tmp_path / "report.csv"
    out = runner.invoke(args=["bpmn", "migrate", UNLOCK, "--from", "1", "--to", str(v2), "--map",
                              "Task_Review=Task_SiteCheck", "--case", case_nos[0], "--dry-run", "--csv", str(report)])
    assert out.exit_code == 0, out.output
    assert case_nos[0] in out.output and case_nos[1] not in out.output
    assert "1 of 1 can migrate (dry run: nothing changed)" in out.output
    assert report.read_text(encoding="utf-8-sig").startswith("办件编号,申请人")
    assert engine_rows() == before
    bad = runner.invoke(args=["bpmn", "migrate", UNLOCK, "--from", "1", "--to", str(v2), "--map", "Task_Review"])
    assert bad.exit_code != 0 and "源元素=目标元素" in bad.output

    out = runner.invoke(args=["bpmn", "migrate", UNLOCK, "--from", "1", "--to", str(v2), "--map",
                              "Task_Review=Task_SiteCheck", "--by", "运维"])
    assert out.exit_code == 0 and "2 migrated, 0 refused" in out.output, out.output
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == apps[1].instance_id,
                                                     HumanTask.state == "open"))
    services.reviews.claim(world.who("agency_reviewer"), task.id)
    out = runner.invoke(args=["bpmn", "rollback", "--case", case_nos[0], "--case", case_nos[1]])
    assert out.exit_code == 1
    assert f"{case_nos[0]}: rolled back" in out.output and "迁移后该申请已有新的办理（赵监督：签收）" in out.output
