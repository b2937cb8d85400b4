"""变更工程信息 (domain.md §4.8): the catalog entry, the construction unit's service and 变更生效.

The construction unit changes its project's descriptive facts (name, address, scale, cost,
structure, planned dates); the registration numbers, the regulators and the units are not among
them. Approval updates the project, keeps before → after in its change history and tells the
subscribed systems (webhook ``project.changed``).
"""
from datetime import date
from decimal import Decimal, InvalidOperation

from engine.registry import ServiceCall

from .. import catalog, lock_rule, webhooks
from ..applications import _text
from ..catalog import Column, Pick, ProcessEntry
from ..errors import DomainError
from ..models import CONSTRUCTION_UNIT, PROJECT_FACTS, UNDER_CONSTRUCTION, ProjectInfoChange
from ..principal import Principal
from .own_projects import NOT_UNDER_CONSTRUCTION, OwnProjectService
from . import RECHECK_PREFIX, _approved, _recheck_failed, application_of, record_project_change, registry

NOTHING_CHANGED = "工程信息未作任何变更"
TEXT_LIMITS = {"name": 200, "address": 300, "scale": 100, "structure_type": 50}
MAX_COST = Decimal("999999999999.99")


class ProjectInfoChangeService(OwnProjectService):
    not_own = "只能变更本单位的工程"
    duplicate_message = "该工程已有未办结的工程信息变更"

    def create(self, principal: Principal, project_id: int) -> ProjectInfoChange:
        with self.engine.command():
            project = self._own_project(principal, project_id)
            # the form starts from the project as it is
            app = ProjectInfoChange(project_id=project.id, **{k: getattr(project, k) for k in PROJECT_FACTS})
            app.project = project
            return self._start(principal, app, f"info:{project.id}")

    def subject(self, app) -> str:
        return f"{app.project.name}工程信息变更"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        for name, value in fields.items():
            if name in TEXT_LIMITS:
                setattr(app, name, _text(value, TEXT_LIMITS[name], PROJECT_FACTS[name], name))
            elif name == "cost":
                app.cost = _cost(value)
            elif name in ("planned_start", "planned_end"):
                setattr(app, name, _date(value, PROJECT_FACTS[name], name))

    def _validate_saved(self, app):
        if app.planned_start and app.planned_end and app.planned_end < app.planned_start:
            raise DomainError("计划竣工日期：不能早于计划开工日期", "planned_end")

    def _validate_for_report(self, app):
        self._require_fields(app)
        self._validate_saved(app)
        if not changed_facts(app):
            raise DomainError(NOTHING_CHANGED)


def _cost(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        cost = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise DomainError("工程造价（万元）：请填写数字，如 12500.50", "cost") from None
    if not cost.is_finite() or cost < 0 or cost > MAX_COST or cost != cost.quantize(Decimal("0.01")):
        raise DomainError("工程造价（万元）：请填写不小于 0、最多两位小数的数字", "cost")
    return cost.quantize(Decimal("0.01"))


def _date(value, label, field) -> date | None:
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise DomainError(f"{label}：日期格式不正确", field) from None
    return value or None


def _shown(value):
    """A fact as the history and the webhook keep it (JSON: dates and amounts as text)."""
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def changed_facts(app: ProjectInfoChange) -> dict[str, tuple]:
    """field -> (the project's value, the application's) for every fact the application changes."""
    project = app.project
    return {k: (getattr(project, k), getattr(app, k)) for k in PROJECT_FACTS
            if _shown(getattr(project, k)) != _shown(getattr(app, k))}


@registry.operator("project_info_change.apply")
def apply_info_change(call: ServiceCall) -> dict:
    """变更生效: the project takes the new facts; the history keeps before → after."""
    app: ProjectInfoChange = application_of(call.instance)
    lock_rule.serialize_project(app.project_id)   # a completion or a second change reads after us
    project = app.project
    if project.status != UNDER_CONSTRUCTION:
        return _recheck_failed(RECHECK_PREFIX + NOT_UNDER_CONSTRUCTION)
    changes = changed_facts(app)
    for name, (_before, after) in changes.items():
        setattr(project, name, after)
    record_project_change(app, call.actor,
                          [[PROJECT_FACTS[k], _shown(b), _shown(a)] for k, (b, a) in changes.items()])
    webhooks.emit("project.changed", {
        "project": {"id": project.id, "supervision_no": project.supervision_no},
        "application": {"process": ENTRY.key, "id": app.id, "case_no": app.case_no},
        "changes": {k: [_shown(b), _shown(a)] for k, (b, a) in changes.items()}})
    return _approved(app, "、".join(PROJECT_FACTS[k] for k in changes) + "已变更" if changes else "工程信息未变更")


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(p.id, p.name, f"报监登记号 {p.supervision_no}", open_key=f"info:{p.id}")
            for p in service.projects(principal, flt)]


def _changes_text(app) -> str:
    return "\n".join(f"{PROJECT_FACTS[k]}：{_shown(b) or '（空）'} → {_shown(a) or '（空）'}"
                     for k, (b, a) in changed_facts(app).items()) or "（无）"


ENTRY = catalog.register(ProcessEntry(
    key="project_info_change", kind="info", title="变更工程信息", prefix="GX",
    menu=("项目管理", "工程变更"), crumbs=("项目管理", "在建", "工程变更"), filers=(CONSTRUCTION_UNIT,),
    model=ProjectInfoChange, service=ProjectInfoChangeService, edit_form="project_info_change.edit",
    picker_title="选择需变更信息的工程", picker_empty="本单位暂无在建工程", picks=_picks,
    pick_search="工程名称或报监登记号",
    columns=(
        Column("工程名称", lambda a: a.project.name, reads=("project.name",)),
        Column("变更后工程名称", lambda a: a.name, reads=("name",)),
        Column("变更原因", lambda a: a.reason, "clip", reads=("reason",)),
    ),
    basics=(
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("合同登记编号", lambda a: a.project.contract_no or "—"),
        Column("主管部门", lambda a: a.project.authority.name),
        Column("监督机构", lambda a: a.project.agency.name),
    ),
    summary=(
        Column("建设单位", lambda a: a.applicant_org.name),
        Column("工程名称", lambda a: f"{a.project.name}（{a.project.supervision_no}）"),
        Column("变更内容（变更前 → 变更后）", _changes_text, "pre", when=lambda a: a.status != "approved"),
        Column("变更后工程信息", lambda a: "\n".join(f"{label}：{_shown(getattr(a, k)) or '（空）'}"
                                                 for k, label in PROJECT_FACTS.items()), "pre"),
        Column("变更原因", lambda a: a.reason, "pre"),
        Column("变更说明", lambda a: a.explanation, "pre"),
    ),
    operators=("project_info_change.apply",),
))
