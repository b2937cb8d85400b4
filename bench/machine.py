"""What the figures were measured on."""
import os
import platform
import sqlite3
import sys
from datetime import datetime, timezone
from importlib.metadata import version

import psutil
from sqlalchemy import create_engine, text


def describe(pg_url: str | None) -> dict:
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": f"{psutil.cpu_count(logical=False) or '?'} physical / {os.cpu_count()} logical",
        "load": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{p} {version(p)}" for p in ("SpiffWorkflow", "SQLAlchemy", "Flask", "psycopg",
                                                             "gunicorn")),
    }
    if pg_url:
        engine = create_engine(pg_url)
        try:
            with engine.connect() as conn:
                info["postgresql"] = conn.scalar(text("SHOW server_version"))
                info["postgresql settings"] = ", ".join(
                    f"{n}={conn.scalar(text(f'SHOW {n}'))}" for n in ("shared_buffers", "work_mem",
                                                                      "synchronous_commit"))
        finally:
            engine.dispose()
    return info


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
