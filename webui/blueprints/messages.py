"""消息中心 (站内信): the acting account's notifications, their links, and the delivery settings."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional, Regexp

from handlers import catalog, notifications

from ..access import principal_required
from ..inputs import page_arg
from ..forms.admin import RetryForm as PlainForm

bp = Blueprint("messages", __name__)
PER_PAGE = 20


@bp.get("/")
@principal_required()
def index():
    unread_only = request.args.get("view") == "unread"
    page = page_arg()
    rows, total = notifications.inbox(g.principal.account_id, page, PER_PAGE, unread_only)
    return render_template("messages/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           unread_only=unread_only, labels={k: v[0] for k, v in notifications.KINDS.items()},
                           form=PlainForm())


@bp.post("/<bigid:notification_id>/open")
@principal_required()
def open_message(notification_id):
    """Mark the message read and go to what it is about (the review task, or the application)."""
    if not PlainForm().validate_on_submit():
        abort(400)
    n = notifications.get_own(g.principal.account_id, notification_id)
    if n is None:
        abort(404)
    notifications.mark_read(g.principal.account_id, n.id)
    return redirect(_target(n) or url_for("messages.index"))


@bp.post("/read-all")
@principal_required()
def read_all():
    if PlainForm().validate_on_submit():
        count = notifications.mark_read(g.principal.account_id)
        flash(f"已将 {count} 条消息标为已读", "success")
    return redirect(url_for("messages.index"))


@bp.route("/settings", methods=["GET", "POST"])
@principal_required()
def settings():
    user_id, kinds = g.principal.user_id, notifications.kinds_for(g.principal.kind)
    channels = [c for c in notifications.CHANNELS.values() if c.available()]
    form = _settings_form(kinds, channels, user_id)
    if form.validate_on_submit():
        chosen = {(k, c.name) for k in kinds for c in channels if form[f"{k}__{c.name}"].data}
        # a channel not offered here (no SMTP configured) keeps the user's earlier choice
        chosen |= {(k, c) for (k, c), on in notifications.settings_for(user_id).items()
                   if on and c not in {ch.name for ch in channels}}
        notifications.save_settings(user_id, kinds, chosen, form.email.data.strip() if form.email.data else None)
        flash("通知设置已保存", "success")
        return redirect(url_for("messages.settings"))
    return render_template("messages/settings.html", form=form, kinds=kinds, channels=channels,
                           labels={k: v[0] for k, v in notifications.KINDS.items()})


def _settings_form(kinds, channels, user_id):
    saved = notifications.settings_for(user_id)

    class SettingsForm(PlainForm):
        email = StringField("电子邮箱", validators=[Optional(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="电子邮箱：格式不正确"),
                                                     Length(max=200, message="电子邮箱：不能超过 200 个字符")])
    for kind in kinds:
        for c in channels:
            setattr(SettingsForm, f"{kind}__{c.name}", BooleanField(default=saved.get((kind, c.name), True)))
    form = SettingsForm()
    if request.method == "GET":
        form.email.data = notifications.email_of(user_id)
    return form


def _target(n) -> str | None:
    if n.task_id and catalog.reviewed_by(g.principal.kind):   # a reviewer's message about a task
        return url_for("review.task", task_id=n.task_id)
    if n.app_kind and n.app_id:
        return url_for("apps.detail", kind=n.app_kind, app_id=n.app_id)
    if n.kind == "incident":
        return url_for("admin.definitions")
    return None
