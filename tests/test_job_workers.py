"""Two worker processes, 2,000 due jobs, one worker killed midway: every job runs exactly once.

Runs on the suite's database (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

from engine.db import db, unit_of_work
from engine.jobs import enqueue_many
from engine.models import Job

JOBS = 2000
ROOT = Path(__file__).resolve().parent.parent


def _effects():
    return db.session.execute(text("SELECT count(*), count(DISTINCT job_id), count(DISTINCT worker) FROM job_effect")
                              ).one()


def _leased_by(pid: int) -> int:
    """Jobs the worker process ``pid`` has claimed and not finished (its id names its pid)."""
    return db.session.scalar(select(func.count()).select_from(Job).where(
        Job.state == "pending", Job.locked_by.like(f"%:{pid}:%"))) or 0


def _start_worker():
    url = db.engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen([sys.executable, "-m", "tests.job_worker", url], cwd=ROOT, stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_two_workers_run_2000_jobs_exactly_once_with_one_killed_midway(ctx):
    db.session.execute(text("DROP TABLE IF EXISTS job_effect"))
    db.session.execute(text("CREATE TABLE job_effect (job_id BIGINT NOT NULL, worker INTEGER NOT NULL)"))
    db.session.commit()
    with unit_of_work():
        enqueue_many([("test.effect", {"n": i}, None) for i in range(JOBS)])
    workers = [_start_worker(), _start_worker()]
    for proc in workers:   # booted; now both start on the jobs at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    try:
        deadline = time.monotonic() + 50
        # kill midway, once both workers have run jobs (on a loaded machine one may start late), at a
        # moment the first one holds a leased batch it has not finished (not between two batches): it is
        # stopped while we look, so that it cannot finish the batch between the look and the kill
        while time.monotonic() < deadline:
            done, _distinct, working = _effects()
            db.session.rollback()
            if done >= JOBS // 4 and working == 2:
                workers[0].send_signal(signal.SIGSTOP)
                held = _leased_by(workers[0].pid)
                db.session.rollback()
                if held:
                    break
                workers[0].send_signal(signal.SIGCONT)
            time.sleep(0.01)
        workers[0].send_signal(signal.SIGKILL)   # dies holding a leased batch, maybe mid-transaction
        workers[0].wait(10)
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.scalar(select(func.count()).select_from(Job).where(Job.state != "done")) == 0:
                break
            time.sleep(0.1)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
    db.session.rollback()
    total, distinct, worker_count = _effects()
    assert (total, distinct) == (JOBS, JOBS)   # every job ran, none twice
    assert worker_count == 2
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.state == "done")) == JOBS
    # the killed worker's leased jobs were claimed again after its lease
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1)) > 0
    db.session.execute(text("DROP TABLE job_effect"))
    db.session.commit()
