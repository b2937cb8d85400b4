"""Migrating running applications to another version of their process, in business terms.

The workflow part is the engine's (engine.migration): the element mapping, the dry run of one
instance, the migration of one instance in its own transaction, the rollback. This module chooses
the applications (all on a version, or those matching filters: the step they wait at, the region
of the project's competent authority, reported before a date, case numbers), turns the engine's
dry run into a report a designer reads (``ReportRow``: case number, applicant, where it waits and
who holds it, where it will wait, what happens to its inbox rows, claim, deadline and timers, and
why), and runs a plan as jobs with progress. Only a 流程设计 principal may call it.

Command-line equivalents: ``flask bpmn migrate <process> --from N --to M [filters] [--dry-run]``
and ``flask bpmn rollback``.
"""
import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import exists, or_, select

from engine import Actor, ProcessEngine
from engine.db import db
from engine.migration import (CANCELLED, CLOSED, KEPT, MIGRATED, OPENED, RECOMPUTED, REFUSED, RELEASED, RESTARTED,
                              ROLLED_BACK, STARTED, ElementMap, InstancePlan, MigrationRefused)
from engine.models import HumanTask, InstanceMigration, MigrationPlan, ProcessDefinition, ProcessInstance
from engine.workcalendar import local_date, local_midnight_utc

from . import catalog
from .errors import DomainError, Forbidden, NotFound
from .models import STATUS_BY_LABEL, Organization, Project
from .principal import Principal
from .registry import registry

MAX_CASE_NUMBERS = 1000


@dataclass(frozen=True)
class Filters:
    """Which running applications of the source version a plan takes (none: all of them)."""
    step: str | None = None              # the element id they wait at
    region: str | None = None            # part of the competent authority's region or name, e.g. 大理
    reported_before: date | None = None  # reported before this local day
    case_nos: tuple[str, ...] = ()       # 办件编号

    def as_dict(self) -> dict:
        return {k: v for k, v in (("step", self.step), ("region", self.region),
                                  ("reported_before", self.reported_before and self.reported_before.isoformat()),
                                  ("case_nos", list(self.case_nos))) if v}

    @classmethod
    def parse(cls, step=None, region=None, reported_before=None, case_nos=None) -> "Filters":
        """From text fields (form or command line): a clear error naming the field when one is bad."""
        day = None
        if reported_before:
            try:
                day = reported_before if isinstance(reported_before, date) else date.fromisoformat(str(reported_before).strip())
            except ValueError:
                raise DomainError("上报日期：请填写 YYYY-MM-DD 格式的日期", "reported_before") from None
        numbers = case_nos if isinstance(case_nos, (list, tuple)) else \
            [n for n in str(case_nos or "").replace("，", ",").replace("\n", ",").split(",")]
        numbers = tuple(dict.fromkeys(n.strip() for n in numbers if n and n.strip()))
        if len(numbers) > MAX_CASE_NUMBERS:
            raise DomainError(f"办件编号：一次最多 {MAX_CASE_NUMBERS} 个", "case_nos")
        return cls((step or "").strip() or None, (region or "").strip() or None, day, numbers)


@dataclass
class ReportRow:
    """One application in the dry-run report, in the words of the business."""
    instance_id: int
    case_no: str
    applicant: str
    subject: str
    step_before: str
    claimed_by: str
    due_before: str
    step_after: str
    inbox: str
    claim: str
    deadline: str
    timers: str
    can_migrate: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "可以迁移" if self.can_migrate else "不能迁移：" + "；".join(self.reasons)


REPORT_PAGE = 50   # applications analysed per page of the on-screen report


@dataclass(frozen=True)
class ReportPage:
    rows: list[ReportRow]
    total: int
    page: int
    pages: int


REPORT_HEADERS = ["办件编号", "申请人", "事项", "当前步骤", "签收人", "办理期限", "迁移后步骤", "待办", "签收",
                  "期限", "定时器", "能否迁移"]


def report_cells(row: ReportRow) -> list[str]:
    return [row.case_no, row.applicant, row.subject, row.step_before, row.claimed_by, row.due_before,
            row.step_after, row.inbox, row.claim, row.deadline, row.timers, row.verdict]


@dataclass(frozen=True)
class PlanResult:
    """What happened to one application under a plan."""
    instance_id: int
    case_no: str
    applicant: str
    outcome: str      # 已迁移 | 未迁移 | 已回退
    reason: str


_OUTCOMES = {MIGRATED: "已迁移", REFUSED: "未迁移", ROLLED_BACK: "已回退"}


class MigrationService:
    def __init__(self, engine: ProcessEngine):
        self.engine = engine

    @property
    def migration(self):
        return self.engine.migration

    # -- plan -------------------------------------------------------------------------------------
    def mapping(self, principal: Principal, process_key: str, from_version: int, to_version: int,
                manual: dict | None = None) -> list[ElementMap]:
        _require(principal)
        return _refused_as_domain(lambda: self.migration.mapping(process_key, from_version, to_version, manual))

    def choose(self, principal: Principal, process_key: str, from_version: int,
               filters: Filters | None = None) -> list[int]:
        """The running (or stopped at an incident) applications of the version that match."""
        _require(principal)
        return choose(process_key, from_version, filters or Filters())

    def plan(self, principal: Principal, process_key: str, from_version: int, to_version: int,
             manual: dict | None = None, filters: Filters | None = None) -> MigrationPlan:
        _require(principal)
        return self.plan_as(_actor(principal), process_key, from_version, to_version, manual, filters)

    def plan_as(self, actor: Actor, process_key: str, from_version: int, to_version: int,
                manual: dict | None = None, filters: Filters | None = None, keep: bool = True) -> MigrationPlan:
        """A plan made by ``actor`` (the command line's operator, or a designer through ``plan``);
        ``keep=False``: not stored, for a dry run that writes nothing at all."""
        filters = filters or Filters()
        _refused_as_domain(lambda: self.migration.mapping(process_key, from_version, to_version, manual))
        ids = choose(process_key, from_version, filters)
        if not ids:
            raise DomainError("没有符合条件的运行中申请", "filters")
        if not keep:
            return MigrationPlan(process_key=process_key, from_version=from_version, to_version=to_version,
                                 mapping=json.dumps(manual or {}), instance_ids=json.dumps(ids))
        return _refused_as_domain(lambda: self.migration.create_plan(
            process_key, from_version, to_version, manual or {}, ids, actor, filters.as_dict()))

    def get_plan(self, principal: Principal, plan_id: int) -> MigrationPlan:
        _require(principal)
        plan = db.session.get(MigrationPlan, plan_id)
        if plan is None:
            raise NotFound("迁移计划不存在")
        return plan

    def plans(self, principal: Principal, process_key: str | None = None) -> list[MigrationPlan]:
        _require(principal)
        stmt = select(MigrationPlan).order_by(MigrationPlan.id.desc()).limit(50)
        if process_key:
            stmt = stmt.where(MigrationPlan.process_key == process_key)
        return list(db.session.scalars(stmt))

    # -- dry run -----------------------------------------------------------------------------------
    def dry_run(self, principal: Principal, plan_id: int) -> list[ReportRow]:
        """The report of a plan: what would happen to each application. Nothing is written."""
        return self.report(self.get_plan(principal, plan_id))

    def dry_run_page(self, principal: Principal, plan_id: int, page: int = 1,
                     per_page: int | None = None) -> ReportPage:
        """One page of the report: a plan of thousands of applications is analysed a page at a time
        on screen (the CSV and Excel exports analyse them all)."""
        plan, per_page = self.get_plan(principal, plan_id), per_page or REPORT_PAGE
        ids = json.loads(plan.instance_ids)
        pages = max(1, -(-len(ids) // per_page))
        page = min(max(page, 1), pages)
        chosen = ids[(page - 1) * per_page:page * per_page]
        return ReportPage(self.report(plan, chosen), len(ids), page, pages)

    def report(self, plan: MigrationPlan, instance_ids: list[int] | None = None) -> list[ReportRow]:
        manual = json.loads(plan.mapping)
        rows = []
        for instance_id in json.loads(plan.instance_ids) if instance_ids is None else instance_ids:
            result = self.migration.analyse(instance_id, plan.to_version, manual, plan.from_version)
            rows.append(describe(result, _org_names(result)))
        db.session.rollback()   # the analysis read and parsed only: end the read transaction
        return rows

    # -- run ---------------------------------------------------------------------------------------
    def start(self, principal: Principal, plan_id: int) -> int:
        """Enqueue the plan: one job per application (``flask engine worker`` runs them)."""
        self.get_plan(principal, plan_id)
        return _refused_as_domain(lambda: self.migration.start_plan(plan_id))

    def run_now(self, plan_id: int) -> dict[str, int]:
        """Run a plan in this process, each application in its own transaction (the command line)."""
        plan = db.session.get(MigrationPlan, plan_id)
        for instance_id in json.loads(plan.instance_ids):
            self.migration.migrate_in_plan(plan, instance_id)
        return self.migration.progress(plan_id)

    def progress(self, principal: Principal, plan_id: int) -> dict[str, int]:
        self.get_plan(principal, plan_id)
        return self.migration.progress(plan_id)

    def results(self, principal: Principal, plan_id: int) -> list[PlanResult]:
        self.get_plan(principal, plan_id)
        return self.results_of(plan_id)

    def results_of(self, plan_id: int) -> list[PlanResult]:
        rows = db.session.execute(
            select(InstanceMigration, ProcessInstance.case_no, ProcessInstance.applicant_name)
            .join(ProcessInstance, ProcessInstance.id == InstanceMigration.instance_id)
            .where(InstanceMigration.plan_id == plan_id).order_by(InstanceMigration.id)).all()
        return [PlanResult(m.instance_id, case_no or "", applicant, _OUTCOMES[m.outcome], m.reason or "")
                for m, case_no, applicant in rows]

    # -- rollback ----------------------------------------------------------------------------------
    def rollback(self, principal: Principal, instance_id: int) -> InstanceMigration:
        _require(principal)
        return _refused_as_domain(lambda: self.migration.rollback(instance_id, _actor(principal)))

    def rollback_plan(self, principal: Principal, plan_id: int) -> list[PlanResult]:
        """Roll back every application the plan migrated; those refused say why."""
        self.get_plan(principal, plan_id)
        ids = db.session.scalars(select(InstanceMigration.instance_id).where(
            InstanceMigration.plan_id == plan_id, InstanceMigration.outcome == MIGRATED)).all()
        found = []
        for instance_id in ids:
            try:
                self.migration.rollback(instance_id, _actor(principal))
                found.append(PlanResult(instance_id, "", "", "已回退", ""))
            except MigrationRefused as exc:
                found.append(PlanResult(instance_id, "", "", "未回退", exc.message))
        return found


def instances_to_roll_back(plan_id: int | None, case_nos) -> list[tuple[int, str]]:
    """(instance id, case number) of a plan's migrated applications, or of the given case numbers."""
    stmt = select(ProcessInstance.id, ProcessInstance.case_no)
    if plan_id:
        stmt = stmt.join(InstanceMigration, InstanceMigration.instance_id == ProcessInstance.id).where(
            InstanceMigration.plan_id == plan_id, InstanceMigration.outcome == MIGRATED)
    else:
        stmt = stmt.where(ProcessInstance.case_no.in_(list(case_nos)))
    return [(r.id, r.case_no or str(r.id)) for r in db.session.execute(stmt.order_by(ProcessInstance.id))]


# -- choosing applications ---------------------------------------------------------------------------
def choose(process_key: str, from_version: int, filters: Filters) -> list[int]:
    stmt = (select(ProcessInstance.id).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessDefinition.process_key == process_key, ProcessDefinition.version == from_version,
                   ProcessInstance.status.in_(("running", "errored"))).order_by(ProcessInstance.id))
    if filters.step:
        stmt = stmt.where(exists().where(HumanTask.instance_id == ProcessInstance.id, HumanTask.state == "open",
                                         HumanTask.element_id == filters.step))
    if filters.case_nos:
        stmt = stmt.where(ProcessInstance.case_no.in_(filters.case_nos))
    if filters.region or filters.reported_before:
        entry = catalog.by_key(process_key)
        if entry is None:
            raise DomainError("该流程的申请不能按地区或上报日期筛选", "region")
        model = entry.model
        stmt = stmt.join(model, model.instance_id == ProcessInstance.id)
        if filters.reported_before:
            stmt = stmt.where(model.reported_at < local_midnight_utc(filters.reported_before))
        if filters.region:
            stmt = (stmt.join(Project, Project.id == model.project_id)
                    .join(Organization, Organization.id == Project.authority_id)
                    .where(or_(Organization.region.contains(filters.region),
                               Organization.name.contains(filters.region))))
    return list(db.session.scalars(stmt))


# -- the report in business terms ----------------------------------------------------------------------
def describe(plan: InstancePlan, names: dict[int, str]) -> ReportRow:
    waiting = [t for t in plan.tasks if t.inbox != OPENED]
    after = [t for t in plan.tasks if t.inbox != CLOSED]
    row = ReportRow(plan.instance_id, plan.case_no or "", plan.applicant_name, plan.subject,
                    "、".join(t.name_before for t in waiting) or "—",
                    "、".join(t.claimed_by or "未签收" for t in waiting) or "—",
                    "、".join(_day(t.due_before) for t in waiting) or "—",
                    "—", "—", "—", "—", "—", plan.can_migrate, list(plan.refusals))
    if not plan.can_migrate:
        row.step_after = "保持不变（仍在第 %d 版）" % plan.from_version
        return row
    row.step_after = "、".join(t.name_after for t in after) or "—"
    row.inbox = "；".join(_inbox(t, names) for t in plan.tasks) or "—"
    row.claim = "；".join(_claim(t, names) for t in waiting) or "—"
    row.deadline = "；".join(_deadline(t) for t in after) or "—"
    row.timers = "；".join(_timer(t) for t in plan.timers) or "无"
    return row


def _inbox(t, names) -> str:
    if t.inbox == KEPT:
        return f"「{t.name_before}」待办保留（步骤及候选单位不变）"
    if t.inbox == CLOSED:
        return f"「{t.name_before}」待办关闭（目标版本不在该步骤等待）"
    if t.inbox == OPENED:
        return f"新开「{t.name_after}」待办，推送给 {_orgs(t.candidates_after, names)}"
    why = []
    if t.element_before != t.element_after:
        why.append(f"步骤由「{t.name_before}」改为「{t.name_after}」")
    if t.candidates_before != t.candidates_after:
        why.append(f"候选单位由 {_orgs(t.candidates_before, names)} 改为 {_orgs(t.candidates_after, names)}")
    return (f"待办移至「{t.name_after}」：原待办关闭，新待办推送给 {_orgs(t.candidates_after, names)}"
            f"（{'，'.join(why)}）")


def _claim(t, names) -> str:
    if t.claim == KEPT:
        return f"保留 {t.claimed_by} 的签收"
    if t.claim == RELEASED:
        return f"释放 {t.claimed_by} 的签收（其单位不再是「{t.name_after or t.name_before}」的候选单位）"
    return "未签收"


def _deadline(t) -> str:
    if t.due == RECOMPUTED and (t.due_before is None or t.element_before != t.element_after):
        return f"「{t.name_after}」期限 {_day(t.due_after)}（新步骤，从迁移时起算）"
    if t.due == RECOMPUTED:
        return (f"重新计算：{_day(t.due_before)} → {_day(t.due_after)}"
                "（时限已修改，从该步骤打开时起算）")
    if t.due == KEPT:
        return f"保留 {_day(t.due_before)}"
    return "无期限"


def _timer(t) -> str:
    if t.outcome == KEPT:
        return f"「{t.name}」保留（{_day(t.before)}）"
    if t.outcome == RESTARTED:
        return f"「{t.name}」重新计时：{_day(t.before)} → {_day(t.after)}（从该步骤打开时起算）"
    if t.outcome == CANCELLED:
        return f"「{t.name}」取消（迁移后所在的步骤没有此定时器）"
    if t.outcome == STARTED:
        return f"「{t.name}」新增，{_day(t.after)} 触发"
    return t.name


def _day(at) -> str:
    return local_date(at).isoformat() if at is not None else "—"


def _orgs(ids, names) -> str:
    return "、".join(names.get(i, str(i)) for i in ids) or "（无）"


def _org_names(plan: InstancePlan) -> dict[int, str]:
    ids = {i for t in plan.tasks for i in (*t.candidates_before, *t.candidates_after)}
    if not ids:
        return {}
    return dict(db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all())


# -- the application's status follows where its workflow now waits --------------------------------------
@registry.migration_listener
def _apply_status(instance_id: int, status: str | None) -> None:
    code = STATUS_BY_LABEL.get(status) if status else None
    entry = catalog.by_key(db.session.scalar(select(ProcessInstance.process_key)
                                             .where(ProcessInstance.id == instance_id)) or "")
    if code is None or entry is None:
        return
    app = db.session.scalar(select(entry.model).where(entry.model.instance_id == instance_id))
    if app is not None and app.status != code:
        app.status = code


def _require(principal: Principal | None) -> None:
    if principal is None or not principal.is_designer:
        raise Forbidden("仅流程设计人员可以迁移运行中的申请")


def _actor(principal: Principal) -> Actor:
    return principal.actor


def _refused_as_domain(call):
    try:
        return call()
    except MigrationRefused as exc:
        raise DomainError(exc.message, exc.field) from None

