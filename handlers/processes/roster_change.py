"""变更工程人员 (domain.md §4.9): the catalog entry, the construction unit's service and 名册变更生效.

The construction unit keeps the project's personnel roster (项目人员名册) for the roles the lock rule
does not count: it adds a person, replaces an entry or removes one. Each person must be employed by
the unit the role belongs to and hold the role's certificate (lock_rule.ROSTER_CERTIFICATES). The
counted roles are refused here: their employer files 项目主要管理人员变更.
"""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.db import db
from engine.models import utcnow
from engine.registry import ServiceCall

from .. import catalog, lock_rule
from ..catalog import Column, Pick, ProcessEntry
from ..errors import DomainError
from ..models import (
    CONSTRUCTION_UNIT, CONTRACTOR, ORG_KINDS, ROLES, ROSTER_EMPLOYER, ROSTER_ROLES, SUPERVISING_FIRM,
    UNDER_CONSTRUCTION, Person, Project, RosterChange, RosterEntry,
)
from ..principal import Principal
from .own_projects import NOT_UNDER_CONSTRUCTION, OwnProjectService
from . import RECHECK_PREFIX, _approved, _recheck_failed, application_of, record_project_change, registry
from .manager_change import Candidate

COUNTED_ROLE = "项目经理、安全员、项目总监的变更请由其所在单位通过“项目主要管理人员变更”办理"
OPERATIONS = {"add": "增加人员", "replace": "更换人员", "remove": "移除人员"}
ENTRY_GONE = "该名册人员已不在本工程，请重新选择"
UNIT_FIELD = {CONSTRUCTION_UNIT: "construction_unit_id", CONTRACTOR: "contractor_id",
              SUPERVISING_FIRM: "supervising_firm_id"}


def roster(project_id: int) -> list[RosterEntry]:
    """The project's current roster, by role."""
    return list(db.session.scalars(select(RosterEntry).where(
        RosterEntry.project_id == project_id, RosterEntry.ended_at.is_(None)).order_by(RosterEntry.role, RosterEntry.id)))


def role_unit_id(project: Project, role: str) -> int | None:
    """The organisation the roster role belongs to on this project (its construction unit, contractor
    or supervising firm)."""
    return getattr(project, UNIT_FIELD[ROSTER_EMPLOYER[role]])


def person_problem(project: Project, role: str, person: Person, replacing: RosterEntry | None = None) -> str | None:
    """Why the person cannot take the roster role on the project, or None."""
    unit_kind = ROSTER_EMPLOYER[role]
    unit_id = role_unit_id(project, role)
    if unit_id is None:
        return f"本工程暂无{ORG_KINDS[unit_kind]}"
    if person.enterprise_id != unit_id:
        return f"该人员不属于本工程的{ORG_KINDS[unit_kind]}，请重新选择"
    if replacing is not None and replacing.person_id == person.id:
        return "变更后人员不能与变更前人员相同，请重新选择"
    missing = lock_rule.missing_certificate(person, lock_rule.ROSTER_CERTIFICATES.get(role, ()))
    if missing:
        return missing
    on_it = db.session.scalar(select(RosterEntry.id).where(
        RosterEntry.project_id == project.id, RosterEntry.person_id == person.id, RosterEntry.role == role,
        RosterEntry.ended_at.is_(None)).limit(1))
    if on_it is not None:
        return f"该人员已在本工程担任{ROSTER_ROLES[role]}，请重新选择"
    return None


class RosterChangeService(OwnProjectService):
    not_own = "只能变更本单位工程的人员"
    duplicate_message = "该工程已有未办结的工程人员变更"

    def create(self, principal: Principal, project_id: int) -> RosterChange:
        with self.engine.command():
            project = self._own_project(principal, project_id)
            app = RosterChange(project_id=project.id, operation="add")
            app.project = project
            return self._start(principal, app, f"roster:{project.id}")

    def subject(self, app) -> str:
        role = ROSTER_ROLES.get(app.role, "")
        who = app.person.name if app.person else (app.entry.person.name if app.entry else "")
        return f"{app.project.name}工程人员变更：{OPERATIONS.get(app.operation, '')}{role}{who}"

    def widget_context(self, principal: Principal, app) -> dict:
        """The roster to pick an entry from, and the people of the project's units for the person."""
        project = app.project
        unit_ids = [i for i in (project.construction_unit_id, project.contractor_id, project.supervising_firm_id) if i]
        people = list(db.session.scalars(select(Person).where(Person.enterprise_id.in_(unit_ids))
                                         .options(selectinload(Person.certificates)).order_by(Person.name)))
        role = app.role if app.role in ROSTER_ROLES else None
        candidates = [Candidate(p, person_problem(project, role, p, app.entry) if role else None,
                                "、".join(c.kind_label for c in p.certificates), p.enterprise.name) for p in people]
        return {"entry_id": roster(project.id),
                "person_id": sorted(candidates, key=lambda c: c.problem is not None)}

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if "operation" in fields:
            if fields["operation"] not in OPERATIONS:
                raise DomainError("变更方式：请选择增加、更换或移除人员", "operation")
            app.operation = fields["operation"]
        if "role" in fields and fields["role"]:
            if fields["role"] in ROLES:
                raise DomainError(COUNTED_ROLE, "role")
            if fields["role"] not in ROSTER_ROLES:
                raise DomainError("岗位：请从列表中选择岗位", "role")
            app.role = fields["role"]
        if "entry_id" in fields:
            entry = db.session.get(RosterEntry, int(fields["entry_id"])) if fields["entry_id"] else None
            if fields["entry_id"] and (entry is None or entry.project_id != app.project_id or entry.ended_at):
                raise DomainError(f"名册人员：{ENTRY_GONE}", "entry_id")
            app.entry_id, app.entry = (entry.id, entry) if entry else (None, None)
        if "person_id" in fields:
            person = db.session.get(Person, int(fields["person_id"])) if fields["person_id"] else None
            if fields["person_id"] and person is None:
                raise DomainError(f"人员：{lock_rule.NOT_OWN_MESSAGE}", "person_id")
            app.person_id, app.person = (person.id, person) if person else (None, None)

    def _validate_saved(self, app):
        if app.operation in ("replace", "remove") and app.entry is not None:
            app.role = app.entry.role   # the entry's role is the one changed
        _raise(roster_problem(app, require_all=False))

    def _validate_for_report(self, app):
        self._require_fields(app)
        self._validate_saved(app)
        _raise(roster_problem(app, require_all=True))


FIELD_LABELS = {"entry_id": "名册人员", "role": "岗位", "person_id": "人员"}


def _raise(problem):
    if problem:
        field, message = problem
        raise DomainError(f"{FIELD_LABELS[field]}：{message}" if field in FIELD_LABELS else message, field)


def roster_problem(app: RosterChange, require_all: bool) -> tuple[str, str] | None:
    """(field, message) of what stops the change; ``require_all``: also what is still missing."""
    if app.project.status != UNDER_CONSTRUCTION:
        return "_", NOT_UNDER_CONSTRUCTION
    if app.operation in ("replace", "remove"):
        if app.entry is None:
            return ("entry_id", "请选择名册人员") if require_all else None
        if app.entry.ended_at is not None or app.entry.project_id != app.project_id:
            return "entry_id", ENTRY_GONE
    elif app.role is None:
        return ("role", "请选择岗位") if require_all else None
    if app.operation == "remove":
        return None
    if app.person is None:
        return ("person_id", "请选择人员") if require_all else None
    problem = person_problem(app.project, app.role, app.person, app.entry if app.operation == "replace" else None)
    return ("person_id", problem) if problem else None


@registry.operator("roster_change.apply")
def apply_roster_change(call: ServiceCall) -> dict:
    """名册变更生效: re-check, then end the entry and/or add the person; the history keeps it."""
    app: RosterChange = application_of(call.instance)
    lock_rule.serialize_project(app.project_id)   # a unit change or a completion reads after us
    problem = roster_problem(app, require_all=True)
    if problem:
        return _recheck_failed(RECHECK_PREFIX + problem[1])
    role = ROSTER_ROLES[app.role]
    before = after = ""
    if app.operation in ("replace", "remove"):
        app.entry.ended_at, app.entry.end_reason = utcnow(), f"变更工程人员（{OPERATIONS[app.operation]}）"
        before = app.entry.person.name
    if app.operation in ("add", "replace"):
        db.session.add(RosterEntry(project_id=app.project_id, person_id=app.person_id, role=app.role,
                                   org_id=role_unit_id(app.project, app.role), started_at=utcnow()))
        after = app.person.name
    record_project_change(app, call.actor, [[role, before, after]])
    return _approved(app, f"{role}：{before or '（无）'} → {after or '（无）'}")


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(p.id, p.name, f"报监登记号 {p.supervision_no}", open_key=f"roster:{p.id}")
            for p in service.projects(principal, flt)]


def _change_text(a) -> str:
    before = a.entry.person.name if a.entry and a.operation != "add" else ""
    after = a.person.name if a.person and a.operation != "remove" else ""
    return f"{before or '（无）'} → {after or '（无）'}"


ENTRY = catalog.register(ProcessEntry(
    key="roster_change", kind="roster", title="变更工程人员", prefix="RY",
    menu=("项目管理", "工程变更"), crumbs=("项目管理", "在建", "工程变更"), filers=(CONSTRUCTION_UNIT,),
    model=RosterChange, service=RosterChangeService, edit_form="roster_change.edit",
    picker_title="选择需变更人员的工程", picker_empty="本单位暂无在建工程", picks=_picks,
    pick_search="工程名称或报监登记号",
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("变更方式", lambda a: OPERATIONS.get(a.operation, ""), reads=("operation",)),
        Column("岗位", lambda a: ROSTER_ROLES.get(a.role, ""), reads=("role",)),
        Column("变更前后人员", _change_text, reads=("operation", "entry.person.name", "person.name")),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("施工单位", lambda a: a.project.contractor.name if a.project.contractor else "—"),
        Column("监理单位", lambda a: a.project.supervising_firm.name if a.project.supervising_firm else "—"),
    ),
    summary=(
        Column("建设单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("变更方式", lambda a: OPERATIONS.get(a.operation, "")),
        Column("岗位", lambda a: ROSTER_ROLES.get(a.role, "")),
        Column("变更前人员", lambda a: catalog.person_label(a.entry.person), when=lambda a: a.entry is not None),
        Column("变更后人员", lambda a: catalog.person_label(a.person),
               when=lambda a: a.person is not None and a.operation != "remove"),
        Column("变更后人员证书", lambda a: "、".join(f"{c.kind_label}（{c.number}）" for c in a.person.certificates) or "无",
               when=lambda a: a.person is not None and a.operation != "remove"),
        Column("变更原因", lambda a: a.reason, "pre"),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    operators=("roster_change.apply",),
))
