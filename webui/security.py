"""Security headers on every response.

The pages load script only from /static (no inline <script>, no on*= handlers, no javascript:
URLs), so the policy can forbid everything else. Inline *styles* are still allowed: templates
carry a few style attributes, and a style cannot run code.
"""
from flask import request, session

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "frame-src 'self'",   # the attachment viewer frames /files/…/view, which alone allows it
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app) -> None:
    app.after_request(_secure)


def _secure(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # pages of a logged-in session carry personal data: no copy in a browser or proxy cache.
    # Decided from the cookie alone, so this never touches the database (not even in an error page).
    if request.endpoint != "static" and "_user_id" in session:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response
