"""The database as the web layer sees it: bound to the app, its schema created. Queries and
writes stay in the services; the web layer never imports engine.db or engine.models."""
from sqlalchemy import inspect

from engine.db import db


def init_app(app, migrate, migrations_directory: str) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=migrations_directory)


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
