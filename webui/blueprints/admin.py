"""Platform administration: registrations (reviewed from the 待办 inbox), accounts, the process definitions / incidents."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine import calendar_store, workcalendar
from engine.errors import EngineError
from handlers import accounts
from handlers import ratings as rating_settings
from handlers.errors import DomainError
from handlers.models import ACCOUNT_ROLES, ACCOUNT_STATUS, ORG_KINDS, PLATFORM

from .. import services
from ..access import principal_required
from ..inputs import page_arg, text_arg, year_arg
from ..forms.admin import (
    ApproveForm, CalendarDayForm, CalendarImportForm, CalendarRemoveForm, CalendarYearForm, RetryForm,
)

bp = Blueprint("admin", __name__)
SCHEDULE_FILE_MAX = 64 * 1024


@bp.context_processor
def _calendar_warning():
    """From November every admin page warns when next year's holiday schedule is missing."""
    year = calendar_store.missing_next_year(workcalendar.today())
    return {"calendar_warning": year}


@bp.get("/")
@principal_required(PLATFORM)
def index():
    return redirect(url_for("admin.registrations"))


@bp.get("/registrations")
@principal_required(PLATFORM)
def registrations():
    """注册审核: submissions under review (worked from the 待办 inbox) and the decided ones."""
    regs = services().registration
    return render_template("admin/registrations.html", pending=regs.pending(g.principal),
                           history=regs.history(g.principal), kinds=ORG_KINDS)


ACCOUNTS_PER_PAGE = 20


@bp.get("/accounts")
@principal_required(PLATFORM)
def account_list():
    """账号管理: approved accounts, searched and paged, with 停用 / 启用, 重置密码 and 变更角色; below,
    the action log of every change."""
    return _accounts_page()


def _accounts_page(temporary=None, status=200):
    query = text_arg("q") or ""
    page = accounts.accounts_for_admin(g.principal, query, page_arg(), ACCOUNTS_PER_PAGE)
    return render_template("admin/accounts.html", page=page, query=query, kinds=ORG_KINDS, statuses=ACCOUNT_STATUS,
                           roles=ACCOUNT_ROLES, form=ApproveForm(), current_id=g.principal.account_id,
                           log=accounts.admin_actions(g.principal), action_labels=accounts.ADMIN_ACTIONS,
                           temporary=temporary), status


@bp.post("/accounts/<id:account_id>/disable")
@principal_required(PLATFORM)
def disable_account(account_id):
    return _set_disabled(account_id, True)


@bp.post("/accounts/<id:account_id>/enable")
@principal_required(PLATFORM)
def enable_account(account_id):
    return _set_disabled(account_id, False)


def _back():
    """To the list as it was (search and page), from the form's hidden fields."""
    return redirect(url_for("admin.account_list", q=request.form.get("q") or None,
                            page=request.form.get("page") if (request.form.get("page") or "").isdigit() else None))


def _set_disabled(account_id, disabled):
    if ApproveForm().validate_on_submit():
        try:
            account = accounts.set_account_disabled(g.principal, account_id, disabled)
        except DomainError as e:
            flash(e.message, "error")
        else:
            who = f"{account.org.name}（{account.user.username}）"
            flash(f"已停用 {who} 的账号，其登录会话已全部结束" if disabled else f"已启用 {who} 的账号", "success")
    return _back()


@bp.post("/accounts/<id:account_id>/reset-password")
@principal_required(PLATFORM)
def reset_password(account_id):
    """重置密码: the temporary password is shown once, on this answer only (never put in a cookie)."""
    if not ApproveForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return _back()
    try:
        account, temporary = accounts.admin_reset_password(g.principal, account_id)
    except DomainError as e:
        flash(e.message, "error")
        return _back()
    return _accounts_page(temporary=(account, temporary))


@bp.post("/accounts/<id:account_id>/role")
@principal_required(PLATFORM)
def change_role(account_id):
    if ApproveForm().validate_on_submit():
        try:
            account = accounts.change_account_role(g.principal, account_id, request.form.get("role", ""))
        except DomainError as e:
            flash(e.message, "error")
        else:
            flash(f"已将 {account.org.name}（{account.user.username}）的角色变更为{account.role_label}", "success")
    return _back()


@bp.get("/definitions")
@principal_required(PLATFORM)
def definitions():
    operations = services().operations
    return render_template("admin/definitions.html", definitions=operations.definitions(g.principal),
                           errored=operations.incidents(g.principal), retry_form=RetryForm(),
                           failed_jobs=operations.failed_jobs(g.principal))


@bp.get("/definitions/<id:definition_id>")
@principal_required(PLATFORM)
def definition(definition_id):
    detail = services().operations.definition(g.principal, definition_id)
    return render_template("admin/definition.html", d=detail.definition, by_status=detail.by_status,
                           diagram=detail.diagram)


@bp.post("/instances/<bigid:instance_id>/retry")
@principal_required(PLATFORM)
def retry(instance_id):
    form = RetryForm()
    if form.validate_on_submit():
        try:
            result = services().operations.retry(g.principal, instance_id)
        except (EngineError, DomainError) as e:
            flash(e.message, "error")
        else:
            if result.incident:
                flash(f"重试后仍然出错：{result.incident}", "error")
            else:
                flash("重试成功", "success")
    return redirect(url_for("admin.definitions"))


@bp.post("/jobs/<bigid:job_id>/retry")
@principal_required(PLATFORM)
def retry_job(job_id):
    """A failed job (an incident) runs again at the worker's next round, with its attempts reset."""
    if RetryForm().validate_on_submit():
        ok = services().operations.retry_job(g.principal, job_id)
        flash("作业已重新排队，将由后台任务执行器重新执行" if ok else "该作业不是失败状态，无需重试",
              "success" if ok else "error")
    return redirect(url_for("admin.definitions"))


# -- 好差评 settings --------------------------------------------------------------------------------
@bp.route("/ratings", methods=["GET", "POST"])
@principal_required(PLATFORM)
def ratings():
    """好差评设置: the period of the 整改 a 差评 opens (working days)."""
    form = RetryForm()   # CSRF only
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("页面已过期，请刷新后重试", "error")
        else:
            try:
                days = rating_settings.set_rectification_days(g.principal, request.form.get("days", ""))
            except DomainError as e:
                flash(e.message, "error")
                return render_template("admin/ratings.html", form=form, days=request.form.get("days", ""),
                                       setting=rating_settings.period_setting(), error=e.message), 400
            flash(f"整改期限已设为 {days} 个工作日，此后的差评按此期限办理", "success")
        return redirect(url_for("admin.ratings"))
    return render_template("admin/ratings.html", form=form, days=rating_settings.rectification_days(),
                           setting=rating_settings.period_setting(), error=None)


# -- the working-day calendar ----------------------------------------------------------------------
@bp.get("/calendar")
@principal_required(PLATFORM)
def calendar():
    year = year_arg() or workcalendar.today().year
    if not 2000 <= year <= 2100:
        abort(404)
    cal = workcalendar.current()
    source = ("管理员录入" if year in cal.scheduled_years else "法定（chinese-calendar）" if year in cal.library_years
              else None)
    return render_template("admin/calendar.html", year=year, days=cal.year_days(year), source=source,
                           info=calendar_store.year_info(year), day_form=CalendarDayForm(),
                           remove_form=CalendarRemoveForm(), import_form=CalendarImportForm(),
                           year_form=CalendarYearForm())


def _calendar_action(year, do, success):
    try:
        result = do()
    except EngineError as e:
        flash(e.message, "error")
    else:
        flash(success(result) if callable(success) else success, "success")
    return redirect(url_for("admin.calendar", year=year))


def _form_errors(form):
    for errors in form.errors.values():
        for message in errors:
            flash(message if "CSRF" not in message else "页面已过期，请刷新后重试", "error")


@bp.post("/calendar/days")
@principal_required(PLATFORM)
def calendar_add_day():
    form = CalendarDayForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("admin.calendar", year=year_arg()))
    day, working = form.day.data, form.working.data == "1"
    return _calendar_action(day.year, lambda: calendar_store.set_local_day(day, working, form.name.data, _who()),
                            f"已将 {day.isoformat()} 设为本地{'工作日' if working else '休息日'}")


@bp.post("/calendar/days/remove")
@principal_required(PLATFORM)
def calendar_remove_day():
    form = CalendarRemoveForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("admin.calendar"))
    day = form.day.data
    return _calendar_action(day.year, lambda: calendar_store.remove_local_day(day, _who()),
                            lambda removed: f"已删除 {day.isoformat()} 的本地设置" if removed
                            else f"{day.isoformat()} 没有本地设置")


@bp.post("/calendar/import")
@principal_required(PLATFORM)
def calendar_import():
    form = CalendarImportForm()
    year = year_arg()
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("admin.calendar", year=year))
    data = form.file.data.read(SCHEDULE_FILE_MAX + 1)
    if len(data) > SCHEDULE_FILE_MAX:
        flash("年度安排文件：文件过大（不超过 64 KB）", "error")
        return redirect(url_for("admin.calendar", year=year))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        flash("年度安排文件：请使用 UTF-8 编码", "error")
        return redirect(url_for("admin.calendar", year=year))
    try:
        year, count, recomputed = calendar_store.import_year(text, form.file.data.filename or "", _who())
    except EngineError as e:
        flash(f"年度安排文件：{e.message}", "error")
        return redirect(url_for("admin.calendar", year=year))
    flash(f"已导入 {year} 年节假日安排（{count} 天），重新计算了 {recomputed} 个待确认的到期时间", "success")
    return redirect(url_for("admin.calendar", year=year))


@bp.post("/calendar/remove")
@principal_required(PLATFORM)
def calendar_remove_year():
    form = CalendarYearForm()
    year = year_arg()
    if year is None:
        abort(404)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("admin.calendar", year=year))
    return _calendar_action(year, lambda: calendar_store.remove_year_schedule(year, _who()),
                            lambda removed: f"已删除 {year} 年的录入安排" if removed else f"{year} 年没有录入安排")


@bp.post("/calendar/recompute")
@principal_required(PLATFORM)
def calendar_recompute():
    form = CalendarYearForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("admin.calendar"))
    from engine.deadlines import recompute_provisional
    return _calendar_action(year_arg(), recompute_provisional,
                            lambda n: f"重新计算了 {n} 个待确认的到期时间")


def _who() -> str:
    return f"{g.principal.user_name}（{g.principal.org_name}）"
