"""第一章: registration, login, role choice and switch, logout."""
from types import SimpleNamespace

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from handlers import accounts, password_resets
from handlers.applications import Upload
from handlers.errors import DomainError, FieldErrors, NotFound
from handlers.models import ACCOUNT_STATUS, ORG_KINDS, User

from .. import limiter, login_methods, services
from ..auth import ACCOUNT_KEY, remember_epoch, safe_next, start_session
from ..forms.auth import (
    REGISTRABLE_KINDS, AddRoleForm, CorrectionForm, ForgotPasswordForm, KindForm, LogoutForm, PasswordForm,
    RegisterForm, ResetPasswordForm, RoleForm,
)

REGISTRANT_KEY = "registrant"   # the login whose returned registration this session may correct

bp = Blueprint("auth", __name__)


def show_errors(form, errors: dict[str, str]) -> None:
    """Put each refusal under its field unless the form already refused that field."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors") and field.errors:
            continue
        show_error(form, DomainError(message, name))


def show_error(form, error: DomainError) -> None:
    """Put a refusal under the form field it names, or flash it when it names none on this form.
    A FieldErrors puts each of its refusals under its own field."""
    if isinstance(error, FieldErrors):
        for name, message in error.errors.items():
            show_error(form, DomainError(message, name))
        return
    field = getattr(form, error.field, None) if error.field and error.field != "kind" else None
    if field is not None and hasattr(field, "errors"):
        field.errors = list(field.errors) + [error.message]
    else:
        flash(error.message, "error")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """用户登录: every offered login method's panel (webui/login_methods); a posted form goes to the
    method it names."""
    if request.method == "GET" and current_user.is_authenticated and session.get(ACCOUNT_KEY):
        return redirect(url_for("main.home"))
    next_url = safe_next(request.values.get("next"))
    correct_id = None
    if request.method == "POST":
        method = login_methods.chosen(request.form.get("method"))
        if method is None:
            flash("不支持该登录方式，请刷新页面后重试", "error")
        try:
            user = method.submit() if method is not None else None
        except accounts.RegistrationReturned as e:
            # the right password of a returned registration: this session may correct it, nothing more
            flash(e.message, "error")
            session[REGISTRANT_KEY] = e.user_id
            correct_id = e.account_id
        except DomainError as e:
            flash(e.message, "error")
        else:
            if user is not None:
                return start_session(user, next_url)
    methods = login_methods.offered()
    return render_template("auth/login.html", methods=methods, panels={m.name: m.panel() for m in methods},
                           next_url=next_url or "", correct_id=correct_id)


# -- 忘记密码 -------------------------------------------------------------------------------------
RESET_SENT = "如果该账号存在并已登记电子邮箱，重置密码的链接已发送到该邮箱，请在 {minutes} 分钟内使用。"


@bp.route("/forgot", methods=["GET", "POST"])
def forgot_password():
    """忘记密码: the same answer whether or not the account exists (no enumeration), rate-limited."""
    form = ForgotPasswordForm()
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    if form.validate_on_submit():
        if not limiter.hit(limiter.per_hour(current_app.config["PASSWORD_RESETS_PER_HOUR"]), "password_reset"):
            flash("申请过于频繁，请稍后再试", "error")
            return render_template("auth/forgot.html", form=form), 429
        base = current_app.config["PUBLIC_URL"] or request.url_root
        password_resets.request_reset(form.username.data, base, minutes, request.remote_addr or "")
        flash(RESET_SENT.format(minutes=minutes), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """The e-mailed link: a new password, once, before the link expires."""
    try:
        user = password_resets.check_link(token)
    except DomainError as e:
        return render_template("auth/reset.html", refusal=e.message, form=None), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_resets.reset_password(token, form.new_password.data)
        except DomainError as e:
            if e.field:
                show_error(form, e)
            else:
                return render_template("auth/reset.html", refusal=e.message, form=None), 410
        else:
            logout_user()
            session.clear()
            flash("密码已重置，请使用新密码登录", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, refusal=None, username=user.username)


@bp.get("/register/guide")
def register_guide():
    """注册指引: what to prepare, the steps, what each account type needs."""
    return render_template("auth/register_guide.html", max_size=services().uploads.size_limit_label)


@bp.route("/role", methods=["GET", "POST"])
@login_required
def choose_role():
    user = current_user.user
    active = accounts.active_accounts(user)
    next_url = safe_next(request.values.get("next"))
    if not active:
        logout_user()
        session.clear()
        flash("您没有可用的账号，请联系平台管理员", "error")
        return redirect(url_for("auth.login"))
    if len(active) == 1 and request.method == "GET":
        session[ACCOUNT_KEY] = active[0].id
        return redirect(next_url or url_for("main.home"))
    form = RoleForm()
    if form.validate_on_submit():
        try:
            principal = accounts.act_as(user, int(form.account_id.data))
        except (ValueError, NotFound):
            flash("账号不存在或未通过审核", "error")
        else:
            session[ACCOUNT_KEY] = principal.account_id
            flash(f"已切换为：{principal.org_name}（{ORG_KINDS[principal.kind]}）", "success")
            return redirect(next_url or url_for("main.home"))
    return render_template("auth/role.html", form=form, accounts=active, next_url=next_url or "",
                           kinds=ORG_KINDS, current_id=session.get(ACCOUNT_KEY))


@bp.get("/switch")
@login_required
def switch():
    return redirect(url_for("auth.choose_role"))


@bp.post("/logout")
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("main.home"))
    if current_user.is_authenticated:
        accounts.end_sessions(current_user.user.id)   # a copy of this cookie no longer logs in
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("auth.login"))


# -- registration -------------------------------------------------------------------------
@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """修改密码 for the logged-in user (all their accounts share the login)."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            epoch = accounts.change_password(current_user.user, form.old_password.data, form.new_password.data)
        except DomainError as e:
            show_error(form, e)
        else:
            remember_epoch(epoch)   # this session goes on; every other one has ended
            flash("密码已修改；其他设备上的登录已退出，您的个人接口令牌已全部吊销", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form)


@bp.route("/accounts", methods=["GET", "POST"])
@login_required
def my_accounts():
    """角色账号: the user's accounts with their review status, and applying for one more."""
    user = current_user.user
    form = AddRoleForm()
    if form.validate_on_submit():
        reg = accounts.Registration(kind=form.kind.data, org_name=form.org_name.data or "",
                                    credit_code=form.credit_code.data or "",
                                    contact_person=form.contact_person.data or "", mobile=form.mobile.data or "",
                                    username=user.username, password="")
        try:
            account = services().registration.add_role(user, reg)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(f"已提交 {account.org.name}（{ORG_KINDS[account.org.kind]}）的角色申请，等待平台管理员审核", "success")
            return redirect(url_for("auth.my_accounts"))
    return render_template("auth/accounts.html", form=form, accounts=user.accounts, kinds=ORG_KINDS,
                           statuses=ACCOUNT_STATUS, current_id=session.get(ACCOUNT_KEY))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = KindForm()
    if form.validate_on_submit():
        return redirect(url_for("auth.register_details", kind=form.kind.data))
    return render_template("auth/register_kind.html", form=form, kinds=REGISTRABLE_KINDS)


@bp.route("/register/details", methods=["GET", "POST"])
def register_details():
    kind = request.values.get("kind", "")
    if kind not in dict(REGISTRABLE_KINDS):
        flash("请先选择账号类型", "error")
        return redirect(url_for("auth.register"))
    form = RegisterForm()
    form.kind.data = kind
    if request.method == "POST":
        form.validate()
        if "csrf_token" in form.errors:
            flash("页面已过期，请刷新后重试", "error")
        else:
            reg = accounts.Registration(kind=kind, org_name=form.org_name.data or "",
                                        credit_code=form.credit_code.data or "",
                                        contact_person=form.contact_person.data or "", mobile=form.mobile.data or "",
                                        username=form.username.data or "", password=form.password.data or "")
            licence = _licence()
            try:
                services().registration.check_licence(licence)
            except DomainError as e:
                form.licence.errors = [e.message]
            if form.errors or form.licence.errors:   # the form's own refusals, and every one the registration would get
                show_errors(form, accounts.registration_problems(reg))
            else:
                try:
                    account = services().registration.register(reg, licence)
                except DomainError as e:
                    show_error(form, e)
                else:
                    session["registered"] = {"org": account.org.name, "kind": ORG_KINDS[kind],
                                             "username": account.user.username}
                    return redirect(url_for("auth.register_done"))
    return render_template("auth/register_details.html", form=form, kind=kind, reg_kind_label=ORG_KINDS[kind],
                           max_size=services().uploads.size_limit_label)


def _licence() -> Upload | None:
    """The registration's business licence scan, as uploaded (checked by the registration service)."""
    item = request.files.get("licence")
    if item is None or not item.filename:
        return None
    return Upload("licence", item.filename, item.read())


@bp.get("/register/done")
def register_done():
    info = session.get("registered")
    if not info:
        return redirect(url_for("auth.register"))
    return render_template("auth/register_done.html", info=info)


# -- a returned registration: correct and submit again ----------------------------------------------
def _registrant() -> User | None:
    """The login correcting its registration: the logged-in user, or the one whose right password
    of a returned registration this session was given at login."""
    if current_user.is_authenticated:
        return current_user.user
    user_id = session.get(REGISTRANT_KEY)
    return accounts.user_by_id(user_id) if isinstance(user_id, int) else None


@bp.route("/registration/<id:account_id>", methods=["GET", "POST"])
def correct_registration(account_id):
    """修改注册信息: the reason it was returned, and the details to correct and submit again."""
    user = _registrant()
    if user is None:
        flash("请先使用注册时的用户名和密码登录", "error")
        return redirect(url_for("auth.login"))
    service = services().registration
    account, last = service.for_correction(user, account_id)
    form = CorrectionForm(obj=None if request.method == "POST" else _details(account, last))
    if form.validate_on_submit():
        reg = accounts.Registration(kind=form.kind.data, org_name=form.org_name.data or "",
                                    credit_code=form.credit_code.data or "",
                                    contact_person=form.contact_person.data or "", mobile=form.mobile.data or "",
                                    username=user.username, password="")
        try:
            account = service.resubmit(user, account_id, reg, _licence())
        except DomainError as e:
            show_error(form, e)
        else:
            if not current_user.is_authenticated:
                session.pop(REGISTRANT_KEY, None)
                session["registered"] = {"org": account.org.name, "kind": ORG_KINDS[account.org.kind],
                                         "username": user.username, "again": True}
                return redirect(url_for("auth.register_done"))
            flash(f"已重新提交 {account.org.name}（{ORG_KINDS[account.org.kind]}）的角色申请，等待平台管理员审核", "success")
            return redirect(url_for("auth.my_accounts"))
    return render_template("auth/correct.html", form=form, account=account, user=user, kinds=ORG_KINDS,
                           licence=last and next(iter(service.attachments(last)), None),
                           max_size=services().uploads.size_limit_label)


def _details(account, last):
    """The form's starting values: the last submission as it was, else the account's organisation."""
    if last is not None:
        return SimpleNamespace(kind=last.kind, org_name=last.org_name, credit_code=last.credit_code,
                               contact_person=last.contact_person, mobile=last.mobile)
    org = account.org
    return SimpleNamespace(kind=org.kind, org_name=org.name, credit_code=org.credit_code,
                           contact_person=org.contact_person or account.user.name,
                           mobile=org.contact_phone or account.user.mobile)
