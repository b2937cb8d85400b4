"""版本迁移 (/studio/migrations/): plan, dry-run report (page, CSV, Excel), run with progress, roll back.

Every route requires the 流程设计 role; handlers.migration checks it again on the server. A plan
is run as one job per application (``flask engine worker``), so no page waits on thousands.
"""
import csv
import io
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from handlers.errors import DomainError
from handlers.migration import REPORT_HEADERS, Filters, report_cells
from handlers.models import DESIGNER

from .. import services
from ..access import principal_required
from ..xlsx import xlsx_response

bp = Blueprint("studio_migration", __name__)


def designer(view):
    return principal_required(DESIGNER)(view)


def _int(name: str, label: str) -> int:
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit() or not 0 < int(raw) < 100000:
        raise DomainError(f"{label}：请填写版本号", name)
    return int(raw)


def _mapping(text: str) -> dict:
    found = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        source, sep, target = line.partition("=")
        if not sep or not source.strip():
            raise DomainError(f"映射：每行写作 源元素=目标元素（“{line.strip()}”）", "mapping")
        found[source.strip()] = target.strip()
    return found


@bp.get("/")
@designer
def index():
    svc = services()
    return render_template("studio/migrations.html", plans=svc.migration.plans(g.principal),
                           processes=svc.studio.processes(g.principal), form=request.args)


@bp.post("/")
@designer
def create():
    form = request.form
    try:
        filters = Filters.parse(form.get("step"), form.get("region"), form.get("reported_before"), form.get("case_nos"))
        plan = services().migration.plan(g.principal, (form.get("process_key") or "").strip(),
                                         _int("from_version", "源版本"), _int("to_version", "目标版本"),
                                         _mapping(form.get("mapping")), filters)
    except DomainError as exc:
        svc = services()
        return render_template("studio/migrations.html", plans=svc.migration.plans(g.principal),
                               processes=svc.studio.processes(g.principal), form=form, error=exc), 400
    return redirect(url_for(".plan", plan_id=plan.id))


@bp.get("/<id:plan_id>")
@designer
def plan(plan_id):
    svc = services().migration
    found = svc.get_plan(g.principal, plan_id)
    started = found.started_at is not None
    return render_template(
        "studio/migration_plan.html", plan=found,
        mapping=svc.mapping(g.principal, found.process_key, found.from_version, found.to_version, found.manual),
        report=None if started else svc.dry_run_page(g.principal, plan_id, request.args.get("page", 1, type=int)),
        progress=svc.progress(g.principal, plan_id), results=svc.results(g.principal, plan_id) if started else [])


@bp.get("/<id:plan_id>/report.<fmt>")
@designer
def report(plan_id, fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    rows = [report_cells(r) for r in services().migration.dry_run(g.principal, plan_id)]
    name = f"版本迁移预演-{plan_id}"
    if fmt == "xlsx":
        return xlsx_response(f"{name}.xlsx", "迁移预演", REPORT_HEADERS, rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_HEADERS)
    writer.writerows(rows)
    resp = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}.csv"
    return resp


@bp.post("/<id:plan_id>/start")
@designer
def start(plan_id):
    try:
        count = services().migration.start(g.principal, plan_id)
        flash(f"已开始迁移 {count} 件申请，由后台作业逐件执行", "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".plan", plan_id=plan_id))


@bp.post("/<id:plan_id>/rollback")
@designer
def rollback(plan_id):
    results = services().migration.rollback_plan(g.principal, plan_id)
    done = sum(r.outcome == "已回退" for r in results)
    refused = [r.reason for r in results if r.outcome != "已回退"]
    flash(f"已回退 {done} 件" + (f"，{len(refused)} 件不能回退：{refused[0]}" if refused else ""),
          "success" if not refused else "error")
    return redirect(url_for(".plan", plan_id=plan_id))


@bp.post("/<id:plan_id>/rollback/<id:instance_id>")
@designer
def rollback_one(plan_id, instance_id):
    try:
        services().migration.rollback(g.principal, instance_id)
        flash("该申请已回退到原版本", "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".plan", plan_id=plan_id))
