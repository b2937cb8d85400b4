"""Shared helpers for web tests: CSRF token extraction and logging in through the real forms."""
import io
import re

import pytest
from flask.testing import FlaskClient

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_META_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, url: str = "/auth/login") -> str:
    """GET ``url`` and return the first CSRF token found in its HTML."""
    resp = client.get(url)
    return token_from(resp.get_data(as_text=True))


def token_from(html: str) -> str:
    m = _CSRF_RE.search(html) or None
    if m:
        return m.group(1) or m.group(2)
    m = _META_RE.search(html)
    if m:
        return m.group(1)
    raise AssertionError("no csrf_token in page")


def post(client, url: str, data: dict | None = None, form_url: str | None = None, **kw):
    """POST ``data`` to ``url`` with a CSRF token taken from ``form_url`` (default: the same url via GET,
    falling back to the home page when that is not a page)."""
    data = dict(data or {})
    if "csrf_token" not in data:
        data["csrf_token"] = csrf_token(client, form_url or "/help")
    return client.post(url, data=data, **kw)


def login(client, username, password="demo1234", account_id=None):
    """Log in through /auth/login; when the user has several approved accounts choose ``account_id``
    (or the first one listed). Returns the last response (redirects followed)."""
    token = csrf_token(client, "/auth/login")
    resp = client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False)
    if resp.status_code != 302:
        return resp
    location = resp.headers["Location"]
    if "/auth/role" in location:
        page = client.get("/auth/role")
        html = page.get_data(as_text=True)
        if account_id is None:
            m = re.search(r'name="account_id"[^>]*value="(\d+)"', html)
            assert m, "no role to choose"
            account_id = int(m.group(1))
        resp = client.post("/auth/role", data={"account_id": str(account_id), "csrf_token": token_from(html)},
                           follow_redirects=False)
    return resp


LICENCE_PDF = "%PDF-1.4\n营业执照扫描件\n".encode()


def licence_upload(name: str = "营业执照.pdf"):
    """A business licence scan for the registration form's upload (a fresh stream each time)."""
    return io.BytesIO(LICENCE_PDF), name


def logout(client):
    return post(client, "/auth/logout")


class FreshClient(FlaskClient):
    """Each request in its own app context (own ``g`` and database session), as in production."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture()
def client_world(world, ctx):
    """(test client, World): import this fixture into a test module to use it."""
    ctx.test_client_class = FreshClient
    try:
        yield ctx.test_client(), world
    finally:
        ctx.test_client_class = None


def new_client(app):
    """One more independent browser (another reviewer) for the same app."""
    old = app.test_client_class
    app.test_client_class = FreshClient
    try:
        return app.test_client()
    finally:
        app.test_client_class = old
