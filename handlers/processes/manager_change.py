"""项目主要管理人员变更 (2.2.1.2): the catalog entry, the applicant's service and 变更生效."""
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.db import db
from engine.registry import ServiceCall

from .. import catalog, directory, lock_rule
from ..applications import ApplicationService
from ..catalog import ALL_PICKS, Column, Pick, PickFilter, ProcessEntry
from ..errors import DomainError, NotFound
from ..models import (
    CONTRACTOR, LOCKED, ROLE_EMPLOYER, SUPERVISING_FIRM, UNDER_CONSTRUCTION, Assignment,
    ManagerChangeApplication, Person, Project,
)
from ..principal import Principal
from . import RECHECK_PREFIX, _approved, _recheck_failed, application_of, registry

# which key roles each enterprise kind employs (and so may file changes for)
ROLES_BY_KIND = {kind: tuple(r for r, k in ROLE_EMPLOYER.items() if k == kind) for kind in set(ROLE_EMPLOYER.values())}


@dataclass
class Candidate:
    """One person of the replacement picker."""
    person: Person
    problem: str | None       # the refusal message, None when the person may take the role
    certificates: str         # "注册建造师、安全生产考核合格证书（B证）"
    projects: str             # current projects under construction, with the role held

    @property
    def search_text(self) -> str:
        return " ".join((self.person.name, self.certificates, self.projects, self.problem or ""))


class ManagerChangeService(ApplicationService):
    """项目主要管理人员变更 (2.2.1.2)."""
    duplicate_message = "该人员在该工程已有未办结的变更申请"

    def changeable(self, principal: Principal, flt: PickFilter = ALL_PICKS) -> list[Assignment]:
        """Locked people of the enterprise on projects under construction (添加 dialog)."""
        self._require_kind(principal)
        return list(db.session.scalars(flt.apply(
            select(Assignment).join(Person, Person.id == Assignment.person_id)
            .join(Project, Project.id == Assignment.project_id)
            .where(Person.enterprise_id == principal.org_id, Person.status == LOCKED,
                   Assignment.ended_at.is_(None), Assignment.role.in_(ROLES_BY_KIND[principal.kind]),
                   Project.status == UNDER_CONSTRUCTION)
            .order_by(Assignment.role, Person.name, Assignment.id), Person.name, Person.id_card, Project.name)))

    def create(self, principal: Principal, assignment_id: int) -> ManagerChangeApplication:
        with self.engine.command():
            self._require_kind(principal)
            a = db.session.get(Assignment, assignment_id)
            if a is None or a.person.enterprise_id != principal.org_id \
                    or a.role not in ROLES_BY_KIND[principal.kind]:
                raise NotFound("只能为本单位的项目经理、安全员、项目总监申请变更")
            if a.ended_at is not None or a.project.status != UNDER_CONSTRUCTION:
                raise DomainError("该人员已不在该在建工程任职")
            if a.person.status != LOCKED:
                raise DomainError("只能为被锁定的人员申请变更")
            app = ManagerChangeApplication(project_id=a.project_id, role=a.role, old_person_id=a.person_id)
            app.project, app.old_person = a.project, a.person
            return self._start(principal, app, f"change:{a.project_id}:{a.role}:{a.person_id}")

    def replacement_choices(self, principal: Principal, app) -> list[tuple[Person, str | None]]:
        """The enterprise's people with the message each would get as the replacement."""
        people = list(db.session.scalars(select(Person).where(
            Person.enterprise_id == principal.org_id, Person.id != app.old_person_id)
            .options(selectinload(Person.certificates)).order_by(Person.name)))
        problems = lock_rule.replacement_problems(app.role, people, principal.org_id, app.old_person_id)
        return [(p, problems[p.id]) for p in people]

    def replacement_candidates(self, principal: Principal, app) -> list["Candidate"]:
        """The replacement picker: eligible people first, each with certificates and current projects;
        the others with the exact message that refuses them."""
        choices = self.replacement_choices(principal, app)
        projects = lock_rule.current_projects([p.id for p, _ in choices])
        candidates = [Candidate(p, problem, "、".join(c.kind_label for c in p.certificates),
                                "、".join(f"{a.project.name}（{a.role_label}）" for a in projects[p.id]))
                      for p, problem in choices]
        return sorted(candidates, key=lambda c: c.problem is not None)   # stable: by name within each

    def widget_context(self, principal: Principal, app) -> dict:
        """What the replacement picker partial (apps/widgets/change_replacement.html) shows."""
        return {"replacement": self.replacement_candidates(principal, app)}

    def check_replacement(self, principal: Principal, app_id: int, person_id: int) -> str | None:
        app = self.get_own(principal, app_id)
        person = db.session.get(Person, person_id)
        if person is None:
            return lock_rule.NOT_OWN_MESSAGE
        return lock_rule.replacement_problem(app.role, person, principal.org_id, app.old_person_id)

    def subject(self, app) -> str:
        new = app.new_person.name if app.new_person else "待定"
        return f"{app.role_label}变更：{app.old_person.name} → {new}"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if fields.get("new_person_id"):
            person = db.session.get(Person, int(fields["new_person_id"]))
            if person is None:
                raise DomainError(f"变更后人员：{lock_rule.NOT_OWN_MESSAGE}", "new_person_id")
            problem = lock_rule.replacement_problem(app.role, person, principal.org_id, app.old_person_id)
            if problem:
                raise DomainError(f"变更后人员：{problem}", "new_person_id")
            app.new_person_id, app.new_person = person.id, person

    def _validate_for_report(self, app):
        self._require_fields(app)
        problem = manager_change_problem(app)
        if problem:
            raise DomainError(f"变更后人员：{problem}", "new_person_id")


@registry.operator("manager_change.apply")
def apply_manager_change(call: ServiceCall) -> dict:
    """变更生效: re-check the replacement, then swap the people and apply the lock rule."""
    app: ManagerChangeApplication = application_of(call.instance)
    lock_rule.serialize(project_ids=[app.project_id], person_ids=[app.old_person_id, app.new_person_id])
    problem = manager_change_problem(app)
    if problem:
        return _recheck_failed(RECHECK_PREFIX + problem)
    old, new = app.old_person, app.new_person
    # the outgoing person's open locks and active assignments, read once under their lock
    locks, held = lock_rule.open_locks(old.id), lock_rule.holdings(old.id)
    lock_rule.end_assignment(old.id, app.role, app.project_id, "项目主要管理人员变更", among=held)
    for lock in locks:
        if lock.project_id == app.project_id and lock.role == app.role:
            lock_rule.close_lock(lock, "项目主要管理人员变更，离开该工程")
    lock_rule.apply_lock_rule(old, locks=locks, assignments=held)
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


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(a.id, a.person.name, f"{a.role_label} · {a.project.name}", group=a.role_label,
                 open_key=f"change:{a.project_id}:{a.role}:{a.person_id}")
            for a in service.changeable(principal, flt)]


ENTRY = catalog.register(ProcessEntry(
    key="manager_change", kind="change", title="项目主要管理人员变更", prefix="BG",
    menu=("人员管理", "锁定/解锁"), filers=(CONTRACTOR, SUPERVISING_FIRM),
    model=ManagerChangeApplication, service=ManagerChangeService, edit_form="manager_change.edit",
    picker_title="选择需变更的人员", picker_empty="本单位暂无可变更的锁定人员（项目经理、安全员、项目总监）",
    picks=_picks,
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("变更类型", lambda a: a.role_label, reads=("role",)),
        Column("变更前人员", lambda a: a.old_person.name, reads=("old_person.name",)),
        Column("变更后人员", lambda a: a.new_person.name if a.new_person else "", reads=("new_person.name",)),
        Column("变更原因", lambda a: a.reason, "clip", reads=("reason",)),
        Column("申请单位", lambda a: a.applicant_org.name, reads=("applicant_org.name",)),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("变更类型", lambda a: a.role_label),
        Column("变更前人员", lambda a: catalog.person_label(a.old_person)),
    ),
    summary=(
        Column("申请单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("变更类型", lambda a: a.role_label),
        Column("变更前人员", lambda a: catalog.person_label(a.old_person)),
        Column("变更后人员", lambda a: catalog.person_label(a.new_person) if a.new_person else None),
        # what the reviewer weighs the replacement by (issue 12, feature 6)
        Column("变更后人员证书", lambda a: directory.certificates_text(a.new_person), when=lambda a: a.new_person),
        Column("变更后人员在建项目", lambda a: directory.current_projects_text(a.new_person),
               when=lambda a: a.new_person),
        Column("变更原因", lambda a: a.reason, "pre"),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    operators=("manager_change.apply",),
    counted_people=lambda a: [(a.new_person, a.role)] if a.new_person else [],
))
