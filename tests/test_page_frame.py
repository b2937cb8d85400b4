"""The page frame's code-derived parts, built once per process (webui/layout.py), and the limiter's
per-request check, skipped while no limit is declared (webui/limiter.py)."""
from webui import create_app
from webui.limiter import limiter

from engine.db import db

from .web_helpers import login, new_client


def test_frame_urls_follow_the_script_root(ctx):
    """The frame's URLs are kept per script root: an application mounted under a prefix links its
    own static files and pages, whichever mount point a request came through first."""
    client = ctx.test_client()
    plain = client.get("/auth/login").get_data(as_text=True)
    mounted = client.get("/auth/login", base_url="http://localhost/qs").get_data(as_text=True)
    assert 'href="/static/app.css"' in plain and 'href="/help"' in plain
    assert 'href="/qs/static/app.css"' in mounted and 'href="/qs/help"' in mounted
    assert 'src="/qs/static/widgets.js"' in mounted and "/qs/auth/register" in mounted
    assert 'href="/static/app.css"' in client.get("/auth/login").get_data(as_text=True)


def test_enterprise_menus_per_kind(ctx, world):
    """Each organisation kind sees the menus of the processes it files; the next request of the
    same kind shows the same navigation."""
    navs = {}
    for key in ("contractor_user", "owner_user", "contractor_user"):
        client = new_client(ctx)
        login(client, key)
        nav = _nav(client.get("/help").get_data(as_text=True))
        assert 'class="menu-panel"' in nav and 'href="/apply/mine"' in nav
        navs.setdefault(key, nav)
        assert navs[key] == nav
    assert navs["contractor_user"] != navs["owner_user"]


def _nav(html: str) -> str:
    return html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]


def test_a_declared_limit_is_still_checked(tmp_path):
    """The product declares no limit (it counts with ``hit``); one declared on a view is enforced."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'frame.sqlite3'}",
                      "SECRET_KEY": "test", "RATELIMIT_STORAGE_URI": "memory://",
                      "UPLOAD_DIR": str(tmp_path / "uploads"), "CERTIFICATE_KEY_DIR": str(tmp_path / "keys")})

    with app.app_context():
        db.create_all()

        @app.get("/limited-once")
        @limiter().limit("1 per minute")
        def limited_once():
            return "ok"

    client = app.test_client()
    assert client.get("/limited-once").status_code == 200
    assert client.get("/limited-once").status_code == 429
    with app.app_context():
        db.session.remove()
        db.drop_all()
