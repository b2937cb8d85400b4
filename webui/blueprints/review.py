"""The regulators' side (5): the review inbox and the task page with claim, release and the task's form.

Any user task offered to regulators is served here; its form is the task's form file (the
shipped 审核 with 审核通过 / 退回, or a designer's step such as 现场核查).
"""
from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine.case_numbers import normalise
from engine.errors import EngineError
from engine.inbox import DUE_FILTERS, InboxFilter
from handlers import catalog, corrections
from handlers.deadlines import late_filing_days
from handlers import supervision as oversight
from handlers.errors import DomainError, Forbidden, NotFound
from handlers.models import AGENCY, APPLICATION_STATUS, APPROVED, AUTHORITY, PLATFORM

from .. import services
from ..access import principal_required
from ..form_builder import form_class
from ..forms.review import ActionForm, InboxFilterForm
from ..inputs import count_arg, cursor_arg
from ..writes import reads_then_writes
from .review_desk import after_decision, task_extras

bp = Blueprint("review", __name__)

VIEW_LABELS = {"open": "待签收", "mine": "我的待办", "held": "他人已签收", "done": "已办"}
OUTCOME_LABELS = {"approve": "审核通过", "return": "退回", "withdraw": "申请人已撤回"}
DONE_MESSAGES = {"return": "已退回"}   # the flash after an outcome, when not its label
PAGE_SIZE = 20
TASK_TARGETS = ("workflow", "log")   # what a reviewer's form submits (not the application's columns)


@bp.get("/")
@principal_required(AGENCY, AUTHORITY, PLATFORM)
def index():
    view = request.args.get("view", "open")
    if view not in VIEW_LABELS:
        view = "open"
    form, flt = inbox_filter()
    cursor = cursor_arg()
    page = services().reviews.inbox(g.principal, view, flt, cursor, PAGE_SIZE)
    filters = {k: v for k, v in request.args.items() if k in form._fields and v}
    start = count_arg("n")
    return render_template("review/index.html", view=view, views=VIEW_LABELS, page=page, form=form,
                           filters=filters, process_labels=catalog.titles(), outcome_labels=OUTCOME_LABELS,
                           start=start, page_size=PAGE_SIZE)


def inbox_filter():
    """The inbox's filter form read from the query string, and the filter it means (bad values ignored)."""
    form = InboxFilterForm(formdata=request.args)
    form.validate()
    return form, InboxFilter(
        process_key=form.process_key.data if catalog.by_key(form.process_key.data or "") else None,
        scope=(form.scope.data or "").strip() or None,
        applicant=(form.applicant.data or "").strip() or None,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
        due=form.due.data if form.due.data in DUE_FILTERS else None,
        sort="due" if form.sort.data == "due" else "new",
        case_no=normalise(form.case_no.data) or None,
    )


@bp.get("/supervision")
@principal_required(AUTHORITY)
def supervision():
    """督办: the competent authority's overdue tasks, whoever holds them."""
    tasks = services().reviews.overdue(g.principal)
    return render_template("review/supervision.html", tasks=tasks, process_labels=catalog.titles())


@bp.get("/task/<bigid:task_id>")
@principal_required(AGENCY, AUTHORITY, PLATFORM)
def task(task_id):
    reviews = services().reviews
    task, app = reviews.task(g.principal, task_id)
    if app is None:
        raise NotFound("任务不存在或无权访问")
    service, entry = reviews.service_for(task), catalog.by_key(task.process_key)
    task_form = form_class(reviews.form_of(task), TASK_TARGETS)(formdata=None)
    # the holder's extras first: the approval preview's rehearsal is rolled back, which expires what
    # it changed (on SQLite, a transaction of its own: everything loaded before it), so what the page
    # reads next (the log, the attachments, the diagram's tasks) is read once
    is_holder = task.claimed_by_user_id == g.principal.user_id
    extras = task_extras(g.principal, task, app, is_holder)
    diagram, clock = service.progress(app)
    corr = reviews.correction_choices(task, app) if service.form is not None else None
    return render_template("review/task.html", task=task, app=app, kind=entry.kind, entry=entry, corr=corr,
                           free_rows=FREE_ROWS, history=corr["history"] if corr else [],
                           log=service.operation_log(app), attachments=service.attachments(app),
                           attachment_labels=service.attachment_labels(), diagram=diagram,
                           clock=clock, late_days=late_filing_days(app),
                           process_label=entry.title, status_label=app.status_label,
                           outcome_labels=OUTCOME_LABELS, action_form=ActionForm(), task_form=task_form,
                           is_holder=is_holder,
                           certificates=services().certificates.of_instance(app.instance_id)
                           if app.status == APPROVED else [],
                           can_supervise=oversight.can_supervise(g.principal, task),
                           **extras)


@bp.post("/task/<bigid:task_id>/supervise")
@principal_required(AUTHORITY)
def supervise(task_id):
    """督办 an overdue task: 督办意见, a new due date or 督办留言 to the holder."""
    ActionForm().validate_on_submit() or _csrf_fail()
    action = request.form.get("action", "")
    new_due = None
    if action == "due":
        try:
            new_due = date.fromisoformat((request.form.get("due") or "").strip())
        except ValueError:
            flash("新的办理期限：请选择有效的日期", "error")
            return redirect(url_for("review.task", task_id=task_id) + "#supervise")
    try:
        oversight.supervise(services().engine, g.principal, task_id, action, request.form.get("text", ""), new_due)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except (DomainError, EngineError) as e:
        flash(e.message, "error")
    else:
        flash(SUPERVISED.get(action, "已督办"), "success")
    return redirect(url_for("review.task", task_id=task_id) + "#supervise")


SUPERVISED = {"note": "督办意见已记录，办理人员将收到消息", "due": "办理期限已调整，办理人员将收到消息",
              "message": "督办留言已发送给办理人"}


def _act(task_id, do, success, then=None):
    """Run one task command; domain/engine refusals become a flash (not-found/forbidden are error pages)."""
    try:
        do()
    except (DomainError, EngineError) as e:
        flash(e.message, "error")
    else:
        if then is not None:
            return then(success)
        flash(success, "success")
    return redirect(url_for("review.task", task_id=task_id))


@bp.post("/task/<bigid:task_id>/claim")
@principal_required(AGENCY, AUTHORITY, PLATFORM)
def claim(task_id):
    ActionForm().validate_on_submit() or _csrf_fail()
    return _act(task_id, lambda: services().reviews.claim(g.principal, task_id), "签收成功")


@bp.post("/task/<bigid:task_id>/release")
@principal_required(AGENCY, AUTHORITY, PLATFORM)
def release(task_id):
    ActionForm().validate_on_submit() or _csrf_fail()
    return _act(task_id, lambda: services().reviews.release(g.principal, task_id), "已退回签收，其他审核人员可以签收")


@bp.post("/task/<bigid:task_id>/decide")
@principal_required(AGENCY, AUTHORITY, PLATFORM)
@reads_then_writes   # the task and its application, read here, are what the decision's command uses
def decide(task_id):
    """Submit the task's form: its file says the fields, the outcome and what goes to the log."""
    reviews = services().reviews
    task, _app = reviews.task(g.principal, task_id)   # 404 for tasks the reviewer may not see
    form = form_class(reviews.form_of(task), TASK_TARGETS)()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(url_for("review.task", task_id=task_id))
    outcome = form.spec.field(form.spec.outcome) if form.spec.outcome else None
    value = form.values().get(outcome.name) if outcome else None
    try:
        items = returned_items(reviews, task, _app) if value == RETURN else []
    except DomainError as e:
        flash(e.message, "error")
        return redirect(url_for("review.task", task_id=task_id))
    return _act(task_id, lambda: reviews.submit(g.principal, task_id, form.values(), form.uploads(), items=items,
                                                seen=(task, _app)),
                done_message(task, outcome, value), after_decision)


RETURN = "return"
FREE_ROWS = 3   # blank rows for free items on the return checklist (the page can add more)


def returned_items(reviews, task, app) -> list[corrections.Requested]:
    """The return's items as the checklist posted them, in the page's order: the previous notice's
    items asked again (corr_prev: item ids), the step's common items ticked (corr_check: their
    position), then the rows written by hand (corr_field_N / corr_text_N)."""
    if reviews.service_for(task).form is None:
        return []
    choices = reviews.correction_choices(task, app)
    items = []
    previous = {str(i.id): i for i in choices["previous"]}
    for value in request.form.getlist("corr_prev"):
        if value not in previous:
            raise DomainError("补正事项：所选的上次事项不存在，请刷新后重试")
        items.append(corrections.Requested(previous[value].field, previous[value].text))
    checklist = choices["checklist"]
    for value in request.form.getlist("corr_check"):
        if not value.isdigit() or not 0 <= int(value) < len(checklist):
            raise DomainError("补正事项：所选的常见事项不存在，请刷新后重试")
        item = checklist[int(value)]
        items.append(corrections.Requested(item.field, item.text))
    rows = sorted({int(k[len("corr_text_"):]) for k in request.form if k.startswith("corr_text_")
                   and k[len("corr_text_"):].isdigit() and len(k) < 20})
    for n in rows:
        text = (request.form.get(f"corr_text_{n}") or "").strip()
        field = (request.form.get(f"corr_field_{n}") or "").strip() or None
        if text:
            items.append(corrections.Requested(field, text))
        elif field:
            raise DomainError("补正事项：已选择字段，请填写需补正的内容", "corrections")
    return items


def done_message(task, outcome, value) -> str:
    """The flash after a step: 审核通过 / 已退回 for the review's own choices; for a designer's step
    (a 现场核查) its name and its outcome, e.g. 现场核查已提交（结论：符合）."""
    if value in OUTCOME_LABELS:
        return DONE_MESSAGES.get(value) or OUTCOME_LABELS[value]
    label = outcome.label_of(value) if outcome and value else ""
    return f"{task.name}已提交" + (f"（{outcome.title}：{label}）" if label else "")


def _csrf_fail():
    from flask import abort
    abort(400)
