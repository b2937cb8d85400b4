"""The job worker stops gracefully (docs/operators.md, "Job worker"): on SIGTERM it claims no
more, finishes the job it is running and hands the rest of its claim back, so that another
worker takes them at once (not after the lease); a job still running after the grace period is
handed back too. It exits 0, and every job is done exactly once. Real worker processes on the
suite's database."""
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from engine.db import db, unit_of_work
from engine.jobs import enqueue_many
from engine.models import Job, utcnow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def effects(ctx):
    db.session.execute(text("DROP TABLE IF EXISTS job_effect"))
    db.session.execute(text("CREATE TABLE job_effect (job_id BIGINT NOT NULL, worker INTEGER NOT NULL)"))
    db.session.commit()

    def done():
        db.session.rollback()
        return sorted(db.session.execute(text("SELECT job_id FROM job_effect")).scalars())
    yield done
    db.session.rollback()
    db.session.execute(text("DROP TABLE job_effect"))
    db.session.commit()


def _worker(tmp_path, *options, slow=2.0):
    env = {**os.environ, "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "SECRET_KEY": "test", "UPLOAD_DIR": str(tmp_path / "uploads"), "SLOW_JOB_SECONDS": str(slow),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tests.shutdown_worker", *options], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=open(tmp_path / "worker.err", "a"), text=True)


def _wait_for(proc, line: str) -> list[str]:
    seen = []
    for out in proc.stdout:
        seen.append(out.strip())
        if out.strip() == line:
            return seen
    raise AssertionError(f"the worker ended before {line!r}: {seen}")


def _jobs(*kinds):
    """Due jobs of these kinds, due one second apart in this order; their ids in that order."""
    now = utcnow()
    with unit_of_work():
        enqueue_many([(kind, {}, now - timedelta(seconds=len(kinds) - i)) for i, kind in enumerate(kinds)])
    db.session.rollback()
    return list(db.session.scalars(select(Job.id).order_by(Job.due_at, Job.id)))


def _job(job_id):
    db.session.rollback()
    return db.session.get(Job, job_id)


def test_sigterm_mid_job_finishes_it_and_hands_the_rest_back(effects, tmp_path):
    slow, *quick = _jobs("test.slow", *["test.effect"] * 5)
    worker = _worker(tmp_path, "--poll", "0.05", "--lease", "300", "--grace", "60", "--delivery-threads", "1",
                     slow=3)
    try:
        _wait_for(worker, f"started {slow}")   # the worker claimed all six, and runs the slow one
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert "stopped" in out and "still running" not in out
    assert effects() == [slow]                       # finished, once
    assert _job(slow).state == "done"
    for job_id in quick:                              # handed back: free at once, the attempt not counted
        job = _job(job_id)
        assert (job.state, job.locked_by, job.locked_until, job.attempts) == ("pending", None, None, 0)

    # another worker takes them at once, although the first one's lease had 300 s to run
    other = _worker(tmp_path, "--once")
    out, _ = other.communicate(timeout=120)
    assert other.returncode == 0 and "5 job(s) run" in out
    assert effects() == sorted([slow, *quick])       # every job exactly once


def test_a_job_still_running_after_the_grace_period_is_handed_back(effects, tmp_path):
    [delivery] = _jobs("test.slow_io")
    worker = _worker(tmp_path, "--poll", "0.05", "--lease", "300", "--grace", "1", "--delivery-threads", "1",
                     slow=120)
    try:
        _wait_for(worker, f"started {delivery}")   # waiting on the other system, outside a transaction
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert "1 job(s) still running after 1 s handed back" in out
    job = _job(delivery)
    assert (job.state, job.locked_by, job.attempts) == ("pending", None, 1)   # its attempt counts
    assert effects() == []

    other = _worker(tmp_path, "--once", slow=0)
    out, _ = other.communicate(timeout=120)
    assert other.returncode == 0 and "1 job(s) run" in out
    assert effects() == [delivery]                   # done once, by the other worker
    assert _job(delivery).state == "done"
