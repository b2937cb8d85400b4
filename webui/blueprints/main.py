"""The shell: home redirect by role, help (第三章), navigation helpers and error pages."""

from flask import Blueprint, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.routing import BuildError

from handlers import catalog
from handlers.errors import Forbidden, NotFound
from handlers.models import CONSTRUCTION_UNIT, ENTERPRISE_KINDS, ORG_KINDS, PLATFORM, REGULATOR_KINDS

from ..auth import current_principal

bp = Blueprint("main", __name__)

SUPPORT_QQ_GROUPS = [
    ("云南省质量安全管理咨询 QQ 群 1", "641805811"),
    ("云南省质量安全管理咨询 QQ 群 2", "768158740"),
    ("云南省质量安全管理咨询 QQ 群 3", "674588137"),
]
SUPPORT_PHONES = [
    ("技术支持", [
        ("系统技术支持服务电话", ["0871-65631360", "0871-65212258"]),
        ("注考中心(服务大厅)服务电话", ["0871-68503755"]),
        ("人员类咨询服务电话", ["0871-68503755", "64320981"]),
    ]),
    ("质量安全监管", [
        ("云南省住房和城乡建设厅工程质量安全监管处服务电话", ["0871-64322249"]),
    ]),
]


def nav_url(endpoint: str, **values):
    """url_for, or None when the endpoint does not exist (yet) — nav links skip it."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def process_menus(org_kind: str) -> list[tuple[str, list]]:
    """The catalog's processes an organisation kind files, as (menu, [(group, [(title, url)])])."""
    menus: dict[str, dict[str, list]] = {}
    for entry in catalog.filed_by(org_kind):
        label, group = entry.menu
        menus.setdefault(label, {}).setdefault(group, []).append(
            (entry.title, nav_url("apps.index", kind=entry.kind)))
    return [(label, list(groups.items())) for label, groups in menus.items()]


def _principal():
    principal = getattr(g, "principal", None)
    if principal is None and current_user.is_authenticated:
        principal = current_principal()
    return principal


def _active_account_count() -> int:
    if not current_user.is_authenticated:
        return 0
    return sum(1 for a in current_user.user.accounts if a.status == "active")


@bp.app_context_processor
def _layout_context():
    principal = _principal()
    return {
        "nav_url": nav_url,
        "process_menus": process_menus,
        "principal": principal,
        "kind_label": ORG_KINDS.get(principal.kind, "") if principal else "",
        "account_count": _active_account_count(),
        "ENTERPRISE_KINDS": ENTERPRISE_KINDS,
        "REGULATOR_KINDS": REGULATOR_KINDS,
        "PLATFORM": PLATFORM,
        "CONSTRUCTION_UNIT": CONSTRUCTION_UNIT,
    }


def home_url_for(principal) -> str:
    """The first page of a role."""
    if principal is None:
        return url_for("auth.login")
    if principal.kind in REGULATOR_KINDS:
        return url_for("review.index")
    if principal.kind == PLATFORM:
        return url_for("admin.registrations")
    candidates = [("apps.index", {"kind": e.kind}) for e in catalog.filed_by(principal.kind)[:1]]
    candidates += [("enterprise.projects", {}) if principal.kind == CONSTRUCTION_UNIT else ("enterprise.people", {}),
                   ("enterprise.info", {})]
    for endpoint, values in candidates:
        url = nav_url(endpoint, **values)
        if url:
            return url
    return url_for("main.help")


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    principal = current_principal()
    if principal is None:
        return redirect(url_for("auth.choose_role"))
    return redirect(home_url_for(principal))


@bp.get("/help")
def help():
    return render_template("main/help.html", qq_groups=SUPPORT_QQ_GROUPS, phones=SUPPORT_PHONES)


# -- error pages --------------------------------------------------------------------------
ERRORS = {
    400: ("请求无效", "请求的内容不正确，请返回上一页检查后重试。"),
    403: ("无权访问", "您当前的角色无权访问该页面。如需办理，请切换到有权限的角色。"),
    404: ("页面不存在", "您访问的页面或记录不存在，或您无权查看。"),
    405: ("请求方式不正确", "该页面不支持此操作，请返回上一页。"),
    413: ("文件过大", "上传的文件超过大小限制，请压缩或拆分后重新上传。"),
    500: ("系统错误", "系统处理时出现错误，请稍后重试。如问题持续，请联系技术支持。"),
}


def _error_page(code: int, detail: str | None = None):
    title, message = ERRORS[code]
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


@bp.app_errorhandler(CSRFError)
def _csrf_error(_e):
    return _error_page(400, "页面已过期，请刷新后重试")


@bp.app_errorhandler(400)
def _bad_request(_e):
    return _error_page(400)


@bp.app_errorhandler(403)
def _forbidden(_e):
    return _error_page(403)


@bp.app_errorhandler(404)
def _not_found(_e):
    return _error_page(404)


@bp.app_errorhandler(405)
def _method_not_allowed(_e):
    return _error_page(405)


@bp.app_errorhandler(413)
def _too_large(_e):
    return _error_page(413)


@bp.app_errorhandler(500)
def _server_error(_e):
    return _error_page(500)


@bp.app_errorhandler(NotFound)
def _domain_not_found(e):
    return _error_page(404, getattr(e, "message", None) or None)


@bp.app_errorhandler(Forbidden)
def _domain_forbidden(e):
    return _error_page(403, getattr(e, "message", None) or None)
