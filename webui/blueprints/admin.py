"""Platform administration: registration review and the process definitions / incidents."""
from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from sqlalchemy import func, select

from engine.db import db
from engine.diagram import render_svg
from engine.errors import EngineError
from engine.models import ProcessDefinition, ProcessInstance
from handlers import accounts
from handlers.errors import DomainError, Forbidden, NotFound
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
    except (NotFound, Forbidden):
        raise
    except DomainError as e:
        flash(e.message, "error")
    else:
        who = f"{account.org.name}（{account.user.username}）"
        flash(f"已通过 {who} 的注册申请" if approve else f"已驳回 {who} 的注册申请", "success")


@bp.get("/definitions")
@principal_required(PLATFORM)
def definitions():
    defs = services().engine.definitions.versions()
    errored = list(db.session.scalars(select(ProcessInstance).where(ProcessInstance.status == "errored")
                                      .order_by(ProcessInstance.incident_at.desc(), ProcessInstance.id.desc())
                                      .limit(200)))
    return render_template("admin/definitions.html", definitions=defs, errored=errored, retry_form=RetryForm())


@bp.get("/definitions/<int:definition_id>")
@principal_required(PLATFORM)
def definition(definition_id):
    d = db.session.get(ProcessDefinition, definition_id)
    if d is None:
        abort(404)
    by_status = dict(db.session.execute(
        select(ProcessInstance.status, func.count()).where(ProcessInstance.definition_id == d.id)
        .group_by(ProcessInstance.status)).all())
    return render_template("admin/definition.html", d=d, by_status=by_status,
                           diagram=render_svg(d.xml, frozenset(), d.name))


@bp.post("/instances/<int:instance_id>/retry")
@principal_required(PLATFORM)
def retry(instance_id):
    form = RetryForm()
    if form.validate_on_submit():
        try:
            services().retry(instance_id, g.principal.actor)
        except (EngineError, DomainError) as e:
            flash(e.message, "error")
        else:
            instance = db.session.get(ProcessInstance, instance_id)
            if instance is not None and instance.status == "errored":
                flash(f"重试后仍然出错：{instance.incident_message or ''}", "error")
            else:
                flash("重试成功", "success")
    return redirect(url_for("admin.definitions"))
