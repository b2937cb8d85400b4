"""Shared helpers: the app under test, timing, percentiles, SQL statement counting."""
import os
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from engine.db import db

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/bench"


def pg_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)


def driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def ensure_pg_database(url: str) -> None:
    """Create the benchmark database if it is missing (never touches any other database)."""
    u = make_url(driver_url(url))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    finally:
        admin.dispose()


def make_app(url: str, workdir: Path):
    from webui import create_app
    options = {"pool_pre_ping": False}
    if not url.startswith("sqlite"):
        options.update(pool_size=60, max_overflow=10)
    else:
        options.update(pool_size=60, max_overflow=10, connect_args={"timeout": 30})
    return create_app({
        "SQLALCHEMY_DATABASE_URI": driver_url(url),
        "SECRET_KEY": "bench", "SQLALCHEMY_ENGINE_OPTIONS": options,
    })


def reset_schema(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            db.drop_all()
        db.create_all()
        app.extensions["services"].deploy_definitions()
        db.session.remove()


def percentiles(samples: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds of samples in seconds."""
    if not samples:
        return {"n": 0}
    s = sorted(samples)

    def pick(q):
        return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))] * 1000
    return {"n": len(s), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": s[-1] * 1000,
            "mean": statistics.fmean(s) * 1000}


class StatementCounter:
    """Counts statements sent to the database, attributed to the current label."""

    def __init__(self, engine):
        self.engine, self.label, self.counts, self.captured = engine, None, {}, None
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn, _cursor, statement, parameters, _context, _many):
        if self.label is not None:
            self.counts.setdefault(self.label, []).append(statement)
        if self.captured is not None:
            self.captured.append((statement, parameters))

    @contextmanager
    def action(self, label):
        self.label = label
        try:
            yield
        finally:
            self.label = None

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


class Timer:
    """Collects wall-clock samples per label."""

    def __init__(self):
        self.samples: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, label):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.samples.setdefault(label, []).append(time.perf_counter() - t0)
