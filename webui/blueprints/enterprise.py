"""Enterprise pages: basic information (2.1.1), people (人员信息), the construction unit's projects (2.3.1)."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from handlers import directory
from handlers.accounts import EDITABLE_FIELDS, enterprise_history, update_enterprise
from handlers.errors import DomainError, NotFound
from handlers.models import (
    CONSTRUCTION_UNIT, CONTRACTOR, ENTERPRISE_KINDS, ORG_KINDS, PROJECT_FACTS, ROLES, SUPERVISING_FIRM,
)

from ..access import principal_required
from ..forms_apply import EnterpriseForm
from ..inputs import page_arg

bp = Blueprint("enterprise", __name__)
HISTORY_LIMIT = 50


@bp.route("/info", methods=["GET", "POST"])
@principal_required(*ENTERPRISE_KINDS)
def info():
    org = directory.organization(g.principal.org_id)
    form = EnterpriseForm(obj=org if request.method == "GET" else None)
    errors, status = {}, 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                entry = update_enterprise(g.principal, form.values())
            except DomainError as exc:   # nothing was saved: the request ends without a commit
                errors, status = {exc.field or "_": exc.message, "_": exc.message}, 400
            else:
                flash("保存成功" if entry else "内容未变更", "success")
                return redirect(url_for(".info"))
        else:
            errors = {"_": "页面已过期，请刷新后重试"} if "csrf_token" in form.errors else \
                {name: f"{getattr(form, name).label.text}：{msgs[0]}" if "：" not in msgs[0] else msgs[0]
                 for name, msgs in form.errors.items()}
            errors.setdefault("_", next(iter(errors.values())))
            status = 400
        org = directory.organization(g.principal.org_id)
    history = enterprise_history(g.principal)[:HISTORY_LIMIT]
    return render_template("enterprise/info.html", org=org, form=form, errors=errors, history=history,
                           labels=EDITABLE_FIELDS, kind_label=ORG_KINDS[org.kind]), status


@bp.get("/people")
@principal_required(CONTRACTOR, SUPERVISING_FIRM)
def people():
    q = request.args.get("q", "").strip()[:50]
    page = directory.people(g.principal.org_id, q, page_arg())
    return render_template("enterprise/people.html", page=page, q=q)


@bp.get("/people/<id:person_id>")
@principal_required(CONTRACTOR, SUPERVISING_FIRM)
def person(person_id):
    try:
        detail = directory.person(g.principal.org_id, person_id)
    except NotFound:
        abort(404)
    return render_template("enterprise/person.html", d=detail, roles=ROLES)


@bp.get("/projects")
@principal_required(CONSTRUCTION_UNIT)
def projects():
    q = request.args.get("q", "").strip()[:100]
    page = directory.projects(g.principal.org_id, q, page_arg())
    return render_template("enterprise/projects.html", page=page, q=q)


@bp.get("/projects/<id:project_id>")
@principal_required(CONSTRUCTION_UNIT)
def project(project_id):
    try:
        detail = directory.project(g.principal.org_id, project_id)
    except NotFound:
        abort(404)
    return render_template("enterprise/project.html", d=detail, facts=PROJECT_FACTS)
