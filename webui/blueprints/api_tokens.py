"""平台管理 › 接口令牌: machine clients' and personal tokens, created, rotated and revoked."""
from flask import Blueprint, flash, redirect, render_template, url_for

from handlers import api_tokens
from handlers.errors import AccessRefused, DomainError
from handlers.models import API_SCOPES, PLATFORM

from ..access import principal_required
from ..forms.api_tokens import ClientTokenForm, PersonalTokenForm, TokenActionForm

bp = Blueprint("api_tokens", __name__)


def _page(new_token: str | None = None, client_form=None, personal_form=None, status: int = 200):
    rows = api_tokens.tokens()
    return render_template("admin/api_tokens.html", rows=rows, owners={r.id: api_tokens.owner_label(r) for r in rows},
                           scopes=API_SCOPES, new_token=new_token, client_form=client_form or ClientTokenForm(),
                           personal_form=personal_form or PersonalTokenForm(prefix="personal"),
                           action_form=TokenActionForm()), status


@bp.get("/")
@principal_required(PLATFORM)
def index():
    return _page()


@bp.post("/client")
@principal_required(PLATFORM)
def create_client():
    form = ClientTokenForm()
    if not form.validate_on_submit():
        return _page(client_form=form, status=400)
    try:
        _row, token = api_tokens.create_client_token(form.client.data, form.scopes.data, form.days.data)
    except DomainError as e:
        getattr(form, e.field, form.client).errors.append(e.message)
        return _page(client_form=form, status=400)
    return _page(new_token=token)


@bp.post("/personal")
@principal_required(PLATFORM)
def create_personal():
    form = PersonalTokenForm(prefix="personal")
    if not form.validate_on_submit():
        return _page(personal_form=form, status=400)
    try:
        _row, token = api_tokens.create_personal_token(form.username.data.strip(), days=form.days.data)
    except DomainError as e:
        form.username.errors.append(e.message)
        return _page(personal_form=form, status=400)
    return _page(new_token=token)


@bp.post("/<id:token_id>/rotate")
@principal_required(PLATFORM)
def rotate(token_id):
    if not TokenActionForm().validate_on_submit():
        return redirect(url_for("api_tokens.index"))
    try:
        _row, token = api_tokens.rotate(token_id)
    except (DomainError, AccessRefused) as e:
        flash(e.message, "error")
        return redirect(url_for("api_tokens.index"))
    return _page(new_token=token)


@bp.post("/<id:token_id>/revoke")
@principal_required(PLATFORM)
def revoke(token_id):
    if TokenActionForm().validate_on_submit():
        try:
            row = api_tokens.revoke(token_id)
        except AccessRefused as e:
            flash(e.message, "error")
        else:
            flash(f"令牌 {row.prefix} 已吊销", "success")
    return redirect(url_for("api_tokens.index"))


# -- 事件推送: failing subscriptions and redelivery -------------------------------------------------
@bp.get("/webhooks")
@principal_required(PLATFORM)
def webhooks_page():
    from handlers import webhooks
    failed = webhooks.failed_deliveries()
    return render_template("admin/webhooks.html", failing=webhooks.failing(), subscriptions=webhooks.subscriptions(),
                           failed=failed, attempts={d.id: webhooks.attempts(d.id) for d in failed[:50]},
                           events=webhooks.EVENTS, action_form=TokenActionForm())


@bp.post("/webhooks/deliveries/<bigid:delivery_id>/redeliver")
@principal_required(PLATFORM)
def redeliver(delivery_id):
    from handlers import webhooks
    if TokenActionForm().validate_on_submit():
        try:
            webhooks.redeliver(delivery_id)
        except (DomainError, AccessRefused) as e:
            flash(e.message, "error")
        else:
            flash(f"推送 {delivery_id} 已重新排队", "success")
    return redirect(url_for("api_tokens.webhooks_page"))
