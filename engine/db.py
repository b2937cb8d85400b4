"""The shared SQLAlchemy handle and database-specific connection setup."""
from contextlib import contextmanager

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, _record):
    # pysqlite opens transactions lazily and breaks SAVEPOINT; take control of
    # BEGIN ourselves (SQLAlchemy's documented recipe), and wait for locks.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")   # durable at checkpoints; safe against corruption in WAL
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        # commands take the write lock up front: a deferred transaction that read first and
        # writes later cannot wait for a concurrent writer and fails with "database is locked"
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def begin_write() -> None:
    """Start the session's transaction as a write transaction (SQLite: BEGIN IMMEDIATE)."""
    session = db.session()   # the scoped session's current Session
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()   # end the read transaction the request may have opened
    session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})


@contextmanager
def unit_of_work():
    """One action = one transaction: open a unit of work, or join the one already open.

    The outermost block begins a write transaction and commits on success; any exception
    rolls everything back. Inner blocks join the open transaction, as Camunda's
    CommandContextInterceptor does, so nested service calls never commit half an action.
    """
    info = db.session.info   # the depth lives on the (thread-scoped) session
    info["command_depth"] = depth = info.get("command_depth", 0) + 1
    try:
        if depth == 1:
            begin_write()
        yield
        if depth == 1:
            db.session.commit()
    except BaseException:
        if depth == 1:
            db.session.rollback()
        raise
    finally:
        info["command_depth"] = depth - 1
