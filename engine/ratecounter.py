"""Rate-limit counters in the application's database: a storage of the ``limits`` library.

Flask-Limiter counts every limit of the product (webui/limiter.py). With ``RATELIMIT_STORAGE_URI``
unset it counts here (``database://``): one ``rate_limit_counter`` row per limit and client, a
fixed window that starts at the client's first hit, as the library's Redis and memory storages do.
Every worker of every host that shares the database counts in the same row.

A hit is one statement, ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (PostgreSQL, and SQLite
3.35 or later): it starts the window, adds to it, or starts it again once it has expired, and
returns the new count, atomically under concurrent workers. It runs on a connection and in a
transaction of its own, committed at once, so it never joins, waits for or rolls back with the
request's transaction. Expired rows are deleted on the way: every ``PURGE_EVERY``-th hit of a
process also deletes the rows whose window ended (one indexed statement).
"""
import itertools
import threading
import time

from limits.storage import Storage
from sqlalchemy import bindparam, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from .db import db
from .models import RateLimitCounter

_T = RateLimitCounter.__table__
SCHEME = "database"
PURGE_EVERY = 500   # hits of one process between two deletions of expired rows


def _upsert(insert):
    stmt = insert(_T).values(key=bindparam("p_key"), count=bindparam("p_amount"), expires_at=bindparam("p_expires"))
    expired = _T.c.expires_at <= bindparam("p_now")
    return stmt.on_conflict_do_update(index_elements=[_T.c.key], set_={
        # both read the row as it was: an expired window starts again with this hit
        "count": case((expired, stmt.excluded["count"]), else_=_T.c.count + stmt.excluded["count"]),
        "expires_at": case((expired, stmt.excluded.expires_at), else_=_T.c.expires_at),
    }).returning(_T.c.count)


_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}
_GET = select(_T.c.count, _T.c.expires_at).where(_T.c.key == bindparam("p_key"))
_PURGE = delete(_T).where(_T.c.expires_at <= bindparam("p_now"))


def purge_expired(conn, now: float | None = None) -> int:
    """Delete the counters whose window has ended; returns how many."""
    return conn.execute(_PURGE, {"p_now": time.time() if now is None else now}).rowcount


class DatabaseStorage(Storage):
    """``database://``: the counters in the current application's database (Flask-SQLAlchemy's engine)."""
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._hits = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    @staticmethod
    def _writing():
        """A connection of its own whose transaction commits when the block ends (SQLite: BEGIN IMMEDIATE)."""
        return db.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            purge = next(self._hits) % PURGE_EVERY == 0
        with self._writing() as conn, conn.begin():
            count = conn.execute(_UPSERT[conn.dialect.name],
                                 {"p_key": key, "p_amount": amount, "p_expires": now + expiry, "p_now": now}).scalar_one()
            if purge:
                purge_expired(conn, now)
        return count

    def _row(self, key: str):
        with db.engine.connect() as conn:
            row = conn.execute(_GET, {"p_key": key}).first()
            conn.rollback()
        return row if row is not None and row.expires_at > time.time() else None

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at if row is not None else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as conn:
                conn.execute(select(func.count()).select_from(_T).where(_T.c.key == ""))
                conn.rollback()
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self._writing() as conn, conn.begin():
            return conn.execute(delete(_T)).rowcount

    def clear(self, key: str) -> None:
        with self._writing() as conn, conn.begin():
            conn.execute(delete(_T).where(_T.c.key == key))
