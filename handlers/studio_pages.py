"""What the studio's pages (webui/blueprints/studio.py) ask of the server, in one place.

Every function takes the acting principal and refuses anyone without the 流程设计 role
(``require_designer``): the pages' guard is a convenience, this is the check. The functions are
thin: deployment bundles, drafts, validation, process tests and deploys are the engine's
(engine.definitions, engine.validation); this module turns the studio's JSON (a diagram and its
forms as objects) into what they take and their answers into JSON for the page.
"""
import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy import select

from engine import deadlines
from engine.db import db
from engine.forms import FormSpec, parse_form
from engine.models import ProcessDefinition, ProcessDraft, utcnow
from engine.bundles import FORM_PREFIX, TEST_PREFIX, Bundle, process_id
from engine.errors import DefinitionNotFound
from engine.validation import FormFiles

from .catalog import local_dt
from .errors import DomainError, Forbidden, NotFound
from .models import APPLICATION_STATUS, DESIGNER  # noqa: F401 — the pages' guard names the kind
from .studio import StudioService
from .principal import Principal

MAX_DIAGRAM_BYTES = 1024 * 1024  # a diagram is tens of KB; a megabyte is not a diagram
MAX_FORMS = 50
FORM_KEY_RE = re.compile(r"[a-z][a-z0-9_.]{0,59}")
SCENARIO_NAME_RE = re.compile(r"tests/[a-z0-9][a-z0-9_-]{0,59}\.(yaml|yml|json)")
MAX_SCENARIOS = 50
MAX_SCENARIO_BYTES = 64 * 1024

RULE_LABELS = {   # the panel's wording for the registry's names; a name without a label shows as itself
    "applicant": "申请人（提交申请的企业）",
    "project_regulators": "项目的主管部门与监督机构（先签收者办理）",
    "project_agency": "项目的监督机构",
    "platform_admins": "平台管理员",
}
OPERATOR_LABELS = {
    "unlock.apply": "自动解锁", "manager_change.apply": "变更生效",
    "completion_filing.apply": "竣工备案生效", "permit_supplement.apply": "补录生效",
    "registration.activate": "账号启用", "registration.return": "退回注册",
    "review.remind": "超期预警", "review.overdue": "超期督办",
}
CLAIM_LABELS = {"required": "须签收后办理（required）", "optional": "无须签收（optional）"}
TIMERS = [
    ("timeDate", "due_at()", "到期时（任务的办理期限 due）"),
    *[("timeDate", f"due_minus_working_days({n})", f"到期前 {n} 个工作日") for n in (1, 2, 3)],
    *[("timeDate", f"working_days({n})", f"{n} 个工作日后") for n in (1, 2, 3, 5, 10, 15, 20)],
    *[("timeDuration", f'"PT{n}H"', f"{n} 小时后") for n in (1, 2, 4, 8, 24)],
    *[("timeDuration", f'"P{n}D"', f"{n} 天后") for n in (1, 3, 7, 15, 30)],
]


class StudioInputError(DomainError):
    """The page sent something unusable (empty diagram, bad form key, no note)."""


class StudioRefusal(DomainError):
    """The draft may not be deployed: its problems travel with the refusal, for the page to mark."""

    def __init__(self, message: str, problems: list[dict]):
        super().__init__(message)
        self.problems = problems


def require_designer(principal: Principal) -> None:
    if not principal.is_designer:
        raise Forbidden("仅流程设计人员可以使用流程设计器")


# -- choices for the properties panel ----------------------------------------------------------
def choices(principal: Principal, engine) -> dict:
    """What the properties panel may offer: the running registry's names (StudioService.choices),
    each with its Chinese label, plus the due values and timer expressions the deploy rules accept."""
    known = StudioService(engine).choices(principal)
    option = lambda value, label: {"value": value, "label": label}  # noqa: E731
    dues = [f"{n} working day" if n == 1 else f"{n} working days" for n in (1, 2, 3, 5, 7, 10, 15, 20, 30)]
    dues += [f"{n} day" if n == 1 else f"{n} days" for n in (1, 3, 5, 7, 10, 15, 20, 30, 60)]
    return {
        "candidates": [option(r, f"{RULE_LABELS.get(r, r)}（{r}）") for r in known["candidate_rules"]],
        "claims": [option(c, CLAIM_LABELS.get(c, c)) for c in known["claim"]],
        # in the order the application knows them (草稿 … 已撤回), not alphabetically
        "statuses": [option(s, s) for s in APPLICATION_STATUS.values() if s in known["statuses"]],
        "dues": [option(d, _due_label(d)) for d in dues if not deadlines.check_properties({"due": d})],
        "dueRestarts": [option("false", "否：退回后接着计时（false）"), option("true", "是：每次重新计时（true）")],
        "operators": [option(o, f"{OPERATOR_LABELS.get(o, o)}（{o}）") for o in known["operators"]],
        "timers": [{"kind": k, "expression": e, "label": label} for k, e, label in TIMERS],
    }


def _due_label(due: str) -> str:
    n, unit = due.split(" ", 1)
    return f"{n} 个工作日" if unit.startswith("working") else f"{n} 个自然日"


# -- processes, versions, bundles ------------------------------------------------------------
@dataclass(frozen=True)
class VersionRow:
    id: int
    version: int
    current: bool
    deployed_at: datetime
    deployed_by: str
    note: str


@dataclass(frozen=True)
class ProcessRow:
    key: str
    name: str
    versions: list[VersionRow]
    has_draft: bool


def processes(principal: Principal) -> list[ProcessRow]:
    require_designer(principal)
    by_key: dict[str, list[ProcessDefinition]] = {}
    for d in db.session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_key,
                                                                   ProcessDefinition.version.desc())):
        by_key.setdefault(d.process_key, []).append(d)
    drafted = set(db.session.scalars(select(ProcessDraft.process_key)))
    rows = []
    for key, versions in by_key.items():
        rows.append(ProcessRow(key, versions[0].name, [
            VersionRow(d.id, d.version, i == 0, d.deployed_at, d.deployed_by or "", d.note or "")
            for i, d in enumerate(versions)], key in drafted))
    return rows


def _version(process_key: str, version: int | None) -> ProcessDefinition:
    query = select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
    query = query.where(ProcessDefinition.version == version) if version else \
        query.order_by(ProcessDefinition.version.desc()).limit(1)
    found = db.session.scalar(query)
    if found is None:
        raise NotFound("流程或版本不存在")
    return found


def bundle(principal: Principal, engine, process_key: str, version: int | None = None, draft: bool = True) -> dict:
    """The diagram and its forms as the studio edits them: the draft when there is one (unless a
    version is asked for), otherwise the version (default: the current one)."""
    require_designer(principal)
    saved = StudioService(engine).draft(principal, process_key) if draft and version is None else None
    stored = saved.bundle if saved else _stored(engine, process_key, version)
    forms = {name[len(FORM_PREFIX):-len(".json")]: json.loads(content) for name, content in stored.forms.items()}
    scenarios = {name: content.decode("utf-8") for name, content in sorted(stored.scenarios.items())}
    if saved:
        return {"xml": saved.xml, "forms": forms, "scenarios": scenarios, "draft": True, "revision": saved.revision}
    return {"xml": stored.xml.decode("utf-8"), "forms": forms, "scenarios": scenarios, "draft": False, "version": version}


def _stored(engine, process_key: str, version: int | None) -> Bundle:
    try:
        return engine.definitions.bundle(process_key, version)
    except DefinitionNotFound:
        raise NotFound("流程或版本不存在") from None


# -- drafts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A diagram and its forms as the page sent them, checked for shape (not for validity)."""
    process_key: str
    xml: bytes
    forms: dict          # form key -> JSON object
    scenarios: dict | None = None   # tests/<file>.yaml -> text; None: the page did not send them

    def form_files(self) -> FormFiles:
        found = FormFiles()
        for key, raw in self.forms.items():
            spec, problems = parse_form(raw, key, f"{key}.json")
            if problems:
                found.problems[f"{key}.json"] = problems
            else:
                found.specs[key] = spec
        return found

    def as_bundle(self, engine) -> Bundle:
        """The draft as a deployment bundle; without scenarios from the page, those of the current
        version."""
        current = _stored(engine, self.process_key, None)
        files = {name: content for name, content in current.scenarios.items()} if self.scenarios is None else \
            {name: text.encode("utf-8") for name, text in self.scenarios.items()}
        files.update({f"{FORM_PREFIX}{key}.json": json.dumps(raw, ensure_ascii=False, indent=2).encode("utf-8")
                      for key, raw in sorted(self.forms.items())})
        return Bundle(current.diagram_name, self.xml, files)


def draft_from(process_key: str, payload) -> Draft:
    """The page's JSON as a Draft, or a DomainError naming what is wrong with it."""
    if not isinstance(payload, dict):
        raise StudioInputError("请求格式错误：应为 JSON 对象")
    xml, forms = payload.get("xml"), payload.get("forms", {})
    if not isinstance(xml, str) or not xml.strip():
        raise StudioInputError("流程图：内容为空")
    data = xml.encode("utf-8")
    if len(data) > MAX_DIAGRAM_BYTES:
        raise StudioInputError("流程图：文件过大（不超过 1 MB）")
    if not isinstance(forms, dict) or len(forms) > MAX_FORMS or \
            not all(isinstance(k, str) and FORM_KEY_RE.fullmatch(k) for k in forms):
        raise StudioInputError("表单：格式错误（formKey 只能用小写字母、数字、下划线和点）")
    if process_id(data) not in (None, process_key):
        raise StudioInputError(f"流程图：可执行流程的 id 必须为 “{process_key}”（流程标识不能修改）")
    return Draft(process_key, data, forms, _scenarios_from(payload.get("scenarios")))


def _scenarios_from(raw) -> dict | None:
    """The page's scenario files (tests/<file>.yaml -> text), checked for shape; the runner
    reports what their content gets wrong."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > MAX_SCENARIOS or \
            not all(isinstance(k, str) and SCENARIO_NAME_RE.fullmatch(k) for k in raw):
        raise StudioInputError("测试场景：文件名应为 tests/<名称>.yaml（小写字母、数字、下划线）")
    if not all(isinstance(v, str) and len(v.encode("utf-8")) <= MAX_SCENARIO_BYTES for v in raw.values()):
        raise StudioInputError("测试场景：内容应为文本，每个文件不超过 64 KB")
    return dict(raw)


def save_draft(principal: Principal, engine, draft: Draft) -> str:
    """The page's diagram, forms and scenarios become the process's draft (engine.drafts, one
    command); without scenarios from the page, the draft's are kept."""
    service = StudioService(engine)
    _stored(engine, draft.process_key, None)   # a draft belongs to a deployed process
    current = service.draft(principal, draft.process_key) or service.open_draft(principal, draft.process_key)
    replaced = (FORM_PREFIX,) if draft.scenarios is None else (FORM_PREFIX, TEST_PREFIX)
    files = {name: text for name, text in current.files.items() if not name.startswith(replaced)}
    files.update({name: content.decode("utf-8") for name, content in draft.as_bundle(engine).forms.items()})
    files.update(draft.scenarios or {})
    service.save_draft(principal, draft.process_key, draft.xml.decode("utf-8"), files)
    return "草稿已保存"


# -- checks, tests, deploy ---------------------------------------------------------------------
def problems_of(principal: Principal, engine, draft: Draft) -> list[dict]:
    """Every problem of the draft: the deploy validator's and the drawing checks, with element ids."""
    require_designer(principal)
    found = [{"element": e.element_id, "message": e.reason}
             for e in engine.definitions.check_bundle(draft.as_bundle(engine))]
    return _unique(found)


def _unique(problems: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for p in problems:
        mark = (p.get("element"), p["message"])
        if mark not in seen:
            seen.add(mark)
            kept.append(p)
    return kept


def run_tests(principal: Principal, engine, draft: Draft) -> list[dict]:
    """The designer's scenarios run on the draft (saved first): name, passed, what failed, the path."""
    save_draft(principal, engine, draft)
    results = StudioService(engine).test_draft(principal, draft.process_key)
    return [{"name": r.name or r.file, "passed": r.passed, "message": "\n".join(r.failures), "path": r.path,
             "element": r.path[-1] if r.path and not r.passed else None} for r in results]


def deploy(principal: Principal, engine, draft: Draft, note: str) -> str:
    """Deploy a valid draft whose scenarios pass as the next version, with the change note."""
    require_designer(principal)
    note = (note or "").strip()
    if not note:
        raise StudioInputError("部署说明：请填写本次修改的说明")
    if len(note) > 500:
        raise StudioInputError("部署说明：不能超过 500 个字")
    problems = problems_of(principal, engine, draft)
    if problems:
        raise StudioRefusal(f"草稿有 {len(problems)} 个问题，不能部署", problems)
    failed = [s for s in run_tests(principal, engine, draft) if not s["passed"]]
    if failed:
        raise StudioRefusal(f"{len(failed)} 个测试场景未通过，不能部署：{failed[0]['name']}", [])
    before = _stored(engine, draft.process_key, None).hash
    version = StudioService(engine).deploy_draft(principal, draft.process_key, note)
    return f"已部署为版本 {version.version}" if version.content_hash != before else f"与版本 {version.version} 相同，未产生新版本"


# -- downloads, uploads ------------------------------------------------------------------------
def version_zip(principal: Principal, engine, process_key: str, version: int) -> tuple[str, bytes]:
    """A version's files laid out as bpmn/ (diagram, forms/, tests/<process>/), as a zip."""
    require_designer(principal)
    return f"{process_key}-v{version}.zip", _stored(engine, process_key, version).zip()


def upload(principal: Principal, engine, process_key: str, data: bytes, forms: dict) -> tuple[str, list[dict]]:
    """An uploaded .bpmn checked like a draft with the current forms: its text and its problems."""
    require_designer(principal)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StudioInputError("上传文件：请使用 UTF-8 编码的 .bpmn 文件") from None
    draft = draft_from(process_key, {"xml": text, "forms": forms})
    return text, problems_of(principal, engine, draft)


# -- live view ---------------------------------------------------------------------------------
def live_counts(principal: Principal, engine, process_key: str, version: int) -> dict:
    """Per element of one version (handlers.live): applications waiting there, overdue, and
    incidents there, with the version's diagram to draw them on."""
    counts = StudioService(engine).live_counts(principal, process_key, version)
    d = _version(process_key, version)
    return {"xml": d.xml, "version": d.version,
            "counts": {element: dataclasses.asdict(c) for element, c in counts.items()}}


def live_applications(principal: Principal, engine, process_key: str, version: int, element_id: str) -> list[dict]:
    """The applications waiting at (or stopped by an incident on) one element, as the facts a
    designer may see: a designer cannot open review tasks or applications, so there are no links."""
    service = StudioService(engine)
    rows = service.live_applications(principal, process_key, version, element_id, "waiting")
    rows += service.live_applications(principal, process_key, version, element_id, "incident")
    step = _element_name(_version(process_key, version).xml, element_id)
    now = utcnow()
    return [{"instance_id": r.instance_id, "case_number": r.case_no or "", "subject": r.subject,
             "applicant": r.applicant_name, "step": step, "since": local_dt(r.since), "due": local_dt(r.due_at),
             "overdue": bool(r.due_at and r.due_at < now), "holder": r.claimed_by or "", "incident": r.incident or "",
             "state": "出错" if r.incident is not None else "已超期" if r.due_at and r.due_at < now else "等待中"}
            for r in rows]


def live_table(principal: Principal, engine, process_key: str, version: int) -> list[dict]:
    """The live counts as rows for the page's table (element, its name, the three numbers)."""
    found = live_counts(principal, engine, process_key, version)
    return [dict(counts, element=element, name=_element_name(found["xml"], element))
            for element, counts in found["counts"].items()]


def _element_name(xml: str, element_id: str) -> str:
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return element_id
    found = root.xpath("//*[@id=$id]", id=element_id)
    return (found[0].get("name") or element_id) if found else element_id


# -- comparison --------------------------------------------------------------------------------
def changes(principal: Principal, engine, process_key: str, older: int, newer: int) -> list[dict]:
    """The server's list of what changed from one version to another (handlers.version_diff),
    each change with its Chinese sentence; the page lists these and colours their elements."""
    found = StudioService(engine).diff(principal, process_key, older, newer)
    return [dict(dataclasses.asdict(c), text=c.describe()) for c in found]


def compare(principal: Principal, engine, process_key: str, older: int, newer: int) -> dict:
    """Both versions' diagrams (the page draws the newer) and the list of changes."""
    return {"older": bundle(principal, engine, process_key, older), "newer": bundle(principal, engine, process_key, newer),
            "changes": changes(principal, engine, process_key, older, newer)}


# -- the form designer's preview ---------------------------------------------------------------
def preview_spec(principal: Principal, key: str, raw) -> tuple[FormSpec | None, list[str]]:
    """The form as the deploy rules read it: the spec to render, or the problems."""
    require_designer(principal)
    if not isinstance(key, str) or not FORM_KEY_RE.fullmatch(key):
        return None, ["formKey 只能用小写字母、数字、下划线和点"]
    return parse_form(raw, key, f"{key}.json")
