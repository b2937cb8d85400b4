"""User-task forms declared as data: ``forms/<formKey>.json`` beside the diagrams.

A form file is a small subset of JSON Schema (``title``, ``type: object``, ``properties``,
``required``; per field ``type``, ``title``, ``format``, ``enum``, ``maxLength``, ``maximum``,
``minimum``) with ``x-`` extensions for what JSON Schema does not say: labels of choices,
the widget, help text, accepted file types, where a value goes (workflow data, the operation
log or the application's own columns) and which field is the task's outcome. The format is
documented in docs/designers.md.

The engine checks form files on deploy (``check_form``) and validates a user task's submitted
data on the server (``FormSpec.clean``); the web layer renders the same spec with WTForms.
"""
import json
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from .errors import InvalidFormData

FORMS_DIR = "forms"   # beside the .bpmn files

TYPES = {"string", "integer", "boolean"}
FORMATS = {"date", "file"}
WIDGETS = {"text", "textarea", "select", "radio", "buttons", "date", "file", "custom"}
TARGETS = {"workflow", "log", "application"}
FORM_KEYS = {"$schema", "$comment", "title", "description", "type", "properties", "required", "x-outcome",
             "x-corrections"}
CORRECTION_KEYS = {"field", "text"}
CORRECTION_TEXT_MAX = 200
FIELD_KEYS = {"type", "title", "description", "format", "enum", "maxLength", "maximum", "minimum",
              "x-enumLabels", "x-widget", "x-partial", "x-help", "x-accept", "x-multiple", "x-target",
              "x-requiredWhen", "x-kind", "x-placeholder", "x-confirm"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    title: str
    format: str | None = None
    enum: tuple = ()
    enum_labels: dict = field(default_factory=dict)
    max_length: int | None = None
    maximum: int | None = None
    minimum: int | None = None
    widget: str = "text"
    partial: str | None = None
    help: str = ""
    placeholder: str = ""
    accept: tuple = ()
    multiple: bool = False
    target: str = "workflow"
    required: bool = False
    required_when: dict = field(default_factory=dict)
    kind: str = ""          # the attachment kind a file slot stores (its name unless x-kind says)
    confirm: dict = field(default_factory=dict)   # choice -> the question asked before submitting it

    @property
    def is_file(self) -> bool:
        return self.format == "file"

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(str(v), self.enum_labels.get(str(v), str(v))) for v in self.enum]

    def label_of(self, value) -> str:
        return self.enum_labels.get(str(value), str(value))


@dataclass(frozen=True)
class CorrectionSpec:
    """One common correction item of a review step (``x-corrections``): the application field or
    attachment slot it names (None: a free item) and what is usually wrong with it."""
    field: str | None
    text: str


@dataclass(frozen=True)
class Cleaned:
    """A submitted form after validation: what goes where."""
    data: dict                # workflow data
    opinion: str | None       # fields with x-target "log", joined, for the operation log
    outcome: str | None       # the value of the x-outcome field
    action: str | None        # the outcome's label (审核通过 / 退回 …), the log's action


@dataclass(frozen=True)
class FormSpec:
    key: str
    title: str
    fields: tuple[FieldSpec, ...]
    outcome: str | None = None
    source: str = ""
    raw: str = field(default="", compare=False, repr=False)   # the file's text: a bundle stores it as it was
    # an application form's checklists: review step id -> its common correction items (一次性告知)
    corrections: dict = field(default_factory=dict, compare=False, repr=False)


    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def targeted(self, *targets: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.target in targets]

    @property
    def file_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.is_file]

    def __call__(self, data: dict) -> dict:
        """The engine's validator hook (EngineRegistry.forms): the workflow data only."""
        return self.clean(data).data

    def clean(self, data: dict) -> Cleaned:
        """Validate the workflow and log fields; the first problem raises InvalidFormData naming the field."""
        values, opinions = {}, []
        for f in self.targeted("workflow", "log"):
            value = _clean_value(f, data.get(f.name))
            values[f.name] = value
        for f in self.targeted("workflow", "log"):
            value = values[f.name]
            if _empty(value) and (f.required or _required_now(f, values)):
                raise InvalidFormData(self._missing_message(f, values), field=f.name)
        for f in self.targeted("log"):
            if not _empty(values.get(f.name)):
                opinions.append(str(values[f.name]))
        workflow = {f.name: values[f.name] for f in self.targeted("workflow")}
        outcome = values.get(self.outcome) if self.outcome else None
        action = self.field(self.outcome).label_of(outcome) if self.outcome and outcome else None
        return Cleaned(workflow, "\n".join(opinions) or None, outcome, action)

    def check_required(self, values: dict) -> InvalidFormData | None:
        """The first required field missing from ``values`` (application fields, checked on report)."""
        missing = self.missing_required(values)
        return missing[0] if missing else None

    def missing_required(self, values: dict) -> list[InvalidFormData]:
        """Every required field missing from ``values``, in the form's order (one submit names all)."""
        return [InvalidFormData(self._missing_message(f, values), field=f.name) for f in self.fields
                if f.required and f.name != self.outcome and _empty(values.get(f.name))]

    def _missing_message(self, f: FieldSpec, values: dict) -> str:
        if f.is_file:
            return f"请上传“{f.title}”"
        if not f.required and _required_now(f, values):
            other, value = next(iter(f.required_when.items()))
            label = self.field(other).label_of(value)
            return f"{f.title}：{label}时必须填写{f.title}"
        if f.widget == "custom":
            return f"{f.title}：请选择{f.title}"
        if f.enum or f.widget in ("select", "radio", "buttons"):
            return f"请选择{f.title}"
        return f"{f.title}：请填写{f.title}"


# -- loading and checking ---------------------------------------------------------------
def load_form(path: Path) -> tuple[FormSpec | None, list[str]]:
    """Read one form file: the spec, or the problems found (each a Chinese sentence)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"无法读取：{exc}"]
    return load_form_text(text, path.name)


def load_form_text(text: str, filename: str) -> tuple[FormSpec | None, list[str]]:
    """One form file's text (``<formKey>.json``): the spec, or the problems found."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"JSON 格式错误（第 {exc.lineno} 行）：{exc.msg}"]
    spec, problems = parse_form(raw, filename[:-len(".json")], filename)
    return (replace(spec, raw=text) if spec else None), problems


def parse_form(raw, key: str, source: str = "") -> tuple[FormSpec | None, list[str]]:
    problems = check_form(raw)
    if problems:
        return None, problems
    required = set(raw.get("required", []))
    fields = tuple(_field(name, spec, name in required) for name, spec in raw["properties"].items())
    corrections = {step: tuple(CorrectionSpec(item.get("field") or None, item["text"].strip()) for item in items)
                   for step, items in raw.get("x-corrections", {}).items()}
    return FormSpec(key, raw["title"], fields, raw.get("x-outcome"), source, corrections=corrections), []


def check_form(raw) -> list[str]:
    if not isinstance(raw, dict):
        return ["表单必须是一个 JSON 对象"]
    problems = [f"未知的键 “{k}”" for k in raw if k not in FORM_KEYS]
    for key in ("title", "type", "properties"):
        if key not in raw:
            problems.append(f"缺少必需的键 “{key}”")
    if raw.get("type", "object") != "object":
        problems.append("type 必须为 object")
    props = raw.get("properties", {})
    if not isinstance(props, dict) or not props:
        return problems + ["properties 必须是非空对象"]
    for name, spec in props.items():
        problems.extend(f"字段 “{name}”：{p}" for p in _check_field(spec, props))
    required = raw.get("required", [])
    if not isinstance(required, list):
        problems.append("required 必须是字段名列表")
    else:
        problems.extend(f"required 中的字段 “{n}” 未定义" for n in required if n not in props)
    outcome = raw.get("x-outcome")
    if outcome is not None and (outcome not in props or not props[outcome].get("enum")):
        problems.append(f"x-outcome 必须是一个带 enum 的字段（“{outcome}”）")
    return problems + _check_corrections(raw.get("x-corrections"), props)


def _check_corrections(checklists, props) -> list[str]:
    """``x-corrections``: {review step id: [{"field"?: an application field of this form, "text": …}]}."""
    if checklists is None:
        return []
    if not isinstance(checklists, dict) or not all(isinstance(v, list) for v in checklists.values()):
        return ["x-corrections 必须是 {审核环节 id: [补正事项, …]}"]
    problems = []
    for step, items in checklists.items():
        for n, item in enumerate(items, 1):
            where = f"x-corrections “{step}” 第 {n} 项"
            if not isinstance(item, dict) or set(item) - CORRECTION_KEYS:
                problems.append(f"{where}：只能包含 field 和 text")
                continue
            text = item.get("text")
            if not isinstance(text, str) or not text.strip() or len(text.strip()) > CORRECTION_TEXT_MAX:
                problems.append(f"{where}：text 必须是 1 至 {CORRECTION_TEXT_MAX} 个字的说明")
            name = item.get("field")
            if name is not None and (not isinstance(name, str) or name not in props
                                     or props[name].get("x-target") != "application"):
                problems.append(f"{where}：字段 “{name}” 不是本申请表单的字段（x-target 为 application）")
    return problems


def _check_field(spec, props) -> list[str]:
    if not isinstance(spec, dict):
        return ["定义必须是 JSON 对象"]
    problems = [f"未知的键 “{k}”" for k in spec if k not in FIELD_KEYS]
    for key in ("type", "title"):
        if key not in spec:
            problems.append(f"缺少必需的键 “{key}”")
    if "type" in spec and spec["type"] not in TYPES:
        problems.append(f"类型 “{spec['type']}” 无效（可用：{'、'.join(sorted(TYPES))}）")
    if spec.get("format") is not None and spec["format"] not in FORMATS:
        problems.append(f"format “{spec['format']}” 无效（可用：{'、'.join(sorted(FORMATS))}）")
    if spec.get("x-widget") is not None and spec["x-widget"] not in WIDGETS:
        problems.append(f"x-widget “{spec['x-widget']}” 无效（可用：{'、'.join(sorted(WIDGETS))}）")
    if spec.get("x-widget") == "custom" and not spec.get("x-partial"):
        problems.append("x-widget 为 custom 时必须用 x-partial 指明页面片段")
    if spec.get("x-target", "workflow") not in TARGETS:
        problems.append(f"x-target “{spec['x-target']}” 无效（可用：{'、'.join(sorted(TARGETS))}）")
    if "enum" in spec and (not isinstance(spec["enum"], list) or not spec["enum"]):
        problems.append("enum 必须是非空列表")
    for key in ("maxLength", "maximum", "minimum"):
        if key in spec and (not isinstance(spec[key], int) or isinstance(spec[key], bool)):
            problems.append(f"{key} 必须是整数")
    when = spec.get("x-requiredWhen", {})
    if not isinstance(when, dict) or any(k not in props for k in when):
        problems.append("x-requiredWhen 必须是 {字段: 取值} 且字段已定义")
    return problems


def _field(name, spec, required) -> FieldSpec:
    fmt = spec.get("format")
    widget = spec.get("x-widget") or ("file" if fmt == "file" else "date" if fmt == "date"
                                      else "select" if spec.get("enum") else "text")
    return FieldSpec(
        name=name, type=spec["type"], title=spec["title"], format=fmt, enum=tuple(spec.get("enum", ())),
        enum_labels={str(k): v for k, v in spec.get("x-enumLabels", {}).items()},
        max_length=spec.get("maxLength"), maximum=spec.get("maximum"), minimum=spec.get("minimum"),
        widget=widget, partial=spec.get("x-partial"), help=spec.get("x-help") or spec.get("description", ""),
        placeholder=spec.get("x-placeholder", ""), accept=tuple(spec.get("x-accept", ())),
        multiple=bool(spec.get("x-multiple")), target=spec.get("x-target", "workflow"), required=required,
        required_when=dict(spec.get("x-requiredWhen", {})), kind=spec.get("x-kind", name),
        confirm=dict(spec.get("x-confirm", {})))


def load_directory(directory: Path) -> tuple[dict[str, FormSpec], dict[str, list[str]]]:
    """Every form file in ``<directory>/forms``: the specs by key and the problems by file name."""
    specs, problems = {}, {}
    for path in sorted((Path(directory) / FORMS_DIR).glob("*.json")):
        spec, errs = load_form(path)
        if errs:
            problems[path.name] = errs
        else:
            specs[spec.key] = spec
    return specs, problems


# -- values -------------------------------------------------------------------------------
def _clean_value(f: FieldSpec, value):
    if f.is_file:
        return value or None          # the caller stored the file; the value is its reference
    if f.type == "boolean":
        return value in (True, "true", "1", "on", "y", "yes")
    if isinstance(value, str):
        value = value.strip()
    if value in (None, ""):
        return None
    if f.type == "integer":
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise InvalidFormData(f"{f.title}：请填写整数", field=f.name) from None
        if f.maximum is not None and value > f.maximum:
            raise InvalidFormData(f"{f.title}：不能大于 {f.maximum}", field=f.name)
        if f.minimum is not None and value < f.minimum:
            raise InvalidFormData(f"{f.title}：不能小于 {f.minimum}", field=f.name)
    if f.format == "date":
        if isinstance(value, date):
            return value.isoformat()
        try:
            value = date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InvalidFormData(f"{f.title}：日期格式不正确", field=f.name) from None
    if f.enum and value not in f.enum:
        raise InvalidFormData(f"请选择{f.title}", field=f.name)
    if f.max_length is not None and isinstance(value, str) and len(value) > f.max_length:
        raise InvalidFormData(f"{f.title}：不能超过 {f.max_length} 个字", field=f.name)
    return value


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def _required_now(f: FieldSpec, values: dict) -> bool:
    return bool(f.required_when) and all(values.get(k) == v for k, v in f.required_when.items())
