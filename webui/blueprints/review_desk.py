"""The reviewer's desk (issue 12, features 6 and 7): 转办, 批量签收, 常用意见.

Routes under /review next to the task pages; every one is for regulators only and goes through
the review service, which re-checks the task's organisation and holder.
"""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine.errors import EngineError
from handlers.errors import DomainError
from handlers import catalog
from handlers.models import AGENCY, AUTHORITY
from handlers.preview import APPROVE_OUTCOME
from handlers.models import RATING_LEVELS
from handlers.ratings import RatingService
from handlers.statistics import STATUSES, review_stats

from .. import services
from ..access import principal_required
from ..forms.review_desk import DeskForm, PhraseForm
from ..charts import COLORS, horizontal_bars, stacked_bars
from ..filters import due_state, local_day
from ..inputs import MAX_BIG_ID, parse_id, year_arg
from ..xlsx import xlsx_response

bp = Blueprint("desk", __name__)


def task_extras(principal, task, app, is_holder: bool) -> dict:
    """What the task page adds for its holder: the approval's consequences (a dry run), the
    saved opinions and the colleagues a task can be handed to."""
    if not is_holder or task.state != "open":
        return {"preview": None, "phrases": [], "colleagues": [], "desk_form": DeskForm(),
                "approve_value": APPROVE_OUTCOME}
    reviews = services().reviews
    offers_approval = any(APPROVE_OUTCOME in dict(f.choices) for f in reviews.form_of(task).fields
                          if f.widget == "buttons")   # e.g. not a designer's 现场核查 step
    preview = reviews.approval_preview(principal, task.id, app) if offers_approval else None
    return {"preview": preview, "phrases": reviews.phrases(principal),
            "colleagues": reviews.colleagues(principal), "desk_form": DeskForm(), "approve_value": APPROVE_OUTCOME}


def after_decision(message: str):
    """After 审核通过 / 退回: straight on to the next open task, or back to the inbox."""
    next_id = services().reviews.next_task_id(g.principal)
    if next_id is None:
        flash(f"{message}。待办事项已全部处理", "success")
        return redirect(url_for("review.index"))
    flash(f"{message}，已为您打开下一个待办任务", "success")
    return redirect(url_for("review.task", task_id=next_id))


@bp.post("/task/<bigid:task_id>/transfer")
@principal_required(AGENCY, AUTHORITY)
def transfer(task_id):
    DeskForm().validate_on_submit() or abort(400)
    reviews = services().reviews
    reviews.task(g.principal, task_id)   # 404 for tasks the reviewer may not see
    to_user_id = parse_id(request.form.get("to_user_id"))
    try:
        task = reviews.transfer(g.principal, task_id, to_user_id, request.form.get("reason", ""))
    except (DomainError, EngineError) as exc:
        flash(exc.message, "error")
        return redirect(url_for("review.task", task_id=task_id))
    flash(f"已转办给{task.claimed_by_name}", "success")
    return redirect(url_for("review.index", view="mine"))


@bp.post("/claim-batch")
@principal_required(AGENCY, AUTHORITY)
def claim_batch():
    DeskForm().validate_on_submit() or abort(400)
    ids = [i for i in (parse_id(v, MAX_BIG_ID) for v in request.form.getlist("task_id")) if i is not None]
    if not ids:
        flash("请勾选要签收的任务", "error")
        return redirect(url_for("review.index", view="open"))
    result = services().reviews.claim_many(g.principal, ids)
    if result.claimed:
        flash(f"已签收 {len(result.claimed)} 个任务", "success")
    for refusal in result.refused:
        flash(f"未签收“{refusal.subject}”：{refusal.reason}", "error")
    return redirect(url_for("review.index", view="mine" if result.claimed else "open"))


@bp.get("/phrases")
@principal_required(AGENCY, AUTHORITY)
def phrases():
    return render_template("review/phrases.html", phrases=services().reviews.phrases(g.principal),
                           form=PhraseForm(), delete_form=DeskForm())


@bp.post("/phrases")
@principal_required(AGENCY, AUTHORITY)
def add_phrase():
    form = PhraseForm()
    if form.validate_on_submit():
        try:
            services().reviews.add_phrase(g.principal, form.text.data)
        except DomainError as exc:
            form.text.errors = [exc.message]
        else:
            flash("常用意见已保存", "success")
            return redirect(url_for(".phrases"))
    return render_template("review/phrases.html", phrases=services().reviews.phrases(g.principal),
                           form=form, delete_form=DeskForm()), 400


@bp.post("/phrases/<id:phrase_id>/delete")
@principal_required(AGENCY, AUTHORITY)
def delete_phrase(phrase_id):
    DeskForm().validate_on_submit() or abort(400)
    services().reviews.delete_phrase(g.principal, phrase_id)
    flash("常用意见已删除", "success")
    return redirect(url_for(".phrases"))


# -- 导出 and 统计 ---------------------------------------------------------------------------------
INBOX_COLUMNS = ["序号", "办件编号", "业务类型", "环节", "事项", "工程名称", "申请单位", "上报时间", "到期日", "时限", "待确认",
                 "状态", "签收/办理人", "办结时间"]


@bp.get("/export")
@principal_required(AGENCY, AUTHORITY)
def export_inbox():
    """The inbox view shown, with its filters, as an Excel file (every page, not only the one shown)."""
    from .review import OUTCOME_LABELS, VIEW_LABELS, inbox_filter
    view = request.args.get("view", "open")
    view = view if view in VIEW_LABELS else "open"
    _form, flt = inbox_filter()
    labels = process_labels()
    rows = services().reviews.export_rows(g.principal, view, flt)

    def lines():
        for n, t in enumerate(rows, 1):
            if t.state == "open":
                state = "待签收" if not t.claimed_by_user_id else "已签收"
            else:
                state = OUTCOME_LABELS.get(t.outcome, "已处理")
            due = due_state(t)
            # the due day the page shows (the last day), not the stored instant after it
            yield [n, t.case_no or "", labels.get(t.process_key, t.process_key), t.name, t.subject, t.scope,
                   t.applicant_name, t.created_at, local_day(t.due_at), due.label if due else "",
                   "是" if t.due_at and t.due_provisional else "", state,
                   t.completed_by_name or t.claimed_by_name or "", t.completed_at]
    stamp = local_now().strftime("%Y%m%d%H%M")
    return xlsx_response(f"{VIEW_LABELS[view]}-{stamp}.xlsx", VIEW_LABELS[view], INBOX_COLUMNS, lines())


@bp.get("/stats")
@principal_required(AGENCY, AUTHORITY)
def stats():
    this_year = local_now().year
    year = year_arg() or this_year
    if not 2000 <= year <= this_year + 1:
        year = this_year
    data = review_stats(g.principal, year)
    labels = process_labels()
    months = [f"{m}月" for m in range(1, 13)]
    monthly = stacked_bars(f"{year} 年每月收到的审核任务", months, [
        (STATUSES[key], key, [data.by_month.get(m, {}).get(key, 0) for m in range(1, 13)])
        for key in STATUSES])
    by_process = horizontal_bars("按业务类型", [(labels.get(k, k), sum(c.values()))
                                            for k, c in sorted(data.by_process.items(), key=lambda kv: kv[0])])
    return render_template("review/stats.html", data=data, year=year, years=range(this_year, this_year - 5, -1),
                           statuses=STATUSES, labels=labels, monthly=monthly, by_process=by_process,
                           colors=COLORS, ratings=RatingService.monthly(g.principal, year), levels=RATING_LEVELS)


RATING_COLUMNS = ["被评价单位", "月份", *RATING_LEVELS.values(), "合计", "差评", "满意率（%）"]


@bp.get("/stats/ratings.xlsx")
@principal_required(AGENCY, AUTHORITY)
def ratings_export():
    """好差评 per organisation and month of a year, as the 统计 page shows it (.xlsx)."""
    this_year = local_now().year
    year = year_arg() or this_year
    if not 2000 <= year <= this_year + 1:
        year = this_year
    rows = RatingService.monthly(g.principal, year)
    lines = ([r["org"], f"{year}-{r['month']:02d}", *(r[k] for k in RATING_LEVELS), r["total"], r["bad"],
              r["satisfied_rate"]] for r in rows)
    return xlsx_response(f"好差评-{year}.xlsx", "好差评", RATING_COLUMNS, lines)


def process_labels() -> dict:
    return catalog.titles()


def local_now():
    from datetime import datetime, timedelta, timezone
    return datetime.now(timezone(timedelta(hours=8)))
