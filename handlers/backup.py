"""``flask backup FILE``: the whole database, the attachments' bytes included (upload_blob), in one
file that restores on its own (docs/operators.md, "Backups").

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot while the application runs; restore
with ``pg_restore`` into an empty database). The password goes to pg_dump in its environment, never
on its command line. SQLite: SQLite's online backup, a consistent copy while the application runs.
"""
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from engine.db import db


class BackupFailed(Exception):
    pass


def backup(file: Path) -> str:
    """Write the database to ``file``; what was used to write it."""
    url = db.engine.url
    file = Path(file)
    if url.get_backend_name() == "postgresql":
        return _pg_dump(url, file)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return _sqlite_copy(Path(url.database), file)
    raise BackupFailed(f"no backup for the database {url.render_as_string(hide_password=True)}")


def _pg_dump(url, file: Path) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed("pg_dump was not found: install the PostgreSQL client (Debian: postgresql-client)")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    tmp = file.with_name(file.name + ".partial")
    done = subprocess.run([pg_dump, "--format=custom", f"--file={tmp}", f"--dbname={libpq}"],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        tmp.unlink(missing_ok=True)
        raise BackupFailed(f"pg_dump exited with {done.returncode}: {done.stderr.strip()}")
    tmp.replace(file)   # a file under the final name is a whole backup
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True).stdout.strip()
    return f"{version}, custom format"


def _sqlite_copy(database: Path, file: Path) -> str:
    tmp = file.with_name(file.name + ".partial")
    tmp.unlink(missing_ok=True)
    source, target = sqlite3.connect(database), sqlite3.connect(tmp)
    try:
        with target:
            source.backup(target)
    except sqlite3.Error as e:
        tmp.unlink(missing_ok=True)
        raise BackupFailed(f"SQLite backup failed: {e}") from e
    finally:
        source.close()
        target.close()
    tmp.replace(file)
    return f"SQLite {sqlite3.sqlite_version} online backup"
