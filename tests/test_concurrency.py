"""Claims and decisions under real concurrency (architecture.md: one conditional UPDATE, one winner).

Runs on both databases: PostgreSQL row locks, SQLite write transactions (BEGIN IMMEDIATE).
"""
from sqlalchemy import func, select

from engine import EngineError, TaskAlreadyClaimed
from engine.db import db
from engine.models import AuditEntry, HumanTask, ProcessInstance
from handlers import lock_rule
from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM
from handlers.errors import DomainError
from handlers.models import APPROVED, LockRecord, NORMAL, Person, UnlockApplication

from .race_helpers import run_at_once
from .world import PDF_BYTES, locked_person, reported_unlock

THREADS = 20


def test_twenty_reviewers_claim_at_once_one_wins(ctx, world, services):
    reviewers = []
    for i in range(THREADS):
        key = f"concurrent_reviewer_{i}"
        world.add_account(key, "agency" if i % 2 else "authority", f"审核员{i:02d}")
        reviewers.append(world.who(key))
    pm, _ = locked_person(world, "并发签收人员")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    task_id, app_id = task.id, app.id
    db.session.commit()

    results = run_at_once(ctx, THREADS, lambda i: services.reviews.claim(reviewers[i], task_id).claimed_by_user_id)

    winners = [i for i, (kind, _) in enumerate(results) if kind == "ok"]
    assert len(winners) == 1, results
    winner = reviewers[winners[0]]
    losers = [value for kind, value in results if kind == "error"]
    assert len(losers) == THREADS - 1
    for exc in losers:
        assert isinstance(exc, TaskAlreadyClaimed), repr(exc)
        assert exc.holder == winner.user_name
        assert exc.message == f"该任务已由{winner.org_name}的{winner.user_name}签收"
    db.session.expire_all()
    row = db.session.get(HumanTask, task_id)
    assert row.claimed_by_user_id == winner.user_id
    claims = db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.instance_id == row.instance_id, AuditEntry.action == "签收"))
    assert claims == 1
    assert services.unlock.get(world.who("contractor_user"), app_id).status == "reported"


def test_double_submitted_approval_is_applied_once(ctx, world, services):
    pm, _ = locked_person(world, "并发审核人员")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    task_id, app_id, person_id, instance_id = task.id, app.id, pm.id, app.instance_id
    db.session.commit()

    results = run_at_once(ctx, 2, lambda i: services.reviews.approve(reviewer, task_id, f"同意（{i}）").status)

    ok = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert ok == [APPROVED], results
    assert len(errors) == 1 and isinstance(errors[0], (EngineError, DomainError)), results
    db.session.expire_all()
    closed = db.session.scalar(select(func.count()).select_from(LockRecord).where(
        LockRecord.person_id == person_id, LockRecord.closed_at.is_not(None)))
    assert closed == 1
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == instance_id)))
    assert actions.count("自动解锁") == 1 and actions.count("审核通过") == 1
    assert db.session.get(Person, person_id).status == NORMAL
    assert services.unlock.get(world.who("contractor_user"), app_id).status == APPROVED


def test_two_tabs_adding_the_same_unlock_at_once_get_one_application(ctx, world, services):
    pm, _ = locked_person(world, "并发添加人员")
    applicant = world.who("contractor_user")
    lock_id = lock_rule.open_locks(pm.id)[0].id
    db.session.commit()

    results = run_at_once(ctx, 2, lambda i: services.unlock.create(applicant, lock_id).id)

    ok = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(ok) == 1, results
    assert len(errors) == 1 and isinstance(errors[0], DomainError), results
    assert errors[0].message == "该锁定记录已有未办结的解锁申请"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(UnlockApplication)) == 1
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_double_submitted_report_is_sent_once(ctx, world, services):
    pm, _ = locked_person(world, "并发上报人员")
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)
    services.unlock.save(applicant, app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    app_id, instance_id = app.id, app.instance_id
    db.session.commit()

    results = run_at_once(ctx, 2, lambda i: services.unlock.report(applicant, app_id).status)

    assert [value for kind, value in results if kind == "ok"] == ["reported"], results
    [error] = [value for kind, value in results if kind == "error"]
    assert isinstance(error, (EngineError, DomainError)), repr(error)
    db.session.expire_all()
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == instance_id)))
    assert actions.count("上报") == 1
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open")) == 1
