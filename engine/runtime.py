"""The engine's commands: start, claim, release, complete, retry, record, update_subject, reoffer.

Every command runs in a unit of work (Camunda's command model): it joins the caller's
(``ProcessEngine.command``), so domain tables, workflow state, inbox rows and the operation
log change in one database transaction, or, called outside one, opens and commits its own.
No caller can forget the transaction.
"""
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.util.task import TaskState

from . import deadlines, generations, jobs, store, timers, workcalendar
from .actor import Actor
from .db import db, is_rollback_only, note_step, restore_rollback_only, unit_of_work
from .definitions import DefinitionStore
from .drafts import DraftStore
from .migration import MIGRATE_JOB, Migrator
from .errors import (
    ConcurrentModification, InstanceErrored, InvalidFormData, NotCandidate, NotWithdrawable, TaskAlreadyClaimed,
    TaskClosed, TaskNotClaimed, TaskNotFound, UnknownOperator,
)
from .models import utcnow
from .registry import EngineRegistry, ServiceCall
from .store import InstanceRecord, TaskRecord
from .serialization import dump_state, load_state
from .validation import CANDIDATES, CLAIM, FORM_KEY

log = logging.getLogger(__name__)
WITHDRAW_MESSAGE = "withdraw"   # the message name of the diagrams' 撤回 boundary events


@dataclass
class StepResult:
    """Where an instance stands after a command."""
    instance: InstanceRecord
    opened: list[TaskRecord] = field(default_factory=list)
    incident: str | None = None
    status: str | None = None   # what the diagram declares where the instance now waits or ended
    offered_to: dict[int, list[int]] = field(default_factory=dict)   # opened task id -> candidate org ids

    @property
    def completed(self) -> bool:
        return self.instance.status == "completed"

    @property
    def end_element_id(self) -> str | None:
        return self.instance.end_element_id


class _Step:
    """One command's run of the workflow: the instance it advances and the log entries it owes.

    Log entries are written together when the state is saved, so that the entries of service
    tasks rolled back with a failing operator are never written.
    """
    __slots__ = ("conn", "instance", "actor", "definition", "log", "statuses")

    def __init__(self, conn, instance, actor, definition=None, statuses=None):
        self.conn, self.instance, self.actor, self.definition = conn, instance, actor, definition
        self.log: list[dict] = []
        self.statuses: dict = statuses or {}   # the diagram's status properties by element id

    def persist_new_instance(self) -> None:
        if self.instance.id is None:
            store.insert_instance(self.conn, self.instance, self.definition)


class _ServiceScriptEngine(timers.TimerFunctionsMixin, PythonScriptEngine):
    """Routes service tasks to the registry's operators, with the command's context."""

    def __init__(self, registry: EngineRegistry, step: _Step):
        super().__init__(environment=TaskDataEnvironment())
        self.registry, self.step = registry, step
        self.savepoint = None
        self.rollback_only_before = False   # the unit's mark when the savepoint began

    def call_service(self, task, operation_name=None, operation_params=None, **_):
        operator = self.registry.operators.get(operation_name)
        if operator is None:
            raise UnknownOperator(f"服务操作 “{operation_name}” 未注册")
        if self.savepoint is None:
            # engine steps change nothing in the database before the first operator runs: the
            # savepoint starts here, after what the command did so far (a new instance included)
            self.step.persist_new_instance()
            db.session.flush()
            self.rollback_only_before = is_rollback_only()
            self.savepoint = db.session.begin_nested()
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        result = operator(ServiceCall(self.step.instance, task.task_spec.bpmn_id, self.step.actor, params))
        return json.dumps(result or {})


def _command(method):
    """A public engine operation: joins the open unit of work, or runs in its own."""
    @wraps(method)
    def run(self, *args, **kwargs):
        with self.command():
            return method(self, *args, **kwargs)
    return run


class ProcessEngine:
    def __init__(self, registry: EngineRegistry, definitions: DefinitionStore | None = None):
        self.registry = registry
        self.definitions = definitions or DefinitionStore(registry)
        # the working calendar is dropped by the same per-request generation check as the deployments
        self.definitions.watch.on_change(generations.CALENDAR, workcalendar.invalidate)
        self.drafts = DraftStore(self.definitions)   # the studio's working copies (engine.drafts)
        self.migration = Migrator(self)   # moving running instances to another version (engine.migration)

    # -- unit of work ---------------------------------------------------------------
    @contextmanager
    def command(self):
        """One user action = one transaction (``engine.db.unit_of_work``); nested commands join."""
        try:
            with unit_of_work():
                yield
        except StaleDataError as exc:
            raise ConcurrentModification(_CONCURRENT) from exc

    # -- commands -------------------------------------------------------------------
    @_command
    def start(self, process_key: str, business_key: str, actor: Actor, *, subject: str = "",
              scope: str = "", scope_id: int | None = None, applicant_org_id: int | None = None,
              applicant_name: str = "", action: str | None = None, case_no: str | None = None,
              periods: dict[str, str] | None = None) -> StepResult:
        """Start an instance. ``action`` (e.g. 新建) is logged as the actor's, written with the new
        instance in the same statement rather than as a separate ``record``; ``case_no`` (办件编号,
        engine.case_numbers) is written with the new instance. ``periods`` ({element id: "7 working
        days"}) replace the ``due`` the diagram declares for those user tasks in this instance (a period
        an administrator sets): they start as the instance's clock, which the deadline and its timers read."""
        conn = db.session.connection()
        for _attempt in range(2):
            definition = self.definitions.current(process_key)
            instance = InstanceRecord(
                definition_id=definition.id, process_key=process_key, business_key=business_key,
                subject=subject, scope=scope, scope_id=scope_id, applicant_org_id=applicant_org_id,
                applicant_name=applicant_name, started_by_user_id=actor.user_id, status="running",
                case_no=case_no, clock=deadlines.initial_clock(periods))
            parsed = definition.parsed
            try:
                # nothing is written before the guarded insert: a stale version is simply built again
                step = _Step(conn, instance, actor, definition, parsed.statuses)
                if action:
                    step.log.append(store.audit_entry(None, actor, action))   # the id comes with the insert
                result = self._advance(step, lambda: (BpmnWorkflow(parsed.spec, parsed.subprocess_specs), set(), {}))
            except store.StaleDefinition:
                self.definitions.forget(process_key)
                continue
            return result
        raise ConcurrentModification("流程定义正在更新，请稍后重试")

    @_command
    def claim(self, task_id: int, actor: Actor) -> TaskRecord:
        """签收: one conditional UPDATE; under any concurrency exactly one reviewer wins."""
        conn = db.session.connection()
        task = store.claim_gate(conn, store.CLAIM_GATE, task_id, actor, "签收", claimed_at=utcnow())
        if task is None:
            task = self._refusal(conn, task_id, actor)
            if task.claimed_by_user_id == actor.user_id:
                return task   # claiming one's own task again changes nothing
            raise self._held_by_other(task)
        return task

    @_command
    def release(self, task_id: int, actor: Actor) -> TaskRecord:
        """退回签收: only the holder gives the task back to every candidate organisation."""
        conn = db.session.connection()
        task = store.claim_gate(conn, store.RELEASE_GATE, task_id, actor, "退回签收")
        if task is None:
            task = self._refusal(conn, task_id, actor)
            if task.claimed_by_user_id is None:
                raise TaskNotClaimed("该任务尚未签收")
            raise self._held_by_other(task)
        return task

    @_command
    def transfer(self, task_id: int, actor: Actor, to: Actor, reason: str) -> TaskRecord:
        """转办: the holder hands the claimed task to ``to``, a colleague of the same organisation.

        The claim gate with ``claimed_by = me``: a task the actor does not hold (any more) is
        refused as a release would be; the log entry names the colleague and the reason.
        """
        if to.org_id != actor.org_id or to.user_id == actor.user_id:
            raise NotCandidate("只能转办给本单位的其他审核人员")
        conn = db.session.connection()
        task = store.claim_gate(conn, store.TRANSFER_GATE, task_id, actor, "转办", f"转办给{to.user_name}：{reason}",
                                to_user_id=to.user_id, to_user_name=to.user_name, claimed_at=utcnow())
        if task is None:
            task = self._refusal(conn, task_id, actor)
            if task.claimed_by_user_id is None:
                raise TaskNotClaimed("请先签收该任务再转办")
            raise self._held_by_other(task)
        return task

    @_command
    def complete(self, task_id: int, actor: Actor, data: dict, *, action: str,
                 opinion: str | None = None, outcome: str | None = None) -> StepResult:
        """Complete a user task with form data and run the engine to the next wait state."""
        # the conditional update is the gate: a second submit or a second tab finds 0 rows
        conn = db.session.connection()
        task, instance, content_hash = store.complete_gate(conn, task_id, actor, completed_at=utcnow(),
                                                           outcome=outcome)
        if task is None:
            task = self._refusal(conn, task_id, actor, "该任务已处理完毕，请勿重复提交")
            if task.claimed_by_user_id not in (None, actor.user_id):
                raise self._held_by_other(task)
            raise TaskNotClaimed("请先签收该任务再办理")
        validator = self.definitions.form(content_hash, task.form_key)   # from the instance's own bundle
        if validator is None:
            raise InvalidFormData(f"表单 “{task.form_key}” 未注册")
        cleaned = validator(dict(data))   # raising rolls the gate back with the command
        instance.clock = deadlines.stop(instance.clock, task, task.completed_at)   # 退回 pauses the clock
        step = _Step(conn, instance, actor)
        step.log.append(store.audit_entry(instance.id, actor, action, opinion, element_id=task.element_id))
        before, parsed = instance.state, self.definitions.parsed_by_hash(content_hash)
        step.statuses = parsed.statuses

        def restore_and_complete():
            wf = load_state(before, parsed.spec, parsed.subprocess_specs)
            open_before, timers_before = _ready_user_tasks(wf).keys(), _waiting_timers(wf)
            spiff_task = wf.get_task_from_id(UUID(task.task_guid))
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise TaskClosed("该任务已处理完毕，请勿重复提交")
            spiff_task.set_data(**cleaned)
            spiff_task.run()
            return wf, open_before - {task.task_guid}, timers_before
        return self._advance(step, restore_and_complete)

    @_command
    def retry(self, instance_id: int, actor: Actor) -> StepResult:
        """Run an errored instance's failed step again (an operator's command)."""
        conn = db.session.connection()
        instance, content_hash = store.load_instance(conn, instance_id)
        if instance is None:
            raise TaskNotFound("流程实例不存在")
        if instance.status != "errored":
            raise InstanceErrored("该流程实例没有待处理的异常")
        step = _Step(conn, instance, actor)
        step.log.append(store.audit_entry(instance.id, actor, "重试"))
        state, parsed = instance.state, self.definitions.parsed_by_hash(content_hash)
        step.statuses = parsed.statuses

        def restore():
            wf = load_state(state, parsed.spec, parsed.subprocess_specs)
            return wf, set(_ready_user_tasks(wf)), _waiting_timers(wf)
        return self._advance(step, restore)

    @_command
    def update_subject(self, instance_id: int, **fields) -> None:
        """Change what inbox rows show (e.g. the applicant picked another person): subject, scope,
        applicant_name, on the instance and its open inbox rows."""
        store.update_subject(db.session.connection(), instance_id, fields)

    @_command
    def record(self, instance_id: int, actor: Actor, action: str, opinion: str | None = None) -> None:
        """Append a domain action (save, report, …) to the instance's operation log."""
        store.append_log(db.session.connection(), instance_id, [store.audit_entry(instance_id, actor, action, opinion)])

    @_command
    def set_due(self, task_id: int, due: datetime, actor: Actor, action: str, opinion: str | None = None) -> TaskRecord:
        """A new deadline for an open task (督办): the inbox row and its candidate rows fall due at
        ``due`` (stored UTC, the end of a local day), no longer overdue; the timers attached to the
        task that still wait (超期预警, 到期) are evaluated again against it and their jobs follow.
        The change is logged as ``action`` with ``opinion``, in the same transaction."""
        conn = db.session.connection()
        task = store.load_task(conn, task_id)
        if task is None:
            raise TaskNotFound("任务不存在")
        if task.state != "open":
            raise TaskClosed("该任务已处理完毕")
        instance, content_hash = store.load_instance(conn, task.instance_id)
        parsed = self.definitions.parsed_by_hash(content_hash)
        step = _Step(conn, instance, actor, statuses=parsed.statuses)
        step.log.append(store.audit_entry(instance.id, actor, action, opinion, element_id=task.element_id))
        state = instance.state

        def restore_and_move():
            wf = load_state(state, parsed.spec, parsed.subprocess_specs)
            open_before, timers_before = set(_ready_user_tasks(wf)), _waiting_timers(wf)
            user_task = wf.get_task_from_id(UUID(task.task_guid))
            for waiting in list(wf.event_manager.tasks.values()):
                if not (_is_timer(waiting) and waiting.state == TaskState.WAITING) or user_task is None \
                        or timers.attached_task(waiting.task_spec) is not user_task.task_spec:
                    continue
                definition = waiting.task_spec.event_definition
                functions = timers.timer_functions(waiting.task_spec, clock=instance.clock, due=due)
                waiting._set_internal_data(event_value=eval(   # noqa: S307 — the deployed diagram's expression
                    compile(definition.expression, f"<{waiting.task_spec.bpmn_id}>", "eval"), functions))
            return wf, open_before, timers_before
        self._advance(step, restore_and_move)
        store.move_due(conn, task_id, due)
        return store.load_task(conn, task_id)

    @_command
    def reoffer(self, instance_id: int, actor: Actor, action: str, opinion=None) -> list[tuple[TaskRecord, list[int]]]:
        """Offer the instance's open tasks to whom their candidate rules name now (the project moved
        to other regulators, say). A task whose candidates changed gets the new candidate rows and
        nobody holds it any more; the log records it, ``opinion(task, before, after)`` saying what
        moved. The workflow is neither loaded nor saved: its state does not change.

        Returns the re-offered tasks with their new candidate organisations (empty: nothing moved).
        """
        conn = db.session.connection()
        instance, content_hash = store.load_instance(conn, instance_id)
        if instance is None:
            raise TaskNotFound("流程实例不存在")
        tasks = store.open_tasks_locked(conn, instance_id)
        if not tasks:
            return []
        parsed = self.definitions.parsed_by_hash(content_hash)
        moved, entries = [], []
        for task in tasks:
            rule = self.registry.candidate_rules[_user_task_properties(parsed, task.element_id)[CANDIDATES]]
            after = sorted({org for org in rule(instance) if org is not None})
            before = store.candidate_orgs(conn, task.id)
            if after == before:
                continue
            text = opinion(task, before, after) if callable(opinion) else opinion
            store.reoffer_task(conn, task, after)
            entries.append(store.audit_entry(instance_id, actor, action, text, element_id=task.element_id))
            moved.append((task, after))
        if entries:
            store.append_log(conn, instance_id, entries)
        return moved

    @_command
    def withdraw(self, instance_id: int, actor: Actor, *, message: str = WITHDRAW_MESSAGE,
                 action: str = "撤回", opinion: str | None = None) -> StepResult:
        """撤回 a case waiting on reviewers: the diagram decides where it goes.

        Passes the withdraw gate (store.withdraw_gate: refused while a reviewer holds a task), then
        delivers ``message`` to the workflow: an interrupting message boundary event on the waiting
        user task takes it on (to the diagram's 已撤回 end). A diagram with no such event refuses.
        """
        conn = db.session.connection()
        instance, content_hash = store.load_instance(conn, instance_id)
        if instance is None:
            raise TaskNotFound("流程实例不存在")
        if instance.status != "running":
            raise NotWithdrawable("该申请当前不可撤回")
        closed, held = store.withdraw_gate(conn, instance_id)
        if closed is None:
            if held is None:
                raise ConcurrentModification(_CONCURRENT)
            raise TaskAlreadyClaimed(
                f"该申请已由{held.claimed_by_org_name}的{held.claimed_by_name}签收，不能撤回",
                holder=held.claimed_by_name or "", holder_org=held.claimed_by_org_name or "")
        step = _Step(conn, instance, actor)
        step.log.append(store.audit_entry(instance.id, actor, action, opinion))
        state, parsed = instance.state, self.definitions.parsed_by_hash(content_hash)
        step.statuses = parsed.statuses

        def restore_and_deliver():
            wf = load_state(state, parsed.spec, parsed.subprocess_specs)
            open_before, timers_before = set(_ready_user_tasks(wf)), _waiting_timers(wf)
            waiting = _waiting_message(wf, message)
            if not closed or waiting is None or wf.event_manager.catch(BpmnEvent(waiting), internal=False) == 0:
                raise NotWithdrawable("该申请当前不可撤回")
            return wf, open_before - set(closed), timers_before
        return self._advance(step, restore_and_deliver)

    # -- internals ------------------------------------------------------------------
    def _advance(self, step: _Step, build) -> StepResult:
        """Build the workflow, run engine steps in a savepoint, persist state and inbox rows.

        ``build`` returns the workflow, the guids of the user tasks that had open inbox rows and
        the timers that had jobs, both as the stored state had them.

        A failing service task rolls back everything it and the steps after the user
        task did, and leaves the instance errored at that element, to be retried.
        """
        instance = step.instance
        started = instance.id is None   # a new instance: every task open after this step is one it opened
        wf, open_before, timers_before = build()
        incident = failed_at = None
        logged = len(step.log)
        script_engine = wf.script_engine = _ServiceScriptEngine(self.registry, step)
        try:
            wf.do_engine_steps(did_complete_task=lambda t: self._log_service_task(step, t))
            if script_engine.savepoint is not None:
                script_engine.savepoint.commit()
        except Exception as exc:  # noqa: BLE001 — every failure becomes an incident
            if _caused_by(exc, store.StaleDefinition):
                raise store.StaleDefinition(instance.process_key) from exc
            if script_engine.savepoint is not None:
                script_engine.savepoint.rollback()
                # what failed inside the operator is undone: an incident, not a rollback-only unit
                restore_rollback_only(script_engine.rollback_only_before)
            failed_at = _failed_element(wf, exc)
            incident = _incident_message(exc)
            log.warning("instance %s failed at %s: %s", instance.id, failed_at, incident)
            wf, open_before, timers_before = build()
            del step.log[logged:]   # the service tasks' entries went with their effects
            step.log.append(store.audit_entry(instance.id, Actor.system(), "服务任务失败", incident,
                                              element_id=failed_at))
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
        new_tasks = self._new_tasks(step, wf, open_before)
        opened = store.save(step.conn, instance, step.definition, new_tasks, step.log)
        if opened is None:
            raise ConcurrentModification(_CONCURRENT)
        self._schedule_timers(instance, _waiting_timers(wf), timers_before)
        if incident:
            for listener in self.registry.incident_listeners:
                listener("instance", instance.id, incident)
        statuses = step.statuses if any(s for s, _ in step.statuses.values()) else self.registry.legacy_statuses
        result = StepResult(instance, opened, incident, None if incident else _declared_status(statuses, wf),
                            {values["id"]: orgs for values, orgs in new_tasks})
        # a call's answer knows where the instance stands without reading it again (engine.db.call_steps)
        note_step(result, started)
        return result

    @staticmethod
    def _schedule_timers(instance, waiting: dict, before: dict) -> None:
        """A timer that started waiting in this step gets a job due when it fires (same transaction)."""
        new = [(TIMER_JOB, {"instance_id": instance.id, "timer": guid, "element": element}, at or utcnow())
               for guid, (element, at) in waiting.items()
               if guid not in before or (at is not None and before[guid][1] != at)]   # new, or re-armed
        jobs.enqueue_many(new)

    def fire_timer(self, job) -> None:
        """The job of a waiting timer: let Spiff fire it and run the engine on, as one command.

        A timer no longer waiting (its task was completed first, or it already fired) is a no-op.
        """
        payload = job.payload
        with self.command():
            conn = db.session.connection()
            instance, content_hash = store.load_instance(conn, payload["instance_id"])
            if instance is None or instance.status != "running":
                return
            parsed = self.definitions.parsed_by_hash(content_hash)
            wf = load_state(instance.state, parsed.spec, parsed.subprocess_specs)
            timer = wf.get_task_from_id(UUID(payload["timer"]))
            if timer is None or timer.state not in (TaskState.WAITING, TaskState.READY):
                return
            fire_at = timers.fire_time(timer)
            if timer.state == TaskState.WAITING and fire_at is not None and fire_at >= utcnow():
                raise jobs.NotDue(fire_at + timedelta(seconds=1))
            step = _Step(conn, instance, Actor.system(), statuses=parsed.statuses)
            state = instance.state

            def restore_and_fire():
                restored = load_state(state, parsed.spec, parsed.subprocess_specs)
                open_before, timers_before = set(_ready_user_tasks(restored)), _waiting_timers(restored)
                restored.refresh_timers()
                return restored, open_before, timers_before
            self._advance(step, restore_and_fire)

    def job_handlers(self) -> dict:
        """The handlers a worker runs: the engine's timers and the registry's kinds."""
        return {TIMER_JOB: self.fire_timer, MIGRATE_JOB: self.migration.run_job, **self.registry.job_handlers}

    def job_incident(self, job, error: str) -> None:
        for listener in self.registry.incident_listeners:
            listener("job", job.id, f"{job.kind}: {error}")

    def _new_tasks(self, step, wf, open_before: set[str]) -> list[tuple[dict, list[int]]]:
        """Make the inbox rows match the workflow's ready user tasks: close the ones it no longer
        waits on, and return the rows (with their candidate organisations) to insert.

        ``open_before`` are the guids that had open rows when the command began (the ready
        user tasks of the loaded state, less the one just completed), so no query is needed.
        """
        ready = _ready_user_tasks(wf)
        gone = open_before - ready.keys()
        if gone:
            store.cancel_tasks(step.conn, gone)
        return [self._human_task(step, t) for guid, t in ready.items() if guid not in open_before]

    def _human_task(self, step, spiff_task) -> tuple[dict, list[int]]:
        instance = step.instance
        spec = spiff_task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        now = utcnow()
        values = dict(
            instance_id=instance.id, process_key=instance.process_key, task_guid=str(spiff_task.id),
            element_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, form_key=props.get(FORM_KEY, ""),
            claim_required=props.get(CLAIM) == "required", state="open", subject=instance.subject,
            scope=instance.scope, applicant_org_id=instance.applicant_org_id, applicant_name=instance.applicant_name,
            created_at=now,   # the claim and completion columns start empty
            **deadlines.opening(props, instance.clock, spec.bpmn_id, now))
        rule = self.registry.candidate_rules[props[CANDIDATES]]
        return values, sorted({org for org in rule(instance) if org is not None})

    @staticmethod
    def _log_service_task(step, spiff_task):
        if isinstance(spiff_task.task_spec, ServiceTask):
            result = spiff_task.data.get(spiff_task.task_spec.result_variable) or {}
            result = result if isinstance(result, dict) else {}
            spec = spiff_task.task_spec
            # an operator that changed nothing names what happened instead (e.g. a failed re-check)
            action = result.get("log_action") or spec.bpmn_name or spec.bpmn_id
            step.log.append(store.audit_entry(step.instance.id, Actor.system(), action,
                                              result.get("message"), element_id=spec.bpmn_id))

    @staticmethod
    def _refusal(conn, task_id, actor, closed_message="该任务已处理完毕") -> TaskRecord:
        """Why a gate found no row: raises for a missing, foreign or closed task, else returns it."""
        task = store.load_task(conn, task_id)
        if task is None:
            raise TaskNotFound("任务不存在")
        if not store.is_offered(conn, task_id, actor.org_id):
            raise NotCandidate("您所在的单位无权办理该任务")
        if task.state != "open":
            raise TaskClosed(closed_message)
        return task

    @staticmethod
    def _held_by_other(task) -> TaskAlreadyClaimed:
        return TaskAlreadyClaimed(
            f"该任务已由{task.claimed_by_org_name}的{task.claimed_by_name}签收",
            holder=task.claimed_by_name or "", holder_org=task.claimed_by_org_name or "")


_CONCURRENT = "该业务已被他人处理，请刷新后重试"
TIMER_JOB = "bpmn.timer"


def _waiting_timers(wf) -> dict[str, tuple[str, object]]:
    """The timer events the workflow waits on: guid -> (element id, fire time in naive UTC or None: now).

    A timer already due when it started waiting was made ready by Spiff's trailing refresh
    and is still to run: its job is due now (its step's inbox rows exist by then).
    """
    waiting = {}
    for task in wf.event_manager.tasks.values():
        if _is_timer(task) and task.state == TaskState.WAITING:
            waiting[str(task.id)] = (task.task_spec.bpmn_id, timers.fire_time(task))
    for w in (wf, *wf.subprocesses.values()):
        for task in w.tasks.values():
            if task.state == TaskState.READY and not task.task_spec.manual and _is_timer(task):
                waiting[str(task.id)] = (task.task_spec.bpmn_id, None)   # due now
    return waiting


def _user_task_properties(parsed, element_id: str) -> dict:
    """The extension properties of a user task of the definition (its subprocesses included)."""
    for spec in (parsed.spec, *parsed.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == element_id:
                return (task_spec.extensions or {}).get("properties", {})
    raise LookupError(f"user task {element_id} is not in the definition")


def _waiting_message(wf, name: str):
    """The event definition of a message event the workflow waits on (the parser's own class, which
    event matching compares), or None."""
    for task in wf.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, MessageEventDefinition) and definition.name == name:
            return definition
    return None


def _is_timer(task) -> bool:
    return isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)


def _ready_user_tasks(wf) -> dict[str, object]:
    """The ready manual tasks by guid, subprocesses included: a scan of the workflows' task maps,
    a fraction of what Spiff's tree iterator costs for the same answer."""
    ready = {}
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            if task.state == TaskState.READY and task.task_spec.manual:
                ready[str(task.id)] = task
    return ready


def _declared_status(statuses: dict, wf) -> str | None:
    """The status the diagram declares where the workflow now stands: the end event it reached,
    or its first ready user task (``statusOnReturn`` when that task already ran once)."""
    if wf.is_completed():
        return statuses.get(_end_element(wf), (None, None))[0]
    for task in _ready_user_tasks(wf).values():
        status, on_return = statuses.get(task.task_spec.bpmn_id, (None, None))
        if on_return and any(t.task_spec is task.task_spec and t.state == TaskState.COMPLETED
                             for t in task.workflow.tasks.values()):
            return on_return
        if status:
            return status
    return None


def _caused_by(exc, kind) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    return False


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
    ends = [t for t in wf.tasks.values() if t.state == TaskState.COMPLETED and isinstance(t.task_spec, EndEvent)]
    return ends[-1].task_spec.bpmn_id if ends else None
