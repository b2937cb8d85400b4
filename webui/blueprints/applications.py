"""The applicant's pages of every catalogued process (handlers.catalog): list, 添加, detail.

One blueprint, parameterised by the entry's kind; what differs between processes is data
(the entry's columns and summary, its edit form file). Every POST redirects (PRG); business
refusals are flashed, form errors re-render the page with the posted values (400).
"""
import io
import math
import unicodedata
from functools import wraps
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, send_file, url_for

from engine.errors import EngineError
from handlers.database import key_of
from handlers.deadlines import late_filing_days
from handlers.errors import DomainError, FieldErrors, Forbidden, NotFound
from handlers.models import APPLICATION_STATUS, APPROVED, DISCARDED, DRAFT, REPORTED, RETURNED, WITHDRAWN
from handlers.processes import RECHECK_FAILED, RECHECK_PREFIX
from handlers.applicant_preview import applicant_preview
from handlers import corrections
from handlers.catalog import without_full_stop
from handlers.reviews import RETURN_ACTION
from handlers import supervision
from handlers.models import RATING_LEVELS
from handlers.ratings import RATEABLE, RatingService
from handlers.supervision import overdue_review_task, urged_today

from .. import services
from ..access import principal_required
from ..filters import mask_id
from ..form_builder import form_class
from ..forms_apply import ActionForm, PickForm
from ..inputs import id_arg, page_arg, text_arg
from ..writes import reads_then_writes
from ..xlsx import xlsx_response

bp = Blueprint("apps", __name__)

PER_PAGE = 20


# -- plumbing ------------------------------------------------------------------------------
def domain_errors(view):
    """NotFound -> 404, Forbidden -> 403 (through the application's error pages)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except NotFound:
            abort(404)
        except Forbidden:
            abort(403)
    return wrapper


def _service(kind, own=True):
    svc = services().by_kind.get(kind)
    if svc is None:
        abort(404)
    if own and g.principal.kind not in svc.allowed_kinds:
        abort(403)
    return svc


def _edit_form(svc, posted=True):
    """The entry's edit form file as a WTForms form (application fields and file slots)."""
    cls = form_class(svc.form, ("application",))
    return cls() if posted else cls(formdata=None)


def _recheck_reason(message: str | None) -> str:
    return without_full_stop((message or "").removeprefix(RECHECK_PREFIX)) or "无"


def _next_step(svc, app, log) -> str:
    authority, agency = svc.regulators(app)
    regulators = f"{authority.name} 和 {agency.name}"
    if app.status == DRAFT:
        return f"草稿：填写完成后点击“上报”，将上报至 {regulators} 审核。"
    if app.status == REPORTED:
        task = svc.open_task(app)
        if task is None:
            return f"已上报至 {regulators}，等待审核。"
        # whom the step is really offered to, and which step it is (审核, 现场核查, …)
        offered = " 和 ".join(org.name for org in svc.offered_to(app, task))
        text = f"已上报至 {offered}，等待{task.name}"
        if task.claimed_by_name:
            text += f"（{task.claimed_by_org_name} {task.claimed_by_name} 已签收，正在{task.name}）"
        return text + "。"
    if app.status == RETURNED:
        # why it came back last: a reviewer's 退回 with their opinion, or the system's failed re-check
        back = next((e for e in reversed(log) if e.action in (RETURN_ACTION, RECHECK_FAILED)), None)
        if back is not None and back.action == RECHECK_FAILED:
            return f"已退回，系统复核未通过：{_recheck_reason(back.opinion)}。请修改后重新上报，或撤回。"
        opinion = without_full_stop(back.opinion) if back is not None else ""
        return f"已退回，审核意见：{opinion or '无'}。请修改后重新上报，或撤回。"
    if app.status == APPROVED:
        return "已办结。"
    if app.status == WITHDRAWN:
        return "已撤回。"
    if app.status == DISCARDED:
        return "草稿已作废。"
    return app.status_label


# -- list and 添加 ---------------------------------------------------------------------------
@bp.get("/<kind>/")
@principal_required()
@domain_errors
def index(kind):
    svc = _service(kind)
    page = page_arg()
    status = request.args.get("status") if request.args.get("status") in APPLICATION_STATUS else None
    q = text_arg("q", 30)
    rows, total = svc.list_rows(g.principal, page=page, per_page=PER_PAGE, status=status, case_no=q)
    return render_template("apps/index.html", kind=kind, entry=svc.entry, rows=rows, total=total, page=page,
                           status=status, statuses=APPLICATION_STATUS, q=q or "",
                           pages=max(1, math.ceil(total / PER_PAGE)), offset=(page - 1) * PER_PAGE,
                           picks=svc.pick_page(g.principal))


@bp.get("/<kind>/export")
@principal_required()
@domain_errors
def export(kind):
    """The list shown (its status tab applied), every page of it, as an Excel file."""
    svc = _service(kind)
    status = request.args.get("status") if request.args.get("status") in APPLICATION_STATUS else None
    columns = svc.entry.columns
    headers = ["序号", "办件编号", *[c.label for c in columns], "上报时间", "状态"]

    def lines():
        n, page = 0, 1
        while True:
            rows, _total = svc.list_rows(g.principal, page=page, per_page=EXPORT_PAGE, status=status)
            for app in rows:
                n += 1
                yield [n, app.case_no or "", *[_export_value(c, app) for c in columns], app.reported_at, app.status_label]
            if len(rows) < EXPORT_PAGE:
                return
            page += 1
    title = svc.entry.title + (f"（{APPLICATION_STATUS[status]}）" if status else "")
    return xlsx_response(f"{title}.xlsx", svc.entry.title, headers, lines())


EXPORT_PAGE = 1000


def _export_value(column, app):
    value = column.value(app)
    return mask_id(value) if column.fmt == "mask_id" else value


@bp.get("/<kind>/new")
@principal_required()
@domain_errors
def new(kind):
    """添加: the picker as a page (without script), or, with ``partial``, one page of its search
    results for the dialog's search box."""
    svc = _service(kind)
    picks = svc.pick_page(g.principal, text_arg("q", 30) or "", page_arg())
    if request.args.get("partial"):
        return render_template("apps/_pick_results.html", kind=kind, entry=svc.entry, picks=picks)
    return render_template("apps/new.html", kind=kind, entry=svc.entry, picks=picks)


@bp.post("/<kind>/new")
@principal_required()
@domain_errors
def create(kind):
    svc = _service(kind)
    form = PickForm()
    if not form.validate_on_submit():
        flash("请选择一项后再点击确定" if "target_id" in form.errors else "页面已过期，请刷新后重试", "error")
        return redirect(url_for(".new", kind=kind))
    try:
        app = svc.create(g.principal, form.target_id.data)
    except NotFound as exc:
        flash(exc.message, "error")
        return redirect(url_for(".new", kind=kind))
    except (DomainError, EngineError) as exc:
        flash(exc.message, "error")
        return redirect(url_for(".index", kind=kind))
    return redirect(url_for(".detail", kind=kind, app_id=key_of(app)))


# -- detail and save --------------------------------------------------------------------------
def _render_detail(kind, svc, app, form=None, errors=None, status=200):
    editable = app.is_editable and app.applicant_org_id == g.principal.org_id
    if form is None:
        form = _edit_form(svc, posted=False)
        form.fill(app)
    widgets = {}
    if editable and hasattr(svc, "widget_context"):
        widgets = svc.widget_context(g.principal, app)   # what a process's own field partial needs
    # the preview first: its rehearsal is rolled back, which expires what it changed (on SQLite, a
    # transaction of its own: everything loaded before it), so what the page reads next is read once
    preview = applicant_preview(services().engine, app, g.principal) if editable else None
    log = svc.operation_log(app)
    diagram, clock = svc.progress(app, svc.diagram_view(g.principal, app))
    return render_template(
        "apps/detail.html", kind=kind, entry=svc.entry, app=app, form=form, errors=errors or {},
        editable=editable, can_edit=editable, log=log, attachments=svc.attachments(app),
        attachment_labels=svc.attachment_labels(), next_step=_next_step(svc, app, log), widgets=widgets,
        action_form=ActionForm(), diagram=diagram, clock=clock, late_days=late_filing_days(app),
        corr_items=svc.correction_items(app) if editable else [], history=corrections.history(app.instance_id) if app.reported_at else [],
        can_withdraw=svc.can_withdraw(app) and app.applicant_org_id == g.principal.org_id,
        can_discard=app.status == DRAFT and app.applicant_org_id == g.principal.org_id,
        certificates=services().certificates.of_instance(app.instance_id) if app.status == APPROVED else [],
        preview=preview,
        rating=RatingService(services().engine).view(g.principal, app) if app.status in RATEABLE else None,
        rating_levels=RATING_LEVELS,
        **_urge_context(app)), status


def _urge_context(app) -> dict:
    """催办: offered on the applicant's own case while a step others work is past its due."""
    mine = app.applicant_org_id == g.principal.org_id
    task = overdue_review_task(app) if mine and app.status == REPORTED else None   # reviewed: 待审核
    return {"urge_task": task, "urged_today": task is not None and urged_today(task.id)}


@bp.get("/<kind>/<bigid:app_id>")
@principal_required()
@domain_errors
def detail(kind, app_id):
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    return _render_detail(kind, svc, app)


@bp.post("/<kind>/<bigid:app_id>")
@principal_required()
@domain_errors
@reads_then_writes   # the application, read here, is what the save's command changes
def save(kind, app_id):
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    form = _edit_form(svc)
    if not form.validate_on_submit():
        errors = {"_": "页面已过期，请刷新后重试"} if "csrf_token" in form.errors else \
            {name: msgs[0] for name, msgs in form.errors.items()}
        return _render_detail(kind, svc, app, form, errors, 400)
    try:
        svc.save(g.principal, app_id, form.values(), form.uploads(), _answers())
    except DomainError as exc:
        app = svc.get_own(g.principal, app_id)   # the failed command rolled back
        return _render_detail(kind, svc, app, form, _page_errors(exc), 400)
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", kind=kind, app_id=app_id))
    # one rule for every process, as the manual describes it: saved, back to the list, where 上报 is
    flash(SAVED_MESSAGE, "success")
    return redirect(url_for(".index", kind=kind))


def _answers() -> dict[int, tuple[str, str]]:
    """The answers to a correction notice's items posted with the form: item id -> (kind, text)."""
    found = {}
    for key in request.form:
        if key.startswith("answer_kind_") and key[len("answer_kind_"):].isdigit() and len(key) < 40:
            item_id = int(key[len("answer_kind_"):])
            found[item_id] = (request.form.get(key, ""), request.form.get(f"answer_text_{item_id}", ""))
    return found


SAVED_MESSAGE = "已暂存。可点击操作中的“上报”提交审核，或点击“编辑”继续填写。"


def _page_errors(exc: DomainError) -> dict:
    """A refusal as the page shows it: each message under its field ("_": the banner above the form)."""
    errors = dict(exc.errors) if isinstance(exc, FieldErrors) else {exc.field or "_": exc.message}
    fields = [name for name in errors if name != "_"]
    if "_" not in errors:
        errors["_"] = exc.message if len(fields) == 1 else f"有 {len(fields)} 项需要修改，请查看标红的字段后重新提交"
    return errors


def _command(kind, app_id, command, done_message, back=None):
    svc = _service(kind)
    form = ActionForm()
    back = back or (url_for(".index", kind=kind) if request.form.get("back") == "list"
                    else url_for(".detail", kind=kind, app_id=app_id))
    if not form.validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return redirect(back)
    try:
        getattr(svc, command)(g.principal, app_id)
    except (DomainError, EngineError) as exc:
        flash(exc.message, "error")
        return redirect(back)
    flash(done_message, "success")
    return redirect(back)


@bp.post("/<kind>/<bigid:app_id>/report")
@principal_required()
@domain_errors
def report(kind, app_id):
    """上报. From the detail page it carries the form (``edit``): what the form shows is saved and
    reported in one command, or refused with every error and the edits kept. From the list it
    reports what was saved."""
    if request.form.get("edit") != "1":
        return _command(kind, app_id, "report", REPORTED_MESSAGE)
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    form = _edit_form(svc)
    if not form.validate_on_submit():
        errors = {"_": "页面已过期，请刷新后重试"} if "csrf_token" in form.errors else \
            {name: msgs[0] for name, msgs in form.errors.items()}
        return _render_detail(kind, svc, app, form, errors, 400)
    try:
        svc.report(g.principal, app_id, form.values(), form.uploads(), _answers())
    except DomainError as exc:
        app = svc.get_own(g.principal, app_id)   # the failed command rolled back: nothing was kept
        return _render_detail(kind, svc, app, form, _page_errors(exc), 400)
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", kind=kind, app_id=app_id))
    flash(REPORTED_MESSAGE, "success")
    return redirect(url_for(".detail", kind=kind, app_id=app_id))


REPORTED_MESSAGE = "已上报，等待主管部门和监督机构审核"


@bp.post("/<kind>/<bigid:app_id>/rating")
@principal_required()
@domain_errors
def rate(kind, app_id):
    """好差评: the applicant organisation's one rating of the ended case."""
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    return _rating_command(kind, app_id, lambda: RatingService(services().engine).rate(
        g.principal, app, request.form.get("level", ""), request.form.get("comment", "")), "评价已提交，感谢您的评价")


@bp.post("/<kind>/<bigid:app_id>/rating/add")
@principal_required()
@domain_errors
def add_rating(kind, app_id):
    """追评: appended to the rating's comment."""
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    return _rating_command(kind, app_id, lambda: RatingService(services().engine).add(
        g.principal, app, request.form.get("text", "")), "追加评价已提交")


@bp.post("/<kind>/<bigid:app_id>/urge")
@principal_required()
@domain_errors
def urge(kind, app_id):
    """催办: an overdue task of the applicant's own case, once per working day."""
    svc = _service(kind)
    app = svc.get_own(g.principal, app_id)
    return _rating_command(kind, app_id, lambda: supervision.urge(services().engine, g.principal, app),
                           "已催办，审核人员将收到催办消息")


def _rating_command(kind, app_id, do, done_message):
    if not ActionForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
    else:
        try:
            do()
        except (DomainError, EngineError) as exc:
            flash(exc.message, "error")
        else:
            flash(done_message, "success")
    return redirect(url_for(".detail", kind=kind, app_id=app_id) + "#rating")


@bp.post("/<kind>/<bigid:app_id>/withdraw")
@principal_required()
@domain_errors
def withdraw(kind, app_id):
    return _command(kind, app_id, "withdraw", "已撤回")


@bp.post("/<kind>/<bigid:app_id>/discard")
@principal_required()
@domain_errors
def discard(kind, app_id):
    """作废 a draft: the list is where the applicant goes on (the draft is no longer work to do)."""
    return _command(kind, app_id, "discard", "草稿已作废", back=url_for(".index", kind=kind))


@bp.get("/change/<bigid:app_id>/check")
@principal_required()
@domain_errors
def check_replacement(app_id):
    svc = _service("change")
    person_id = id_arg("person_id")
    if person_id is None:
        return jsonify(ok=False, message="请选择变更后人员")
    problem = svc.check_replacement(g.principal, app_id, person_id)
    return jsonify(ok=problem is None, message=problem or "")


# -- the 补正材料通知书 -------------------------------------------------------------------------
@bp.get("/<kind>/<bigid:app_id>/notice/<id:round_>.pdf")
@principal_required()
@domain_errors
def notice_pdf(kind, app_id, round_):
    """The printed correction notice of one return: the applicant and the case's reviewers only."""
    from handlers.pdf import FontMissing
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)   # applicant, the project's regulators once reported, admin
    notice = corrections.notice(app.instance_id, round_) if app.instance_id is not None else None
    if notice is None:
        abort(404)
    try:
        data = corrections.notice_pdf(app, svc.entry.title, notice, corrections.items_of(notice))
    except FontMissing as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", kind=kind, app_id=app_id) if app.applicant_org_id == g.principal.org_id
                        else url_for("review.index"))
    resp = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=False, max_age=0,
                     download_name=f"补正材料通知书-{app.case_no or app.id}-{round_}.pdf")
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# -- attachments ------------------------------------------------------------------------------
@bp.get("/<kind>/<bigid:app_id>/files/<id:att_id>")
@principal_required()
@domain_errors
def download(kind, app_id, att_id):
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)   # applicant, the project's regulators once reported, admin
    att = next((a for a in svc.attachments(app) if a.id == att_id), None)
    if att is None:
        abort(404)
    resp = _file_response(att, as_attachment=True)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/<kind>/<bigid:app_id>/files/<id:att_id>/view")
@principal_required()
@domain_errors
def view_attachment(kind, app_id, att_id):
    """A PDF or an image shown inline (the page's viewer frames it); anything else is downloaded."""
    svc = _service(kind, own=False)
    app = svc.get(g.principal, app_id)
    att = next((a for a in svc.attachments(app) if a.id == att_id), None)
    if att is None:
        abort(404)
    if att.content_type not in INLINE_TYPES:
        return redirect(url_for(".download", kind=kind, app_id=app_id, att_id=att_id))
    resp = _file_response(att, as_attachment=False)
    resp.headers.update(INLINE_HEADERS)
    return resp


def _file_response(att, as_attachment: bool) -> Response:
    """The attachment's bytes streamed from the attachment store as they are read (chunks), named
    as uploaded; its SHA-256 is the ETag, and ranges are served (a PDF viewer may ask for them)."""
    blob = services().uploads.open(att.sha256)
    if blob is None:
        abort(404)
    resp = Response(blob.chunks, mimetype=att.content_type, direct_passthrough=True)
    resp.content_length = blob.size
    try:
        att.filename.encode("ascii")
        names = {"filename": att.filename}
    except UnicodeEncodeError:   # as Werkzeug's send_file: an ASCII fallback and the RFC 5987 name
        names = {"filename": unicodedata.normalize("NFKD", att.filename).encode("ascii", "ignore").decode("ascii"),
                 "filename*": "UTF-8''" + quote(att.filename, safe="!#$&+-.^_`|~")}
    resp.headers.set("Content-Disposition", "attachment" if as_attachment else "inline", **names)
    resp.set_etag(att.sha256)
    return resp.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)


# what the in-page viewer shows without downloading; SVG is not among them (it can carry script)
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
DISCARD_QUESTION = "确定作废该草稿？作废后不能再编辑或上报，可重新添加。"


@bp.context_processor
def _questions():
    return {"discard_question": DISCARD_QUESTION}


@bp.app_context_processor
def _inline_types():
    return {"inline_types": INLINE_TYPES}


INLINE_HEADERS = {
    # this response alone may be framed, and by the application's own pages only
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                               "object-src 'self'; frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}


@bp.post("/<kind>/<bigid:app_id>/files/<id:att_id>/delete")
@principal_required()
@domain_errors
def delete_attachment(kind, app_id, att_id):
    svc = _service(kind)
    back = url_for(".detail", kind=kind, app_id=app_id)
    if not ActionForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return redirect(back)
    try:
        svc.remove_attachment(g.principal, app_id, att_id)
    except (DomainError, EngineError) as exc:
        flash(exc.message, "error")
        return redirect(back)
    flash("附件已删除", "success")
    return redirect(back)
