"""Process endpoints (personal tokens): applicants' applications and reviewers' tasks.

Generic over the process catalog (``handlers.catalog``, one service per entry in ``Services.by_kind``):
any process declared there is served the same way. Every endpoint calls the same
handlers services as the pages, with the same ``Principal`` the pages build, so the rules and the
per-object checks are the pages' own (no second copy of them here).
"""
from datetime import date, datetime
from functools import wraps

from flask import Response, g, request
from flask_smorest import Blueprint
from marshmallow import INCLUDE, fields, validate

from engine.deadlines import Period
from engine.errors import EngineError
from engine.inbox import DUE_FILTERS, VIEWS, InboxFilter
from handlers import catalog, corrections
from handlers.applications import Upload
from handlers.catalog import api_time
from handlers.database import call_steps
from handlers.errors import DomainError, Forbidden, NotFound
from handlers import supervision
from handlers.models import APPLICATION_STATUS, RATING_LEVELS
from handlers.ratings import RatingService, rating_json

from .. import services
from ..filters import due_state, local_day
from ..inputs import _CURSOR
from .problems import problem, problem_responses
from .schemas import Day, Strict, Time
from .security import one_transaction, protect, user_required

blp = Blueprint("api_processes", __name__, description="业务办理：申请人与审核人（个人令牌）")
protect(blp)
KIND_PATH = "<kind>"   # a catalog entry's kind; an unknown one is a 404
ERRORS = (400, 401, 403, 404, 409, 429)


# -- shapes ------------------------------------------------------------------------------------------
class ProjectRef(Strict):
    id = fields.Integer()
    name = fields.String()
    supervision_no = fields.String()


class Application(Strict):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    status = fields.String(validate=validate.OneOf(list(APPLICATION_STATUS)))
    status_label = fields.String()
    subject = fields.String()
    project = fields.Nested(ProjectRef)
    applicant_org = fields.String()
    fields_ = fields.Dict(data_key="fields", metadata={"description": "该流程的业务字段"})
    open_task_id = fields.Integer(allow_none=True)


class ApplicationList(Strict):
    items = fields.List(fields.Nested(Application))
    total = fields.Integer()
    page = fields.Integer()


class Choice(Strict):
    id = fields.Integer()
    name = fields.String()
    detail = fields.String()
    group = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "不能选择的原因"})


class Choices(Strict):
    items = fields.List(fields.Nested(Choice))


class CreateIn(Strict):
    target_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "添加的对象：锁定记录（解锁）、任职记录（变更）或工程（竣工备案）"})


class SaveIn(Strict):
    """The application's fields, named as in its form file (bpmn/forms/<process>.edit.json)."""
    class Meta:
        unknown = INCLUDE


class ListArgs(Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    status = fields.String(validate=validate.OneOf(list(APPLICATION_STATUS)))


class LogEntry(Strict):
    at = Time()
    user_name = fields.String()
    org_name = fields.String()
    action = fields.String()
    opinion = fields.String(allow_none=True)


class Log(Strict):
    items = fields.List(fields.Nested(LogEntry))


class Task(Strict):
    id = fields.Integer()
    process_key = fields.String()
    case_no = fields.String(allow_none=True, metadata={"description": "办件编号"})
    name = fields.String(metadata={"description": "环节名称（同 step）"})
    step = fields.String(metadata={"description": "环节：流程图中该用户任务的名称，如 审核、现场核查"})
    subject = fields.String()
    scope = fields.String()
    applicant_name = fields.String()
    created_at = Time()
    due_at = Time(allow_none=True)
    due_day = Day("到期日：办理期限的最后一天（北京时间），与页面所示相同；due_at 为其次日 0 时", allow_none=True)
    due_provisional = fields.Boolean(metadata={"description": "待确认：到期日所在年度的节假日安排尚未录入，按周末推算"})
    due_period = fields.String(allow_none=True, metadata={"description": "流程图声明的办理时限，如 5 个工作日、15 日"})
    due_state = fields.String(allow_none=True, metadata={
        "description": "时限状态，按声明的单位计算：剩余 N 个工作日 / 剩余 N 日 / 今日到期 / 已超期 …（待确认）；已办结的任务为 null"})
    claimed_by_name = fields.String(allow_none=True)
    claimed_by_org_name = fields.String(allow_none=True)
    state = fields.String()


class InboxArgs(Strict):
    view = fields.String(load_default="open", validate=validate.OneOf(VIEWS))
    process_key = fields.String(validate=validate.Length(max=100))
    scope = fields.String(validate=validate.Length(max=100), metadata={"description": "工程名称包含"})
    applicant = fields.String(validate=validate.Length(max=100), metadata={"description": "申请单位包含"})
    date_from = fields.Date()
    date_to = fields.Date()
    due = fields.String(validate=validate.OneOf(DUE_FILTERS))
    sort = fields.String(load_default="new", validate=validate.OneOf(["new", "due"]))
    cursor = fields.String(validate=validate.Regexp(_CURSOR.pattern + "$"), metadata={"description": "上一页的 next_cursor"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class Inbox(Strict):
    items = fields.List(fields.Nested(Task))
    next_cursor = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    due_counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class TaskDetail(Strict):
    task = fields.Nested(Task)
    application = fields.Nested(Application, allow_none=True)


class OpinionIn(Strict):
    opinion = fields.String(load_default="", validate=validate.Length(max=2000))


class CorrectionItemIn(Strict):
    field = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=60),
                          metadata={"description": "所指的申请字段或附件栏目（表单文件中的字段名）；不填为其他事项"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"description": "需补正的内容及要求"})


class ReturnIn(OpinionIn):
    items = fields.List(fields.Nested(CorrectionItemIn), load_default=list, validate=validate.Length(max=50),
                        metadata={"description": "补正事项（一次性告知）：申请人须逐项答复后才能重新上报"})


class CorrectionItemOut(Strict):
    id = fields.Integer()
    position = fields.Integer()
    field = fields.String(allow_none=True)
    label = fields.String(metadata={"description": "字段或附件栏目的名称；其他事项为“其他”"})
    text = fields.String()
    repeated = fields.Boolean(metadata={"description": "上次补正告知中已提出（第二次及以后的告知）"})
    answer_kind = fields.String(allow_none=True, validate=validate.OneOf(["corrected", "explained"]),
                                metadata={"description": "corrected 已更正 / explained 已说明；未答复为 null"})
    answer_text = fields.String()
    answered_at = Time(allow_none=True)


class CorrectionNoticeOut(Strict):
    round = fields.Integer(metadata={"description": "第几次补正告知"})
    opinion = fields.String()
    reviewer_name = fields.String()
    reviewer_org_name = fields.String()
    created_at = Time()
    items = fields.List(fields.Nested(CorrectionItemOut))


class Corrections(Strict):
    items = fields.List(fields.Nested(CorrectionNoticeOut), metadata={"description": "历次补正告知，先后为序"})


class AnswerIn(Strict):
    id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**63 - 1))
    kind = fields.String(required=True, validate=validate.OneOf(["corrected", "explained"]))
    text = fields.String(load_default="", validate=validate.Length(max=500))


class AnswersIn(Strict):
    answers = fields.List(fields.Nested(AnswerIn), required=True, validate=validate.Length(min=1, max=50))


class AttachIn(Strict):
    kind = fields.String(load_default="attachment", validate=validate.Length(max=50),
                         metadata={"description": "附件栏目（表单文件中 format=file 的字段名）"})


# -- plumbing ----------------------------------------------------------------------------------------
def refusals(view):
    """The services' refusals as problems: 404 / 403 for access, 400 naming the field, 409 for the engine's."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except NotFound as e:
            return problem(404, e.message)
        except Forbidden as e:
            return problem(403, e.message)
        except DomainError as e:
            return problem(400, e.message, [{"field": e.field or "", "message": e.message}])
        except EngineError as e:   # the engine's form check names a field; the rest are conflicts
            field = getattr(e, "field", None)
            return problem(400 if field else 409, e.message, [{"field": field, "message": e.message}] if field else None)
    return wrapper


def endpoint(method, path, summary, schema=None, *, args=None, location="json", status=200, content_type=None,
             description=None, **doc):
    """A personal-token endpoint: ``method path`` answering ``status`` with ``schema`` (or ``content_type``),
    taking ``args`` from ``location``; the refusals as problems, each error documented."""
    def decorate(view):
        view = problem_responses(blp, *ERRORS)(refusals(view))
        view = blp.response(status, schema, content_type=content_type, description=description)(view)
        if method != "GET":   # a call that writes commits once, with its audit row
            view = one_transaction(view)
        view = blp.doc(summary=summary, **doc)(view)
        if args is not None:
            view = blp.arguments(args, location=location)(view)
        # outermost: a machine token is refused (403) before its request body is read (400)
        return blp.route(path, methods=[method])(user_required(view))
    return decorate


def _service(kind, own=True):
    svc = services().by_kind.get(kind)
    if svc is None:
        raise NotFound("不存在该业务")
    if not own:
        return svc
    if g.principal.kind not in svc.allowed_kinds:
        raise Forbidden("当前账号不能办理该业务")
    return svc


def _value(value):
    """A field's value as the API sends it: times in the one documented form (api_time), days as
    ISO dates (days in China, no zone)."""
    if isinstance(value, datetime):
        return api_time(value)
    return value.isoformat() if isinstance(value, date) else value


INTERNAL = {"id", "status", "open_key", "instance_id", "applicant_org_id", "created_by_user_id", "project_id"}


_READ = object()   # application_dict's open task: read it


def application_dict(kind, svc, app, open_task_id=_READ) -> dict:
    """The application as the API shows it; ``open_task_id``, when the caller knows it to be what
    reading the application's first open task gives (``known_open_task``), is not read again."""
    if open_task_id is _READ:
        task = svc.open_task(app)
        open_task_id = task.id if task is not None else None
    return {
        "id": app.id, "kind": kind, "title": svc.entry.title, "status": app.status, "status_label": app.status_label,
        "subject": svc.subject(app), "applicant_org": app.applicant_org.name,
        "project": ({"id": app.project.id, "name": app.project.name, "supervision_no": app.project.supervision_no}
                    if getattr(app, "project", None) is not None else None),   # a registration has none
        "fields_": {c.key: _value(getattr(app, c.key)) for c in app.__table__.columns if c.key not in INTERNAL},
        "open_task_id": open_task_id,
    }


def known_open_task(app):
    """The id of the application's first open task (None: it has none) as the engine commands of this
    call left it, when their results say it without a read; else ``_READ``.

    - the call ran the workflow to its end (the last command that ran it completed the instance): a
      completed instance has no open task (an invariant, handlers.invariants)
    - the call started the instance and nothing else ran it: every open task is one the start opened
      (StepResult.opened), and the first by id is the one ``open_tasks`` reads first
    """
    steps = call_steps(app.instance_id) if app.instance_id is not None else []
    if not steps:
        return _READ
    started, last = steps[-1]
    if last.completed:
        return None
    if started and len(steps) == 1:
        ids = [t.id for t in last.opened if t.state == "open"]
        return min(ids) if ids else None
    return _READ


def task_dict(task, case_no: str | None) -> dict:
    """A task as the inbox and the task page show it: its step, its case number and its due day,
    flagged 待确认 as the pages flag it."""
    due = due_state(task)
    return {"id": task.id, "process_key": task.process_key, "case_no": case_no, "name": task.name, "step": task.name,
            "subject": task.subject, "scope": task.scope, "applicant_name": task.applicant_name,
            "created_at": _value(task.created_at), "due_at": _value(task.due_at),
            "due_day": local_day(task.due_at) or None, "due_provisional": bool(task.due_provisional),
            "due_period": Period.from_rule(task.due_rule).label if task.due_rule else None,
            "due_state": due.label if due else None, "claimed_by_name": task.claimed_by_name,
            "claimed_by_org_name": task.claimed_by_org_name, "state": task.state}


def _choices(svc) -> list[dict]:
    return [{"id": p.id, "name": p.name, "detail": p.detail, "group": p.group, "reason": p.reason}
            for p in svc.picks(g.principal)]


# -- applicants --------------------------------------------------------------------------------------
@endpoint("GET", f"/applications/{KIND_PATH}", "本单位的申请列表", ApplicationList, args=ListArgs, location="query")
def list_applications(args, kind):
    svc = _service(kind)
    rows, total = svc.list_own(g.principal, page=args["page"], per_page=20, status=args.get("status"))
    return {"items": [application_dict(kind, svc, a) for a in rows], "total": total, "page": args["page"]}


@endpoint("GET", f"/applications/{KIND_PATH}/choices", "“添加”可选的对象", Choices)
def choices(kind):
    return {"items": _choices(_service(kind))}


@endpoint("POST", f"/applications/{KIND_PATH}", "添加（新建草稿）", Application, args=CreateIn, status=201)
def create(data, kind):
    svc = _service(kind)
    app = svc.create(g.principal, data["target_id"])
    return application_dict(kind, svc, app, known_open_task(app))


@endpoint("GET", f"/applications/{KIND_PATH}/<bigid:app_id>", "申请详情", Application)
def detail(kind, app_id):
    svc = _service(kind, own=False)
    return application_dict(kind, svc, svc.get(g.principal, app_id))


@endpoint("PATCH", f"/applications/{KIND_PATH}/<bigid:app_id>", "保存（确定 / 暂存）", Application, args=SaveIn)
def save(data, kind, app_id):
    svc = _service(kind)
    values = {k: v if isinstance(v, str) or v is None else str(v) for k, v in data.items()}
    app = svc.save(g.principal, app_id, values)
    return application_dict(kind, svc, app)


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/attachments",
          "上传附件并保存（multipart/form-data：文件字段 file，可同时提交表单字段）", Application,
          args=AttachIn, location="query", requestBody={"content": {"multipart/form-data": {"schema": {
              "type": "object", "required": ["file"], "additionalProperties": {"type": "string", "maxLength": 2000},
              "properties": {"file": {"type": "string", "format": "binary"}}}}}})
def attach(args, kind, app_id):
    svc = _service(kind)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return problem(400, "请选择要上传的文件", [{"field": "file", "message": "请选择要上传的文件"}])
    slots = svc.attachment_labels()
    if args["kind"] not in slots:
        message = "附件栏目不正确（可选：" + "、".join(slots) + "）"
        return problem(400, message, [{"field": "kind", "message": message}])
    limit = services().uploads.max_bytes + 1
    values = {name: value for name, value in request.form.items() if isinstance(value, str)}
    app = svc.save(g.principal, app_id, values, [Upload(args["kind"], upload.filename, upload.stream.read(limit))])
    return application_dict(kind, svc, app)


def _command(kind, app_id, name):
    svc = _service(kind)
    app = getattr(svc, name)(g.principal, app_id)   # the applicant's own, as the command checked it
    return application_dict(kind, svc, app, known_open_task(app))


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/report", "上报", Application)
def report(kind, app_id):
    return _command(kind, app_id, "report")


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/withdraw", "撤回", Application)
def withdraw(kind, app_id):
    return _command(kind, app_id, "withdraw")


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/discard", "作废（尚未上报的草稿）", Application)
def discard(kind, app_id):
    return _command(kind, app_id, "discard")


@endpoint("GET", f"/applications/{KIND_PATH}/<bigid:app_id>/log", "操作记录", Log)
def log(kind, app_id):
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)
    return {"items": [{"at": _value(e.at), "user_name": e.user_name, "org_name": e.org_name, "action": e.action,
                       "opinion": e.opinion} for e in svc.operation_log(app)]}


@endpoint("GET", f"/applications/{KIND_PATH}/<bigid:app_id>/corrections", "补正告知及答复（一次性告知）", Corrections)
def correction_notices(kind, app_id):
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)
    return {"items": [{
        "round": n.round, "opinion": n.opinion, "reviewer_name": n.reviewer_name,
        "reviewer_org_name": n.reviewer_org_name, "created_at": _value(n.created_at),
        "items": [{"id": i.id, "position": i.position, "field": i.field, "label": i.label, "text": i.text,
                   "repeated": i.repeated, "answer_kind": i.answer_kind, "answer_text": i.answer_text,
                   "answered_at": _value(i.answered_at)} for i in items]}
        for n, items in corrections.history(app.instance_id)]}


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/corrections/answers",
          "逐项答复补正事项（已更正须先修改对应字段或附件）", Application, args=AnswersIn)
def answer_corrections(data, kind, app_id):
    svc = _service(kind)
    app = svc.save(g.principal, app_id, {}, answers={a["id"]: (a["kind"], a["text"]) for a in data["answers"]})
    return application_dict(kind, svc, app)


@endpoint("GET", f"/applications/{KIND_PATH}/<bigid:app_id>/diagram", "流程图（SVG，标出当前步骤）",
          content_type="image/svg+xml", description="SVG")
def diagram(kind, app_id):
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)
    return Response(svc.diagram(app, svc.diagram_view(g.principal, app)), mimetype="image/svg+xml")


# -- 好差评 and 催办 ------------------------------------------------------------------------------------
class RatingAddition(Strict):
    text = fields.String()
    at = Time()


class Rectification(Strict):
    status = fields.String(validate=validate.OneOf(["open", "done"]), metadata={"description": "open 整改中 / done 已整改"})
    answer = fields.String(allow_none=True, metadata={"description": "整改情况"})
    answered_at = Time(allow_none=True)
    due_at = Time(allow_none=True)
    case_no = fields.String(allow_none=True, metadata={"description": "整改任务的办件编号"})


class RatingOut(Strict):
    level = fields.String(validate=validate.OneOf(list(RATING_LEVELS)))
    level_label = fields.String(metadata={"description": "非常满意 / 满意 / 基本满意 / 不满意 / 非常不满意"})
    bad = fields.Boolean(metadata={"description": "差评（不满意、非常不满意）：发起整改"})
    comment = fields.String()
    rated_at = Time()
    reviewer_org = fields.String(allow_none=True, metadata={"description": "被评价单位：作出决定的审核单位"})
    additions = fields.List(fields.Nested(RatingAddition), metadata={"description": "追加评价，按时间顺序"})
    rectification = fields.Nested(Rectification, allow_none=True)


class RatingState(Strict):
    rating = fields.Nested(RatingOut, allow_none=True, metadata={"description": "尚未评价时为 null"})
    can_rate = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": "不能评价的原因"})


class RateIn(Strict):
    level = fields.String(required=True, validate=validate.OneOf(list(RATING_LEVELS)))
    comment = fields.String(load_default="", validate=validate.Length(max=500),
                            metadata={"description": "评价内容；差评时必填"})


class AddIn(Strict):
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))


def _rating_state(app) -> dict:
    view = RatingService(services().engine).view(g.principal, app)
    return {"rating": rating_json(view.rating), "can_rate": view.can_rate, "reason": view.reason}


@endpoint("GET", f"/applications/{KIND_PATH}/<bigid:app_id>/rating", "好差评：该办件的评价、追加评价和整改情况",
          RatingState)
def rating(kind, app_id):
    svc = _service(kind)
    return _rating_state(svc.get_own(g.principal, app_id))


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/rating", "好差评：评价已办结的办件（一事一评）",
          RatingState, args=RateIn, status=201)
def rate(data, kind, app_id):
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    RatingService(services().engine).rate(g.principal, app, data["level"], data["comment"])
    return _rating_state(app)


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/rating/additions", "好差评：追加评价", RatingState,
          args=AddIn, status=201)
def add_rating(data, kind, app_id):
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    RatingService(services().engine).add(g.principal, app, data["text"])
    return _rating_state(app)


@endpoint("POST", f"/applications/{KIND_PATH}/<bigid:app_id>/urge", "催办：已超期的审核任务，每个工作日一次", Task)
def urge(kind, app_id):
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    task = supervision.urge(services().engine, g.principal, app)
    return task_dict(task, app.case_no)


# -- reviewers ---------------------------------------------------------------------------------------
@endpoint("GET", "/inbox", "待办：待签收 / 我的待办 / 他人已签收 / 已办，带计数与筛选（键集分页）", Inbox,
          args=InboxArgs, location="query")
def inbox(args):
    flt = InboxFilter(process_key=args.get("process_key"), scope=args.get("scope"), applicant=args.get("applicant"),
                      date_from=args.get("date_from"), date_to=args.get("date_to"), due=args.get("due"),
                      sort=args["sort"])
    page = services().reviews.inbox(g.principal, args["view"], flt, args.get("cursor"), args["limit"])
    return {"items": [task_dict(t, t.case_no) for t in page.rows], "next_cursor": page.next_cursor,
            "counts": page.counts, "due_counts": page.due_counts}


@endpoint("GET", "/tasks/<bigid:task_id>", "审核任务及其申请", TaskDetail)
def task(task_id):
    return _task_detail(task_id)


def _task_detail(task_id, held=None) -> dict:
    """The task and its application; ``held``: the task as the gate of a claim or a release wrote it
    in this call (every column, RETURNING), so that it is not read again."""
    task, app = services().reviews.task(g.principal, task_id) if held is None \
        else services().reviews.offered(g.principal, held)
    svc = services().for_process(task.process_key)
    return {"task": task_dict(task, getattr(app, "case_no", None)),
            "application": application_dict(svc.entry.kind, svc, app) if app is not None and svc else None}


@endpoint("POST", "/tasks/<bigid:task_id>/claim", "签收", TaskDetail)
def claim(task_id):
    return _task_detail(task_id, held=services().reviews.claim(g.principal, task_id))


@endpoint("POST", "/tasks/<bigid:task_id>/release", "退回签收", TaskDetail)
def release(task_id):
    return _task_detail(task_id, held=services().reviews.release(g.principal, task_id))


@endpoint("POST", "/tasks/<bigid:task_id>/approve", "审核通过", Application, args=OpinionIn)
def approve(data, task_id):
    return _decided(services().reviews.approve(g.principal, task_id, data["opinion"]))


@endpoint("POST", "/tasks/<bigid:task_id>/return", "退回（须填写意见，可列补正事项）", Application, args=ReturnIn)
def return_(data, task_id):
    items = [corrections.Requested(i.get("field") or None, i["text"]) for i in data["items"]]
    return _decided(services().reviews.return_(g.principal, task_id, data["opinion"], items))


def _decided(app) -> dict:
    entry = catalog.entry_of(app)
    return application_dict(entry.kind, services().by_kind[entry.kind], app, known_open_task(app))
