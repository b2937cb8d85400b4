"""The job executor (engine.jobs): outbox writes, leases, retries with backoff, incidents."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from engine.db import db, unit_of_work
from engine.jobs import JobExecutor, NotDue, backoff, enqueue
from engine.models import Job
from handlers.models import Notification

from .web_helpers import client_world, login, post  # noqa: F401 (fixture)

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def at(moment, seconds=0):
    return time_machine.travel(moment.timestamp() + seconds, tick=False)


def job(job_id) -> Job:
    db.session.rollback()   # a fresh snapshot: other sessions committed meanwhile
    return db.session.get(Job, job_id)


def only_job() -> Job:
    db.session.rollback()   # a fresh snapshot: other sessions committed meanwhile
    [row] = db.session.scalars(select(Job)).all()
    return row


def test_a_job_exists_only_if_its_command_commits(ctx):
    with pytest.raises(RuntimeError), unit_of_work():
        enqueue("test.kind", {"n": 1})
        raise RuntimeError("the state change failed")
    assert db.session.scalars(select(Job)).all() == []
    with unit_of_work():
        enqueue("test.kind", {"n": 2})
    assert only_job().payload == '{"n": 2}' and only_job().state == "pending"


def test_a_killed_workers_jobs_are_picked_up_after_its_lease(ctx):
    ran = []
    handlers = {"test.kind": lambda j: ran.append(j.payload["n"])}
    with at(T0):
        with unit_of_work():
            enqueue("test.kind", {"n": 1})
        killed = JobExecutor(handlers, worker_id="killed", lease=timedelta(seconds=60))
        assert len(killed.claim()) == 1   # claimed, then the process dies before running it
    other = JobExecutor(handlers, worker_id="other", lease=timedelta(seconds=60))
    with at(T0, 59):
        assert other.run_due() == 0 and ran == []   # still leased
    with at(T0, 61):
        assert other.run_due() == 1 and ran == [1]
        assert killed.run_one(only_job().id) == "lost"   # a late run of the dead lease changes nothing
        assert other.run_due() == 0
    row = only_job()
    assert (row.state, row.attempts, row.locked_by) == ("done", 2, None) and ran == [1]


def test_failures_back_off_exponentially_then_become_an_incident_with_retry(client_world):
    client, world = client_world
    calls = []

    def flaky(j):
        calls.append(j.attempts)
        raise ValueError("SMTP 服务器拒绝连接")
    services = client.application.extensions["services"]
    worker = JobExecutor({"test.flaky": flaky}, on_incident=services.engine.job_incident)
    with at(T0):
        with unit_of_work():
            enqueue("test.flaky")
        job_id = only_job().id
    moment = T0
    for attempt in range(1, 5):
        with at(moment):
            assert worker.run_due() == 1
        row = job(job_id)
        assert row.state == "pending" and row.attempts == attempt and "SMTP" in row.last_error
        assert row.due_at == moment.replace(tzinfo=None) + backoff(attempt)
        with at(moment, backoff(attempt).total_seconds() - 1):
            assert worker.run_due() == 0   # not before its backoff
        moment += backoff(attempt)
    with at(moment):
        assert worker.run_due() == 1
    assert calls == [1, 2, 3, 4, 5] and job(job_id).state == "failed"
    [incident] = db.session.scalars(select(Notification).where(Notification.kind == "incident")).all()
    assert incident.account_id == world.who("admin").account_id and "test.flaky" in incident.body
    # the administrator sees it on the incidents page and retries it
    login(client, "admin")
    page = client.get("/admin/definitions").get_data(as_text=True)
    assert "失败的后台作业" in page and "SMTP 服务器拒绝连接" in page
    resp = post(client, f"/admin/jobs/{job_id}/retry", form_url="/admin/definitions", follow_redirects=True)
    assert "作业已重新排队" in resp.get_data(as_text=True)
    row = job(job_id)
    assert (row.state, row.attempts) == ("pending", 0)
    worker.handlers["test.flaky"] = lambda j: calls.append("ok")
    assert worker.run_due() == 1 and job(job_id).state == "done" and calls[-1] == "ok"


def test_a_job_found_early_runs_again_later_without_counting_an_attempt(ctx):
    later = T0 + timedelta(minutes=5)
    seen = []

    def early(j):
        seen.append(j.attempts)
        if len(seen) == 1:
            raise NotDue(later.replace(tzinfo=None))
    worker = JobExecutor({"test.early": early})
    with at(T0):
        with unit_of_work():
            enqueue("test.early")
        assert worker.run_due() == 1
        row = only_job()
        assert (row.state, row.attempts, row.due_at) == ("pending", 0, later.replace(tzinfo=None))
    with at(later, 1):
        assert worker.run_due() == 1
    assert only_job().state == "done" and seen == [1, 1]


def test_a_job_of_an_unknown_kind_fails_into_an_incident(ctx):
    worker = JobExecutor({}, max_attempts=1)
    with unit_of_work():
        enqueue("nobody.handles.this")
    assert worker.run_due() == 1
    row = only_job()
    assert row.state == "failed" and "nobody.handles.this" in row.last_error
