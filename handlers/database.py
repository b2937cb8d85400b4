"""The database as the web layer sees it: bound to the app, its schema created. Queries and
writes stay in the services; the web layer never imports engine.db or engine.models."""
import logging

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from engine.db import db, end_reading
# the JSON API's calls that write run as one unit of work (webui/api/security.py) and answer from the
# steps it ran (webui/api/processes.py), and a page that reads what its command then changes begins
# the write transaction first (webui/writes.py): the web layer reaches them through here, never
# through engine.db
from engine.db import begin_write, call_steps, call_unit, is_rollback_only  # noqa: F401


log = logging.getLogger(__name__)
PLAN_CACHE_MODES = ("auto", "force_generic_plan", "force_custom_plan")


def init_app(app, migrate, migrations_directory: str) -> None:
    _postgres_session_options(app.config)
    db.init_app(app)

    @app.teardown_appcontext   # registered after Flask-SQLAlchemy's, so it runs before the session is removed
    def _end_reading(exc):
        if exc is None:
            try:
                end_reading()
            except Exception:   # noqa: BLE001 - it only read: nothing is lost, the session's removal rolls back
                log.warning("ending a read-only transaction failed", exc_info=True)

    migrate.init_app(app, db, directory=migrations_directory)


def _postgres_session_options(config) -> None:
    """Connection options of a PostgreSQL database: ``plan_cache_mode`` (PG_PLAN_CACHE_MODE).

    psycopg prepares a statement on its fifth run; PostgreSQL then still plans it again on every
    run while it judges a plan for the parameters cheaper than a generic one. The ORM's statements
    that join an application with its person, lock record, project and organisations take ~3 ms to
    plan and ~0.3 ms to run, so every page paid for planning. A generic plan is made once per
    connection and statement. ``auto`` gives the decision back to the server.
    """
    mode = config.get("PG_PLAN_CACHE_MODE") or "auto"
    if mode not in PLAN_CACHE_MODES:
        raise ValueError(f"PG_PLAN_CACHE_MODE must be one of {', '.join(PLAN_CACHE_MODES)}, not {mode!r}")
    if not config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") or mode == "auto":
        return
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    # connect_args replace the URL's own ``?options=…`` (e.g. a search_path): keep both, and put this
    # setting first so that one the operator wrote in the URL wins
    in_url = make_url(config["SQLALCHEMY_DATABASE_URI"]).query.get("options")
    given = [*(in_url if isinstance(in_url, tuple) else [in_url]), connect_args.get("options")]
    connect_args["options"] = " ".join([f"-c plan_cache_mode={mode}", *filter(None, given)])
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}


def create_schema() -> None:
    db.create_all()


def abandon_transaction() -> None:
    """Roll back whatever the failed request left in the session (an error page must not run its
    own queries inside a transaction PostgreSQL has already aborted)."""
    db.session.rollback()


def current_engine():
    """The application's SQLAlchemy engine (for instruments such as the request profiler)."""
    return db.engine


def key_of(row) -> int:
    """The primary key of a row the session knows, without reading it again (a commit expires
    every attribute, ``id`` included, so ``row.id`` after a command is one more SELECT)."""
    return inspect(row).identity[0]
