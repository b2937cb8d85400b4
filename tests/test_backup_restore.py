"""Backups that restore (docs/operators.md, "Backups"): the operator's ``scripts/backup``, then the
database destroyed, then ``pg_restore`` into a new empty one, as the documentation says; the
restored site keeps every invariant and operation-log chain, and its attachments open.

The drill runs on a scratch PostgreSQL database of its own beside the suite's (``<name>_restore``),
created and dropped here. The SQLite backup (the embedded default) is tested alone.
"""
import hashlib
import os
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from engine.db import db
from handlers.applications import Upload
from handlers.models import APPROVED, REPORTED, Attachment, UnlockApplication, User
from handlers.principal import Principal
from handlers.processes.unlock import UNLOCK_FORM
from webui import create_app

from .conftest import DATABASE_URL, _driver, is_postgres
from .world import World, locked_person

ROOT = Path(__file__).resolve().parent.parent
BIG_PDF = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024)   # three chunks of the download


def build_province(app) -> dict:
    """Finished and running unlock applications with their forms: the attachments' SHA-256 by id."""
    with app.app_context():
        services = app.extensions["services"]
        world = World.build()
        applicant = world.who("contractor_user")
        reviewer = world.who("agency_reviewer")
        for i, name in enumerate(["张三", "李四", "王五", "赵六"]):
            person, _ = locked_person(world, name)
            lock = next(lk for lk in services.unlock.lockable(applicant) if lk.person_id == person.id)
            app_ = services.unlock.create(applicant, lock.id)
            form = BIG_PDF if i == 0 else b"%PDF-1.4 " + f"{name}的解锁申请表".encode()
            services.unlock.save(applicant, app_.id, {"reason": "项目已停工"},
                                 [Upload(UNLOCK_FORM, f"{name}解锁申请表.pdf", form)])
            services.unlock.report(applicant, app_.id)
            if i < 2:   # two finished, two still waiting for review
                [task] = [t for t in services.reviews.inbox(reviewer).rows if name in t.subject]
                services.reviews.claim(reviewer, task.id)
                services.reviews.approve(reviewer, task.id, "同意解锁")
        statuses = sorted(db.session.scalars(select(UnlockApplication.status)))
        assert statuses == sorted([APPROVED, APPROVED, REPORTED, REPORTED])
        return {a.id: a.sha256 for a in db.session.scalars(select(Attachment))}


@pytest.fixture()
def scratch():
    """An empty scratch database, dropped afterwards: (its URL, a function that destroys it)."""
    base = make_url(DATABASE_URL)
    name = f"{base.database}_restore"
    admin = create_engine(_driver(DATABASE_URL), isolation_level="AUTOCOMMIT")

    def recreate():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    recreate()
    try:
        yield base.set(database=name).render_as_string(hide_password=False), recreate
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def site(url: str):
    return create_app({"SQLALCHEMY_DATABASE_URI": _driver(url), "SECRET_KEY": "test", "TESTING": True})


@pytest.mark.skipif(not is_postgres(), reason="the restore drill backs up and restores PostgreSQL "
                                              "(pg_dump / pg_restore): run it with TEST_DATABASE_URL")
def test_backup_destroy_restore_and_the_site_is_whole(scratch, tmp_path):
    url, destroy = scratch
    before = site(url)
    assert before.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    attachments = build_province(before)
    with before.app_context():
        db.engine.dispose()

    # the operator's backup, as cron runs it
    dump = tmp_path / "ynqs.dump"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "backup"), str(dump)], cwd=tmp_path,
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"backed up to {dump}" in done.stdout and "custom format" in done.stdout

    # the database is lost; a new empty one takes its name, and the backup goes in
    destroy()
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    restored = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq}", str(dump)],
                              capture_output=True, text=True, timeout=600)
    assert restored.returncode == 0, restored.stderr

    after = site(url)
    cli = after.test_cli_runner()
    upgraded = cli.invoke(args=["db", "upgrade"])   # at head already: nothing to do
    assert upgraded.exit_code == 0, upgraded.output
    invariants = cli.invoke(args=["check-invariants"])
    assert invariants.exit_code == 0 and "所有不变量均成立" in invariants.output, invariants.output
    chains = cli.invoke(args=["audit", "verify"])
    assert chains.exit_code == 0 and chains.output.strip() == "4 instance log(s) checked, 0 broken", chains.output

    with after.app_context():
        services = after.extensions["services"]
        assert {a.id: a.sha256 for a in db.session.scalars(select(Attachment))} == attachments
        att_id = random.choice(sorted(attachments))
        blob = services.uploads.open(attachments[att_id])
        assert hashlib.sha256(blob.read()).hexdigest() == attachments[att_id]
        big = hashlib.sha256(BIG_PDF).hexdigest()
        assert services.uploads.open(big).read() == BIG_PDF
        # and the work goes on where it stopped: the reviewer approves a waiting application
        reviewer = Principal.of(db.session.scalar(select(User).where(User.username == "agency_reviewer")).accounts[0])
        task = services.reviews.inbox(reviewer).rows[0]
        services.reviews.claim(reviewer, task.id)
        services.reviews.approve(reviewer, task.id, "同意解锁")
        assert sorted(db.session.scalars(select(UnlockApplication.status))) == sorted([APPROVED] * 3 + [REPORTED])
        db.session.remove()
    assert cli.invoke(args=["check-invariants"]).exit_code == 0
    assert cli.invoke(args=["audit", "verify"]).exit_code == 0
    with after.app_context():
        db.engine.dispose()


@pytest.mark.skipif(is_postgres(), reason="the SQLite backup is tested on SQLite; PostgreSQL runs the restore drill")
def test_sqlite_backup_is_a_whole_database_with_its_attachments(tmp_path):
    url = f"sqlite:///{tmp_path / 'ynqs.sqlite3'}"
    before = site(url)
    assert before.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    attachments = build_province(before)
    with before.app_context():
        db.engine.dispose()
    copy = tmp_path / "backup" / "ynqs-backup.sqlite3"
    copy.parent.mkdir()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "backup"), str(copy)], cwd=tmp_path,
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "SQLite" in done.stdout and "online backup" in done.stdout
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(conn.execute("SELECT a.id, b.data FROM attachment a JOIN upload_blob b ON b.sha256 = a.sha256"))
    assert {i: hashlib.sha256(data).hexdigest() for i, data in rows.items()} == attachments

    restored = site(f"sqlite:///{copy}")
    assert restored.test_cli_runner().invoke(args=["check-invariants"]).exit_code == 0
    assert restored.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
