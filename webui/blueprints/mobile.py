"""扫码登录: the phone's side (the product's own mobile pages play the provincial app's part).

Scanning the login page's QR code opens ``/m/scan/<code>``. A phone that is not signed in logs in
with its password first (``/m/login``). The page says which site and which computer asks; the
user confirms for one of their accounts (a person with several chooses here) or cancels.
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField

from handlers import accounts, login_codes
from handlers.errors import DomainError
from handlers.models import ORG_KINDS

from ..auth import safe_next, start_session
from ..forms.auth import LoginForm
from ..useragent import describe

bp = Blueprint("mobile", __name__)


class ConfirmForm(FlaskForm):
    account_id = HiddenField()


@bp.route("/login", methods=["GET", "POST"])
def login():
    """登录 on the phone: user name and password, then back to the code it scanned."""
    form = LoginForm()
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(next_url or url_for("main.home"))
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data, form.password.data)
        except DomainError as e:
            flash(e.message, "error")
        else:
            start_session(user, None)
            return redirect(next_url or url_for("main.home"))
    return render_template("mobile/login.html", form=form, next_url=next_url or "")


@bp.get("/scan/<code>")
def scan(code):
    if not current_user.is_authenticated:
        return redirect(url_for("mobile.login", next=url_for("mobile.scan", code=code)))
    try:
        row = login_codes.for_phone(code)
    except DomainError as e:
        return render_template("mobile/scan.html", refusal=e.message), 410
    return _scan_page(code, row, ConfirmForm())


def _scan_page(code, row, form, status=200):
    user = current_user.user
    return render_template("mobile/scan.html", code=code, row=row, form=form, refusal=None,
                           computer=describe(row.browser), site=request.host,
                           choices=accounts.active_accounts(user), kinds=ORG_KINDS), status


@bp.post("/scan/<code>/confirm")
def confirm(code):
    if not current_user.is_authenticated:
        return redirect(url_for("mobile.login", next=url_for("mobile.scan", code=code)))
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("页面已过期，请重新扫码", "error")
        return redirect(url_for("mobile.scan", code=code))
    try:
        account_id = int(form.account_id.data or 0)
    except ValueError:
        account_id = 0
    try:
        row = login_codes.confirm(code, current_user.user, account_id)
    except DomainError as e:
        if e.field == "account_id":   # no account chosen: the same page, with the refusal
            flash(e.message, "error")
            row = login_codes.find(code)
            return _scan_page(code, row, form, 400)
        return render_template("mobile/scan.html", refusal=e.message), 409
    account = next(a for a in current_user.user.accounts if a.id == row.account_id)
    return render_template("mobile/done.html", confirmed=True, account=account, kinds=ORG_KINDS)


@bp.post("/scan/<code>/cancel")
def cancel(code):
    if not current_user.is_authenticated:
        return redirect(url_for("mobile.login", next=url_for("mobile.scan", code=code)))
    if not ConfirmForm().validate_on_submit():
        flash("页面已过期，请重新扫码", "error")
        return redirect(url_for("mobile.scan", code=code))
    try:
        login_codes.cancel(code, current_user.user)
    except DomainError as e:
        return render_template("mobile/scan.html", refusal=e.message), 409
    return render_template("mobile/done.html", confirmed=False)
