"""Effects racing on the same person or project (docs/architecture.md, "Serialisation of effects").

Two reviewers approve at the same moment, each in a thread with its own session, applications
whose effects touch the same person or project. Whatever the timing, the outcome is one that
the two approvals give one after the other: the loser's re-check sees the winner's effect and
its application goes back to its applicant, and the invariant check stays clean.

PostgreSQL only: on SQLite every command's ``BEGIN IMMEDIATE`` serialises all writers, so
there is no race to lose (the same scenarios run there one after the other elsewhere).
"""
import threading
import time
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from engine.db import db
from engine.inbox import open_tasks, operation_log
from engine.models import ProcessInstance
from handlers import catalog, lock_rule
from handlers.applications import Upload
from handlers.invariants import check_invariants
from handlers.models import (
    APPROVED, COMPLETED, CONSTRUCTOR, NORMAL, RETURNED, SAFETY_B, Assignment, CompletionFiling, LockRecord,
    ManagerChangeApplication, PermitSupplement, Person, Project, UnlockApplication,
)
from handlers.processes import RECHECK_FAILED, RECHECK_PREFIX

from .conftest import is_postgres
from .race_helpers import run_at_once
from .world import PDF_BYTES, locked_person, reported_permit, reported_unlock

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not is_postgres(), reason="a race needs concurrent writers: SQLite serialises them all"),
]

ROUNDS = 20
TOO_MANY = RECHECK_PREFIX + "该项目经理已有项目管理工作，请重新选择"
OLD_GONE = RECHECK_PREFIX + "变更前人员已不在该工程担任该职务"
NOT_UNDER_CONSTRUCTION = RECHECK_PREFIX + "该工程已不在建"
LOCK_GONE = "该锁定记录已解除，无需再解锁"


# -- building the two applications of a round -------------------------------------------------
def _reported_change(world, services, old, project, new):
    applicant = world.who("contractor_user")
    assignment = db.session.scalar(select(Assignment).where(
        Assignment.person_id == old.id, Assignment.project_id == project.id, Assignment.ended_at.is_(None)))
    app = services.change.create(applicant, assignment.id)
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原经理调离"})
    services.change.report(applicant, app.id)
    return app


def _reported_filing(world, services, project):
    owner = world.who("owner_user")
    app = services.completion.create(owner, project.id)
    services.completion.save(owner, app.id, {"acceptance_date": date.today(), "conclusion": "合格"},
                             [Upload("attachment", "竣工验收报告.pdf", PDF_BYTES)])
    services.completion.report(owner, app.id)
    return app


def _claimed(world, services, service, app, reviewer_key):
    """The app's review task, claimed by the reviewer who will approve it in the race."""
    reviewer = world.who(reviewer_key)
    task = service.open_task(app)
    services.reviews.claim(reviewer, task.id)
    return reviewer, task.id


def _race(ctx, services, first, second):
    """Approve both tasks at the same moment; returns each thread's outcome."""
    db.session.commit()
    pairs = [first, second]
    return run_at_once(ctx, 2, lambda i: services.reviews.approve(pairs[i][0], pairs[i][1], "同意").status)


def _fresh(model, app_id):
    db.session.expire_all()
    return db.session.get(model, app_id)


def _returned_by_recheck(app, message) -> bool:
    """Back with its applicant, 已退回, the system's 复核未通过 with the message last in its log."""
    last = operation_log(app.instance_id)[-1]
    return (app.status == RETURNED and last.action == RECHECK_FAILED and last.opinion == message
            and last.user_name == "系统" and [t.form_key for t in open_tasks(app.instance_id)] == [catalog.entry_of(app).edit_form])


def _verdict(results, a, b, a_loses, b_loses) -> str:
    """'A' or 'B' (the one effect that won), 'both', or what went wrong."""
    errors = [repr(value) for kind, value in results if kind == "error"]
    if errors:
        return "error: " + "; ".join(errors)
    incidents = [db.session.get(ProcessInstance, app.instance_id).incident_message for app in (a, b)]
    if any(incidents):
        return "incident: " + ", ".join(m.split(":")[0] for m in incidents if m)
    if a.status == APPROVED and b.status == APPROVED:
        return "both"
    if a.status == APPROVED and _returned_by_recheck(b, b_loses):
        return "A"
    if b.status == APPROVED and _returned_by_recheck(a, a_loses):
        return "B"
    return f"unexpected: {a.status} / {b.status}"


def _assert_all_rounds(verdicts, allowed):
    tally = Counter(verdicts)
    print(f"\n{len(verdicts)} rounds: {dict(tally)}")
    assert set(tally) <= allowed, tally
    assert check_invariants() == []


# -- the races ----------------------------------------------------------------------------------
def test_two_changes_naming_the_same_replacement(ctx, world, services):
    """Two projects with different 合同登记编号 name the same free project manager X."""
    verdicts = []
    for r in range(ROUNDS):
        old_a, project_a = locked_person(world, f"甲原经理{r}", contract_no=f"HT-A-{r:03d}")
        old_b, project_b = locked_person(world, f"乙原经理{r}", contract_no=f"HT-B-{r:03d}")
        x = world.add_person(f"替换经理{r}", "contractor", CONSTRUCTOR, SAFETY_B)
        a = _reported_change(world, services, old_a, project_a, x)
        b = _reported_change(world, services, old_b, project_b, x)
        results = _race(ctx, services, _claimed(world, services, services.change, a, "auth_reviewer"),
                        _claimed(world, services, services.change, b, "agency_reviewer"))
        a, b = _fresh(ManagerChangeApplication, a.id), _fresh(ManagerChangeApplication, b.id)
        verdict = _verdict(results, a, b, TOO_MANY, TOO_MANY)
        x_projects = db.session.scalars(select(Assignment.project_id).where(
            Assignment.person_id == x.id, Assignment.ended_at.is_(None))).all()
        x_locks = db.session.scalars(select(LockRecord.id).where(
            LockRecord.person_id == x.id, LockRecord.closed_at.is_(None))).all()
        if len(x_projects) > 1 or len(x_locks) > 1:
            verdict += f" (X on {len(x_projects)} projects, {len(x_locks)} open locks)"
        verdicts.append(verdict)
    _assert_all_rounds(verdicts, {"A", "B"})


def test_unlock_racing_a_change_of_the_same_person(ctx, world, services):
    verdicts = []
    for r in range(ROUNDS):
        person, project = locked_person(world, f"被锁经理{r}")
        new = world.add_person(f"接任经理{r}", "contractor", CONSTRUCTOR, SAFETY_B)
        unlock = reported_unlock(world, services, person)
        change = _reported_change(world, services, person, project, new)
        results = _race(ctx, services, _claimed(world, services, services.unlock, unlock, "auth_reviewer"),
                        _claimed(world, services, services.change, change, "agency_reviewer"))
        unlock, change = _fresh(UnlockApplication, unlock.id), _fresh(ManagerChangeApplication, change.id)
        verdicts.append(_verdict(results, unlock, change, LOCK_GONE, OLD_GONE))
    _assert_all_rounds(verdicts, {"A", "B"})


def test_completion_racing_a_change_on_the_same_project(ctx, world, services):
    """Either the completion wins and the change goes back (该工程已不在建), or the change comes
    first and the completion, applied after it, releases the new manager: never a new manager
    left on a completed project."""
    verdicts = []
    for r in range(ROUNDS):
        person, project = locked_person(world, f"竣工前经理{r}", project_name=f"竞速工程{r}")
        new = world.add_person(f"竣工前接任{r}", "contractor", CONSTRUCTOR, SAFETY_B)
        filing = _reported_filing(world, services, project)
        change = _reported_change(world, services, person, project, new)
        results = _race(ctx, services, _claimed(world, services, services.completion, filing, "auth_reviewer"),
                        _claimed(world, services, services.change, change, "agency_reviewer"))
        filing, change = _fresh(CompletionFiling, filing.id), _fresh(ManagerChangeApplication, change.id)
        verdict = _verdict(results, filing, change, None, NOT_UNDER_CONSTRUCTION)
        left_on_it = db.session.scalars(select(Assignment.person_id).where(
            Assignment.project_id == project.id, Assignment.ended_at.is_(None))).all()
        open_locks = db.session.scalars(select(LockRecord.id).where(
            LockRecord.project_id == project.id, LockRecord.closed_at.is_(None))).all()
        if verdict == "both":
            released = not left_on_it and not open_locks and db.session.get(Person, new.id).status == NORMAL
            verdict = "change, then completion" if released else "interleaved: new manager left on the completed project"
        assert filing.project.status == COMPLETED
        verdicts.append(verdict)
    _assert_all_rounds(verdicts, {"A", "change, then completion"})


def test_unit_change_racing_a_change_naming_the_same_person(ctx, world, services):
    """变更参建单位 names X as the new contractor's project manager while X's own enterprise files a
    key-manager change naming X on another project: exactly one takes effect."""
    from handlers.models import SAFETY_C, UnitChange
    verdicts = []
    for r in range(ROUNDS):
        project = world.add_project(f"换单位工程{r}")
        for name, role, certs in ((f"旧经理{r}", "project_manager", (CONSTRUCTOR, SAFETY_B)),
                                  (f"旧安全员{r}", "safety_officer", (SAFETY_C,))):
            world.assign(world.add_person(name, "contractor", *certs), project, role)
        x = world.add_person(f"争夺经理{r}", "contractor2", CONSTRUCTOR, SAFETY_B)
        safety = world.add_person(f"新安全员{r}", "contractor2", SAFETY_C)
        old_q, q = locked_person(world, f"乙方原经理{r}", org_key="contractor2", contractor="contractor2")
        owner = world.who("owner_user")
        unit = services.unit.create(owner, project.id)
        services.unit.save(owner, unit.id, {
            "unit_kind": "contractor", "new_credit_code": world.orgs["contractor2"].credit_code, "reason": "解除合同",
            "manager_id": str(x.id), "safety_id": str(safety.id)},
            [Upload("termination", "解除合同协议.pdf", PDF_BYTES), Upload("new_contract", "新合同.pdf", PDF_BYTES)])
        services.unit.report(owner, unit.id)
        applicant = world.who("contractor2_user")
        assignment = db.session.scalar(select(Assignment).where(Assignment.person_id == old_q.id))
        change = services.change.create(applicant, assignment.id)
        services.change.save(applicant, change.id, {"new_person_id": x.id, "reason": "原经理调离"})
        services.change.report(applicant, change.id)
        results = _race(ctx, services, _claimed(world, services, services.unit, unit, "auth_reviewer"),
                        _claimed(world, services, services.change, change, "agency_reviewer"))
        unit, change = _fresh(UnitChange, unit.id), _fresh(ManagerChangeApplication, change.id)
        verdict = _verdict(results, unit, change, TOO_MANY, TOO_MANY)
        x_projects = db.session.scalars(select(Assignment.project_id).where(
            Assignment.person_id == x.id, Assignment.ended_at.is_(None))).all()
        if len(x_projects) != 1:
            verdict += f" (X on {len(x_projects)} projects)"
        if verdict == "B" and db.session.get(Project, project.id).contractor_id != world.orgs["contractor"].id:
            verdict += " (the project moved although the unit change lost)"
        verdicts.append(verdict)
    _assert_all_rounds(verdicts, {"A", "B"})


# -- the locks themselves -------------------------------------------------------------------
def _hold_then(ctx, take, then):
    """In another session: take the locks, signal, wait ~0.5 s, do ``then`` and commit."""
    holding = threading.Event()

    def holder():
        with ctx.app_context():
            try:
                take()
                holding.set()
                time.sleep(0.5)
                then()
                db.session.commit()
            finally:
                db.session.remove()

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    return thread


def test_a_waiting_lock_then_reads_what_the_holder_committed(ctx, world):
    person, _ = locked_person(world, "排队人员")
    person_id, lock_id = person.id, lock_rule.open_locks(person.id)[0].id
    db.session.commit()
    loaded = db.session.get(LockRecord, lock_id)        # read before the lock: still open
    assert loaded.closed_at is None

    def close():
        lock_rule.close_lock(db.session.get(LockRecord, lock_id), "另一事务关闭")
        db.session.get(Person, person_id).status = NORMAL

    thread = _hold_then(ctx, lambda: lock_rule.serialize_people([person_id]), close)
    started = time.monotonic()
    lock_rule.serialize_people([person_id])              # queues behind the holder
    waited = time.monotonic() - started
    thread.join(10)
    assert waited >= 0.3
    assert loaded.closed_at is not None and loaded.close_reason == "另一事务关闭"   # reloaded, not stale
    assert person.status == NORMAL
    db.session.rollback()


def test_locking_a_project_locks_everyone_on_it(ctx, world):
    person, project = locked_person(world, "工程上的人员")
    person_id, project_id = person.id, project.id
    db.session.commit()
    holders = []
    thread = _hold_then(ctx, lambda: holders.extend(lock_rule.serialize_project(project_id)), lambda: None)
    started = time.monotonic()
    lock_rule.serialize_people([person_id])
    waited = time.monotonic() - started
    thread.join(10)
    assert holders == [person_id] and waited >= 0.3
    db.session.rollback()


def test_a_permit_supplement_reads_the_permit_a_concurrent_command_committed(ctx, world, services):
    """补录生效 locks its project first: a permit number committed meanwhile sends it back."""
    _owner, project, app = reported_permit(world, services, "补录竞速工程")
    reviewer, task_id = _claimed(world, services, services.permit, app, "agency_reviewer")
    project_id = project.id
    db.session.commit()

    def set_permit():
        db.session.get(Project, project_id).permit_no = "另行录入"

    thread = _hold_then(ctx, lambda: lock_rule.serialize_project(project_id), set_permit)
    services.reviews.approve(reviewer, task_id, "同意")
    thread.join(10)
    app = _fresh(PermitSupplement, app.id)
    assert _returned_by_recheck(app, "该工程已有施工许可证号，无需补录")
    assert app.project.permit_no == "另行录入"
    assert check_invariants() == []


def test_a_preview_on_a_page_and_the_approval_it_previews_do_not_deadlock(ctx, world, services, monkeypatch):
    """The task page rehearses the approval (handlers/preview.py) while its holder approves it: the
    rehearsal writes the same rows as the effect, so it takes the effect's locks in the same order,
    and one waits for the other instead of the two deadlocking (the approval then failed into an
    incident, or the page answered 500). The rehearsal is paused just after it changed the lock
    record, the approval started against it."""
    from engine.db import in_dry_run
    person, _ = locked_person(world, "预览经理")
    app = reported_unlock(world, services, person)
    holder, task_id = _claimed(world, services, services.unlock, app, "agency_reviewer")
    onlooker = world.who("auth_reviewer")                # the other candidate organisation opens the page
    db.session.commit()
    rehearsing, go = threading.Event(), threading.Event()
    real_end = lock_rule.end_assignment

    def end_assignment(*args, **kwargs):
        ended = real_end(*args, **kwargs)                # the lock record's row is written by now
        if in_dry_run():
            db.session.flush()
            rehearsing.set()
            go.wait(10)
        return ended
    monkeypatch.setattr(lock_rule, "end_assignment", end_assignment)

    def work(i):
        if i == 0:
            return services.reviews.approval_preview(onlooker, task_id).applied
        assert rehearsing.wait(10)
        threading.Timer(0.5, go.set).start()             # the approval is under way when the rehearsal goes on
        return services.reviews.approve(holder, task_id, "同意").status
    results = run_at_once(ctx, 2, work)
    assert results == [("ok", True), ("ok", APPROVED)], results
    app = _fresh(UnlockApplication, app.id)
    assert app.status == APPROVED and db.session.get(ProcessInstance, app.instance_id).incident_message is None
    assert check_invariants() == []


def test_a_preview_that_writes_nothing_holds_up_no_approval(ctx, world, services, monkeypatch):
    """The task page's rehearsal of 自动解锁 changes only rows it loaded and writes none of them
    (handlers/preview.record_changes), so it takes none of the effect's row locks, which wait for a
    first write: the holder's approval goes through while another reviewer's page is still
    rehearsing it, and the page then says what it saw."""
    from engine.db import in_dry_run
    person, _ = locked_person(world, "旁观经理")
    app = reported_unlock(world, services, person)
    holder, task_id = _claimed(world, services, services.unlock, app, "agency_reviewer")
    onlooker = world.who("auth_reviewer")
    db.session.commit()
    rehearsing, approved = threading.Event(), threading.Event()
    real_end = lock_rule.end_assignment

    def end_assignment(*args, **kwargs):
        ended = real_end(*args, **kwargs)                # the lock record is closed in the session by now
        if in_dry_run():
            rehearsing.set()
            approved.wait(10)                            # the rehearsal waits for the approval
        return ended
    monkeypatch.setattr(lock_rule, "end_assignment", end_assignment)

    def work(i):
        if i == 0:
            preview = services.reviews.approval_preview(onlooker, task_id)
            return preview.applied, approved.is_set()
        assert rehearsing.wait(10)
        status = services.reviews.approve(holder, task_id, "同意").status
        approved.set()
        return status
    results = run_at_once(ctx, 2, work)
    assert results == [("ok", (True, True)), ("ok", APPROVED)], results
    app = _fresh(UnlockApplication, app.id)
    assert app.status == APPROVED and db.session.get(ProcessInstance, app.instance_id).incident_message is None
    assert check_invariants() == []
