"""The shell: home redirect by role, help (第三章), navigation helpers and error pages."""
import logging
from html import escape

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadHost, HTTPException
from werkzeug.routing import BuildError

from handlers import catalog
from handlers.database import abandon_transaction
from handlers.errors import Forbidden, NotFound
from handlers.models import CONSTRUCTION_UNIT, DESIGNER, ENTERPRISE_KINDS, ORG_KINDS, PLATFORM, REGULATOR_KINDS
from handlers.principal import header_counts

from .. import layout
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


def _header_counts(principal) -> tuple[int, int]:
    """(active accounts of the login, unread messages of the principal's account). A GET changes
    neither, so it shows the counts read with the login (no statement); a page rendered by another
    method (a form shown again with its errors) reads them after what the request did."""
    if not current_user.is_authenticated:
        return 0, 0
    loaded = current_user.header_counts
    if loaded is not None and principal is not None and request.method in ("GET", "HEAD") \
            and current_user.account_id == principal.account_id:
        return loaded
    return header_counts(current_user.user_id, principal.account_id if principal else None)


def _who() -> tuple:
    """(principal, active account count, unread messages) for the page header; on a database
    failure the page is shown without them rather than not at all."""
    try:
        principal = _principal()
        return (principal, *_header_counts(principal))
    except Exception:   # noqa: BLE001 — the header must never take the page down with it
        logging.getLogger(__name__).exception("page header: user lookup failed")
        abandon_transaction()
        return None, 0, 0


@bp.app_context_processor
def _layout_context():
    principal, account_count, unread_count = _who()
    return {
        "nav_url": nav_url,
        "process_menus": process_menus,
        "frame_urls": layout.frame_urls(),   # the frame's URLs, built once per process (webui/layout.py)
        "enterprise_menus": layout.enterprise_menus,
        "nav_link": layout.nav_link,
        "principal": principal,
        "kind_label": ORG_KINDS.get(principal.kind, "") if principal else "",
        "account_count": account_count,
        "unread_count": unread_count,
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
    if principal.kind == DESIGNER:   # the studio, once its pages are served
        return nav_url("studio.index") or url_for("main.help")
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
    """The error page, independent of whatever failed: the session's transaction is rolled back first
    (on PostgreSQL a failed statement aborts it, and the page header queries the user), and a page
    that still cannot be rendered falls back to plain HTML."""
    title, message = ERRORS[code]
    try:
        abandon_transaction()
        return render_template("errors/error.html", code=code, title=title, message=detail or message), code
    except Exception:   # noqa: BLE001 — last resort: never a bare "Internal Server Error"
        current_app.logger.exception("error page %s could not be rendered", code)
        return _plain_page(code, title, detail or message)


def _plain_page(code: int, title: str, message: str):
    body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<h1>{code} {escape(title)}</h1><p>{escape(message)}</p><p><a href=\"/\">返回首页</a></p></html>")
    return body, code, {"Content-Type": "text/html; charset=utf-8"}


def _own_description(e: HTTPException) -> str | None:
    """An abort(code, "…") message of ours, not Werkzeug's English default."""
    description = getattr(e, "description", None)
    return description if description and description != type(e).description else None


@bp.app_errorhandler(CSRFError)
def _csrf_error(_e):
    return _error_page(400, "页面已过期，请刷新后重试")


@bp.app_errorhandler(BadHost)
def _bad_host(_e):
    # no URL adapter exists for a host Werkzeug could not encode (e.g. an IDNA label over 63
    # characters), so no page with links can be built
    return _plain_page(400, ERRORS[400][0], "请求的主机名无效。")


@bp.app_errorhandler(400)
def _bad_request(e):
    return _error_page(400, _own_description(e))


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
    ceiling = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _error_page(413, f"上传的内容超过单次请求的大小限制（最大 {ceiling // (1024 * 1024)} MB），"
                            "请压缩或拆分后分次上传。" if ceiling else None)


@bp.app_errorhandler(500)
def _server_error(_e):
    return _error_page(500)


@bp.app_errorhandler(NotFound)
def _domain_not_found(e):
    return _error_page(404, getattr(e, "message", None) or None)


@bp.app_errorhandler(Forbidden)
def _domain_forbidden(e):
    return _error_page(403, getattr(e, "message", None) or None)
