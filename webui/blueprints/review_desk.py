"""The reviewer's desk (issue 12, features 6 and 7): 转办, 批量签收, 常用意见.

Routes under /review next to the task pages; every one is for regulators only and goes through
the review service, which re-checks the task's organisation and holder.
"""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine.errors import EngineError
from handlers.errors import DomainError
from handlers.models import AGENCY, AUTHORITY

from .. import services
from ..access import principal_required
from ..forms.review_desk import DeskForm, PhraseForm
from ..inputs import parse_id

bp = Blueprint("desk", __name__)


def task_extras(principal, task, is_holder: bool) -> dict:
    """What the task page adds for its holder: the approval's consequences (a dry run), the
    saved opinions and the colleagues a task can be handed to."""
    if not is_holder or task.state != "open":
        return {"preview": None, "phrases": [], "colleagues": [], "desk_form": DeskForm()}
    reviews = services().reviews
    return {"preview": reviews.approval_preview(principal, task.id), "phrases": reviews.phrases(principal),
            "colleagues": reviews.colleagues(principal), "desk_form": DeskForm()}


def after_decision(message: str):
    """After 审核通过 / 退回: straight on to the next open task, or back to the inbox."""
    next_id = services().reviews.next_task_id(g.principal)
    if next_id is None:
        flash(f"{message}。待办事项已全部处理", "success")
        return redirect(url_for("review.index"))
    flash(f"{message}，已为您打开下一个待办任务", "success")
    return redirect(url_for("review.task", task_id=next_id))


@bp.post("/task/<id:task_id>/transfer")
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
    ids = [i for i in (parse_id(v) for v in request.form.getlist("task_id")) if i is not None]
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
