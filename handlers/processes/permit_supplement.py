"""施工许可证补录 (domain.md §4.7): the catalog entry, the construction unit's service and 补录生效.

A project pushed in before its construction permit existed gets its permit number later: the
construction unit files the number, the issue date and the scan; the project's regulators review
it; approval sets the project's permit number.
"""
from datetime import date

from engine.registry import ServiceCall
from engine.text import natural_key

from .. import catalog, lock_rule
from ..applications import _text
from ..catalog import Column, Pick, ProcessEntry
from ..errors import DomainError
from ..models import CONSTRUCTION_UNIT, PermitSupplement
from ..principal import Principal
from .own_projects import OwnProjectService
from . import _approved, _recheck_failed, application_of, registry

HAS_PERMIT = "该工程已有施工许可证号，无需补录"


class PermitSupplementService(OwnProjectService):
    not_own = "只能为本单位的工程补录施工许可证"
    not_under_construction = "该工程已竣工"
    duplicate_message = "该工程已有未办结的施工许可证补录"

    def create(self, principal: Principal, project_id: int) -> PermitSupplement:
        with self.engine.command():
            project = self._own_project(principal, project_id)
            if project.permit_no:
                raise DomainError(HAS_PERMIT)
            app = PermitSupplement(project_id=project.id)
            app.project = project
            return self._start(principal, app, f"permit:{project.id}")

    def subject(self, app) -> str:
        return f"{app.project.name}施工许可证补录"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if "permit_no" in fields:
            app.permit_no = natural_key(_text(fields["permit_no"], 50, "施工许可证号", "permit_no"))
        if "issue_date" in fields:
            app.issue_date = _issue_date(fields["issue_date"])

    def _validate_for_report(self, app):
        self._require_fields(app)
        if app.project.permit_no:
            raise DomainError(HAS_PERMIT)


def _issue_date(value) -> date | None:
    if isinstance(value, str) and value:
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise DomainError("发证日期：日期格式不正确", "issue_date") from None
    if value and value > date.today():
        raise DomainError("发证日期：不能晚于今天", "issue_date")
    return value or None


@registry.operator("permit_supplement.apply")
def apply_permit(call: ServiceCall) -> dict:
    """补录生效: the project gets the permit number, unless it got one meanwhile."""
    app: PermitSupplement = application_of(call.instance)
    lock_rule.serialize_project(app.project_id)   # a concurrent supplement or completion reads after us
    project = app.project
    if project.permit_no:
        return _recheck_failed(HAS_PERMIT)
    project.permit_no = app.permit_no
    return _approved(app, f"{project.name}施工许可证号已补录：{app.permit_no}")


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(p.id, p.name, f"报监登记号 {p.supervision_no}",
                 reason=f"{HAS_PERMIT}（{p.permit_no}）" if p.permit_no else None, open_key=f"permit:{p.id}")
            for p in service.projects(principal, flt)]


ENTRY = catalog.register(ProcessEntry(
    key="permit_supplement", kind="permit", title="施工许可证补录", prefix="XK",
    menu=("项目管理", "施工许可"), crumbs=("项目管理", "在建", "施工许可"), filers=(CONSTRUCTION_UNIT,),
    model=PermitSupplement, service=PermitSupplementService, edit_form="permit_supplement.edit",
    picker_title="选择需补录施工许可证的工程", picker_empty="本单位暂无在建工程", picks=_picks,
    pick_search="工程名称或报监登记号",
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("施工许可证号", lambda a: a.permit_no, reads=("permit_no",)),
        Column("发证日期", lambda a: a.issue_date or "", reads=("issue_date",)),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("主管部门", lambda a: a.project.authority.name),
        Column("监督机构", lambda a: a.project.agency.name),
    ),
    summary=(
        Column("建设单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("施工许可证号", lambda a: a.permit_no),
        Column("发证日期", lambda a: a.issue_date),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    operators=("permit_supplement.apply",),
))
