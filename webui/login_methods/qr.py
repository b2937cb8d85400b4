"""扫码登录: the computer's side. The login page's script asks for a code (``/auth/qr/new``), shows
it as a QR code and polls (``/auth/qr/poll``) until a phone confirms it, it expires, or it is
cancelled; an expired code is replaced by a new one. The secret that binds the code to this
browser lives in a cookie of its own (HttpOnly, sent to /auth/qr only), never in a URL. Not in the
session cookie: any other answer that races the new code (the browser's own favicon request, a
second tab) writes the session cookie back as it read it, and the secret would be lost. The
phone's pages are webui/blueprints/mobile.py."""
import segno
from flask import Blueprint, current_app, jsonify, request, url_for

from handlers import login_codes
from handlers.errors import DomainError

from .. import limiter
from ..auth import safe_next, start_session

QR_COOKIE = "qr_login"   # "<code>.<secret>" of the code this browser shows
bp = Blueprint("qr", __name__)


class QrLogin:
    name, title = "qr", "扫码登录"
    template = "auth/_login_qr.html"
    takes_form = False

    @property
    def blueprints(self):
        from ..blueprints import mobile
        return ((bp, "/auth/qr"), (mobile.bp, "/m"))

    def panel(self) -> dict:
        return {"lifetime": current_app.config["QR_LOGIN_SECONDS"]}


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (no script, no external reference)."""
    return segno.make(url, error="m").svg_inline(scale=5, border=2, title="扫码登录二维码", svgclass="qr-svg",
                                                 lineclass=None)


@bp.post("/new")
def new():
    """A fresh code for this browser (the page's first one, or the one after an expiry)."""
    if not limiter.hit(limiter.per_minute(current_app.config["QR_CODES_PER_MINUTE"]), "qr_login"):
        return jsonify(state="refused", message="二维码刷新过于频繁，请稍后再试"), 429
    issued = login_codes.issue(request.user_agent.string, request.remote_addr or "",
                               current_app.config["QR_LOGIN_SECONDS"])
    url = url_for("mobile.scan", code=issued.code, _external=True)
    response = jsonify(state="waiting", code=issued.code, url=url, svg=qr_svg(url),
                       expires_in=current_app.config["QR_LOGIN_SECONDS"])
    response.set_cookie(QR_COOKIE, f"{issued.code}.{issued.secret}", max_age=current_app.config["QR_LOGIN_SECONDS"] + 60,
                        path=url_for("qr.new").rsplit("/", 1)[0], httponly=True, samesite="Strict",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def held_secret(code: str) -> str | None:
    """The secret this browser holds for ``code``, if it is the code this browser showed."""
    held_code, _dot, secret = (request.cookies.get(QR_COOKIE) or "").partition(".")
    return secret if code and held_code == code and secret else None


@bp.post("/poll")
def poll():
    """Where the code stands; a confirmed code signs this browser in (once) as the chosen account."""
    body = request.get_json(silent=True) or {}
    code = str(body.get("code") or "")[:64]
    try:
        state, login = login_codes.poll(code, held_secret(code))
    except DomainError as e:
        return jsonify(state="refused", message=e.message), 403
    if login is None:
        return jsonify(state=state, message=login_codes.MESSAGES.get(state, ""))
    next_url = safe_next(str(body.get("next") or ""))
    signed_in = start_session(login.user, next_url, login.account_id)
    response = jsonify(state="signed_in", next=signed_in.location)
    response.delete_cookie(QR_COOKIE, path=url_for("qr.new").rsplit("/", 1)[0])
    return response
