"""Platform administration: registration review and the process definitions / incidents."""
from flask import Blueprint, flash, g, redirect, render_template, url_for

from engine.errors import EngineError
from handlers import accounts
from handlers.errors import DomainError
from handlers.models import ACCOUNT_STATUS, ORG_KINDS, PLATFORM

from .. import services
from ..access import principal_required
from ..forms.admin import ApproveForm, RejectForm, RetryForm

bp = Blueprint("admin", __name__)


@bp.get("/")
@principal_required(PLATFORM)
def index():
    return redirect(url_for("admin.registrations"))


@bp.get("/registrations")
@principal_required(PLATFORM)
def registrations():
    return render_template("admin/registrations.html", pending=accounts.pending_registrations(),
                           kinds=ORG_KINDS, statuses=ACCOUNT_STATUS, approve_form=ApproveForm(),
                           reject_form=RejectForm())


@bp.post("/registrations/<int:account_id>/approve")
@principal_required(PLATFORM)
def approve(account_id):
    form = ApproveForm()
    if form.validate_on_submit():
        _review(account_id, True, "")
    return redirect(url_for("admin.registrations"))


@bp.post("/registrations/<int:account_id>/reject")
@principal_required(PLATFORM)
def reject(account_id):
    form = RejectForm()
    if form.validate_on_submit():
        _review(account_id, False, form.reason.data or "")
    return redirect(url_for("admin.registrations"))


def _review(account_id, approve, reason):
    try:
        account = accounts.review_registration(g.principal, account_id, approve, reason)
    except DomainError as e:
        flash(e.message, "error")
    else:
        who = f"{account.org.name}（{account.user.username}）"
        flash(f"已通过 {who} 的注册申请" if approve else f"已驳回 {who} 的注册申请", "success")


@bp.get("/accounts")
@principal_required(PLATFORM)
def account_list():
    """账号管理: approved accounts, with 停用 / 启用 (disabling ends the login's sessions)."""
    return render_template("admin/accounts.html", accounts=accounts.accounts_for_admin(g.principal),
                           kinds=ORG_KINDS, statuses=ACCOUNT_STATUS, form=ApproveForm(),
                           current_id=g.principal.account_id)


@bp.post("/accounts/<int:account_id>/disable")
@principal_required(PLATFORM)
def disable_account(account_id):
    return _set_disabled(account_id, True)


@bp.post("/accounts/<int:account_id>/enable")
@principal_required(PLATFORM)
def enable_account(account_id):
    return _set_disabled(account_id, False)


def _set_disabled(account_id, disabled):
    if ApproveForm().validate_on_submit():
        try:
            account = accounts.set_account_disabled(g.principal, account_id, disabled)
        except DomainError as e:
            flash(e.message, "error")
        else:
            who = f"{account.org.name}（{account.user.username}）"
            flash(f"已停用 {who} 的账号，其登录会话已全部结束" if disabled else f"已启用 {who} 的账号", "success")
    return redirect(url_for("admin.account_list"))


@bp.get("/definitions")
@principal_required(PLATFORM)
def definitions():
    operations = services().operations
    return render_template("admin/definitions.html", definitions=operations.definitions(g.principal),
                           errored=operations.incidents(g.principal), retry_form=RetryForm())


@bp.get("/definitions/<int:definition_id>")
@principal_required(PLATFORM)
def definition(definition_id):
    detail = services().operations.definition(g.principal, definition_id)
    return render_template("admin/definition.html", d=detail.definition, by_status=detail.by_status,
                           diagram=detail.diagram)


@bp.post("/instances/<int:instance_id>/retry")
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
