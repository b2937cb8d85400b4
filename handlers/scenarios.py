"""Process tests written by designers: scenario files run against a throwaway database.

A scenario file sits beside the diagram, ``bpmn/tests/<process key>/<name>.yaml`` (or ``.json``),
and travels in the bundle as ``tests/<name>.yaml``. Its format (docs/designers.md, 流程测试):

    name: 上报后审核通过                # shown in the results
    application:                        # what the steps act on
      applicant: sg1                    # a demo login of the applicant organisation
      pick: 1                           # the n-th record its 添加 dialog offers (default 1)
      # or, for registrations:  registration_of: pending_sg
      # or, for 差评整改:  rated: {process: personnel_unlock, applicant: sg1, data: {reason: …},
      #                           level: dissatisfied, comment: …}  (filed, approved by the agency, rated)
    operators:                          # optional: a stated outcome instead of the real operator
      unlock.apply: {applied: false, message: 复核未通过}
    steps:
      - as: applicant                   # applicant | agency | authority (the project's) | a login
        do: report                      # save | report | withdraw | claim | release | complete |
        data: {reason: 项目已停工}        #   approve | return  (complete: ``data`` is the task's form;
                                    #   ``{choose: n}``: the n-th eligible choice of a field's picker)
        expect:
          status: 待审核                 # the application's status (the diagram's words)
          waiting_at: Task_Review       # element id(s) of the open steps; [] when none
          offered_to: [监督机构, 主管部门] # organisation kinds or names the open step is offered to
          due: 5 working days           # the open step's due date from its opening
          log: [上报]                    # actions that must be the last of the operation log, in order
          end: End_Done                 # the end event reached
          incident: false               # or part of the incident's message
      - as: agency
        do: withdraw
        refused: 已由                   # the step must be refused, with this in the message

Operators run for real on the test data unless ``operators`` states their outcome. Files a form
requires are attached as a one-page PDF. Each run gets its own copy of an in-memory SQLite
database holding the shipped diagrams and the demo province (scale 0.1), with the bundle under
test deployed on top: nothing touches the real database.

``run_bundle(bundle)`` returns a ``ScenarioResult`` per scenario (passed, failures, the element ids
the run went through: ``path``); ``failures_of(bundle)`` is the deploy gate; ``run_directory`` is
``flask bpmn test``.
"""
import json
import sqlite3
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from flask import Flask
from sqlalchemy import select
from sqlalchemy.pool import StaticPool

from engine import EngineError
from engine.bundles import Bundle, process_id
from engine.db import db
from engine.deadlines import due_at, last_day
from engine.definitions import Deployment
from engine.models import AuditEntry, HumanTask, ProcessInstance, TaskCandidate
from engine.serialization import load_state
from SpiffWorkflow.util.task import TaskState

from . import catalog
from .errors import AccessRefused, DomainError
from .models import APPLICATION_STATUS, ORG_KINDS, Account, Organization, User
from .principal import Principal

DEMO_SCALE, DEMO_SEED = 0.1, 7
ACTIONS = ("save", "report", "withdraw", "claim", "release", "complete", "approve", "return")
EXPECTATIONS = ("status", "waiting_at", "offered_to", "due", "log", "end", "incident")
PDF = b"%PDF-1.4\n% scenario attachment\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class StepOutcome:
    index: int
    action: str
    actor: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    status: str | None = None
    waiting_at: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    file: str
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)      # each names its step: 第 2 步（claim）：…
    path: list[str] = field(default_factory=list)          # element ids the run went through, in order
    steps: list[StepOutcome] = field(default_factory=list)


class ScenarioFileError(Exception):
    pass


# -- entry points -------------------------------------------------------------------------
def run_bundle(bundle: Bundle) -> list[ScenarioResult]:
    """Every scenario of the bundle (``tests/*``), each on a fresh copy of the test database."""
    return [run_one(bundle, name[len("tests/"):], content) for name, content in sorted(bundle.scenarios.items())]


def failures_of(bundle: Bundle) -> list[ScenarioResult]:
    """The deploy gate: the scenarios that fail (none: deploy)."""
    return [r for r in run_bundle(bundle) if not r.passed]


def run_directory(directory: Path, process_key: str | None = None) -> dict[str, list[ScenarioResult]]:
    """``flask bpmn test``: the scenarios of every diagram of a folder laid out as bpmn/ (or one process's)."""
    results = {}
    for path in sorted(Path(directory).glob("*.bpmn")):
        bundle = Bundle.from_directory(directory, path.name)
        key = path.stem
        if process_key in (None, key):
            results[key] = run_bundle(bundle)
    return results


def run_one(bundle: Bundle, filename: str, content: bytes) -> ScenarioResult:
    try:
        scenario = parse_scenario(content, filename)
    except ScenarioFileError as exc:
        return ScenarioResult(filename, filename, False, [str(exc)])
    with _sandbox() as services:
        try:
            definitions = services.engine.definitions   # a folder may lean on bpmn/forms, as deploy does
            definitions.deploy_bundle(definitions.with_known_forms(bundle), Deployment("流程测试", "flask bpmn test"))
        except EngineError as exc:
            return ScenarioResult(filename, scenario["name"], False, [f"流程不能部署：{exc.message}"])
        return _Run(services, scenario, filename, process_id(bundle.xml) or "").run()


# -- the file -----------------------------------------------------------------------------
def parse_scenario(content: bytes, filename: str) -> dict:
    """The scenario as a dict, or ScenarioFileError naming the key at fault."""
    try:
        text = content.decode("utf-8")
        raw = json.loads(text) if filename.endswith(".json") else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise ScenarioFileError(f"{filename}：无法读取（{str(exc).splitlines()[0]}）") from None
    if not isinstance(raw, dict):
        raise ScenarioFileError(f"{filename}：场景文件必须是一个对象（name、application、steps）")
    unknown = set(raw) - {"name", "application", "operators", "steps", "description"}
    if unknown:
        raise ScenarioFileError(f"{filename}：未知的键 “{'、'.join(sorted(unknown))}”")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioFileError(f"{filename}：steps 必须是非空列表")
    if not isinstance(raw.get("application"), dict):
        raise ScenarioFileError(f"{filename}：缺少 application（applicant 与 pick，或 registration_of，或 rated）")
    for i, step in enumerate(steps, 1):
        where = f"{filename} 第 {i} 步"
        if not isinstance(step, dict) or step.get("do") not in ACTIONS:
            raise ScenarioFileError(f"{where}：do 必须是 {'、'.join(ACTIONS)} 之一")
        unknown = set(step) - {"as", "do", "data", "expect", "refused", "note"}
        if unknown:
            raise ScenarioFileError(f"{where}：未知的键 “{'、'.join(sorted(unknown))}”")
        bad = set(step.get("expect") or {}) - set(EXPECTATIONS)
        if bad:
            raise ScenarioFileError(f"{where}：expect 中未知的键 “{'、'.join(sorted(bad))}”"
                                    f"（可用：{'、'.join(EXPECTATIONS)}）")
    operators = raw.get("operators") or {}
    if not isinstance(operators, dict) or not all(isinstance(v, dict) for v in operators.values()):
        raise ScenarioFileError(f"{filename}：operators 必须是 {{操作名: 结果对象}}")
    return {"name": str(raw.get("name") or filename), "application": raw["application"], "operators": operators,
            "steps": steps}


# -- the throwaway database -------------------------------------------------------------
_TEMPLATE: sqlite3.Connection | None = None
_TEMPLATE_LOCK = threading.Lock()


def _template() -> sqlite3.Connection:
    """The shipped diagrams and the demo province, built once per process and copied per run
    (from the release's own files, in a database of its own: nothing another host changes)."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            with _app_on(conn) as services:
                from .demo import load_demo
                from .services import BPMN_DIR
                db.create_all()
                services.deploy_definitions(BPMN_DIR, "流程测试模板")
                load_demo(scale=DEMO_SCALE, seed=DEMO_SEED)
            _TEMPLATE = conn
        return _TEMPLATE


class _sandbox:
    """A fresh copy of the template, with its own app context, session and services."""

    def __enter__(self):
        template = _template()
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        with _TEMPLATE_LOCK:
            template.backup(self.conn)
        self.context = _app_on(self.conn)
        return self.context.__enter__()

    def __exit__(self, *exc):
        try:
            return self.context.__exit__(*exc)
        finally:
            self.conn.close()


class _app_on:
    """An application context whose database is one SQLite connection (the caller's app, if
    any, keeps its own session: Flask-SQLAlchemy scopes sessions by app context)."""

    def __init__(self, conn: sqlite3.Connection):
        self.app = Flask("scenarios")
        self.app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://",
                               SQLALCHEMY_ENGINE_OPTIONS={"creator": lambda: conn, "poolclass": StaticPool})
        db.init_app(self.app)
        self.keys = tempfile.TemporaryDirectory(prefix="scenario-keys-")

    def __enter__(self):
        from .services import Services
        self.ctx = self.app.app_context()
        self.ctx.push()
        # a throwaway signing key for the certificates its approvals issue
        services = Services.create(key_dir=f"{self.keys.name}/certificate_keys")
        # the engine's registry is the process's own: a scenario that states an operator's outcome
        # changes a copy, never what the serving application runs
        engine = services.engine
        engine.registry = replace(engine.registry, operators=dict(engine.registry.operators),
                                  forms=dict(engine.registry.forms))
        engine.definitions.registry = engine.registry
        self.app.extensions["services"] = services
        return services

    def __exit__(self, *exc):
        try:
            db.session.remove()   # the connection stays: the template is copied from it later
        finally:
            self.ctx.pop()
            self.keys.cleanup()
        return False


# -- one run ------------------------------------------------------------------------------
class _Run:
    def __init__(self, services, scenario: dict, filename: str, process_key: str):
        self.services, self.scenario, self.filename = services, scenario, filename
        self.process_key = process_key
        self.result = ScenarioResult(filename, scenario["name"], True)
        self.app = None
        self.service = None

    def run(self) -> ScenarioResult:
        self._state_operators()
        try:
            self._open_application()
        except (DomainError, AccessRefused, EngineError, ScenarioFileError) as exc:
            return self._fail(f"application：{_message(exc)}")
        for i, step in enumerate(self.scenario["steps"], 1):
            outcome = self._step(i, step)
            self.result.steps.append(outcome)
            if not outcome.passed:
                self.result.failures.extend(f"第 {i} 步（{step['do']}）：{f}" for f in outcome.failures)
                self.result.passed = False
                break
        self.result.path = self._path()
        return self.result

    def _fail(self, message: str) -> ScenarioResult:
        self.result.passed = False
        self.result.failures.append(message)
        return self.result

    def _state_operators(self) -> None:
        operators = self.services.engine.registry.operators
        for name, outcome in self.scenario["operators"].items():
            operators[name] = (lambda stated: lambda call: dict(stated))(outcome)

    # -- the application -----------------------------------------------------------------
    def _open_application(self) -> None:
        spec = self.scenario["application"]
        if "rated" in spec:
            self._rated(spec["rated"])
            return
        if "registration_of" in spec:
            self.service = self.services.registration
            user = _user(spec["registration_of"])
            model = self.service.model
            reg = db.session.scalar(select(model).where(model.user_id == user.id).order_by(model.id.desc()).limit(1))
            if reg is None:
                raise ScenarioFileError(f"{spec['registration_of']} 没有注册申请")
            self.app = reg
            return
        applicant = _principal(spec.get("applicant"))
        entry = catalog.by_key(self.process_key)
        if entry is None or applicant.kind not in entry.filers:
            raise ScenarioFileError(f"{applicant.org_name}不能申请流程 {self.process_key}")
        self.service = self.services.by_kind[entry.kind]
        picks = [p for p in self.service.picks(applicant) if p.reason is None]
        n = int(spec.get("pick", 1))
        if not 1 <= n <= len(picks):
            raise ScenarioFileError(f"pick {n}：可选记录只有 {len(picks)} 条")
        self.app = self.service.create(applicant, picks[n - 1].id)

    def _rated(self, spec: dict) -> None:
        """A case of ``process`` filed by ``applicant`` (its first pick, reported with ``data``), approved
        by its project's supervision agency and rated ``level``: the steps act on the 整改 it opened."""
        from .models import Rectification
        from .ratings import RatingService
        entry = catalog.by_key(str(spec.get("process", "")))
        applicant = _principal(spec.get("applicant"))
        if entry is None or applicant.kind not in entry.filers:
            raise ScenarioFileError(f"rated：{applicant.org_name}不能申请流程 {spec.get('process')}")
        service = self.services.by_kind[entry.kind]
        picks = [p for p in service.picks(applicant) if p.reason is None]
        if not picks:
            raise ScenarioFileError("rated：没有可选记录")
        case = service.create(applicant, picks[0].id)
        data = dict(spec.get("data") or {})
        self.service = service
        service.report(applicant, case.id, data, self._uploads(data))
        agency = _principal_of_org(case.project.agency_id)
        task = service.open_task(case)
        self.services.reviews.claim(agency, task.id)
        self.services.reviews.approve(agency, task.id, "")
        case = service.get(applicant, case.id)
        rating = RatingService(self.services.engine).rate(applicant, case, str(spec.get("level", "")),
                                                          str(spec.get("comment", "")))
        self.service = self.services.by_kind["rectification"]
        self.app = db.session.scalar(select(Rectification).where(Rectification.rating_id == rating.id))
        if self.app is None:
            raise ScenarioFileError(f"rated：评价“{spec.get('level')}”不是差评，没有发起整改")

    # -- steps ---------------------------------------------------------------------------
    def _step(self, index: int, step: dict) -> StepOutcome:
        action = step["do"]
        who = step.get("as", "applicant")
        outcome = StepOutcome(index, action, str(who), True)
        try:
            principal = self._actor(who)
            self._do(principal, action, dict(step.get("data") or {}))
            refused = None
        except (DomainError, AccessRefused, EngineError) as exc:
            db.session.rollback()
            refused = _message(exc)
        expected_refusal = step.get("refused")
        if expected_refusal is not None:
            if refused is None:
                outcome.failures.append(f"应被拒绝（“{expected_refusal}”），但执行成功")
            elif str(expected_refusal) not in refused:
                outcome.failures.append(f"应被拒绝并提示“{expected_refusal}”，实际提示：{refused}")
        elif refused is not None:
            outcome.failures.append(f"被拒绝：{refused}")
        db.session.expire_all()
        self.app = db.session.get(type(self.app), self.app.id)
        tasks = self._open_tasks()
        outcome.status = APPLICATION_STATUS.get(self.app.status, self.app.status)
        outcome.waiting_at = [t.element_id for t in tasks]
        if not outcome.failures:
            outcome.failures.extend(self._check(step.get("expect") or {}, tasks, outcome))
        outcome.passed = not outcome.failures
        return outcome

    def _actor(self, who) -> Principal:
        if who == "applicant":
            return _principal_of_org(self.app.applicant_org_id) if hasattr(self.app, "applicant_org_id") \
                else _principal(self.scenario["application"].get("registration_of"))
        if who in ("agency", "authority"):
            project = getattr(self.app, "project", None)
            if project is None:
                raise ScenarioFileError(f"{who}：该申请没有工程")
            return _principal_of_org(project.agency_id if who == "agency" else project.authority_id)
        if who == "platform":
            return _principal_of_kind("platform")
        return _principal(who)

    def _do(self, principal: Principal, action: str, data: dict) -> None:
        s, app = self.service, self.app
        data = {name: self._chosen(principal, name, value) for name, value in data.items()}
        if action == "save":
            s.save(principal, app.id, data, self._uploads(data))
        elif action == "report":
            s.report(principal, app.id, data, self._uploads(data))
        elif action == "withdraw":
            s.withdraw(principal, app.id)
        else:
            task = self._task_for(principal)
            reviews = self.services.reviews
            if action == "claim":
                reviews.claim(principal, task.id)
            elif action == "release":
                reviews.release(principal, task.id)
            else:
                if action in ("approve", "return"):
                    data = {"decision": action, **data}
                reviews.submit(principal, task.id, data, self._uploads(data, reviews.form_of(task)))

    def _chosen(self, principal: Principal, name: str, value):
        """``{choose: n}``: the n-th eligible choice the field's picker offers (e.g. a replacement)."""
        if not (isinstance(value, dict) and "choose" in value):
            return value
        context = self.service.widget_context(principal, self.app) if hasattr(self.service, "widget_context") else {}
        # the field's own picker when the widget names one per field (变更工程人员: entry_id, person_id)
        lists = [context[name]] if isinstance(context.get(name), list) else \
            [rows for rows in context.values() if isinstance(rows, list)]
        eligible = [c for rows in lists for c in rows if getattr(c, "problem", None) is None]
        n = int(value["choose"])
        if not 1 <= n <= len(eligible):
            raise ScenarioFileError(f"{name}：choose {n}，可选的只有 {len(eligible)} 个")
        choice = eligible[n - 1]
        return getattr(choice, "id", None) or choice.person.id

    def _uploads(self, data: dict, form=None):
        """A one-page PDF for each file the form requires and the step's data does not name."""
        from .applications import Upload
        form = form or self.service.form
        if form is None:
            return []
        return [Upload(f.kind, f"{f.title}.pdf", PDF) for f in form.file_fields if f.required and f.name not in data]

    def _task_for(self, principal: Principal) -> HumanTask:
        tasks = self._open_tasks()
        for task in tasks:
            offered = db.session.scalar(select(TaskCandidate.task_id).where(
                TaskCandidate.task_id == task.id, TaskCandidate.org_id == principal.org_id))
            if offered is not None:
                return task
        raise ScenarioFileError(f"{principal.org_name}没有该申请的待办任务"
                                f"（当前步骤：{'、'.join(t.element_id for t in tasks) or '无'}）")

    def _open_tasks(self) -> list[HumanTask]:
        if self.app.instance_id is None:
            return []
        return list(db.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == self.app.instance_id, HumanTask.state == "open").order_by(HumanTask.id)))

    # -- expectations ----------------------------------------------------------------------
    def _check(self, expect: dict, tasks: list[HumanTask], outcome: StepOutcome) -> list[str]:
        failures = []
        instance = db.session.get(ProcessInstance, self.app.instance_id) if self.app.instance_id else None
        if "status" in expect and outcome.status != expect["status"]:
            failures.append(f"状态应为“{expect['status']}”，实际为“{outcome.status}”")
        if "waiting_at" in expect:
            want = _as_list(expect["waiting_at"])
            if sorted(want) != sorted(outcome.waiting_at):
                failures.append(f"应停在 {_listed(want)}，实际停在 {_listed(outcome.waiting_at)}")
        if "offered_to" in expect:
            failures.extend(self._check_offered(_as_list(expect["offered_to"]), tasks))
        if "due" in expect:
            failures.extend(_check_due(str(expect["due"]), tasks))
        if "log" in expect:
            want = _as_list(expect["log"])
            actions = list(db.session.scalars(select(AuditEntry.action).where(
                AuditEntry.instance_id == self.app.instance_id).order_by(AuditEntry.id))) if instance else []
            if actions[-len(want):] != want if want else False:
                failures.append(f"办理记录最后应为 {_listed(want)}，实际为 {_listed(actions[-max(len(want), 1):])}")
        if "end" in expect:
            reached = instance.end_element_id if instance else None
            if reached != expect["end"]:
                failures.append(f"应到达结束事件 {expect['end']}，实际" + (f"为 {reached}" if reached else "未结束"))
        if "incident" in expect:
            message = instance.incident_message if instance else None
            want = expect["incident"]
            if want is False and message:
                failures.append(f"不应有异常，实际：{message}")
            elif want not in (False, None) and (not message or str(want) not in message):
                failures.append(f"应有异常“{want}”，实际：{message or '无'}")
        return failures

    def _check_offered(self, want: list[str], tasks: list[HumanTask]) -> list[str]:
        if not tasks:
            return [f"应分派给 {_listed(want)}，但没有待办步骤"]
        orgs = db.session.execute(select(Organization.name, Organization.kind).join(
            TaskCandidate, TaskCandidate.org_id == Organization.id).where(TaskCandidate.task_id == tasks[0].id)).all()
        names = {n for n, _ in orgs} | {k for _, k in orgs} | {ORG_KINDS.get(k, k) for _, k in orgs}
        missing = [w for w in want if w not in names]
        if missing or len(orgs) != len(want):
            return [f"应分派给 {_listed(want)}，实际分派给 {_listed(sorted(n for n, _ in orgs))}"]
        return []

    def _path(self) -> list[str]:
        """The element ids the run went through: Spiff's finished and waiting tasks, with the flows
        that join two of them (what the studio colours)."""
        if self.app is None or self.app.instance_id is None:
            return []
        instance = db.session.get(ProcessInstance, self.app.instance_id)
        parsed = self.services.engine.definitions.parsed_by_hash(instance.definition.content_hash)
        wf = load_state(instance.state, parsed.spec, parsed.subprocess_specs)
        opened = list(db.session.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == instance.id)
                                         .order_by(HumanTask.id)))
        done = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR

        def reached(task) -> bool:   # a user task opened and then cancelled (a withdrawal) was reached too
            return bool(task.state & done) or (task.state == TaskState.CANCELLED and _bpmn_id(task) in opened)
        seen, steps = [], set()
        for task in sorted(wf.get_tasks(), key=lambda t: t.last_state_change):
            bpmn_id = _bpmn_id(task)
            if not bpmn_id or not reached(task):
                continue
            if bpmn_id not in seen:
                seen.append(bpmn_id)
            parent = task.parent
            while parent is not None and not _bpmn_id(parent):   # Spiff's own joins and boundary parents
                parent = parent.parent
            if parent is not None and reached(parent):
                steps.add((_bpmn_id(parent), bpmn_id))
        seen += [e for e in opened if e not in seen]
        return seen + _flows_taken(instance.definition.xml.encode("utf-8"), steps)


def _bpmn_id(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _flows_taken(xml: bytes, steps: set[tuple[str, str]]) -> list[str]:
    """The sequence flows of the (source, target) pairs the workflow's task tree went along."""
    from lxml import etree
    from engine.validation import BPMN_NS
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return [f.get("id") for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow")
            if (f.get("sourceRef"), f.get("targetRef")) in steps]


def _check_due(text: str, tasks: list[HumanTask]) -> list[str]:
    if not tasks:
        return [f"应有期限 {text}，但没有待办步骤"]
    task = tasks[0]
    if task.due_at is None:
        return [f"期限应为 {text}，实际没有期限"]
    try:
        expected = due_at(task.created_at, text)
    except (ValueError, KeyError) as exc:
        raise ScenarioFileError(f"due “{text}” 无法识别：{exc}") from None
    if expected.at != task.due_at:
        return [f"期限应为 {expected.day}（{text}），实际为 {last_day(task.due_at)}"]
    return []


def _listed(values) -> str:
    return "、".join(values) if values else "（无）"


def _as_list(value) -> list[str]:
    if value in (None, "", []):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _message(exc) -> str:
    return getattr(exc, "message", None) or str(exc)


def _user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == str(username)))
    if user is None:
        raise ScenarioFileError(f"测试数据中没有登录名 {username}")
    return user


def _principal(username) -> Principal:
    if not username:
        raise ScenarioFileError("缺少 applicant（申请人的登录名，如 sg1）")
    user = _user(username)
    if not user.accounts:
        raise ScenarioFileError(f"{username} 没有账号")
    return Principal.of(user.accounts[0])


def _principal_of_org(org_id: int) -> Principal:
    account = db.session.scalar(select(Account).where(Account.org_id == org_id, Account.status == "active")
                                .order_by(Account.id).limit(1))
    if account is None:
        raise ScenarioFileError("该单位在测试数据中没有可用账号")
    return Principal.of(account)


def _principal_of_kind(kind: str) -> Principal:
    account = db.session.scalar(select(Account).join(Organization, Organization.id == Account.org_id)
                                .where(Organization.kind == kind, Account.status == "active")
                                .order_by(Account.id).limit(1))
    if account is None:
        raise ScenarioFileError(f"测试数据中没有{ORG_KINDS.get(kind, kind)}账号")
    return Principal.of(account)
