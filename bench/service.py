"""Service layer: the unlock lifecycle through handlers.services.Services on a real database.

Every action runs as the web layer runs it: one Services call, then the session is
removed (a request's teardown), so the next action loads what it needs afresh.
"""
import cProfile
import io
import pstats
import statistics
import time

from sqlalchemy import inspect, select

from engine.db import db, end_reading
from engine.models import HumanTask
from handlers.applications import Upload
from handlers.database import key_of
from handlers.processes.unlock import UNLOCK_FORM
from handlers.models import APPROVED, CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B, Organization, UnlockApplication
from tests.world import World

from .common import StatementCounter, Timer, percentiles

PDF = b"%PDF-1.4 bench unlock form"
ACTIONS = ("create", "save", "report", "claim", "approve")


def prepare(app, count: int) -> tuple[World, list[int]]:
    """The province plus ``count`` locked project managers, one lock record each."""
    with app.app_context():
        world = World.build()
        locks = []
        for i in range(count):
            pm = world.add_person(f"经理{i}", "contractor", CONSTRUCTOR, SAFETY_B)
            project = world.add_project(f"基准工程{i}号楼")
            world.assign(pm, project, PROJECT_MANAGER)
            locks.append(_open_lock(pm.id))
        db.session.remove()
    return world, locks


def attach(world: World) -> None:
    """Re-attach the world's organisations to the current session (after a session removal)."""
    world.orgs = {k: db.session.get(Organization, inspect(v).identity[0]) for k, v in world.orgs.items()}


def _open_lock(person_id):
    from handlers.models import LockRecord
    return db.session.scalar(select(LockRecord.id).where(LockRecord.person_id == person_id,
                                                         LockRecord.closed_at.is_(None)))


def open_review_task(app_id: int) -> int:
    """The reported application's open task (untimed: the reviewer finds it in the inbox)."""
    return db.session.scalar(select(HumanTask.id).join(UnlockApplication, UnlockApplication.instance_id ==
                                                        HumanTask.instance_id)
                             .where(UnlockApplication.id == app_id, HumanTask.state == "open"))


def lifecycle(services, world, lock_id, timer, counter) -> int:
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")

    def step(name, fn):
        with timer(name), counter.action(name):
            result = fn()
            db.session.remove()
        return result

    # the new application's id as the page takes it (handlers.database.key_of: not read again)
    app_id = step("create", lambda: key_of(services.unlock.create(applicant, lock_id)))
    step("save", lambda: services.unlock.save(applicant, app_id, {"reason": "项目已停工"},
                                              [Upload(UNLOCK_FORM, "申请表.pdf", PDF)]))
    step("report", lambda: services.unlock.report(applicant, app_id))
    task_id = open_review_task(app_id)
    step("claim", lambda: services.reviews.claim(reviewer, task_id))
    step("approve", lambda: services.reviews.approve(reviewer, task_id, "同意"))
    status = db.session.scalar(select(UnlockApplication.status).where(UnlockApplication.id == app_id))
    end_reading()   # as a request's teardown ends a transaction that only read (no ROLLBACK)
    db.session.remove()
    if status != APPROVED:
        raise AssertionError(f"unlock application {app_id} ended as {status!r}, not approved")
    return app_id


def run(app, lifecycles: int, profile_batch: int, engine_round=None, rounds: int = 0, per_round: int = 20) -> dict:
    """The timed run; with ``engine_round`` (a callable running engine-API lifecycles in this process
    and returning their rate) also ``rounds`` alternating rounds: engine API, then ``per_round``
    lifecycles with the domain services, so that both sides of each ratio see the same machine."""
    warmup = min(5, lifecycles)
    paired_need = rounds * per_round if engine_round else 0
    world, locks = prepare(app, warmup + lifecycles + profile_batch + paired_need)
    locks, for_pairs = locks[:warmup + lifecycles + profile_batch], locks[warmup + lifecycles + profile_batch:]
    services = app.extensions["services"]
    with app.app_context():
        counter = StatementCounter(db.engine)
        timer = Timer()
        for lock_id in locks[:warmup]:
            lifecycle(services, world, lock_id, Timer(), counter)
        counter.counts.clear()
        t0 = time.perf_counter()
        for lock_id in locks[warmup:warmup + lifecycles]:
            lifecycle(services, world, lock_id, timer, counter)
        elapsed = time.perf_counter() - t0
        statements = {a: len(counter.counts.get(a, [])) / lifecycles for a in ACTIONS}
        sample = {a: _summarise(counter.counts.get(a, [])[:int(statements[a])]) for a in ACTIONS}
        counter.close()
        profile = _profile(services, world, locks[warmup + lifecycles:]) if profile_batch else None
        dialect = db.engine.dialect.name
    paired = paired_ratio(app, services, world, for_pairs, engine_round, rounds, per_round) if paired_need else None
    return {"dialect": dialect, "lifecycles": lifecycles, "seconds": elapsed, "per_second": lifecycles / elapsed,
            "actions": {a: percentiles(timer.samples[a]) for a in ACTIONS}, "statements": statements,
            "statement_kinds": sample, "profile": profile, "paired": paired, "world": world}


def paired_ratio(app, services, world, locks, engine_round, rounds: int, per_round: int) -> dict:
    """Domain services / engine API in alternating rounds: ``engine_round()`` (engine-API lifecycles,
    their rate), then ``per_round`` lifecycles with the domain services; the median over the rounds,
    with the lowest and highest round."""
    ratios = []
    for i in range(rounds):
        engine_rate = engine_round()
        with app.app_context():
            counter = StatementCounter(db.engine)   # instrumented as the engine-API side is
            t0 = time.perf_counter()
            for lock_id in locks[i * per_round:(i + 1) * per_round]:
                lifecycle(services, world, lock_id, Timer(), counter)
            rate = per_round / (time.perf_counter() - t0)
            counter.close()
        ratios.append(rate / engine_rate)
    return {"rounds": rounds, "per_round": per_round, "median": statistics.median(ratios),
            "min": min(ratios), "max": max(ratios)}


def _summarise(statements: list[str]) -> str:
    kinds = []
    for s in statements:
        words = s.split()
        head = words[0].upper() if words else "?"
        if head in ("INSERT", "DELETE") and len(words) > 2:
            head = f"{head} {words[2]}"
        elif head == "UPDATE" and len(words) > 1:
            head = f"UPDATE {words[1]}"
        elif head == "SELECT":
            frm = [words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() == "FROM"]
            head = f"SELECT {frm[0] if frm else ''}".strip()
        kinds.append(head)
    out = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return ", ".join(f"{k}×{n}" if n > 1 else k for k, n in out.items())


# where time goes: cumulative time of these functions, as a share of the batch
BUCKETS = {
    "SQL execution (driver)": ("sqlalchemy/engine/default.py", "do_execute"),
    "COMMIT round trip (driver)": ("sqlalchemy/engine/default.py", "do_commit"),
    "session flush": ("sqlalchemy/orm/session.py", "flush"),
    "commit": ("sqlalchemy/orm/session.py", "commit"),
    "workflow serialize (dump_state)": ("engine/serialization.py", "dump_state"),
    "workflow deserialize (load_state)": ("engine/serialization.py", "load_state"),
    "engine steps (do_engine_steps)": ("SpiffWorkflow/bpmn/workflow.py", "do_engine_steps"),
    "upload store (database write)": ("handlers/uploads.py", "save"),
}


def _profile(services, world, locks) -> dict:
    return _profile_run(lambda timer, counter: [lifecycle(services, world, lock_id, timer, counter)
                                                for lock_id in locks], len(locks))


def _profile_run(batch, lifecycles: int) -> dict:
    """cProfile over ``batch(timer, counter)``: the bucket shares and the top functions."""
    prof = cProfile.Profile()
    timer, counter = Timer(), StatementCounter(db.engine)
    prof.enable()
    t0 = time.perf_counter()
    batch(timer, counter)
    total = time.perf_counter() - t0
    prof.disable()
    counter.close()
    stats = pstats.Stats(prof)
    total_cpu = max(sum(v[2] for v in stats.stats.values()), 1e-9)   # sum of own times
    buckets = {}
    for label, (path, fn) in BUCKETS.items():
        cum = sum(v[3] for (file, _line, name), v in stats.stats.items()
                  if name == fn and file.replace("\\", "/").endswith(path))
        buckets[label] = cum / total_cpu
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("cumulative").print_stats(25)
    return {"lifecycles": lifecycles, "wall_seconds": total, "buckets": buckets,
            "top": _trim(out.getvalue())}


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:]).rstrip()
