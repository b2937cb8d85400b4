"""Pages without login: the public progress lookup (办件进度查询) and certificate verification (证明核验)."""
from flask import Blueprint, current_app, render_template, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from engine.text import natural_key
from handlers import progress

from .. import limiter, services

bp = Blueprint("public", __name__)


class ProgressForm(FlaskForm):
    # both read in their one spelling (engine/text.py) before their lengths are checked
    case_no = StringField("办件编号", filters=[natural_key],
                          validators=[DataRequired("办件编号：请填写办件编号"), Length(max=30)])
    credit_code = StringField("统一社会信用代码", filters=[natural_key], validators=[
        DataRequired("统一社会信用代码：请填写申请单位的统一社会信用代码"), Length(max=18)])


@bp.route("/progress", methods=["GET", "POST"])
def lookup():
    form = ProgressForm()
    result, status = None, 200
    if request.method == "POST":
        if not limiter.hit(limiter.per_minute(current_app.config["PROGRESS_LOOKUPS_PER_MINUTE"]), "progress"):
            return render_template("public/progress.html", form=form, result=None,
                                   refused="查询过于频繁，请一分钟后再试"), 429
        if form.validate():
            result = progress.lookup(form.case_no.data, form.credit_code.data)
            if result is None:
                form.case_no.errors = [progress.NOT_FOUND]
        else:
            status = 400
    return render_template("public/progress.html", form=form, result=result, refused=None), status


# -- 证明核验 -------------------------------------------------------------------------------------
class VerifyForm(FlaskForm):
    pdf = FileField("证明文件（PDF）")


TOO_MANY = "核验过于频繁，请一分钟后再试"


def _limited() -> bool:
    return not limiter.hit(limiter.per_minute(current_app.config["VERIFICATIONS_PER_MINUTE"]), "verify")


def _verify_page(form, verdict=None, error=None, refused=None, status=200):
    return render_template("public/verify.html", form=form, verdict=verdict, error=error, refused=refused), status


@bp.get("/verify")
def verify():
    return _verify_page(VerifyForm())


@bp.get("/verify/<serial>")
def verify_link(serial):
    """The QR code's link: /verify/<证明编号>?s=<the start of its signature>."""
    form = VerifyForm()
    if _limited():
        return _verify_page(form, refused=TOO_MANY, status=429)
    return _verify_page(form, services().certificates.verify_link(serial[:30], request.args.get("s", "")[:100]))


@bp.post("/verify")
def verify_upload():
    """An uploaded PDF: at most VERIFY_MAX_BYTES, and a PDF by its first bytes."""
    form = VerifyForm()
    if _limited():
        return _verify_page(form, refused=TOO_MANY, status=429)
    if not form.validate():
        return _verify_page(form, error="页面已过期，请刷新后重试", status=400)
    upload = request.files.get("pdf")
    limit = current_app.config["VERIFY_MAX_BYTES"]
    data = upload.read(limit + 1) if upload is not None else b""
    if not data:
        return _verify_page(form, error="证明文件：请选择要核验的PDF文件", status=400)
    if len(data) > limit:
        return _verify_page(form, error=f"证明文件：不能超过 {limit // (1024 * 1024) or 1} MB", status=400)
    if not data.startswith(b"%PDF-"):
        return _verify_page(form, error="证明文件：请上传PDF文件", status=400)
    return _verify_page(form, services().certificates.verify_pdf(data))
