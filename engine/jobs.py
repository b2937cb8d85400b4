"""The job executor: an outbox table (``engine_job``) run by any number of workers.

A job is written with ``enqueue`` inside the unit of work of the state change that causes it,
so it exists exactly when that change commits. Workers claim due jobs in short transactions
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock of BEGIN IMMEDIATE on
SQLite) and take a lease on them; each job then runs in its own transaction that first locks
its row and checks the lease is still this worker's, and marks it done in the same commit as
the handler's effects. A killed worker's jobs become claimable again when its lease ends; a
worker that is stopped (``stop`` set, e.g. on SIGTERM) finishes the job it is running and hands
the rest of its claim back at once (``hand_back``).
"""
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import case, insert, or_, select, update

from . import logcontext
from .db import command, db, unit_of_work
from .models import Job, utcnow

log = logging.getLogger(__name__)
_J = Job.__table__
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
BACKOFF_BASE, BACKOFF_CAP = timedelta(seconds=30), timedelta(hours=1)
_INSERT = insert(_J)


@dataclass(frozen=True)
class JobContext:
    """What a job handler receives."""
    id: int
    kind: str
    payload: dict
    attempts: int     # this run included
    due_at: datetime


JobHandler = Callable[[JobContext], None]


@dataclass(frozen=True)
class IOJob:
    """A job whose slow input/output must not hold a transaction or the job's row lock.

    The executor runs ``outside(ctx)`` with no transaction open (it may read, and must end its
    read before the slow part), then ``record(ctx, result)`` in the job's own transaction, which
    checks the lease first: a lease that ran out meanwhile makes the run 'lost' (the effect
    outside may then happen twice, so such jobs must be safe to repeat)."""
    outside: Callable[[JobContext], object]
    record: Callable[[JobContext, object], None]


class NotDue(Exception):
    """A handler found its job early (e.g. clocks apart): run it again at ``at``, no attempt counted."""

    def __init__(self, at: datetime):
        super().__init__(at)
        self.at = at


def enqueue(kind: str, payload: dict | None = None, due_at: datetime | None = None) -> None:
    """Write one job in the open unit of work (naive UTC ``due_at``; now when omitted)."""
    enqueue_many([(kind, payload, due_at)])


def enqueue_many(jobs) -> None:
    """Write jobs given as (kind, payload, due_at) in one statement."""
    now = utcnow()
    rows = [dict(kind=kind, payload=json.dumps(payload or {}, ensure_ascii=False), state="pending",
                 due_at=due_at or now, attempts=0, created_at=now) for kind, payload, due_at in jobs]
    if rows:
        db.session.flush()   # what the command changed through the ORM goes first
        db.session.connection().execute(_INSERT, rows)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


class JobExecutor:
    """Claims and runs due jobs; one instance per worker thread or process."""

    def __init__(self, handlers: dict[str, JobHandler], *, worker_id: str | None = None, lease: timedelta = LEASE,
                 batch: int = 20, max_attempts: int = MAX_ATTEMPTS,
                 on_incident: Callable[[JobContext, str], None] | None = None,
                 kinds=None, skip_kinds=(), refresh: Callable[[], None] | None = None):
        self.handlers = handlers
        # run before each claimed batch: the caches see changes made by other processes (engine.generations)
        self.refresh = refresh
        # a lane: only these kinds (None: all), never those; lanes keep slow kinds from delaying the rest
        self.kinds, self.skip_kinds = (frozenset(kinds) if kinds is not None else None), frozenset(skip_kinds)
        self._claimed: dict[int, JobContext] = {}
        self.running: int | None = None   # the job being run now (read by the stopping main thread)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease, self.batch, self.max_attempts = lease, batch, max_attempts
        self.on_incident = on_incident

    # -- claiming -------------------------------------------------------------------------------
    def claim(self, limit: int | None = None) -> list[int]:
        """Lease up to ``limit`` due jobs to this worker; other workers skip the rows being claimed."""
        with unit_of_work():
            now = utcnow()
            due = (select(_J.c.id).where(_J.c.state == "pending", _J.c.due_at <= now,
                                         or_(_J.c.locked_until.is_(None), _J.c.locked_until < now))
                   .order_by(_J.c.due_at, _J.c.id).limit(limit or self.batch).with_for_update(skip_locked=True))
            if self.kinds is not None:
                due = due.where(_J.c.kind.in_(sorted(self.kinds)))
            if self.skip_kinds:
                due = due.where(_J.c.kind.not_in(sorted(self.skip_kinds)))
            rows = db.session.connection().execute(
                update(_J).where(_J.c.id.in_(due.scalar_subquery()))
                .values(locked_by=self.worker_id, locked_until=now + self.lease, attempts=_J.c.attempts + 1)
                .returning(_J.c.id, _J.c.due_at, _J.c.kind, _J.c.payload, _J.c.attempts)).all()
        for r in rows:
            self._claimed[r.id] = JobContext(r.id, r.kind, json.loads(r.payload or "{}"), r.attempts, r.due_at)
        return [r.id for r in sorted(rows, key=lambda r: (r.due_at, r.id))]

    # -- running --------------------------------------------------------------------------------
    def run_due(self, max_jobs: int | None = None, stop: threading.Event | None = None) -> int:
        """Run due jobs until none is left (or ``max_jobs`` ran, or ``stop`` is set: the claimed
        jobs not yet started are then handed back); returns how many were run."""
        ran = 0
        while (max_jobs is None or ran < max_jobs) and not (stop is not None and stop.is_set()):
            ids = self.claim(self.batch if max_jobs is None else min(self.batch, max_jobs - ran))
            if not ids:
                break
            if self.refresh is not None:
                self.refresh()
                db.session.rollback()   # its read ends here: each job opens its own transaction
            for i, job_id in enumerate(ids):
                if stop is not None and stop.is_set():
                    self.hand_back(ids[i:])
                    return ran
                self.run_one(job_id)
                ran += 1
        return ran

    def run_forever(self, stop: threading.Event | None = None, poll: float = 1.0) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                ran = self.run_due(self.batch, stop)
            except Exception:  # noqa: BLE001 — a lost connection must not end the worker
                log.exception("worker %s: claiming failed", self.worker_id)
                db.session.remove()
                ran = 0
            if not ran:
                stop.wait(poll)

    # -- stopping -------------------------------------------------------------------------------
    def hand_back(self, ids) -> int:
        """Give claimed jobs that have not started back to the queue: unlocked, so any worker claims
        them at once, and their claim's attempt not counted. Returns how many were handed back."""
        ids = list(ids)
        for job_id in ids:
            self._claimed.pop(job_id, None)
        if not ids:
            return 0
        with unit_of_work():
            n = db.session.connection().execute(
                update(_J).where(_J.c.id.in_(ids), _J.c.state == "pending", _J.c.locked_by == self.worker_id)
                .values(locked_by=None, locked_until=None, attempts=_J.c.attempts - 1)).rowcount
        log.info("worker %s: %d claimed job(s) handed back", self.worker_id, n)
        return n

    def release_all(self) -> int:
        """From another thread, when this executor's thread did not finish its job in time: hand
        back every job this worker holds that no open transaction has locked. The job that was
        running keeps its attempt; one whose transaction is still writing rolls back when the
        process ends and is claimable again when its lease runs out. Returns how many were released."""
        running = self.running
        with unit_of_work():
            conn = db.session.connection()
            free = conn.execute(select(_J.c.id).where(_J.c.state == "pending", _J.c.locked_by == self.worker_id)
                                .with_for_update(skip_locked=True)).scalars().all()
            if free:
                conn.execute(update(_J).where(_J.c.id.in_(free)).values(
                    locked_by=None, locked_until=None,
                    attempts=case((_J.c.id == (running or 0), _J.c.attempts), else_=_J.c.attempts - 1)))
        self._claimed.clear()
        log.warning("worker %s: stopped before job %s finished; %d job(s) handed back",
                    self.worker_id, running, len(free))
        return len(free)

    def run_one(self, job_id: int) -> str:
        """Run a claimed job: 'done', 'lost' (no longer this worker's), 'later' or 'failed'."""
        claimed = self._claimed.pop(job_id, None)
        self.running = job_id
        token = logcontext.job_id.set(job_id)   # the job's log lines carry its id
        try:
            io = self.handlers.get(claimed.kind) if claimed is not None else None
            # slow input/output first, outside any transaction (IOJob)
            result = io.outside(claimed) if isinstance(io, IOJob) else None
            with unit_of_work():
                ctx = self._lock_own(job_id)
                if ctx is None:
                    return "lost"
                handler = self.handlers.get(ctx.kind)
                if handler is None:
                    raise LookupError(f"未注册的作业类型 “{ctx.kind}”")
                if isinstance(handler, IOJob):
                    handler.record(ctx, result if isinstance(io, IOJob) else handler.outside(ctx))
                else:
                    handler(ctx)
                db.session.flush()
                self._finish(job_id, state="done", finished_at=utcnow())
            return "done"
        except NotDue as exc:
            with unit_of_work():
                if self._lock_own(job_id) is not None:
                    self._finish(job_id, due_at=exc.at, attempts=_J.c.attempts - 1)
            return "later"
        except Exception as exc:  # noqa: BLE001 — every failure is retried or becomes an incident
            db.session.rollback()
            log.warning("job %s failed: %s", job_id, exc)
            return self._failed(job_id, f"{type(exc).__name__}: {exc}")
        finally:
            logcontext.job_id.reset(token)
            self.running = None

    def _failed(self, job_id: int, error: str) -> str:
        with unit_of_work():
            ctx = self._lock_own(job_id)
            if ctx is None:
                return "lost"
            if ctx.attempts >= self.max_attempts:
                self._finish(job_id, state="failed", last_error=error, finished_at=utcnow())
                if self.on_incident is not None:
                    self.on_incident(ctx, error)
                return "failed"
            self._finish(job_id, due_at=utcnow() + backoff(ctx.attempts), last_error=error)
        return "retry"

    def _lock_own(self, job_id: int) -> JobContext | None:
        """This worker's pending job, row-locked for the transaction, or None (lease lost or done)."""
        row = db.session.connection().execute(
            select(_J).where(_J.c.id == job_id, _J.c.state == "pending", _J.c.locked_by == self.worker_id)
            .with_for_update()).first()
        if row is None:
            return None
        return JobContext(row.id, row.kind, json.loads(row.payload or "{}"), row.attempts, row.due_at)

    @staticmethod
    def _finish(job_id: int, **values) -> None:
        db.session.connection().execute(update(_J).where(_J.c.id == job_id)
                                        .values(locked_by=None, locked_until=None, **values))


@command
def retry_failed(job_id: int) -> bool:
    """An administrator's retry of a failed job (an incident): pending again, due now, attempts reset."""
    result = db.session.connection().execute(
        update(_J).where(_J.c.id == job_id, _J.c.state == "failed")
        .values(state="pending", attempts=0, due_at=utcnow(), finished_at=None, locked_by=None, locked_until=None))
    return result.rowcount == 1


def failed_jobs(limit: int = 200) -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.state == "failed").order_by(Job.id.desc()).limit(limit)))
