"""What the diagrams in bpmn/ refer to: service operators, candidate rules, forms.

Operators apply the approved business effect inside the engine's transaction; a
re-check that fails returns ``applied: False`` with the message (logged as 复核未通过),
and the diagram routes the application back to the applicant. Each operator first takes
the row locks of the projects and people its effect touches (``lock_rule.serialize``), so
its re-check reads what a concurrent effect on them committed.
"""
from sqlalchemy import select

from engine import EngineRegistry, InvalidFormData, ProcessEngine
from engine.db import db
from engine.models import utcnow
from engine.registry import ServiceCall

from . import lock_rule
from .models import (
    APPLICATION_BY_PROCESS, APPROVED, COMPLETED, UNDER_CONSTRUCTION, Assignment, CompletionFiling,
    ManagerChangeApplication, Project, UnlockApplication,
)

registry = EngineRegistry()

EDIT_FORM, REVIEW_FORM = "application.edit", "review"
OPINION_MAX = 500


# -- forms ------------------------------------------------------------------------
@registry.form(EDIT_FORM)
def _edit_form(data: dict) -> dict:
    if data.get("action") not in ("report", "withdraw"):
        raise InvalidFormData("操作无效", field="action")
    return {"action": data["action"]}


@registry.form(REVIEW_FORM)
def _review_form(data: dict) -> dict:
    decision = data.get("decision")
    if decision not in ("approve", "return"):
        raise InvalidFormData("请选择审核结论", field="decision")
    opinion = (data.get("opinion") or "").strip()
    if decision == "return" and not opinion:
        raise InvalidFormData("意见：退回时必须填写意见", field="opinion")
    if len(opinion) > OPINION_MAX:
        raise InvalidFormData(f"意见：不能超过 {OPINION_MAX} 个字", field="opinion")
    return {"decision": decision}   # the opinion goes to the operation log, not the workflow


# -- candidate rules --------------------------------------------------------------
@registry.candidate_rule("applicant")
def _applicant(instance) -> list[int]:
    return [instance.applicant_org_id]


@registry.candidate_rule("project_regulators")
def _project_regulators(instance) -> list[int]:
    """The competent authority and the supervision agency of the application's project."""
    project = db.session.get(Project, instance.scope_id)
    return project.regulator_ids if project else []


# -- operators --------------------------------------------------------------------
def application_of(instance):
    model = APPLICATION_BY_PROCESS[instance.process_key]
    return db.session.scalar(select(model).where(model.instance_id == instance.id))


RECHECK_FAILED = "复核未通过"          # the log action of an approval whose re-check failed
RECHECK_PREFIX = "审核通过时复核未通过："


def _approved(app, message: str) -> dict:
    app.status, app.finished_at, app.open_key = APPROVED, utcnow(), None
    return {"applied": True, "message": message}


def _recheck_failed(message: str) -> dict:
    """Nothing changed: the log records the re-check under its own name, not the effect's."""
    return {"applied": False, "message": message, "log_action": RECHECK_FAILED}


@registry.operator("unlock.apply")
def apply_unlock(call: ServiceCall) -> dict:
    """自动解锁: close the lock, release the assignment that caused it, recompute the person."""
    app: UnlockApplication = application_of(call.instance)
    # projects sharing a contract registration number count as one: release the person from all of them
    # (the lock's project and its contract number never change, so they may be read before the locks)
    project = app.lock_record.project
    released = [project.id] if not project.contract_no else db.session.scalars(
        select(Project.id).where(Project.contract_no == project.contract_no)).all()
    lock_rule.serialize(project_ids=released, person_ids=[app.person_id])
    lock = app.lock_record
    if lock.closed_at is not None:
        return _recheck_failed("该锁定记录已解除，无需再解锁")
    lock_rule.close_lock(lock, "解锁申请审核通过，自动解锁")
    for project_id in released:
        lock_rule.end_assignment(lock.person_id, lock.role, project_id, "解锁申请审核通过")
    lock_rule.apply_lock_rule(app.person)
    return _approved(app, f"{app.person.name}已解锁，当前状态：{app.person.status_label}")


@registry.operator("manager_change.apply")
def apply_manager_change(call: ServiceCall) -> dict:
    """变更生效: re-check the replacement, then swap the people and apply the lock rule."""
    app: ManagerChangeApplication = application_of(call.instance)
    lock_rule.serialize(project_ids=[app.project_id], person_ids=[app.old_person_id, app.new_person_id])
    problem = manager_change_problem(app)
    if problem:
        return _recheck_failed(RECHECK_PREFIX + problem)
    old, new = app.old_person, app.new_person
    lock_rule.end_assignment(old.id, app.role, app.project_id, "项目主要管理人员变更")
    for lock in lock_rule.open_locks(old.id):
        if lock.project_id == app.project_id and lock.role == app.role:
            lock_rule.close_lock(lock, "项目主要管理人员变更，离开该工程")
    lock_rule.apply_lock_rule(old)
    lock_rule.assign(new, app.project, app.role)
    return _approved(app, f"{old.name} → {new.name}（{new.name}当前状态：{new.status_label}）")


def manager_change_problem(app: ManagerChangeApplication) -> str | None:
    """Why the change cannot be applied now, or None."""
    if app.project.status != UNDER_CONSTRUCTION:
        return "该工程已不在建"
    if app.new_person is None:
        return "请选择变更后人员"
    still_there = db.session.scalar(select(Assignment.id).where(
        Assignment.person_id == app.old_person_id, Assignment.role == app.role,
        Assignment.project_id == app.project_id, Assignment.ended_at.is_(None)).limit(1))
    if still_there is None:
        return "变更前人员已不在该工程担任该职务"
    return lock_rule.replacement_problem(app.role, app.new_person, app.applicant_org_id, app.old_person_id)


@registry.operator("completion_filing.apply")
def apply_completion(call: ServiceCall) -> dict:
    """竣工备案生效: the project is completed; its assignments end and their locks close."""
    app: CompletionFiling = application_of(call.instance)
    lock_rule.serialize_project(app.project_id)
    project = app.project
    if project.status != UNDER_CONSTRUCTION:
        return _recheck_failed("该工程已竣工，无需重复备案")
    project.status, project.completed_at = COMPLETED, app.acceptance_date
    if app.permit_no:
        project.permit_no = app.permit_no
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.project_id == project.id, Assignment.ended_at.is_(None))).all()
    people = {}
    for a in assignments:
        a.ended_at, a.end_reason = utcnow(), "竣工验收备案生效"
        people[a.person_id] = a.person
    for person in people.values():
        for lock in lock_rule.open_locks(person.id):
            if lock.project_id == project.id:
                lock_rule.close_lock(lock, "工程竣工验收备案生效")
    db.session.flush()
    for person in people.values():
        lock_rule.apply_lock_rule(person)
    return _approved(app, f"{project.name}已竣工，{len(people)} 名人员解除任职")


def build_engine() -> ProcessEngine:
    return ProcessEngine(registry)
