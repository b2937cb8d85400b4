"""我的申请: the enterprise's applications of every process in one list (handlers.my_applications)."""
import math

from flask import Blueprint, g, render_template

from handlers import my_applications
from handlers.models import APPLICATION_STATUS, ENTERPRISE_KINDS

from ..access import principal_required
from ..inputs import choice_arg, page_arg, text_arg

bp = Blueprint("mine", __name__)


@bp.get("/mine")
@principal_required(*ENTERPRISE_KINDS)
def index():
    page, q, status = page_arg(), text_arg("q", 200), choice_arg("status", APPLICATION_STATUS)
    rows, total = my_applications.my_applications(g.principal, q=q, status=status, page=page)
    per_page = my_applications.PER_PAGE
    return render_template("apps/mine.html", rows=rows, total=total, page=page, q=q or "", status=status,
                           statuses=APPLICATION_STATUS, pages=max(1, math.ceil(total / per_page)),
                           offset=(page - 1) * per_page)
