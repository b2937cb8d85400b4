"""How the application uses its database connections: a request that only read ends with COMMIT,
so that PostgreSQL keeps the statements psycopg prepared, and the prepared statements get one
generic plan (PG_PLAN_CACHE_MODE) instead of being planned again on every run."""
import pytest
from sqlalchemy import event, text, update

from engine.db import db, end_reading
from handlers import lock_rule
from handlers.models import Organization, UnlockApplication
from webui import create_app

from .conftest import is_postgres
from .web_helpers import FreshClient, csrf_token, login
from .world import locked_person

postgres_only = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL connection options")


def test_a_request_that_wrote_outside_a_unit_of_work_is_not_committed_at_its_end(world):
    """end_reading commits only what read: a change left in the session is rolled back as before."""
    org_id = world.org("contractor").id
    db.session.commit()
    name = db.session.get(Organization, org_id).name
    db.session.get(Organization, org_id).name = "未提交的修改"
    db.session.flush()
    end_reading()            # the teardown: it must not commit the flushed change
    db.session.remove()
    assert db.session.get(Organization, org_id).name == name


def test_a_read_only_request_ends_its_transaction_with_commit(world, ctx):
    """The pages' teardown: a GET ends with COMMIT, not with the ROLLBACK of closing the session."""
    client = FreshClient(ctx, ctx.response_class, use_cookies=True)   # each request its own app context
    login(client, "contractor_user")
    ended = []
    listeners = {"commit": lambda conn: ended.append("commit"), "rollback": lambda conn: ended.append("rollback")}
    for name, fn in listeners.items():
        event.listen(db.engine, name, fn)
    try:
        assert client.get("/apply/unlock/").status_code == 200
    finally:
        for name, fn in listeners.items():
            event.remove(db.engine, name, fn)
    assert ended == ["commit"]


@postgres_only
def test_prepared_statements_survive_from_one_page_to_the_next(world, ctx):
    """psycopg prepares a statement on its fifth run and forgets everything on ROLLBACK; pages that
    end with COMMIT keep the list page's statements prepared on the worker's connection."""
    db.session.remove()
    db.engine.dispose()   # one connection, as a sync worker has (the pool hands connections out in turn)
    client = FreshClient(ctx, ctx.response_class, use_cookies=True)
    login(client, "contractor_user")
    for _ in range(7):
        assert client.get("/apply/unlock/").status_code == 200
    with ctx.app_context():
        prepared = db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
        db.session.rollback()
    assert any("unlock_application" in s for s in prepared), prepared


@postgres_only
def test_a_page_with_a_preview_keeps_the_prepared_statements(world, services, ctx):
    """The detail page of a draft rehearses 自动解锁 in a savepoint it rolls back. psycopg forgets,
    and deallocates on the server, every prepared statement when it sees a ROLLBACK, that of a
    savepoint too; the statements prepared before the page stay prepared under the same names."""
    person, _project = locked_person(world, "预演经理")
    [lock] = lock_rule.open_locks(person.id)
    app_id = services.unlock.create(world.who("contractor_user"), lock.id).id
    db.session.remove()
    db.engine.dispose()   # one connection, as a sync worker has
    client = FreshClient(ctx, ctx.response_class, use_cookies=True)
    login(client, "contractor_user")

    def prepared():
        with ctx.app_context():
            names = dict(db.session.execute(text("SELECT name, statement FROM pg_prepared_statements")).all())
            db.session.commit()   # a read: COMMIT keeps them (a ROLLBACK would forget them)
        return names
    for _ in range(7):
        assert client.get("/apply/unlock/").status_code == 200
    before = prepared()
    assert any("unlock_application" in s for s in before.values()), before
    page = client.get(f"/apply/unlock/{app_id}")
    assert page.status_code == 200 and "审核通过后" in page.get_data(as_text=True)   # the preview was rehearsed
    after = prepared()
    assert before.items() <= after.items()


@postgres_only
def test_connections_plan_prepared_statements_once(app):
    assert app.config["PG_PLAN_CACHE_MODE"] == "force_generic_plan"
    with app.app_context():
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
        db.session.rollback()


@postgres_only
def test_options_in_the_database_url_are_kept(app, tmp_path):
    """A DATABASE_URL may carry its own connection options (here a search_path): the plan cache
    setting is added to them, not put in their place."""
    url = app.config["SQLALCHEMY_DATABASE_URI"] + "?options=-csearch_path%3Dsome_schema"
    other = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "UPLOAD_DIR": str(tmp_path)})
    with other.app_context():
        try:
            assert db.session.scalar(text("SHOW search_path")) == "some_schema"
            assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_an_unknown_plan_cache_mode_is_refused_at_start(app):
    with pytest.raises(ValueError, match="PG_PLAN_CACHE_MODE"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                    "PG_PLAN_CACHE_MODE": "sometimes", "SECRET_KEY": "test"})


def test_plan_cache_mode_auto_leaves_the_server_default(app):
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "PG_PLAN_CACHE_MODE": "auto", "SECRET_KEY": "test", "UPLOAD_DIR": app.config["UPLOAD_DIR"]})
    assert "connect_args" not in other.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with other.app_context():
        if db.engine.dialect.name == "postgresql":
            assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"
        db.session.remove()
        db.engine.dispose()


def test_a_failing_commit_at_the_end_of_a_page_does_not_fail_the_page(world, ctx, monkeypatch):
    """The page was answered and nothing was written: a COMMIT that fails (the connection dropped)
    is logged, the session's removal rolls back, and the user still gets the page."""
    import handlers.database

    def broken():
        raise RuntimeError("connection lost")
    warnings = []
    client = FreshClient(ctx, ctx.response_class, use_cookies=True)
    login(client, "contractor_user")
    monkeypatch.setattr(handlers.database, "end_reading", broken)
    # the logger itself may have been disabled by an Alembic run earlier in the process
    monkeypatch.setattr(handlers.database.log, "warning", lambda message, **kw: warnings.append(message))
    assert client.get("/apply/unlock/").status_code == 200
    assert warnings == ["ending a read-only transaction failed"]


def test_a_refused_save_shows_its_preview_and_leaves_the_database_free(world, services, ctx):
    """暂存 reads the application inside the write transaction its command goes on in (webui/writes.py).
    Refused by the form before any command (text posted where the form takes a file), the page comes
    back with the 自动解锁 preview, rehearsed in that transaction, nothing is changed, and the request
    holds no lock when it ends: another connection writes at once."""
    person, _project = locked_person(world, "暂存经理")
    [lock] = lock_rule.open_locks(person.id)
    app = services.unlock.create(world.who("contractor_user"), lock.id)
    app_id, updated = app.id, app.updated_at
    db.session.remove()
    client = FreshClient(ctx, ctx.response_class, use_cookies=True)
    login(client, "contractor_user")
    page = client.post(f"/apply/unlock/{app_id}", data={
        "csrf_token": csrf_token(client, f"/apply/unlock/{app_id}"), "reason": "项目已停工", "explanation": "",
        "unlock_form": "不是文件"},
        content_type="multipart/form-data")
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and "请选择要上传的文件" in body and "审核通过后将" in body
    with ctx.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql("PRAGMA busy_timeout=0")   # a held write lock fails at once
                try:
                    conn.execute(update(Organization).where(Organization.id == world.org("contractor").id)
                                 .values(contact_phone="0871-1234567"))
                finally:
                    conn.exec_driver_sql("PRAGMA busy_timeout=10000")
        saved = db.session.get(UnlockApplication, app_id)
        assert not saved.reason and saved.updated_at == updated
        db.session.rollback()
