"""Moving running instances to another version of their process (the workflow-state part).

A *mapping* names, for each BPMN element of the source version, its element in the target:
elements with the same id and the same type map by themselves (Camunda's
``mapEqualActivities``); the designer maps the rest by hand (``manual``, which may also move an
element that kept its id to another one, e.g. 审核 → a new 现场核查 before it).

``analyse`` is the dry run: it loads an instance's workflow, aligns its task specs with the
target's through the mapping (``SpiffWorkflow.bpmn.util.diff``: a ``SpecDiff`` whose alignment is
the mapping, ``WorkflowDiff``, ``migrate_workflow``) and says, without writing anything:

- whether it can migrate (``refusals``): not when it waits at an element the target lacks and
  nobody mapped, when an activity it already completed was removed or changed, when it stopped at
  an incident or is no longer running on the source version;
- for each open inbox row (``TaskChange``): where it waits before and after, whether the row is
  kept, moved to another element, opened or closed, whether the claim is kept or released (the
  holder's organisation is no longer offered the step), whether the deadline is kept or
  recomputed from the step's opening (its ``due`` changed);
- for each timer (``TimerChange``): kept (same expression, same deadline: its due time and job
  stay), restarted (recomputed from the step's opening, a new job), cancelled (removed from the
  step or the step moved away: its job is cancelled) or started (a timer the target adds).

``migrate`` writes the same result in the caller's unit of work: workflow state and version,
inbox rows and candidate rows, timer jobs, the log entry 流程版本迁移 vN→vM, and an
``instance_migration`` row with what ``rollback`` needs. Both first lock the instance's open inbox
rows and then the instance (PostgreSQL; the claim and completion gates take them in that order),
so a concurrent 签收 or decision either commits first and is seen, or waits and meets the result.
"""
import json
from uuid import uuid4
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, or_, select, update
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from . import deadlines, jobs, store, timers
from .actor import Actor
from .db import db
from .definitions import forget_version
from .errors import EngineError
from .models import (NO_DUE, AuditEntry, HumanTask, InstanceMigration, Job, MigrationPlan, ProcessDefinition,
                     ProcessInstance, TaskCandidate, utcnow)
from .serialization import SERIALIZER, dump_state, load_state
from .validation import CANDIDATES, CLAIM, FORM_KEY

MIGRATE_JOB = "bpmn.migrate"   # one job per instance of a plan: its own transaction, its own retries
MIGRATED, REFUSED, ROLLED_BACK = "migrated", "refused", "rolled_back"
MIGRATE_ACTION, ROLLBACK_ACTION = "流程版本迁移", "流程版本回退"
KEPT, MOVED, OPENED, CLOSED = "kept", "moved", "opened", "closed"
RELEASED, NONE = "released", "none"
RECOMPUTED, RESTARTED, CANCELLED, STARTED = "recomputed", "restarted", "cancelled", "started"
TIMER_CANCELLED = "流程版本迁移：定时器已取消"
# what a completed activity may change without its history becoming untrue: its place in the graph
_STRUCTURAL = {"name", "bpmn_id", "bpmn_name", "description", "documentation", "inputs", "outputs", "lane"}
_HT, _TC, _J, _PI = HumanTask.__table__, TaskCandidate.__table__, Job.__table__, ProcessInstance.__table__
_TASK_RESTORED = ("state", "element_id", "name", "form_key", "claim_required", "claimed_by_user_id",
                  "claimed_by_name", "claimed_by_org_id", "claimed_by_org_name", "claimed_at", "due_at",
                  "due_provisional", "due_rule")


class MigrationRefused(EngineError):
    """A plan or a rollback that cannot be carried out, with the reason (and the field it concerns)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, field=field)
        self.field = field


# -- the mapping ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ElementMap:
    source_id: str
    source_name: str
    source_type: str
    target_id: str | None
    target_name: str
    how: str | None   # "auto" | "manual" | None (unmapped)


def elements(parsed) -> dict[str, tuple[str, str]]:
    """The BPMN elements of a parsed version: id -> (type, name)."""
    return {s.bpmn_id: (type(s).__name__, s.bpmn_name or "") for s in parsed.spec.task_specs.values()
            if getattr(s, "bpmn_id", None)}


def mapping(source, target, manual: dict[str, str] | None = None) -> list[ElementMap]:
    """Every element of the source with its target: manual entries first, else the same id and type.

    Raises MigrationRefused (field ``mapping``) for a manual entry naming an element that does not
    exist or has another type."""
    old, new, manual = elements(source), elements(target), dict(manual or {})
    for src, dst in manual.items():
        if src not in old:
            raise MigrationRefused(f"映射：源版本没有元素 {src}", "mapping")
        if dst and dst not in new:
            raise MigrationRefused(f"映射：目标版本没有元素 {dst}", "mapping")
        if dst and new[dst][0] != old[src][0]:
            raise MigrationRefused(f"映射：{src}（{old[src][0]}）不能映射到类型不同的 {dst}（{new[dst][0]}）",
                                   "mapping")
    found = []
    for eid, (kind, name) in sorted(old.items()):
        if eid in manual:
            dst, how = manual[eid] or None, "manual" if manual[eid] else None
        elif eid in new and new[eid][0] == kind:
            dst, how = eid, "auto"
        else:
            dst, how = None, None
        found.append(ElementMap(eid, name, kind, dst, new[dst][1] if dst else "", how))
    return found


def _targets(maps: list[ElementMap]) -> dict[str, str | None]:
    return {m.source_id: m.target_id for m in maps}


class _MappedSpecDiff(SpecDiff):
    """SpiffWorkflow's spec diff with the alignment given by the mapping instead of guessed."""

    def __init__(self, registry, original, new, targets: dict[str, str | None]):
        self._registry = registry
        self.alignment, self.comparisons = {}, {}
        for spec in original.task_specs.values():
            candidate = new.task_specs.get(_target_name(spec, targets) or "")
            self.alignment[spec] = candidate
            if candidate is not None:
                self.comparisons[spec] = self._compare_task_specs(spec, candidate)
        aligned = {id(s) for s in self.alignment.values() if s is not None}
        self.added = [s for s in new.task_specs.values() if id(s) not in aligned]


def _target_name(spec, targets) -> str | None:
    if getattr(spec, "bpmn_id", None):
        return targets.get(spec.bpmn_id)
    # the parser's own specs are named after their element: Task_Review.BoundaryEventSplit
    prefix, dot, suffix = spec.name.rpartition(".")
    if dot and prefix in targets:
        return f"{targets[prefix]}.{suffix}" if targets[prefix] else None
    return spec.name


# -- what the dry run reports --------------------------------------------------------------------------
@dataclass
class TaskChange:
    """One open inbox row (or one the migration opens)."""
    task_id: int | None
    element_before: str | None
    name_before: str | None
    element_after: str | None
    name_after: str | None
    inbox: str                  # kept | moved | opened | closed
    claim: str                  # kept | released | none
    claimed_by: str | None
    due: str                    # kept | recomputed | none
    due_before: datetime | None
    due_after: datetime | None
    candidates_before: list[int] = field(default_factory=list)
    candidates_after: list[int] = field(default_factory=list)


@dataclass
class TimerChange:
    guid: str
    element: str
    name: str
    outcome: str                # kept | restarted | cancelled | started
    before: datetime | None
    after: datetime | None


@dataclass
class InstancePlan:
    instance_id: int
    case_no: str | None
    applicant_name: str
    subject: str
    from_version: int
    to_version: int
    refusals: list[str] = field(default_factory=list)
    tasks: list[TaskChange] = field(default_factory=list)
    timers: list[TimerChange] = field(default_factory=list)
    status_after: str | None = None

    @property
    def can_migrate(self) -> bool:
        return not self.refusals


@dataclass
class _Outcome:
    """A dry run's plan and what migrate writes from it."""
    plan: InstancePlan
    instance: object = None            # store.InstanceRecord
    workflow: object = None
    rows: dict = field(default_factory=dict)          # guid -> open human_task row (dict)
    orgs: dict = field(default_factory=dict)          # task id -> [(org id, claimed_by_user_id)]
    updates: list = field(default_factory=list)       # (task id, values, candidate orgs or None)
    opened: list = field(default_factory=list)        # spiff tasks the target opens
    closed: list = field(default_factory=list)        # guids of rows closed


# -- the dry run ---------------------------------------------------------------------------------------
class Migrator:
    """The engine's migration commands (``ProcessEngine.migration``)."""

    def __init__(self, engine):
        self.engine = engine

    @property
    def definitions(self):
        return self.engine.definitions

    def version(self, process_key: str, version: int) -> ProcessDefinition:
        found = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                                  ProcessDefinition.version == version))
        if found is None:
            raise MigrationRefused(f"流程 “{process_key}” 没有第 {version} 版", "version")
        return found

    def mapping(self, process_key: str, from_version: int, to_version: int,
                manual: dict | None = None) -> list[ElementMap]:
        source, target = self._parsed_pair(process_key, from_version, to_version)
        return mapping(source, target, manual)

    def _parsed_pair(self, process_key, from_version, to_version):
        if from_version == to_version:
            raise MigrationRefused("源版本与目标版本相同", "to_version")
        source, target = self.version(process_key, from_version), self.version(process_key, to_version)
        return (self.definitions.parsed_by_hash(source.content_hash),
                self.definitions.parsed_by_hash(target.content_hash))

    def analyse(self, instance_id: int, to_version: int, manual: dict | None = None,
                from_version: int | None = None) -> InstancePlan:
        """The dry run of one instance: nothing is written."""
        return self._analyse(instance_id, to_version, manual, from_version, lock=False).plan

    def _analyse(self, instance_id, to_version, manual, from_version, lock) -> _Outcome:
        conn = db.session.connection()
        if lock:
            _lock(conn, instance_id)
        instance, content_hash = store.load_instance(conn, instance_id)
        if instance is None:
            raise MigrationRefused("申请的流程实例不存在", "instance")
        current = db.session.get(ProcessDefinition, instance.definition_id)
        target_def = self.version(instance.process_key, to_version)
        plan = InstancePlan(instance.id, instance.case_no, instance.applicant_name, instance.subject,
                            current.version, to_version)
        out = _Outcome(plan, instance)
        if from_version is not None and current.version != from_version:
            plan.refusals.append(f"该申请运行在第 {current.version} 版，不在第 {from_version} 版上")
        if current.version == to_version:
            plan.refusals.append(f"该申请已在第 {to_version} 版上")
        if instance.status == "completed":
            plan.refusals.append("该申请已办结")
        elif instance.status == "errored":
            plan.refusals.append(f"该申请停在异常处（{instance.incident_element_id}）：{instance.incident_message}，"
                                 "请先处理异常")
        if plan.refusals:
            return out
        source = self.definitions.parsed_by_hash(content_hash)
        target = self.definitions.parsed_by_hash(target_def.content_hash)
        targets = _targets(mapping(source, target, manual))
        out.rows, out.orgs = _open_rows(conn, instance.id, lock)
        self._transform(out, source, target, targets)
        return out

    def _transform(self, out: _Outcome, source, target, targets) -> None:
        instance, plan = out.instance, out.plan
        wf = load_state(instance.state, source.spec, source.subprocess_specs)
        if wf.subprocesses:
            plan.refusals.append("含子流程的申请暂不支持迁移")
            return
        spec_diff = _MappedSpecDiff(SERIALIZER.registry, source.spec, target.spec, targets)
        diff = WorkflowDiff(wf, spec_diff)
        plan.refusals += _refusals(wf, diff, spec_diff, target, targets)
        if plan.refusals:
            return
        ready_before = {g: t.task_spec.bpmn_id for g, t in _ready(wf).items()}
        timers_before = _timers(wf)
        _drop_unaligned(wf, diff)
        # a step that stays the same element keeps its opening; a step moved elsewhere opens now
        openings = {out.rows[g]["element_id"]: out.rows[g]["created_at"] for g in ready_before
                    if g in out.rows and targets.get(out.rows[g]["element_id"]) == out.rows[g]["element_id"]}
        wf.script_engine = _MigrationScriptEngine(instance.clock, openings)
        migrate_workflow(diff, wf, target.spec)
        _sync_boundary_events(wf)
        out.workflow = wf
        self._inbox(out, target, ready_before)
        plan.timers = _timer_changes(wf, timers_before, source, target)
        from .runtime import _declared_status   # the status rule lives with the runtime
        plan.status_after = _declared_status(target.statuses, wf)

    def _inbox(self, out: _Outcome, target, ready_before: dict) -> None:
        ready_after = _ready(out.workflow)
        for guid, element in ready_before.items():
            row = out.rows.get(guid)
            if row is None:
                continue
            if guid not in ready_after:
                out.closed.append(guid)
                out.plan.tasks.append(_closed(row, out.orgs))
                continue
            out.plan.tasks.append(self._follow(out, row, ready_after[guid]))
        for guid, task in ready_after.items():
            if guid not in ready_before:
                values, orgs = self._row_of(out.instance, task)
                out.opened.append((task, None, None))
                out.plan.tasks.append(TaskChange(None, None, None, values["element_id"], values["name"], OPENED,
                                                 NONE, None, "none" if values["due_at"] is None else RECOMPUTED,
                                                 None, values["due_at"], [], orgs))

    def _follow(self, out: _Outcome, row: dict, task) -> TaskChange:
        """An open inbox row whose step the target still waits at (maybe as another element).

        Same element, same candidate organisations: the row stays (its claim too); a changed
        ``due`` is recomputed from the row's opening. Otherwise the row is closed and a new one
        opened (the claim carried over when the holder's organisation is still offered the step):
        a 签收 or decision that waited for this transaction then meets a closed row and is told,
        instead of landing on a step its organisation is no longer offered."""
        spec = task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        orgs_before = sorted(org for org, _ in out.orgs.get(row["id"], []))
        orgs_after = self._candidates(out.instance, props)
        keeps_claim = row["claimed_by_user_id"] is not None and row["claimed_by_org_id"] in orgs_after
        claim = NONE if row["claimed_by_user_id"] is None else KEPT if keeps_claim else RELEASED
        if row["element_id"] != spec.bpmn_id or orgs_after != orgs_before:
            _renew_id(out.workflow, task)
            out.closed.append(row["task_guid"])
            same_step = row["element_id"] == spec.bpmn_id
            opened_at = row["created_at"] if same_step else None
            out.opened.append((task, opened_at, row if keeps_claim else None))
            values, _orgs = self._row_of(out.instance, task, opened_at)
            due_kind = "none" if values["due_rule"] is None else \
                KEPT if same_step and values["due_at"] == row["due_at"] else RECOMPUTED
            return TaskChange(row["id"], row["element_id"], row["name"], spec.bpmn_id, values["name"], MOVED,
                              claim, row["claimed_by_name"], due_kind, row["due_at"], values["due_at"],
                              orgs_before, orgs_after)
        values = dict(name=spec.bpmn_name or spec.bpmn_id, form_key=props.get(FORM_KEY, ""),
                      claim_required=props.get(CLAIM) == "required")
        due = deadlines.opening(props, out.instance.clock, spec.bpmn_id, row["created_at"])
        due_kind = "none" if due["due_rule"] is None and row["due_rule"] is None else KEPT
        if due["due_rule"] != row["due_rule"] or (row["due_rule"] and due["due_at"] != row["due_at"]):
            values.update(due)
            due_kind = RECOMPUTED
        changed = {k: v for k, v in values.items() if row.get(k) != v}
        if changed:
            out.updates.append((row["id"], changed))
        return TaskChange(row["id"], row["element_id"], row["name"], spec.bpmn_id, values["name"], KEPT, claim,
                          row["claimed_by_name"], due_kind, row["due_at"], values.get("due_at", row["due_at"]),
                          orgs_before, orgs_after)

    def _candidates(self, instance, props) -> list[int]:
        rule = self.engine.registry.candidate_rules.get(props.get(CANDIDATES))
        return sorted({org for org in rule(instance) if org is not None}) if rule else []

    def _row_of(self, instance, task, opened_at=None):
        """The inbox row the runtime would open for ``task`` (and its candidate organisations);
        with ``opened_at`` it keeps that opening and its deadline counts from it."""
        class _StepView:   # what ProcessEngine._human_task reads of its step
            pass
        step = _StepView()
        step.instance = instance
        values, orgs = self.engine._human_task(step, task)
        if opened_at is not None:
            props = (task.task_spec.extensions or {}).get("properties", {})
            values.update(created_at=opened_at,
                          **deadlines.opening(props, instance.clock, task.task_spec.bpmn_id, opened_at))
        return values, orgs

    # -- the command ---------------------------------------------------------------------------------------
    def migrate(self, instance_id: int, to_version: int, actor: Actor, manual: dict | None = None,
                from_version: int | None = None, plan_id: int | None = None) -> InstancePlan:
        """Migrate one instance in the caller's unit of work (or its own): migrated, or refused with
        the reasons recorded. Either way an ``instance_migration`` row says what happened."""
        with self.engine.command():
            out = self._analyse(instance_id, to_version, manual, from_version, lock=True)
            plan, instance = out.plan, out.instance
            target_def = self.version(instance.process_key, to_version)
            record = InstanceMigration(plan_id=plan_id, instance_id=instance_id,
                                       from_definition_id=instance.definition_id, to_definition_id=target_def.id,
                                       by=actor.user_name[:100])
            if not plan.can_migrate:
                record.outcome, record.reason = REFUSED, "；".join(plan.refusals)
                _add(record)
                return plan
            record.before = json.dumps(_snapshot(instance, out), ensure_ascii=False, default=str)
            self._write(out, target_def, actor)
            record.outcome = MIGRATED
            record.version_after, record.audit_seq_after = instance.version, instance.audit_seq
            _add(record)
            self._tell(instance.id, plan.status_after)
            return plan

    def _tell(self, instance_id: int, status: str | None) -> None:
        for listener in self.engine.registry.migration_listeners:
            listener(instance_id, status)

    def _write(self, out: _Outcome, target_def, actor: Actor) -> None:
        conn, instance, plan = db.session.connection(), out.instance, out.plan
        instance.state = dump_state(out.workflow)
        where = next((t.element_after for t in plan.tasks if t.inbox != CLOSED), None)
        entry = store.audit_entry(instance.id, actor, MIGRATE_ACTION, f"v{plan.from_version}→v{plan.to_version}"
                                  + _moves_text(plan), element_id=where)
        new_tasks = [self._row_of(instance, task, opened_at) for task, opened_at, _claim in out.opened]
        opened = store.save(conn, instance, None, new_tasks, [entry])
        if opened is None:
            from .errors import ConcurrentModification
            raise ConcurrentModification("该业务已被他人处理，请刷新后重试")
        conn.execute(update(_PI).where(_PI.c.id == instance.id).values(definition_id=target_def.id))
        instance.definition_id = target_def.id
        forget_version(instance.id)
        if out.closed:
            store.cancel_tasks(conn, out.closed)
        for record, (_task, _at, holder) in zip(opened, out.opened):
            if holder is not None:   # the holder's organisation is still offered the step: the claim follows
                conn.execute(update(_HT).where(_HT.c.id == record.id).values(
                    **{k: holder[k] for k in ("claimed_by_user_id", "claimed_by_name", "claimed_by_org_id",
                                              "claimed_by_org_name", "claimed_at")}))
                conn.execute(update(_TC).where(_TC.c.task_id == record.id)
                             .values(claimed_by_user_id=holder["claimed_by_user_id"]))
        for task_id, values in out.updates:
            conn.execute(update(_HT).where(_HT.c.id == task_id).values(**values))
            if "due_at" in values:
                conn.execute(update(_TC).where(_TC.c.task_id == task_id).values(due_at=values["due_at"] or NO_DUE))
        _reschedule(conn, instance.id, plan.timers)
        db.session.expire_all()

    # -- plans ---------------------------------------------------------------------------------------------
    def create_plan(self, process_key: str, from_version: int, to_version: int, manual: dict,
                    instance_ids: list[int], actor: Actor, filters: dict | None = None) -> MigrationPlan:
        """Store a plan (its mapping checked against both versions) for the chosen instances."""
        self.mapping(process_key, from_version, to_version, manual)
        with self.engine.command():
            plan = MigrationPlan(process_key=process_key, from_version=from_version, to_version=to_version,
                                 mapping=json.dumps(manual or {}, ensure_ascii=False),
                                 filters=json.dumps(filters or {}, ensure_ascii=False, default=str),
                                 instance_ids=json.dumps(sorted(set(instance_ids))),
                                 created_by=actor.user_name[:100], actor=json.dumps(asdict(actor), ensure_ascii=False))
            _add(plan)
            return plan

    def start_plan(self, plan_id: int) -> int:
        """Enqueue one migration job per chosen instance (a worker runs them); returns how many."""
        with self.engine.command():
            plan = db.session.get(MigrationPlan, plan_id, with_for_update=True)
            if plan is None:
                raise MigrationRefused("迁移计划不存在", "plan")
            if plan.started_at is not None:
                raise MigrationRefused("该迁移计划已经开始执行", "plan")
            plan.started_at = utcnow()
            ids = json.loads(plan.instance_ids)
            jobs.enqueue_many([(MIGRATE_JOB, {"plan_id": plan.id, "instance_id": i}, None) for i in ids])
            return len(ids)

    def run_job(self, job) -> None:
        plan = db.session.get(MigrationPlan, job.payload["plan_id"])
        self.migrate_in_plan(plan, job.payload["instance_id"])

    def migrate_in_plan(self, plan: MigrationPlan, instance_id: int) -> InstancePlan:
        done = db.session.scalar(select(InstanceMigration.id).where(InstanceMigration.plan_id == plan.id,
                                                                    InstanceMigration.instance_id == instance_id))
        if done is not None:
            return None   # a job run again after its commit: the instance was already handled
        return self.migrate(instance_id, plan.to_version, Actor(**json.loads(plan.actor)), json.loads(plan.mapping),
                            plan.from_version, plan.id)

    def progress(self, plan_id: int) -> dict[str, int]:
        """How many of a plan's instances are migrated, refused, rolled back, and still to do."""
        plan = db.session.get(MigrationPlan, plan_id)
        counts = dict(db.session.execute(select(InstanceMigration.outcome, func.count()).where(
            InstanceMigration.plan_id == plan_id).group_by(InstanceMigration.outcome)).all())
        total = len(json.loads(plan.instance_ids)) if plan else 0
        found = {k: counts.get(k, 0) for k in (MIGRATED, REFUSED, ROLLED_BACK)}
        found.update(total=total, pending=total - sum(found.values()))
        return found

    # -- rollback ------------------------------------------------------------------------------------------
    def rollback(self, instance_id: int, actor: Actor) -> InstanceMigration:
        """Return an instance to the version it had before its last migration, provided nothing
        happened to it since (no claim, decision, timer or log entry); else MigrationRefused."""
        with self.engine.command():
            conn = db.session.connection()
            _lock(conn, instance_id)
            record = db.session.scalar(select(InstanceMigration).where(
                InstanceMigration.instance_id == instance_id, InstanceMigration.outcome == MIGRATED)
                .order_by(InstanceMigration.id.desc()).limit(1))
            instance, _hash = store.load_instance(conn, instance_id)
            if record is None or instance is None:
                raise MigrationRefused("该申请没有可回退的版本迁移", "instance")
            if instance.version != record.version_after or instance.audit_seq != record.audit_seq_after:
                raise MigrationRefused(_since(conn, instance_id, record), "instance")
            before = json.loads(record.before)
            old = db.session.get(ProcessDefinition, record.from_definition_id)
            new = db.session.get(ProcessDefinition, record.to_definition_id)
            instance.state, instance.clock = before["state"], before["clock"]
            entry = store.audit_entry(instance.id, actor, ROLLBACK_ACTION, f"v{new.version}→v{old.version}",
                                      element_id=next(iter(before["tasks"]), {}).get("element_id")
                                      if before["tasks"] else None)
            if store.save(conn, instance, None, [], [entry]) is None:
                from .errors import ConcurrentModification
                raise ConcurrentModification("该业务已被他人处理，请刷新后重试")
            conn.execute(update(_PI).where(_PI.c.id == instance.id).values(definition_id=old.id))
            forget_version(instance.id)
            _restore_inbox(conn, instance, before, record.at)
            record.outcome, record.rolled_back_at = ROLLED_BACK, utcnow()
            db.session.flush()
            db.session.expire_all()
            parsed = self.definitions.parsed_by_hash(old.content_hash)
            from .runtime import _declared_status
            self._tell(instance_id, _declared_status(parsed.statuses, load_state(
                before["state"], parsed.spec, parsed.subprocess_specs)))
            return record

    def last_migration(self, instance_id: int) -> InstanceMigration | None:
        return db.session.scalar(select(InstanceMigration).where(InstanceMigration.instance_id == instance_id)
                                 .order_by(InstanceMigration.id.desc()).limit(1))


# -- workflow surgery ----------------------------------------------------------------------------------
def _ready(wf) -> dict:
    return {str(t.id): t for t in wf.tasks.values() if t.state == TaskState.READY and t.task_spec.manual}


def _is_timer(task) -> bool:
    return isinstance(getattr(task.task_spec, "event_definition", None), timers.TimerEventDefinition)


def _timers(wf) -> dict:
    """guid -> (element id, name, expression, stored value, attached step's due) of the waiting timers."""
    found = {}
    for t in wf.tasks.values():
        if _is_timer(t) and t.state == TaskState.WAITING:
            found[str(t.id)] = (t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id,
                                t.task_spec.event_definition.expression, t._get_internal_data("event_value"),
                                _attached_due(t.task_spec))
    return found


def _attached_due(spec):
    task = timers.attached_task(spec)
    if task is None:
        return None
    props = (task.extensions or {}).get("properties", {})
    return task.bpmn_id, props.get(deadlines.DUE), props.get(deadlines.DUE_RESTART)


def _refusals(wf, diff, spec_diff, target, targets) -> list[str]:
    reasons = []
    for task in _ready(wf).values():
        if spec_diff.alignment.get(task.task_spec) is None:
            spec = task.task_spec
            reasons.append(f"当前步骤「{spec.bpmn_name or spec.bpmn_id}」（{spec.bpmn_id}）在目标版本中已删除，且未指定映射")
    for task in wf.tasks.values():
        spec = task.task_spec
        if task.state != TaskState.COMPLETED:
            continue
        aligned = spec_diff.alignment.get(spec)
        bpmn_id = getattr(spec, "bpmn_id", None)
        if not bpmn_id:
            continue   # the parser's own specs (a step's boundary split) go with their element's verdict
        if aligned is None:
            what = "已办理的步骤" if _is_activity(spec) else "已经过的元素"
            reasons.append(f"{what}「{getattr(spec, 'bpmn_name', None) or bpmn_id}」（{bpmn_id}）在目标版本中已删除")
            continue
        if not getattr(spec, "bpmn_id", None) or not _is_activity(spec):
            continue
        label = f"已办理的步骤「{spec.bpmn_name or spec.bpmn_id}」（{spec.bpmn_id}）"
        if set(spec_diff.comparisons.get(spec, [])) - _STRUCTURAL:
            changed = "、".join(sorted(set(spec_diff.comparisons[spec]) - _STRUCTURAL))
            reasons.append(f"{label}在目标版本中已修改（{changed}）")
    return list(dict.fromkeys(reasons))


def _is_activity(spec) -> bool:
    name = type(spec).__name__
    return name.endswith("Task") and name != "BpmnStartTask"


def _drop_unaligned(wf, diff) -> None:
    """Unfinished tasks of elements the target lacks (a removed timer, the predicted path of a
    removed branch) and cancelled ones (history that never ran) leave the tree: a tree holding a
    spec the target does not have could not be stored. Completed ones were refused before."""
    for task in list(wf.tasks.values()):
        if task.id not in wf.tasks or task in diff.alignment or task.parent is None:
            continue
        if task.state != TaskState.COMPLETED:
            wf._remove_task(task.id)


def _sync_boundary_events(wf) -> None:
    """A waiting step's boundary events follow the target: those no longer attached to it are
    removed (their timers cancelled), those the target attaches are added (timers started)."""
    for split in [t for t in wf.tasks.values() if isinstance(t.task_spec, BoundaryEventSplit)
                  and t.state == TaskState.COMPLETED]:
        if not any(c.state == TaskState.READY and c.task_spec.manual for c in split.children):
            continue
        outputs = split.task_spec.outputs
        for child in list(split.children):
            if child.task_spec not in outputs and child.state != TaskState.COMPLETED:
                wf._remove_task(child.id)
        present = {c.task_spec for c in split.children}
        for spec in outputs:
            if spec not in present:
                child = split._add_child(spec, TaskState.FUTURE)
                # as Task.reset_branch does: its path predicted (the join that interrupts the step), then updated
                spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
                spec._update(child)


def _timer_changes(wf, before: dict, source, target) -> list[TimerChange]:
    after = {str(t.id): t for t in wf.tasks.values() if _is_timer(t) and t.state == TaskState.WAITING}
    changes = []
    for guid, (element, name, expression, value, due) in before.items():
        task = after.get(guid)
        if task is None:
            changes.append(TimerChange(guid, element, name, CANCELLED, _at(value), None))
            continue
        same = (task.task_spec.bpmn_id == element and task.task_spec.event_definition.expression == expression
                and _attached_due(task.task_spec) == due)
        if same:
            task._set_internal_data(event_value=value)   # Camunda keeps a mapped timer's due date too
        now_value = task._get_internal_data("event_value")
        changes.append(TimerChange(guid, task.task_spec.bpmn_id, task.task_spec.bpmn_name or element,
                                   KEPT if same or now_value == value else RESTARTED, _at(value), _at(now_value)))
    for guid, task in after.items():
        if guid not in before:
            changes.append(TimerChange(guid, task.task_spec.bpmn_id, task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                                       STARTED, None, _at(task._get_internal_data("event_value"))))
    return changes


def _at(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = timers.TimerEventDefinition.get_datetime(value)
    except ValueError:
        return None
    return at.astimezone(timezone.utc).replace(tzinfo=None)


class _MigrationScriptEngine(PythonScriptEngine):
    """Timer expressions of a migrated step count from the step's opening, not from the migration."""

    def __init__(self, clock, openings: dict):
        super().__init__(environment=TaskDataEnvironment())
        self.clock, self.openings = clock, openings

    def evaluate(self, task, expression, external_context=None):
        if getattr(task.task_spec, "event_definition", None) is not None:
            attached = timers.attached_task(task.task_spec)
            opened = self.openings.get(attached.bpmn_id) if attached is not None else None
            start = opened.replace(tzinfo=timezone.utc).astimezone(timers.LOCAL_TZ) if opened else None
            external_context = {**timers.timer_functions(task.task_spec, start=start, clock=self.clock),
                                **(external_context or {})}
        return super().evaluate(task, expression, external_context)


# -- rows --------------------------------------------------------------------------------------------------
def _lock(conn, instance_id: int) -> None:
    """PostgreSQL: the instance's open inbox rows, then the instance, in the gates' order."""
    if conn.dialect.name != "postgresql":
        return   # SQLite: BEGIN IMMEDIATE already serialises every write transaction
    conn.execute(select(_HT.c.id).where(_HT.c.instance_id == instance_id, _HT.c.state == "open")
                 .order_by(_HT.c.id).with_for_update())
    conn.execute(select(_PI.c.id).where(_PI.c.id == instance_id).with_for_update())


def _open_rows(conn, instance_id: int, lock: bool):
    rows = {r.task_guid: r._asdict() for r in conn.execute(
        select(*_HT.c).where(_HT.c.instance_id == instance_id, _HT.c.state == "open"))}
    orgs: dict = {}
    ids = [r["id"] for r in rows.values()]
    if ids:
        for c in conn.execute(select(_TC.c.task_id, _TC.c.org_id, _TC.c.claimed_by_user_id)
                              .where(_TC.c.task_id.in_(ids))):
            orgs.setdefault(c.task_id, []).append((c.org_id, c.claimed_by_user_id))
    return rows, orgs


def _closed(row, orgs) -> TaskChange:
    return TaskChange(row["id"], row["element_id"], row["name"], None, None, CLOSED,
                      RELEASED if row["claimed_by_user_id"] else NONE, row["claimed_by_name"],
                      "none", row["due_at"], None, sorted(o for o, _ in orgs.get(row["id"], [])), [])


def _renew_id(wf, task) -> None:
    """Give a ready task a new id: its step is offered anew, in a new inbox row (task_guid is unique)."""
    old, new = task.id, uuid4()
    wf.tasks[new] = wf.tasks.pop(old)
    task.id = new
    parent = task.parent
    if parent is not None:
        parent._children = [new if c == old else c for c in parent._children]
    for child in wf.tasks.values():
        if child._parent == old:
            child._parent = new


def _timer_jobs(guids):
    return _J.c.kind == "bpmn.timer", _J.c.state == "pending", or_(*[_J.c.payload.contains(f'"{g}"') for g in guids])


def _reschedule(conn, instance_id: int, changes: list[TimerChange]) -> None:
    """Cancelled and restarted timers lose their pending job; restarted and started ones get one."""
    gone = [t.guid for t in changes if t.outcome in (CANCELLED, RESTARTED)]
    if gone:
        conn.execute(update(_J).where(*_timer_jobs(gone))
                     .values(state="done", finished_at=utcnow(), last_error=TIMER_CANCELLED))
    from .runtime import TIMER_JOB
    jobs.enqueue_many([(TIMER_JOB, {"instance_id": instance_id, "timer": t.guid, "element": t.element},
                        t.after or utcnow()) for t in changes if t.outcome in (RESTARTED, STARTED)])


def _snapshot(instance, out: _Outcome) -> dict:
    cancelled = []
    gone = [t.guid for t in out.plan.timers if t.outcome in (CANCELLED, RESTARTED)]
    if gone:
        cancelled = [r.id for r in db.session.connection().execute(select(_J.c.id).where(*_timer_jobs(gone)))]
    return {"state": instance.state, "clock": instance.clock,
            "tasks": [{k: row[k] for k in ("id", *_TASK_RESTORED)} for row in out.rows.values()],
            "candidates": {str(k): v for k, v in out.orgs.items()},
            "jobs_cancelled": cancelled,
            "timers_started": [t.guid for t in out.plan.timers if t.outcome in (RESTARTED, STARTED)]}


def _restore_inbox(conn, instance, before: dict, migrated_at) -> None:
    kept = {t["id"] for t in before["tasks"]}
    opened = [r.task_guid for r in conn.execute(select(_HT.c.task_guid).where(
        _HT.c.instance_id == instance.id, _HT.c.state == "open", _HT.c.id.not_in(kept) if kept else True))]
    if opened:
        store.cancel_tasks(conn, opened)
    for task in before["tasks"]:
        values = {k: _parse_dt(k, task[k]) for k in _TASK_RESTORED}
        conn.execute(update(_HT).where(_HT.c.id == task["id"]).values(**values))
        conn.execute(delete(_TC).where(_TC.c.task_id == task["id"]))
        rows = before["candidates"].get(str(task["id"]), [])
        if rows:
            first = conn.execute(select(_HT.c.process_key, _HT.c.created_at).where(_HT.c.id == task["id"])).first()
            conn.execute(insert(_TC), [dict(task_id=task["id"], org_id=org, is_open=True, process_key=first.process_key,
                                            created_at=first.created_at, claimed_by_user_id=claimed,
                                            scope=instance.scope, applicant_name=instance.applicant_name,
                                            due_at=values["due_at"] or NO_DUE) for org, claimed in rows])
    if before["timers_started"]:
        conn.execute(update(_J).where(*_timer_jobs(before["timers_started"]), _J.c.created_at >= migrated_at)
                     .values(state="done", finished_at=utcnow(), last_error="流程版本回退：定时器已取消"))
    if before["jobs_cancelled"]:
        conn.execute(update(_J).where(_J.c.id.in_(before["jobs_cancelled"]))
                     .values(state="pending", finished_at=None, last_error=None))


def _parse_dt(key, value):
    if key in ("claimed_at", "due_at") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _since(conn, instance_id, record) -> str:
    entry = conn.execute(select(AuditEntry.__table__).where(AuditEntry.instance_id == instance_id,
                                                            AuditEntry.seq > (record.audit_seq_after or 0))
                         .order_by(AuditEntry.seq.desc()).limit(1)).first()
    if entry is not None:
        return f"迁移后该申请已有新的办理（{entry.user_name}：{entry.action}），不能回退"
    return "迁移后该申请已有新的办理，不能回退"


def _moves_text(plan: InstancePlan) -> str:
    moves = [f"{t.name_before}→{t.name_after}" for t in plan.tasks
             if t.inbox == MOVED and t.element_before != t.element_after]
    return f"（{'；'.join(moves)}）" if moves else ""


def _add(record) -> None:
    db.session.add(record)
    db.session.flush()

