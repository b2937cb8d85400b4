"""Engine API: the unlock lifecycle through ``ProcessEngine`` alone, on a real database.

The same diagram and the same four workflow actions as the ceiling (section 1), but each
one a ``ProcessEngine.command()`` on the database followed by ``db.session.remove()``,
as at the end of a request: start → complete 填写解锁申请 (action=report) → claim 审核 →
complete 审核 (decision=approve), which runs the service task. The registry is minimal:
the two forms, candidate rules returning fixed organisation ids and a no-op
``unlock.apply`` operator, so the figure is the engine's own cost (state load/save,
inbox rows, operation log, transaction) without the domain services.
"""
import statistics
import time
from pathlib import Path

from engine import EngineRegistry, InvalidFormData, ProcessEngine
from engine.actor import Actor
from engine.db import db

from . import ceiling
from .common import StatementCounter, Timer, percentiles
from .service import _profile_run, _summarise

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
PROCESS = "personnel_unlock"
ACTIONS = ("start", "report", "claim", "approve")
APPLICANT_ORG, AUTHORITY_ORG, AGENCY_ORG = 9001, 9002, 9003
APPLICANT = Actor(101, "吴施工", APPLICANT_ORG, "云南建工")
REVIEWER = Actor(102, "赵监督", AGENCY_ORG, "昆明质监站")


def minimal_registry() -> EngineRegistry:
    registry = EngineRegistry()

    @registry.form("application.edit")
    def _edit(data):
        if data.get("action") not in ("report", "withdraw"):
            raise InvalidFormData("操作无效", field="action")
        return {"action": data["action"]}

    @registry.form("review")
    def _review(data):
        if data.get("decision") not in ("approve", "return"):
            raise InvalidFormData("请选择审核结论", field="decision")
        return {"decision": data["decision"]}

    registry.candidate_rule("applicant")(lambda instance: [APPLICANT_ORG])
    registry.candidate_rule("project_regulators")(lambda instance: [AUTHORITY_ORG, AGENCY_ORG])
    registry.operator("unlock.apply")(lambda call: {"applied": True, "message": "ok"})
    # the other diagrams in bpmn/ refer to these; the lifecycle never runs them
    registry.operator("manager_change.apply")(lambda call: {"applied": True, "message": "ok"})
    registry.operator("completion_filing.apply")(lambda call: {"applied": True, "message": "ok"})
    registry.operator("permit_supplement.apply")(lambda call: {"applied": True, "message": "ok"})
    for timer_operator in ("review.remind", "review.overdue"):   # the review steps' deadline timers
        registry.operator(timer_operator)(lambda call: {"message": "ok"})
    return registry


def build(app) -> ProcessEngine:
    engine = ProcessEngine(minimal_registry())
    engine.definitions.load_forms(BPMN_DIR)   # the user tasks' form files (bpmn/forms/)
    with app.app_context():
        with engine.command():
            engine.definitions.deploy_directory(BPMN_DIR)
        db.session.remove()
    return engine


def lifecycle(engine: ProcessEngine, n: int, timer, counter) -> None:
    def step(name, fn):
        with timer(name), counter.action(name):
            with engine.command():
                result = fn()
            db.session.remove()
        return result

    edit_id = step("start", lambda: engine.start(
        PROCESS, f"bench-engine-{n}", APPLICANT, subject=f"经理{n} 解锁申请", scope=f"基准工程{n}号楼",
        scope_id=n, applicant_org_id=APPLICANT_ORG, applicant_name="云南建工").opened[0].id)
    review_id = step("report", lambda: engine.complete(
        edit_id, APPLICANT, {"action": "report"}, action="上报").opened[0].id)
    step("claim", lambda: engine.claim(review_id, REVIEWER).id)
    done = step("approve", lambda: engine.complete(
        review_id, REVIEWER, {"decision": "approve"}, action="审核通过", opinion="同意", outcome="approve").completed)
    if not done:
        raise AssertionError(f"engine lifecycle {n} did not reach its end event")


def round_trips(app, n: int = 500) -> dict:
    """What the database costs before any work: one statement, one empty write transaction."""
    with app.app_context():
        conn = db.engine.raw_connection()
        try:
            cur = conn.cursor()
            t0 = time.perf_counter()
            for _ in range(n):
                cur.execute("SELECT 1")
                cur.fetchall()
            statement = (time.perf_counter() - t0) / n
            cur.execute("CREATE TEMPORARY TABLE bench_rt (x INTEGER)")
            conn.commit()
            t0 = time.perf_counter()
            for _ in range(n):
                if db.engine.dialect.name == "sqlite":
                    cur.execute("BEGIN")
                cur.execute("INSERT INTO bench_rt VALUES (1)")
                conn.commit()
            write_commit = (time.perf_counter() - t0) / n - statement
            cur.execute("DROP TABLE bench_rt")
            conn.commit()
        finally:
            conn.close()
    return {"statement_ms": statement * 1000, "commit_ms": write_commit * 1000}


DRIVER_CALLS = ("do_execute", "do_execute_no_params", "do_executemany", "do_commit", "do_rollback")


def driver_time(app, engine: ProcessEngine, first: int, lifecycles: int) -> dict:
    """Time spent inside the DB-API driver calls (network, server work, the driver's own code) per
    lifecycle, over a separate untimed batch; psycopg's BEGIN is sent inside the first execute."""
    with app.app_context():
        dialect = db.engine.dialect
        spent = {"seconds": 0.0, "calls": 0}

        def timed(fn):
            def call(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    spent["seconds"] += time.perf_counter() - t0
                    spent["calls"] += 1
            return call
        saved = {name: getattr(dialect, name) for name in DRIVER_CALLS}
        for name, fn in saved.items():
            setattr(dialect, name, timed(fn))
        try:
            counter = StatementCounter(db.engine)
            t0 = time.perf_counter()
            for n in range(first, first + lifecycles):
                lifecycle(engine, n, Timer(), counter)
            total = time.perf_counter() - t0
            counter.close()
        finally:
            for name in DRIVER_CALLS:
                delattr(dialect, name)   # back to the class's methods
    return {"lifecycles": lifecycles, "lifecycle_ms": total / lifecycles * 1000,
            "driver_ms": spent["seconds"] / lifecycles * 1000, "driver_calls": spent["calls"] / lifecycles}


def paired_ratio(app, engine: ProcessEngine, first: int, rounds: int, per_round: int,
                 ceiling_seconds: float) -> dict:
    """The ratio measured in short alternating rounds: the in-memory lifecycle of section 1 for
    ``ceiling_seconds``, then ``per_round`` engine-API lifecycles, and so on. Both sides of each
    round see the same machine, so a slower or busier stretch (other processes, the disk) cannot
    fall on one side only, as it can when each side is measured once, minutes apart."""
    from engine.validation import parse_bpmn
    parsed = parse_bpmn(ceiling.BPMN.read_bytes(), ceiling.BPMN.name, None)
    noop = ceiling._NoopServiceEngine()
    ratios = []
    with app.app_context():
        counter = StatementCounter(db.engine)   # instrumented as in the main run
        for _ in range(rounds):
            done, t0 = 0, time.perf_counter()
            while done < 3 or time.perf_counter() - t0 < ceiling_seconds:
                ceiling.lifecycle(parsed, noop)
                done += 1
            in_memory = done / (time.perf_counter() - t0)
            t1 = time.perf_counter()
            for _ in range(per_round):
                lifecycle(engine, first, Timer(), counter)
                first += 1
            ratios.append(per_round / (time.perf_counter() - t1) / in_memory)
        counter.close()
    return {"rounds": rounds, "per_round": per_round, "ceiling_seconds": ceiling_seconds,
            "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def run(app, lifecycles: int, profile_batch: int, first: int = 0, rounds: int = 15, per_round: int = 40,
        ceiling_seconds: float = 0.5) -> dict:
    engine = build(app)
    warmup = min(5, lifecycles)
    n = first
    with app.app_context():
        counter, timer = StatementCounter(db.engine), Timer()
        for _ in range(warmup):
            lifecycle(engine, n, Timer(), counter)
            n += 1
        counter.counts.clear()
        t0 = time.perf_counter()
        for _ in range(lifecycles):
            lifecycle(engine, n, timer, counter)
            n += 1
        elapsed = time.perf_counter() - t0
        statements = {a: len(counter.counts.get(a, [])) / lifecycles for a in ACTIONS}
        sample = {a: _summarise(counter.counts.get(a, [])[:int(statements[a])]) for a in ACTIONS}
        counter.close()
        profile = None
        if profile_batch:
            ns = list(range(n, n + profile_batch))
            profile = _profile_run(lambda t, c: [lifecycle(engine, i, t, c) for i in ns], len(ns))
            n += profile_batch
        dialect = db.engine.dialect.name
    driver = driver_time(app, engine, n, max(profile_batch, 3))
    paired = paired_ratio(app, engine, n + max(profile_batch, 3), rounds, per_round, ceiling_seconds)
    return {"dialect": dialect, "lifecycles": lifecycles, "seconds": elapsed, "per_second": lifecycles / elapsed,
            "paired": paired, "actions": {a: percentiles(timer.samples[a]) for a in ACTIONS}, "statements": statements,
            "statement_kinds": sample, "profile": profile, "round_trips": round_trips(app),
            "driver": driver}


def rounds_runner(app, per_round: int, first: int = 10_000_000):
    """A callable running ``per_round`` engine-API lifecycles in this process (instrumented as in
    the main run) and returning their rate: one side of the HTTP part's paired ratio."""
    engine = build(app)
    state = {"n": first}

    def one_round() -> float:
        with app.app_context():
            counter = StatementCounter(db.engine)
            t0 = time.perf_counter()
            for _ in range(per_round):
                lifecycle(engine, state["n"], Timer(), counter)
                state["n"] += 1
            elapsed = time.perf_counter() - t0
            counter.close()
        return per_round / elapsed
    return one_round
