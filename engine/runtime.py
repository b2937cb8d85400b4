"""The engine's commands: start, claim, release, complete, retry.

Each command works inside the caller's unit of work (``ProcessEngine.command``):
domain tables, workflow state, inbox rows and the operation log change in one
database transaction, all or nothing.
"""
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.util.task import TaskState

from .actor import Actor
from .db import begin_write, db
from .definitions import DefinitionStore
from .errors import (
    ConcurrentModification, InstanceErrored, InvalidFormData, NotCandidate, TaskAlreadyClaimed,
    TaskClosed, TaskNotClaimed, TaskNotFound, UnknownOperator,
)
from .models import AuditEntry, HumanTask, ProcessInstance, TaskCandidate, utcnow
from .registry import EngineRegistry, ServiceCall
from .serialization import dump_state, load_state
from .validation import CANDIDATES, CLAIM, FORM_KEY

log = logging.getLogger(__name__)


@dataclass
class StepResult:
    """Where an instance stands after a command."""
    instance: ProcessInstance
    opened: list[HumanTask] = field(default_factory=list)
    incident: str | None = None

    @property
    def completed(self) -> bool:
        return self.instance.status == "completed"

    @property
    def end_element_id(self) -> str | None:
        return self.instance.end_element_id


class _ServiceScriptEngine(PythonScriptEngine):
    """Routes service tasks to the registry's operators, with the command's context."""

    def __init__(self, registry: EngineRegistry, instance: ProcessInstance, actor: Actor):
        super().__init__(environment=TaskDataEnvironment())
        self.registry, self.instance, self.actor = registry, instance, actor
        self.savepoint = None

    def call_service(self, task, operation_name=None, operation_params=None, **_):
        operator = self.registry.operators.get(operation_name)
        if operator is None:
            raise UnknownOperator(f"服务操作 “{operation_name}” 未注册")
        if self.savepoint is None:
            # engine steps change nothing in the database before the first operator runs: the
            # savepoint starts here, after what the command did so far (a new instance included)
            db.session.flush()
            self.savepoint = db.session.begin_nested()
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        result = operator(ServiceCall(self.instance, task.task_spec.bpmn_id, self.actor, params))
        return json.dumps(result or {})


class ProcessEngine:
    def __init__(self, registry: EngineRegistry, definitions: DefinitionStore | None = None):
        self.registry = registry
        self.definitions = definitions or DefinitionStore(registry)

    # -- unit of work ---------------------------------------------------------------
    @contextmanager
    def command(self):
        """One user action = one transaction. Nested commands join the outer one."""
        info = db.session.info   # the depth lives on the (thread-scoped) session
        info["command_depth"] = depth = info.get("command_depth", 0) + 1
        try:
            if depth == 1:
                begin_write()
            yield
            if depth == 1:
                db.session.commit()
        except StaleDataError as exc:
            db.session.rollback()
            raise ConcurrentModification("该业务已被他人处理，请刷新后重试") from exc
        except BaseException:
            db.session.rollback()
            raise
        finally:
            info["command_depth"] = depth - 1

    # -- commands -------------------------------------------------------------------
    def start(self, process_key: str, business_key: str, actor: Actor, *, subject: str = "",
              scope: str = "", scope_id: int | None = None, applicant_org_id: int | None = None,
              applicant_name: str = "") -> StepResult:
        definition = self.definitions.latest(process_key)
        parsed = self.definitions.parsed(definition)
        instance = ProcessInstance(
            definition_id=definition.id, process_key=process_key, business_key=business_key,
            subject=subject, scope=scope, scope_id=scope_id, applicant_org_id=applicant_org_id,
            applicant_name=applicant_name, started_by_user_id=actor.user_id, state="")
        # inserted with its state by the flush at the end of _advance (earlier only if an operator runs)
        db.session.add(instance)
        return self._advance(instance, actor, lambda: (BpmnWorkflow(parsed.spec, parsed.subprocess_specs), set()))

    def claim(self, task_id: int, actor: Actor) -> HumanTask:
        """签收: one conditional UPDATE; under any concurrency exactly one reviewer wins."""
        task = self._gate(_CLAIM_GATE, task_id, actor, claimed_at=utcnow())
        if task is None:
            task = self._refusal(task_id, actor)
            if task.claimed_by_user_id == actor.user_id:
                return task   # claiming one's own task again changes nothing
            raise self._held_by_other(task)
        self._mirror_claim(task_id, actor.user_id)
        self._audit(task.instance_id, actor, "签收", element_id=task.element_id)
        return task

    def release(self, task_id: int, actor: Actor) -> HumanTask:
        """退回签收: only the holder gives the task back to every candidate organisation."""
        task = self._gate(_RELEASE_GATE, task_id, actor)
        if task is None:
            task = self._refusal(task_id, actor)
            if task.claimed_by_user_id is None:
                raise TaskNotClaimed("该任务尚未签收")
            raise self._held_by_other(task)
        self._mirror_claim(task_id, None)
        self._audit(task.instance_id, actor, "退回签收", element_id=task.element_id)
        return task

    def complete(self, task_id: int, actor: Actor, data: dict, *, action: str,
                 opinion: str | None = None, outcome: str | None = None) -> StepResult:
        """Complete a user task with form data and run the engine to the next wait state."""
        # the conditional update is the gate: a second submit or a second tab finds 0 rows
        task = self._gate(_COMPLETE_GATE, task_id, actor, completed_at=utcnow(), outcome=outcome)
        if task is None:
            task = self._refusal(task_id, actor, "该任务已处理完毕，请勿重复提交")
            if task.claimed_by_user_id not in (None, actor.user_id):
                raise self._held_by_other(task)
            raise TaskNotClaimed("请先签收该任务再办理")
        validator = self.registry.forms.get(task.form_key)
        if validator is None:
            raise InvalidFormData(f"表单 “{task.form_key}” 未注册")
        cleaned = validator(dict(data))   # raising rolls the gate back with the command
        db.session.execute(_CLOSE_CANDIDATES, {"p_task_id": task_id})
        instance = db.session.get(ProcessInstance, task.instance_id)
        self._audit(instance.id, actor, action, opinion, element_id=task.element_id)
        before, parsed = instance.state, self.definitions.parsed(instance.definition)

        def restore_and_complete():
            wf = load_state(before, parsed.spec, parsed.subprocess_specs)
            open_before = _ready_user_tasks(wf)
            spiff_task = wf.get_task_from_id(UUID(task.task_guid))
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise TaskClosed("该任务已处理完毕，请勿重复提交")
            spiff_task.set_data(**cleaned)
            spiff_task.run()
            return wf, open_before - {task.task_guid}
        return self._advance(instance, actor, restore_and_complete)

    def retry(self, instance_id: int, actor: Actor) -> StepResult:
        """Run an errored instance's failed step again (an operator's command)."""
        instance = db.session.get(ProcessInstance, instance_id)
        if instance is None:
            raise TaskNotFound("流程实例不存在")
        if instance.status != "errored":
            raise InstanceErrored("该流程实例没有待处理的异常")
        self._audit(instance.id, actor, "重试")
        state, parsed = instance.state, self.definitions.parsed(instance.definition)
        def restore():
            wf = load_state(state, parsed.spec, parsed.subprocess_specs)
            return wf, _ready_user_tasks(wf)
        return self._advance(instance, actor, restore)

    def update_subject(self, instance: ProcessInstance, **fields) -> None:
        """Change what inbox rows show (e.g. the applicant picked another person)."""
        for name, value in fields.items():
            setattr(instance, name, value)
        shown = {k: v for k, v in fields.items() if k in ("subject", "scope", "applicant_name")}
        if shown:
            db.session.execute(update(HumanTask).where(
                HumanTask.instance_id == instance.id, HumanTask.state == "open").values(**shown)
                .execution_options(synchronize_session=False))
        filtered = {k: v for k, v in shown.items() if k in ("scope", "applicant_name")}
        if filtered:
            open_ids = select(HumanTask.id).where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id.in_(open_ids.scalar_subquery()))
                               .values(**filtered).execution_options(synchronize_session=False))

    def record(self, instance_id: int, actor: Actor, action: str, opinion: str | None = None) -> None:
        """Append a domain action (save, report, …) to the instance's operation log."""
        self._audit(instance_id, actor, action, opinion)

    # -- internals ------------------------------------------------------------------
    def _advance(self, instance: ProcessInstance, actor: Actor, build) -> StepResult:
        """Build the workflow, run engine steps in a savepoint, persist state and inbox rows.

        A failing service task rolls back everything it and the steps after the user
        task did, and leaves the instance errored at that element, to be retried.
        """
        wf, open_before = build()
        incident = failed_at = None
        script_engine = wf.script_engine = _ServiceScriptEngine(self.registry, instance, actor)
        try:
            wf.do_engine_steps(did_complete_task=lambda t: self._log_service_task(instance, t))
            if script_engine.savepoint is not None:
                script_engine.savepoint.commit()
        except Exception as exc:  # noqa: BLE001 — every failure becomes an incident
            if script_engine.savepoint is not None:
                script_engine.savepoint.rollback()
            failed_at = _failed_element(wf, exc)
            incident = _incident_message(exc)
            log.warning("instance %s failed at %s: %s", instance.id, failed_at, incident)
            wf, open_before = build()
            instance.incident_message, instance.incident_element_id = incident, failed_at
            instance.incident_at = utcnow()
        instance.state = dump_state(wf)
        if incident:
            instance.status = "errored"
        elif wf.is_completed():
            instance.status = "completed"
            instance.end_element_id = _end_element(wf)
        else:
            instance.status = "running"
        if not incident:
            instance.incident_message = instance.incident_element_id = instance.incident_at = None
        try:
            db.session.flush()   # the instance first: the inbox rows refer to it
        except StaleDataError as exc:
            raise ConcurrentModification("该业务已被他人处理，请刷新后重试") from exc
        opened = self._sync_human_tasks(instance, wf, open_before)
        if incident:
            self._audit(instance.id, Actor.system(), "服务任务失败", incident, element_id=failed_at)
        return StepResult(instance, opened, incident)

    def _sync_human_tasks(self, instance, wf, open_before: set[str]) -> list[HumanTask]:
        """Make the inbox rows match the workflow's ready user tasks.

        ``open_before`` are the guids that had open rows when the command began (the ready
        user tasks of the loaded state, less the one just completed), so no query is needed.
        """
        ready = {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}
        gone = open_before - ready.keys()
        if gone:
            ids = select(HumanTask.id).where(HumanTask.task_guid.in_(gone)).scalar_subquery()
            db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id.in_(ids))
                               .values(is_open=False).execution_options(synchronize_session=False))
            db.session.execute(update(HumanTask).where(HumanTask.task_guid.in_(gone), HumanTask.state == "open")
                               .values(state="cancelled").execution_options(synchronize_session=False))
        return [self._open_human_task(instance, t) for guid, t in ready.items() if guid not in open_before]

    def _open_human_task(self, instance, spiff_task) -> HumanTask:
        """Insert the inbox row and its candidate rows with two statements, no unit-of-work flush.

        The returned HumanTask is attached to the session as already persistent, every column set.
        """
        spec = spiff_task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        now = utcnow()
        values = dict(
            instance_id=instance.id, process_key=instance.process_key, task_guid=str(spiff_task.id),
            element_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, form_key=props.get(FORM_KEY, ""),
            claim_required=props.get(CLAIM) == "required", state="open", subject=instance.subject,
            scope=instance.scope, applicant_org_id=instance.applicant_org_id, applicant_name=instance.applicant_name,
            created_at=now, **_UNCLAIMED, **_UNFINISHED)
        rule = self.registry.candidate_rules[props[CANDIDATES]]
        orgs = sorted({org for org in rule(instance) if org is not None})
        values["id"] = task_id = db.session.execute(_TASK_INSERT, values).scalar_one()
        if orgs:
            db.session.execute(_CANDIDATE_INSERT, [
                dict(task_id=task_id, org_id=org, is_open=True, process_key=instance.process_key, created_at=now,
                     claimed_by_user_id=None, scope=instance.scope, applicant_name=instance.applicant_name)
                for org in orgs])
        return _persistent(HumanTask, values)

    def _log_service_task(self, instance, spiff_task):
        if isinstance(spiff_task.task_spec, ServiceTask):
            result = spiff_task.data.get(spiff_task.task_spec.result_variable) or {}
            message = result.get("message") if isinstance(result, dict) else None
            self._audit(instance.id, Actor.system(), spiff_task.task_spec.bpmn_name or spiff_task.task_spec.bpmn_id,
                        message, element_id=spiff_task.task_spec.bpmn_id)

    @staticmethod
    def _gate(statement, task_id, actor, **values) -> HumanTask | None:
        """The conditional UPDATE of an open task offered to the actor's organisation.

        Returns the updated task (refreshed in the session if it was loaded), or None when the
        conditions did not hold (then nothing changed).
        """
        params = {f"p_{k}": v for k, v in values.items()}
        params.update(p_task_id=task_id, p_org_id=actor.org_id, p_user_id=actor.user_id,
                      p_user_name=actor.user_name, p_actor_org_id=actor.org_id, p_org_name=actor.org_name)
        db.session.flush()   # what the command changed so far goes first, as an ORM statement would
        row = db.session.execute(statement, params).first()
        return None if row is None else _persistent(HumanTask, row._asdict())

    @staticmethod
    def _refusal(task_id, actor, closed_message="该任务已处理完毕") -> HumanTask:
        """Why a gate found no row: raises for a missing, foreign or closed task, else returns it."""
        task = db.session.get(HumanTask, task_id, populate_existing=True)
        if task is None:
            raise TaskNotFound("任务不存在")
        offered = db.session.scalar(select(TaskCandidate.task_id).where(
            TaskCandidate.task_id == task_id, TaskCandidate.org_id == actor.org_id))
        if offered is None:
            raise NotCandidate("您所在的单位无权办理该任务")
        if task.state != "open":
            raise TaskClosed(closed_message)
        return task

    @staticmethod
    def _mirror_claim(task_id, user_id):
        db.session.execute(_MIRROR_CLAIM, {"p_task_id": task_id, "p_user_id": user_id})

    @staticmethod
    def _held_by_other(task) -> TaskAlreadyClaimed:
        return TaskAlreadyClaimed(
            f"该任务已由{task.claimed_by_org_name}的{task.claimed_by_name}签收",
            holder=task.claimed_by_name or "", holder_org=task.claimed_by_org_name or "")

    @staticmethod
    def _audit(instance_id, actor, action, opinion=None, element_id=None):
        # one INSERT on the table, not an ORM object: nothing reads the entry back in the command,
        # and the unit of work's flush machinery costs more than the statement
        db.session.execute(_AUDIT_INSERT, dict(
            instance_id=instance_id, at=utcnow(), user_id=actor.user_id, user_name=actor.user_name,
            org_id=actor.org_id, org_name=actor.org_name, action=action, opinion=opinion,
            element_id=element_id))


# Statements built once, with bind parameters: building and coercing them per call cost more
# than sending them. A gate updates an open task offered to the actor's organisation.
def _gate_statement(condition, **values):
    task, candidate = HumanTask.__table__, TaskCandidate.__table__
    offered = exists().where(candidate.c.task_id == task.c.id, candidate.c.org_id == bindparam("p_org_id"))
    return (update(task).where(task.c.id == bindparam("p_task_id"), task.c.state == "open", offered, condition)
            .values(**values).returning(*task.c))


def _persistent(cls, values: dict):
    """The session's object for a row just written by a table statement: refreshed if already
    loaded, else attached as persistent (no unit-of-work flush, no extra query)."""
    obj = db.session.identity_map.get(db.session.identity_key(cls, values["id"]))
    if obj is None:
        obj = cls(**values)
        make_transient_to_detached(obj)
        db.session.add(obj)
    else:
        for name, value in values.items():
            set_committed_value(obj, name, value)
    return obj


_TASK = HumanTask.__table__.c
_CLAIM_GATE = _gate_statement(
    _TASK.claimed_by_user_id.is_(None),
    claimed_by_user_id=bindparam("p_user_id"), claimed_by_name=bindparam("p_user_name"),
    claimed_by_org_id=bindparam("p_actor_org_id"), claimed_by_org_name=bindparam("p_org_name"),
    claimed_at=bindparam("p_claimed_at"))
_RELEASE_GATE = _gate_statement(
    _TASK.claimed_by_user_id == bindparam("p_user_id"),
    claimed_by_user_id=None, claimed_by_name=None, claimed_by_org_id=None, claimed_by_org_name=None,
    claimed_at=None)
_COMPLETE_GATE = _gate_statement(
    or_(_TASK.claimed_by_user_id == bindparam("p_user_id"),
        and_(_TASK.claimed_by_user_id.is_(None), _TASK.claim_required.is_(False))),
    state="completed", completed_at=bindparam("p_completed_at"), completed_by_user_id=bindparam("p_user_id"),
    completed_by_name=bindparam("p_user_name"), completed_by_org_id=bindparam("p_actor_org_id"),
    outcome=bindparam("p_outcome"))
_CLOSE_CANDIDATES = (update(TaskCandidate).where(TaskCandidate.task_id == bindparam("p_task_id"))
                     .values(is_open=False).execution_options(synchronize_session=False))
_MIRROR_CLAIM = (update(TaskCandidate).where(TaskCandidate.task_id == bindparam("p_task_id"))
                 .values(claimed_by_user_id=bindparam("p_user_id")).execution_options(synchronize_session=False))
_AUDIT_INSERT = insert(AuditEntry.__table__)
_TASK_INSERT = insert(HumanTask.__table__).returning(HumanTask.__table__.c.id)
_CANDIDATE_INSERT = insert(TaskCandidate.__table__)
_UNCLAIMED = dict(claimed_by_user_id=None, claimed_by_name=None, claimed_by_org_id=None, claimed_by_org_name=None,
                  claimed_at=None)
_UNFINISHED = dict(completed_at=None, completed_by_user_id=None, completed_by_name=None, completed_by_org_id=None,
                   outcome=None)


def _ready_user_tasks(wf) -> set[str]:
    return {str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}


def _failed_element(wf, exc) -> str | None:
    task = getattr(exc, "task", None)
    if task is None:
        errored = wf.get_tasks(state=TaskState.ERROR)
        task = errored[0] if errored else None
    return task.task_spec.bpmn_id if task is not None else None


def _incident_message(exc) -> str:
    inner = getattr(exc, "exception", None) or exc.__cause__ or exc
    message = getattr(inner, "message", None) or str(inner)
    return f"{type(inner).__name__}: {message}"


def _end_element(wf) -> str | None:
    ends = [t for t in wf.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]
    return ends[-1].task_spec.bpmn_id if ends else None
