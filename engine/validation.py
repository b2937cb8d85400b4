"""Validation of BPMN files before they may run.

A file passes when it is well-formed XML valid against the BPMN 2.0 schema (with
the spiffworkflow extensions), parses into exactly one executable process, every
service task names a registered operator, every user task has a registered form
key and candidate rule, every lane that declares a candidate rule agrees with the
user tasks in it, every form file it uses is well-formed, every user task and end event
declares a known status (when the registry names statuses), every expression compiles, and
every flow element has diagram interchange so modelers can open it.
"""
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser, VALIDATOR
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask
from SpiffWorkflow.bpmn.specs.mixins import ExclusiveGatewayMixin

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import deadlines, timers
from .errors import DefinitionError
from .forms import FORMS_DIR
from .registry import EngineRegistry

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FLOW_TAGS = {
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "startEvent", "endEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway",
    "parallelGateway", "inclusiveGateway", "eventBasedGateway", "sequenceFlow",
}

# extension property names of user tasks (see docs/designers.md)
FORM_KEY = "formKey"
CANDIDATES = "candidates"
CLAIM = "claim"
STATUS = "status"                       # the application's status while the task is open / at the end
STATUS_ON_RETURN = "statusOnReturn"     # the status when the task is reached again (after a return)
STATUS_TAGS = ("userTask", "endEvent")


@dataclass
class ParsedDefinition:
    process_key: str
    name: str
    spec: object
    subprocess_specs: dict
    # element id -> (status, status on return) declared on user tasks and end events
    statuses: dict = field(default_factory=dict)


@dataclass
class FormFiles:
    """The form files beside a diagram: good specs by key, problems by file name."""
    specs: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)


def parse_bpmn(xml: bytes, filename: str, registry: EngineRegistry | None,
               forms: FormFiles | None = None) -> ParsedDefinition:
    """Parse and validate one file, raising the first DefinitionError found."""
    parsed, errors = _check(xml, filename, registry, forms)
    if errors:
        raise errors[0]
    return parsed


def check_bpmn(xml: bytes, filename: str, registry: EngineRegistry,
               forms: FormFiles | None = None) -> list[DefinitionError]:
    """Every problem of one file (empty when the file is good)."""
    return _check(xml, filename, registry, forms)[1]


def _check(xml: bytes, filename: str, registry: EngineRegistry, forms: FormFiles | None = None):
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return None, [DefinitionError(filename, None, f"XML 格式错误（第 {exc.lineno} 行）：{exc.msg}")]
    if not VALIDATOR.validator.validate(root):
        err = VALIDATOR.validator.error_log.last_error
        return None, [DefinitionError(filename, _element_at_line(root, err.line),
                                      f"不符合 BPMN 2.0 规范（第 {err.line} 行）：{err.message}")]
    processes = [p for p in root.iterfind(f"{{{BPMN_NS}}}process") if p.get("isExecutable") == "true"]
    if len(processes) != 1:
        return None, [DefinitionError(filename, None, "每个文件必须恰好包含一个可执行流程（isExecutable=\"true\"）")]
    errors = _check_diagram(root, filename) + _check_reserved_ids(root, filename)
    process_key = processes[0].get("id")
    try:
        parser = SpiffBpmnParser()
        parser.add_bpmn_xml(root, filename=filename)
        spec = parser.get_spec(process_key)
        subprocess_specs = parser.get_subprocess_specs(process_key)
    except ValidationException as exc:
        return None, errors + [DefinitionError(filename, exc.id or None, str(exc).split("\n")[0])]
    except Exception as exc:  # the parser raises plain errors for some constructs
        return None, errors + [DefinitionError(filename, None, f"无法解析：{exc}")]
    statuses = declared_statuses(processes[0])
    if registry is not None:  # stored versions are re-parsed without registry checks
        for task_spec in spec.task_specs.values():
            errors.extend(_check_task(task_spec, filename, registry, forms or FormFiles()))
        errors.extend(_check_lanes(processes[0], filename, registry))
        errors.extend(_check_checklists(spec, filename, forms or FormFiles()))
        if registry.statuses:
            errors.extend(_check_statuses(processes[0], statuses, filename, registry.statuses))
    name = processes[0].get("name") or process_key
    return ParsedDefinition(process_key, name, spec, subprocess_specs, statuses), errors


def declared_statuses(process) -> dict[str, tuple[str | None, str | None]]:
    """The ``status`` / ``statusOnReturn`` properties of the process's user tasks and end events."""
    found = {}
    for tag in STATUS_TAGS:
        for el in process.iter(f"{{{BPMN_NS}}}{tag}"):
            props = {p.get("name"): p.get("value") for p in el.iter(f"{{{SPIFF_NS}}}property")}
            found[el.get("id")] = (props.get(STATUS), props.get(STATUS_ON_RETURN))
    return found


def _check_statuses(process, statuses, filename, known: set[str]) -> list[DefinitionError]:
    errors = []
    allowed = "、".join(sorted(known))
    for element, (status, on_return) in statuses.items():
        if not status:
            errors.append(DefinitionError(filename, element, f"缺少状态属性（status），可用：{allowed}"))
        for value in (status, on_return):
            if value and value not in known:
                errors.append(DefinitionError(filename, element, f"状态 “{value}” 未定义，可用：{allowed}"))
    return errors


def _element_at_line(root, line):
    """The id of the BPMN element enclosing the offending line, for the error message."""
    for el in root.iter():
        if el.sourceline == line:
            while el is not None and not (isinstance(el.tag, str) and el.tag.startswith(f"{{{BPMN_NS}}}")
                                          and el.get("id")):
                el = el.getparent()
            return el.get("id") if el is not None else None
    return None


def _check_reserved_ids(root, filename):
    # SpiffWorkflow names its own implicit tasks Start and End; a BPMN id equal to
    # one of them silently disconnects the process
    return [DefinitionError(filename, el.get("id"), "元素 id 不能为保留字 Start 或 End")
            for el in root.iter() if isinstance(el.tag, str) and el.get("id") in ("Start", "End")]


def _properties(element) -> dict[str, str]:
    """The spiffworkflow:property name/value pairs of a BPMN element's extension elements."""
    path = f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
    return {p.get("name"): p.get("value") for p in element.iterfind(path)}


def _check_lanes(process, filename, registry):
    """A lane that declares a candidate rule (property ``candidates``) means who works its user
    tasks: each of them must carry that rule, so the drawing and the inbox cannot disagree.
    A lane without the property is drawing only (docs/designers.md)."""
    user_tasks = {el.get("id"): el for el in process.iter(f"{{{BPMN_NS}}}userTask")}
    errors = []
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        rule = _properties(lane).get(CANDIDATES)
        if rule is None:
            continue
        where = f"泳道 “{lane.get('name') or lane.get('id')}”"
        if rule not in registry.candidate_rules:
            errors.append(DefinitionError(filename, lane.get("id"), f"{where}的候选规则 “{rule}” 未注册"))
        for ref in lane.iterfind(f"{{{BPMN_NS}}}flowNodeRef"):
            task = user_tasks.get((ref.text or "").strip())
            task_rule = _properties(task).get(CANDIDATES) if task is not None else None
            if task_rule and task_rule != rule:
                errors.append(DefinitionError(
                    filename, task.get("id"), f"位于{where}（候选规则 “{rule}”），但该用户任务的候选规则为 "
                    f"“{task_rule}”：请把任务移到对应的泳道，或改正其候选规则"))
    return errors


def _check_diagram(root, filename):
    shown = {el.get("bpmnElement") for el in root.iter(f"{{{DI_NS}}}BPMNShape", f"{{{DI_NS}}}BPMNEdge")}
    errors = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        ns, _, tag = el.tag[1:].partition("}")
        if ns == BPMN_NS and tag in FLOW_TAGS and el.get("id") not in shown:
            errors.append(DefinitionError(filename, el.get("id"), "缺少图形信息（BPMNDI），建模工具无法显示该元素"))
    return errors


def _check_checklists(spec, filename, forms: FormFiles) -> list[DefinitionError]:
    """An application form's ``x-corrections`` name review steps: each must be a user task of the
    diagram that uses the form (the items' fields are checked against the form itself, check_form)."""
    user_tasks = {getattr(t, "bpmn_id", None) or t.name: t for t in spec.task_specs.values()
                  if isinstance(t, UserTask)}
    errors = []
    for element, task_spec in user_tasks.items():
        form_key = (task_spec.extensions or {}).get("properties", {}).get(FORM_KEY)
        form = forms.specs.get(form_key)
        for step in (form.corrections if form is not None else {}):
            if step not in user_tasks or step == element:
                errors.append(DefinitionError(filename, element, f"表单文件 {FORMS_DIR}/{form_key}.json："
                                              f"x-corrections 的审核环节 “{step}” 不是本流程的其他用户任务"))
    return errors


def _check_task(task_spec, filename, registry, forms: FormFiles):
    element = getattr(task_spec, "bpmn_id", None) or task_spec.name
    errors = []
    if isinstance(task_spec, ServiceTask):
        if task_spec.operation_name not in registry.operators:
            errors.append(DefinitionError(filename, element, f"服务任务的操作 “{task_spec.operation_name}” 未注册"))
        for pname, param in task_spec.operation_params.items():
            errors.extend(_compile(param["value"], filename, element, f"参数 {pname}"))
    if isinstance(task_spec, UserTask):
        props = (task_spec.extensions or {}).get("properties", {})
        form_key, rule = props.get(FORM_KEY), props.get(CANDIDATES)
        form_file = f"{FORMS_DIR}/{form_key}.json"
        if not form_key:
            errors.append(DefinitionError(filename, element, "用户任务缺少表单（formKey）"))
        elif f"{form_key}.json" in forms.problems:
            errors.extend(DefinitionError(filename, element, f"表单文件 {form_file}：{problem}")
                          for problem in forms.problems[f"{form_key}.json"])
        elif form_key not in forms.specs and form_key not in registry.forms:
            errors.append(DefinitionError(filename, element, f"表单 “{form_key}” 未注册（{form_file} 不存在）"))
        if not rule:
            errors.append(DefinitionError(filename, element, "用户任务缺少候选规则（candidates）"))
        elif rule not in registry.candidate_rules:
            errors.append(DefinitionError(filename, element, f"候选规则 “{rule}” 未注册"))
        if props.get(CLAIM, "optional") not in ("required", "optional"):
            errors.append(DefinitionError(filename, element, "claim 只能为 required 或 optional"))
        errors.extend(DefinitionError(filename, element, reason) for reason in deadlines.check_properties(props))
    if isinstance(task_spec, ExclusiveGatewayMixin) or hasattr(task_spec, "cond_task_specs"):
        for condition, target in getattr(task_spec, "cond_task_specs", []):
            # Spiff wraps each flow's expression in a _BpmnCondition operator (args[0])
            expr = condition if isinstance(condition, str) else (getattr(condition, "args", None) or [None])[0]
            if isinstance(expr, str):
                errors.extend(_compile(expr, filename, element, f"通往 {target} 的条件表达式"))
    if isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition):
        problem = timers.check_timer(task_spec)
        if problem:
            errors.append(DefinitionError(filename, element, problem))
    for script_attr in ("prescript", "postscript", "script"):
        script = getattr(task_spec, script_attr, None)
        if isinstance(script, str) and script:
            errors.extend(_compile(script, filename, element, "脚本", mode="exec"))
    return errors


def _compile(expr, filename, element, what, mode="eval"):
    try:
        compile(expr, f"<{element}>", mode)
        return []
    except SyntaxError as exc:
        return [DefinitionError(filename, element, f"{what}无法编译：{expr!r}（{exc.msg}）")]
