"""Pages without login: the public progress lookup (办件进度查询)."""
from flask import Blueprint, current_app, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from engine.text import natural_key
from handlers import progress

from .. import limiter

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
