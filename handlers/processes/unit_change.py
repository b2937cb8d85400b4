"""变更参建单位 (domain.md §4.10): the catalog entry, the construction unit's service and 参建单位变更生效.

The construction unit replaces the project's contractor or supervising firm. The counted roles leave
with the old unit, so the application names the new unit's people for them (项目经理 and 安全员 for a
contractor, 项目总监 for a supervising firm), each checked exactly like a replacement in a key-manager
change (lock_rule.replacement_problem, the same messages). Approval, in one transaction under the row
locks of the project, everyone holding a role on it and the new people: the old unit's assignments end
and the lock rule closes or keeps their locks (contract siblings count once), the new unit takes the
project, its people are assigned and locked where the rule says, the old unit's roster entries end,
and both units are notified.
"""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.db import db
from engine.models import utcnow
from engine.registry import ServiceCall
from engine.text import natural_key

from .. import catalog, lock_rule
from ..catalog import Column, Pick, ProcessEntry
from ..codes import is_valid_credit_code
from ..errors import DomainError, FieldErrors
from ..models import (
    ACTIVE, CHIEF_SUPERVISOR, CONSTRUCTION_UNIT, CONTRACTOR, ORG_KINDS, PROJECT_MANAGER, ROLES, SAFETY_OFFICER,
    SUPERVISING_FIRM, UNDER_CONSTRUCTION, Account, Assignment, Organization, Person, Project, RosterEntry,
    UnitChange,
)
from ..notifications import notify
from ..principal import Principal
from .own_projects import NOT_UNDER_CONSTRUCTION, OwnProjectService
from . import RECHECK_PREFIX, _approved, _recheck_failed, application_of, record_project_change, registry
from .manager_change import Candidate

UNIT_FIELD = {CONTRACTOR: "contractor_id", SUPERVISING_FIRM: "supervising_firm_id"}
# the counted roles that leave with the old unit, and the application's field naming the new person
ROLE_FIELDS = {CONTRACTOR: (("manager_id", PROJECT_MANAGER), ("safety_id", SAFETY_OFFICER)),
               SUPERVISING_FIRM: (("chief_id", CHIEF_SUPERVISOR),)}
FIELD_TITLES = {"unit_kind": "变更类型", "new_credit_code": "变更后单位统一社会信用代码",
                "manager_id": "变更后项目经理", "safety_id": "变更后安全员", "chief_id": "变更后项目总监"}
SAME_PERSON = "项目经理与安全员不能为同一人，请重新选择"


def unit_of(project: Project, kind: str) -> int | None:
    return getattr(project, UNIT_FIELD[kind])


def find_unit(kind: str, credit_code: str) -> tuple[Organization | None, str | None]:
    """The registered, active enterprise of this kind with the code, or the message refusing it."""
    if not is_valid_credit_code(credit_code):
        return None, "统一社会信用代码格式不正确（18 位，含校验位）"
    org = db.session.scalar(select(Organization).where(Organization.credit_code == credit_code))
    if org is None or org.kind != kind:
        return None, f"未找到该统一社会信用代码对应的{ORG_KINDS[kind]}"
    active = db.session.scalar(select(Account.id).where(Account.org_id == org.id, Account.status == ACTIVE).limit(1))
    if active is None:
        return None, "该单位尚未通过注册审核，不能作为变更后单位"
    return org, None


def person_problem(app: UnitChange, role: str, person: Person) -> str | None:
    """A new person is checked exactly like a key-manager replacement, and must belong to the new unit."""
    if person.enterprise_id != app.new_unit_id:
        return f"该人员不属于变更后的{ORG_KINDS[app.unit_kind]}，请重新选择"
    return lock_rule.replacement_problem(role, person, app.new_unit_id)


def named_people(app: UnitChange) -> list[tuple[str, str, Person | None]]:
    """(field, role, the person named) for the roles leaving with the old unit."""
    return [(name, role, getattr(app, name.removesuffix("_id"))) for name, role in ROLE_FIELDS[app.unit_kind]]


def unit_change_problems(app: UnitChange, require_all: bool = True) -> dict[str, str]:
    """field -> message for everything that stops the change now (the report and the approval)."""
    project = app.project
    if project.status != UNDER_CONSTRUCTION:
        return {"_": NOT_UNDER_CONSTRUCTION}
    if unit_of(project, app.unit_kind) != app.old_unit_id:
        return {"_": f"该工程的{ORG_KINDS[app.unit_kind]}已变更，请重新填写"}
    problems: dict[str, str] = {}
    if app.new_unit is None:
        if require_all:
            problems["new_credit_code"] = "请填写变更后单位统一社会信用代码"
        return problems
    _unit, problem = find_unit(app.unit_kind, app.new_unit.credit_code or "")
    if problem or app.new_unit_id == app.old_unit_id:
        problems["new_credit_code"] = problem or "变更后单位不能与原单位相同"
        return problems
    for name, role, person in named_people(app):
        if person is None:
            if require_all:
                problems[name] = f"请选择{FIELD_TITLES[name]}"
            continue
        problem = person_problem(app, role, person)
        if problem:
            problems[name] = problem
    if app.unit_kind == CONTRACTOR and app.manager_id and app.manager_id == app.safety_id:
        problems.setdefault("safety_id", SAME_PERSON)
    return problems


class UnitChangeService(OwnProjectService):
    not_own = "只能变更本单位工程的参建单位"
    duplicate_message = "该工程已有未办结的参建单位变更"

    def create(self, principal: Principal, project_id: int) -> UnitChange:
        with self.engine.command():
            project = self._own_project(principal, project_id)
            app = UnitChange(project_id=project.id, unit_kind=CONTRACTOR, old_unit_id=project.contractor_id)
            app.project = project
            return self._start(principal, app, f"unit:{project.id}")

    def subject(self, app) -> str:
        new = app.new_unit.name if app.new_unit else "待定"
        old = app.old_unit.name if app.old_unit else "无"
        return f"{app.project.name}{app.unit_label}变更：{old} → {new}"

    def widget_context(self, principal: Principal, app) -> dict:
        """For each role leaving with the old unit: the new unit's people, eligible first, the others
        with the message that refuses them (the same as in a key-manager change)."""
        if app.new_unit_id is None:
            return {}
        people = list(db.session.scalars(select(Person).where(Person.enterprise_id == app.new_unit_id)
                                         .options(selectinload(Person.certificates)).order_by(Person.name)))
        projects = lock_rule.current_projects([p.id for p in people])
        out = {}
        for name, role, _person in named_people(app):
            problems = lock_rule.replacement_problems(role, people, app.new_unit_id)
            candidates = [Candidate(p, problems[p.id], "、".join(c.kind_label for c in p.certificates),
                                    "、".join(f"{a.project.name}（{a.role_label}）" for a in projects[p.id]))
                          for p in people]
            out[name] = sorted(candidates, key=lambda c: c.problem is not None)
        return out

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if "unit_kind" in fields:
            kind = fields["unit_kind"] or CONTRACTOR
            if kind not in UNIT_FIELD:
                raise DomainError("变更类型：请选择变更施工单位或变更监理单位", "unit_kind")
            if kind != app.unit_kind:   # another kind of unit: the people named for the other one go
                app.unit_kind, app.old_unit_id = kind, unit_of(app.project, kind)
                app.new_unit_id = app.new_unit = None
                app.manager_id = app.safety_id = app.chief_id = None
        if "new_credit_code" in fields:
            code = natural_key(fields["new_credit_code"])
            app.new_credit_code = code
            unit = None
            if code:
                unit, problem = find_unit(app.unit_kind, code)
                if problem:
                    raise DomainError(f"{FIELD_TITLES['new_credit_code']}：{problem}", "new_credit_code")
                if unit.id == app.old_unit_id:
                    raise DomainError(f"{FIELD_TITLES['new_credit_code']}：变更后单位不能与原单位相同",
                                      "new_credit_code")
            if (unit.id if unit else None) != app.new_unit_id:
                app.manager_id = app.safety_id = app.chief_id = None   # they belonged to the other unit
            app.new_unit_id, app.new_unit = (unit.id, unit) if unit else (None, None)
        for name, role in ROLE_FIELDS[app.unit_kind]:
            if name in fields:
                self._name_person(app, name, role, fields[name])

    def _name_person(self, app, name, role, value):
        person = db.session.get(Person, int(value)) if value else None
        if value and person is None:
            raise DomainError(f"{FIELD_TITLES[name]}：{lock_rule.NOT_OWN_MESSAGE}", name)
        if person is not None:
            if app.new_unit_id is None:
                raise DomainError(f"{FIELD_TITLES[name]}：请先填写变更后单位统一社会信用代码并暂存", name)
            problem = person_problem(app, role, person)
            if problem:
                raise DomainError(f"{FIELD_TITLES[name]}：{problem}", name)
        setattr(app, name, person.id if person else None)
        setattr(app, name.removesuffix("_id"), person)

    def _validate_saved(self, app):
        _raise(unit_change_problems(app, require_all=False))

    def _validate_for_report(self, app):
        self._require_fields(app)
        _raise(unit_change_problems(app))


def _raise(problems: dict[str, str]) -> None:
    if problems:
        raise FieldErrors({k: f"{FIELD_TITLES[k]}：{m}" if k in FIELD_TITLES else m for k, m in problems.items()})


@registry.operator("unit_change.apply")
def apply_unit_change(call: ServiceCall) -> dict:
    """参建单位变更生效: re-check every person, then move the project to the new unit and its people."""
    app: UnitChange = application_of(call.instance)
    new_ids = [getattr(app, name) for name, _role in ROLE_FIELDS[app.unit_kind]]
    lock_rule.serialize_project(app.project_id, new_ids)   # the project, everyone on it, the new people
    problems = unit_change_problems(app)
    if problems:
        return _recheck_failed(RECHECK_PREFIX + next(iter(problems.values())))
    project, kind, old_unit, new_unit = app.project, app.unit_kind, app.old_unit, app.new_unit
    roles = [role for _name, role in ROLE_FIELDS[kind]]
    history = [[ORG_KINDS[kind], old_unit.name if old_unit else "", new_unit.name]]
    notes = _leave(project, roles, history)
    setattr(project, UNIT_FIELD[kind], new_unit.id)
    if old_unit is not None:
        for entry in db.session.scalars(select(RosterEntry).where(
                RosterEntry.project_id == project.id, RosterEntry.org_id == old_unit.id, RosterEntry.ended_at.is_(None))):
            entry.ended_at, entry.end_reason = utcnow(), f"变更参建单位，原{ORG_KINDS[kind]}退出"
    for _name, role, person in named_people(app):
        lock_rule.assign(person, project, role)
        next(row for row in history if row[0] == ROLES[role])[2] = person.name
    record_project_change(app, call.actor, history)
    notes += _notify_units(app, project, old_unit, new_unit)
    return {**_approved(app, f"{old_unit.name if old_unit else '（无）'} → {new_unit.name}"), "notes": notes}


def _leave(project, roles, history) -> list[str]:
    """End the old unit's counted assignments on the project; the lock rule closes or keeps each
    person's locks. Returns what stays as it is (a lock kept by a contract sibling)."""
    leaving = list(db.session.scalars(select(Assignment).where(
        Assignment.project_id == project.id, Assignment.role.in_(roles), Assignment.ended_at.is_(None))
        .order_by(Assignment.role, Assignment.person_id)))
    for role in roles:
        history.append([ROLES[role], "、".join(a.person.name for a in leaving if a.role == role), ""])
    notes = []
    for a in leaving:
        lock_rule.end_assignment(a.person_id, a.role, project.id, "变更参建单位，原单位人员退出")
    for person in {a.person_id: a.person for a in leaving}.values():
        lock_rule.apply_lock_rule(person)
        for a in (a for a in leaving if a.person_id == person.id):
            groups = lock_rule.counted_projects(person.id, a.role)
            if len(groups) >= lock_rule.LIMITS[a.role]:
                names = "、".join(n for _no, ns in groups for n in ns)
                notes.append(f"{person.name} 仍在 {names} 担任{a.role_label}，锁定保持")
    return notes


def _notify_units(app, project, old_unit, new_unit) -> list[str]:
    kind = ORG_KINDS[app.unit_kind]
    title = f"参建单位变更：{project.name}（{app.case_no}）"
    body = (f"{app.applicant_org.name}将{project.name}的{kind}由{old_unit.name if old_unit else '（无）'}"
            f"变更为{new_unit.name}，已审核通过。")
    notes = []
    if old_unit is not None:
        notify("unit_changed", [old_unit.id], title, body + "贵单位人员在该工程的任职已结束，该工程不再列入贵单位的工程。")
        notes.append(f"{old_unit.name} 将不再看到该工程，并收到通知")
    notify("unit_changed", [new_unit.id], title, body + "贵单位已成为该工程的" + kind + "。")
    notes.append(f"{new_unit.name} 将收到通知")
    return notes


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(p.id, p.name, f"施工单位 {p.contractor.name if p.contractor else '—'} · "
                               f"监理单位 {p.supervising_firm.name if p.supervising_firm else '—'}",
                 open_key=f"unit:{p.id}")
            for p in service.projects(principal, flt)]


def _people_text(app) -> str:
    return "；".join(f"{ROLES[role]}：{catalog.person_label(p) if p else '未选择'}" for _n, role, p in named_people(app))


ENTRY = catalog.register(ProcessEntry(
    key="unit_change", kind="unit", title="变更参建单位", prefix="CJ",
    menu=("项目管理", "工程变更"), crumbs=("项目管理", "在建", "工程变更"), filers=(CONSTRUCTION_UNIT,),
    model=UnitChange, service=UnitChangeService, edit_form="unit_change.edit",
    picker_title="选择需变更参建单位的工程", picker_empty="本单位暂无在建工程", picks=_picks,
    pick_search="工程名称或报监登记号",
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("变更类型", lambda a: a.unit_label, reads=("unit_kind",)),
        Column("原单位", lambda a: a.old_unit.name if a.old_unit else "—", reads=("old_unit.name",)),
        Column("变更后单位", lambda a: a.new_unit.name if a.new_unit else "", reads=("new_unit.name",)),
        Column("变更原因", lambda a: a.reason, "clip", reads=("reason",)),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("施工单位", lambda a: a.project.contractor.name if a.project.contractor else "—"),
        Column("监理单位", lambda a: a.project.supervising_firm.name if a.project.supervising_firm else "—"),
    ),
    summary=(
        Column("建设单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("变更类型", lambda a: a.unit_label),
        Column("原单位", lambda a: a.old_unit.name if a.old_unit else "—"),
        Column("变更后单位", lambda a: f"{a.new_unit.name}（{a.new_unit.credit_code}）" if a.new_unit else None),
        Column("变更后人员", _people_text),
        Column("变更原因", lambda a: a.reason, "pre"),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    operators=("unit_change.apply",),
    counted_people=lambda a: [(p, role) for _n, role, p in named_people(a) if p is not None],
))
