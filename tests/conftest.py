"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL when
TEST_DATABASE_URL points at one (``.ci/run`` runs both)."""
import os

import pytest
from sqlalchemy import text

from engine.db import db
from webui import create_app

from .world import World

DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def is_postgres() -> bool:
    return bool(DATABASE_URL and DATABASE_URL.startswith("postgres"))


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    url = DATABASE_URL or f"sqlite:///{tmp / 'test.sqlite3'}"
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": _driver(url), "UPLOAD_DIR": str(tmp / "uploads"),
        "SECRET_KEY": "test", "WTF_CSRF_ENABLED": True, "CERTIFICATE_KEY_DIR": str(tmp / "certificate_keys"),
    })
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()


@pytest.fixture()
def ctx(app):
    """An app context over an empty database with the diagrams deployed."""
    with app.app_context():
        _empty(app)
        from webui import limiter
        limiter.reset()   # the rate-limit counters start empty too (also when they live in Redis)
        app.extensions["services"].deploy_definitions()
        yield app
        db.session.remove()


@pytest.fixture()
def services(ctx):
    return ctx.extensions["services"]


@pytest.fixture()
def world(ctx):
    return World.build()


def _empty(app):
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()
    from engine import workcalendar
    workcalendar.invalidate()   # the calendar cache must not outlive the emptied tables
    from handlers import webhooks
    webhooks.forget_listeners()   # nor the subscriptions kept for the commits that raise events
    app.extensions["services"].engine.definitions.watch.forget()   # the generations start again too


def _driver(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@pytest.fixture(autouse=True)
def _operation_logs_verify(request, app):
    """After every test that used the database, every instance's operation log still verifies:
    whatever the engine wrote, on any path, chains correctly."""
    yield
    if "ctx" not in request.fixturenames or request.node.get_closest_marker("tampers_audit_log"):
        return
    from engine.audit import verify_all
    with app.app_context():
        with db.engine.connect() as conn:
            broken = [found.describe() for _id, found in verify_all(conn) if found is not None]
        db.session.remove()
    assert broken == [], broken
