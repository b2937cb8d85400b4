"""Certificates on the logged-in side: the case's download (its applicant and reviewers) and the
administrators' list with 作废 (revoke, with a reason). Verification is public (blueprints/public.py)."""
from urllib.parse import quote

from flask import Blueprint, flash, g, make_response, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from handlers.certificates import REASON_MAX
from handlers.errors import DomainError
from handlers.models import PLATFORM

from .. import services
from ..access import principal_required

bp = Blueprint("certificates", __name__)


class RevokeForm(FlaskForm):
    reason = StringField("作废原因", validators=[DataRequired("作废原因：请填写作废原因"),
                                              Length(max=REASON_MAX, message=f"作废原因：不能超过 {REASON_MAX} 个字")])


@bp.get("/certificates/<serial>.pdf")
@principal_required()
def download(serial):
    """The PDF as issued (its bytes are what the signature covers); others' certificates: 404."""
    from handlers.pdf import FontMissing
    certificates = services().certificates
    cert = certificates.for_download(g.principal, serial[:30])
    try:
        data = certificates.pdf_of(cert)   # rendered and kept on the first download
    except FontMissing as exc:
        flash(exc.message, "error")
        return redirect(url_for("main.home"))
    response = make_response(data)
    response.mimetype = "application/pdf"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = \
        f"attachment; filename={cert.serial}.pdf; filename*=UTF-8''{quote(cert.title)}-{cert.serial}.pdf"
    return response


@bp.get("/admin/certificates")
@principal_required(PLATFORM)
def admin_list():
    return _admin_page(RevokeForm(formdata=None))


def _admin_page(form, status=200, failed=None):
    return render_template("admin/certificates.html", certificates=services().certificates.list_all(g.principal),
                           form=form, failed=failed), status


@bp.post("/admin/certificates/<serial>/revoke")
@principal_required(PLATFORM)
def revoke(serial):
    form = RevokeForm()
    if not form.validate_on_submit():
        message = "页面已过期，请刷新后重试" if "csrf_token" in form.errors else \
            next(iter(form.errors.values()))[0]
        flash(message, "error")
        return _admin_page(form, 400, serial)
    try:
        cert = services().certificates.revoke(serial[:30], form.reason.data, g.principal.actor, g.principal)
    except DomainError as exc:
        flash(exc.message, "error")
        return _admin_page(form, 400, serial)
    flash(f"证明 {cert.serial} 已作废", "success")
    return redirect(url_for(".admin_list"))
