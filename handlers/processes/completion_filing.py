"""竣工验收备案 (2.3.2): the catalog entry, the applicant's service and 竣工备案生效."""
from datetime import date

from sqlalchemy import select

from engine.db import db
from engine.models import utcnow
from engine.registry import ServiceCall

from .. import catalog, lock_rule
from ..applications import TEXT_MAX, _text
from ..catalog import Column, Pick, ProcessEntry
from ..errors import DomainError
from ..models import COMPLETED, CONSTRUCTION_UNIT, UNDER_CONSTRUCTION, Assignment, CompletionFiling
from ..principal import Principal
from .own_projects import OwnProjectService
from . import _approved, _recheck_failed, application_of, registry


class CompletionService(OwnProjectService):
    """竣工验收备案 (2.3.2)."""
    not_own = "只能为本单位的工程发起竣工验收备案"
    not_under_construction = "该工程已竣工"
    duplicate_message = "该工程已有未办结的竣工验收备案"

    def create(self, principal: Principal, project_id: int) -> CompletionFiling:
        with self.engine.command():
            project = self._own_project(principal, project_id)
            app = CompletionFiling(project_id=project.id, permit_no=project.permit_no or "")
            app.project = project
            return self._start(principal, app, f"completion:{project.id}")

    def subject(self, app) -> str:
        return f"{app.project.name}竣工验收备案"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if "acceptance_date" in fields:
            value = fields["acceptance_date"]
            if isinstance(value, str) and value:
                try:
                    value = date.fromisoformat(value)
                except ValueError:
                    raise DomainError("竣工验收日期：日期格式不正确", "acceptance_date") from None
            if value and value > date.today():
                raise DomainError("竣工验收日期：不能晚于今天", "acceptance_date")
            app.acceptance_date = value or None
        if "conclusion" in fields:
            app.conclusion = _text(fields["conclusion"], TEXT_MAX, "验收结论", "conclusion")
        if "permit_no" in fields:
            app.permit_no = _text(fields["permit_no"], 50, "施工许可证号", "permit_no")

    def _validate_for_report(self, app):
        self._require_fields(app)
        if app.project.status != UNDER_CONSTRUCTION:
            raise DomainError("该工程已竣工")


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


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(pr.id, pr.name, f"报监登记号 {pr.supervision_no} · 施工许可证号 {pr.permit_no or '未录入'}",
                 open_key=f"completion:{pr.id}")
            for pr in service.projects(principal, flt)]


ENTRY = catalog.register(ProcessEntry(
    key="completion_filing", kind="completion", title="竣工验收备案", prefix="JG",
    menu=("项目管理", "验收管理"), crumbs=("项目管理", "在建", "验收管理"), filers=(CONSTRUCTION_UNIT,),
    model=CompletionFiling, service=CompletionService, edit_form="completion_filing.edit",
    picker_title="选择竣工验收备案的工程", picker_empty="本单位暂无在建工程", picks=_picks,
    pick_search="工程名称或报监登记号",
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("竣工验收日期", lambda a: a.acceptance_date or "", reads=("acceptance_date",)),
        Column("施工许可证号", lambda a: a.permit_no, reads=("permit_no",)),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("合同登记编号", lambda a: a.project.contract_no),
        Column("主管部门", lambda a: a.project.authority.name),
        Column("监督机构", lambda a: a.project.agency.name),
    ),
    summary=(
        Column("建设单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("合同登记编号", lambda a: a.project.contract_no),
        Column("竣工验收日期", lambda a: a.acceptance_date),
        Column("验收结论", lambda a: a.conclusion, "pre"),
        Column("施工许可证号", lambda a: a.permit_no),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    operators=("completion_filing.apply",),
))
