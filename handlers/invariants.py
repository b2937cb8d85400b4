"""Invariants the data keeps whatever ran concurrently (``flask check-invariants``).

Each check is a query over the whole database and yields one line per broken instance,
naming the ids, so an operator can find the rows. The concurrency tests run them at the end.
"""
from sqlalchemy import and_, case, exists, func, or_, select

from engine.db import db
from engine.models import HumanTask, ProcessInstance, TaskCandidate

from . import catalog
from .lock_rule import LIMITS, contract_key
from .models import (
    APPLICATION_STATUS, APPROVED, CONTRACTOR, DECLINED, DISCARDED, DRAFT, LOCKED, NORMAL, OPEN_STATUSES, ORG_KINDS,
    PERSON_STATUS, REPORTED, RETURNED, ROLE_EMPLOYER, ROLES, ROSTER_ROLES, UNDER_CONSTRUCTION, WITHDRAWN, Assignment,
    Attachment, LockRecord, PermitSupplement, Person, Project, RosterEntry, UnlockApplication, UploadBlob,
)

def _counts():
    """Projects under construction per person and role (one contract counts once), with the limit."""
    return (select(Assignment.person_id, Assignment.role, func.count(func.distinct(contract_key())).label("n"))
            .join(Project, Project.id == Assignment.project_id)
            .where(Assignment.ended_at.is_(None), Project.status == UNDER_CONSTRUCTION,
                   Assignment.role.in_(LIMITS))
            .group_by(Assignment.person_id, Assignment.role).subquery())


def _open_lock(person_id, role):
    return exists().where(LockRecord.person_id == person_id, LockRecord.role == role,
                          LockRecord.closed_at.is_(None))


def people_over_their_limit():
    counts = _counts()
    for person_id, role, n in db.session.execute(select(counts).where(
            counts.c.n > case(LIMITS, value=counts.c.role, else_=0)).order_by(counts.c.person_id, counts.c.role)):
        yield f"人员 {person_id} 担任{ROLES[role]}的在建工程 {n} 个，超过上限 {LIMITS[role]} 个"


def people_at_their_limit_without_a_lock():
    counts = _counts()
    for person_id, role, n in db.session.execute(select(counts).where(
            counts.c.n >= case(LIMITS, value=counts.c.role, else_=0),
            ~_open_lock(counts.c.person_id, counts.c.role)).order_by(counts.c.person_id, counts.c.role)):
        yield f"人员 {person_id} 担任{ROLES[role]}的在建工程已达上限（{n} 个），但没有未解除的锁定记录"


def open_locks_without_a_reason():
    counts = _counts()
    n = func.coalesce(counts.c.n, 0)
    rows = db.session.execute(
        select(LockRecord.id, LockRecord.person_id, LockRecord.role, n)
        .outerjoin(counts, and_(counts.c.person_id == LockRecord.person_id, counts.c.role == LockRecord.role))
        .where(LockRecord.closed_at.is_(None), n < case(LIMITS, value=LockRecord.role, else_=0))
        .order_by(LockRecord.id))
    for lock_id, person_id, role, count in rows:
        yield (f"锁定记录 {lock_id}（人员 {person_id}，{ROLES[role]}）未解除，"
               f"但该人员{ROLES[role]}的在建工程只有 {count} 个，低于上限 {LIMITS[role]} 个")


def duplicate_open_locks():
    for person_id, role, n in db.session.execute(
            select(LockRecord.person_id, LockRecord.role, func.count())
            .where(LockRecord.closed_at.is_(None)).group_by(LockRecord.person_id, LockRecord.role)
            .having(func.count() > 1).order_by(LockRecord.person_id)):
        yield f"人员 {person_id} 有 {n} 条未解除的{ROLES[role]}锁定记录"


def assignments_outside_their_unit():
    """A key role belongs to the project's unit for it (项目经理 and 安全员 to its contractor, 项目总监 to
    its supervising firm): an active assignment whose person works elsewhere lets another enterprise
    act for the project."""
    unit = case(*[(Assignment.role == role, Project.contractor_id if kind == CONTRACTOR else Project.supervising_firm_id)
                  for role, kind in ROLE_EMPLOYER.items()])
    for assignment_id, person_id, role, project_id, employer_id, unit_id in db.session.execute(
            select(Assignment.id, Assignment.person_id, Assignment.role, Project.id, Person.enterprise_id, unit)
            .join(Project, Project.id == Assignment.project_id).join(Person, Person.id == Assignment.person_id)
            .where(Assignment.ended_at.is_(None), Assignment.role.in_(ROLE_EMPLOYER),
                   or_(unit.is_(None), Person.enterprise_id != unit))
            .order_by(Assignment.id)):
        yield (f"人员 {person_id} 担任工程 {project_id} 的{ROLES[role]}（任职记录 {assignment_id}），"
               f"但其所在单位 {employer_id} 不是该工程的{ORG_KINDS[ROLE_EMPLOYER[role]]}（{unit_id or '未填写'}）")


def person_status_disagrees_with_locks():
    locked = exists().where(LockRecord.person_id == Person.id, LockRecord.closed_at.is_(None))
    for person_id, status in db.session.execute(
            select(Person.id, Person.status)
            .where(((Person.status == LOCKED) & ~locked) | ((Person.status == NORMAL) & locked))
            .order_by(Person.id)):
        expected = NORMAL if status == LOCKED else LOCKED
        yield f"人员 {person_id} 状态为{PERSON_STATUS[status]}，按其锁定记录应为{PERSON_STATUS[expected]}"


def approved_unlocks_with_open_locks():
    for app_id, lock_id in db.session.execute(
            select(UnlockApplication.id, LockRecord.id)
            .join(LockRecord, LockRecord.id == UnlockApplication.lock_record_id)
            .where(UnlockApplication.status == APPROVED, LockRecord.closed_at.is_(None))
            .order_by(UnlockApplication.id)):
        yield f"{_title(UnlockApplication)} {app_id} 已办结，但锁定记录 {lock_id} 仍未解除"


def approved_permit_supplements_without_permit():
    for app_id, project_id in db.session.execute(
            select(PermitSupplement.id, Project.id).join(Project, Project.id == PermitSupplement.project_id)
            .where(PermitSupplement.status == APPROVED, func.coalesce(Project.permit_no, "") == "")
            .order_by(PermitSupplement.id)):
        yield f"{_title(PermitSupplement)} {app_id} 已办结，但工程 {project_id} 没有施工许可证号"


def roster_entries_of_units_off_the_project():
    """A unit replaced by 变更参建单位 leaves the roster with its people."""
    on_project = RosterEntry.org_id.in_([Project.construction_unit_id, Project.contractor_id,
                                         Project.supervising_firm_id])
    for entry_id, project_id, org_id, role in db.session.execute(
            select(RosterEntry.id, RosterEntry.project_id, RosterEntry.org_id, RosterEntry.role)
            .join(Project, Project.id == RosterEntry.project_id)
            .where(RosterEntry.ended_at.is_(None), ~on_project).order_by(RosterEntry.id)):
        yield f"名册记录 {entry_id}（{ROSTER_ROLES.get(role, role)}）仍在工程 {project_id}，但单位 {org_id} 已不是该工程的参建单位"


def open_tasks_of_finished_instances():
    for task_id, name, instance_id in db.session.execute(
            select(HumanTask.id, HumanTask.name, HumanTask.instance_id)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.state == "open", ProcessInstance.status == "completed")
            .order_by(HumanTask.id)):
        yield f"流程实例 {instance_id} 已结束，但任务 {task_id}（{name}）仍未关闭"


def application_status_disagrees_with_instance():
    """Every catalogued process: a reported application waits on a task of others (its review
    step), a draft or returned one on a task offered to its applicant."""
    def open_task(model, applicants: bool):
        offered = exists().where(TaskCandidate.task_id == HumanTask.id,
                                 TaskCandidate.org_id == model.applicant_org_id)
        return exists().where(HumanTask.instance_id == model.instance_id, HumanTask.state == "open",
                              offered if applicants else ~offered)

    for entry in catalog.entries():
        model = entry.model
        finished = ProcessInstance.status == "completed"
        running = ProcessInstance.status == "running"   # an errored instance is an incident, not this
        disagree = case(
            (model.status.in_((APPROVED, WITHDRAWN, DECLINED, DISCARDED)) & ~finished, "流程实例尚未结束"),
            (model.status.in_(OPEN_STATUSES) & finished, "流程实例已结束"),
            (running & (model.status == REPORTED) & ~open_task(model, False), "流程实例没有待办的审核任务"),
            (running & model.status.in_((DRAFT, RETURNED)) & ~open_task(model, True),
             "流程实例没有待申请人办理的任务"),
            else_=None)
        for app_id, status, instance_id, why in db.session.execute(
                select(model.id, model.status, model.instance_id, disagree)
                .join(ProcessInstance, ProcessInstance.id == model.instance_id)
                .where(disagree.is_not(None)).order_by(model.id)):
            yield f"{entry.title} {app_id} 状态为{APPLICATION_STATUS[status]}，但{why}（流程实例 {instance_id}）"


def attachments_without_their_bytes():
    """Every attachment's bytes are in the attachment store (after an upgrade from the upload
    folder: until ``flask uploads migrate`` has moved them; after a restore: the backup held them)."""
    for att_id, filename, digest in db.session.execute(
            select(Attachment.id, Attachment.filename, Attachment.sha256)
            .where(~exists().where(UploadBlob.sha256 == Attachment.sha256)).order_by(Attachment.id)):
        yield f"附件 {att_id}（{filename}）的文件内容不在附件存储中（SHA-256 {digest[:12]}…）"


def _title(model) -> str:
    return next(e.title for e in catalog.entries() if e.model is model)


CHECKS = (people_over_their_limit, people_at_their_limit_without_a_lock, open_locks_without_a_reason,
          duplicate_open_locks, assignments_outside_their_unit, person_status_disagrees_with_locks,
          approved_unlocks_with_open_locks, approved_permit_supplements_without_permit,
          roster_entries_of_units_off_the_project, open_tasks_of_finished_instances,
          application_status_disagrees_with_instance, attachments_without_their_bytes)


def check_invariants() -> list[str]:
    """Every broken invariant in the database, one line each; empty when all hold."""
    return [line for check in CHECKS for line in check()]
