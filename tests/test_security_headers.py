"""Security headers (webui/security.py) and templates that satisfy the Content-Security-Policy."""
import re
from pathlib import Path

from .web_helpers import client_world, login  # noqa: F401 (fixture)

TEMPLATES = Path(__file__).resolve().parent.parent / "webui" / "templates"


def _assert_protected(resp):
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_anonymous_pages_carry_the_headers_and_may_be_cached(client_world):
    client, _world = client_world
    for path in ("/auth/login", "/auth/register", "/help"):
        resp = client.get(path)
        _assert_protected(resp)
        assert "no-store" not in resp.headers.get("Cache-Control", "")


def test_pages_of_a_logged_in_user_are_not_stored(client_world):
    client, _world = client_world
    login(client, "contractor_user")
    for path in ("/", "/apply/unlock/", "/enterprise/info", "/enterprise/people", "/auth/password",
                 "/auth/accounts", "/no-such-page"):
        resp = client.get(path)
        _assert_protected(resp)
        assert resp.headers["Cache-Control"] == "no-store", path
    static = client.get("/static/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_no_template_has_inline_script_handlers_or_javascript_urls():
    """What the policy forbids is not written: a new inline script would only show up as a
    broken page in the browser, so it is caught here first."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (inline_script, handler, re.compile(r"javascript:", re.I)):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group(0)[:60]}" for m in pattern.finditer(text)]
    assert offenders == []
