"""Timer part: N BPMN timers due at one moment, fired by W worker processes (``flask engine worker``'s
executor): jobs per second, and the lag from each timer's due time to its firing (p50 / p95).

Runs alone: ``python -m bench.timers [--timers 10000] [--workers 2] [--database URL]``
(default database: BENCH_DATABASE_URL, else the benchmark's PostgreSQL database).

The process is Start → intermediate timer catch event (one fixed moment) → End. One instance is
started through the engine; the others are copies of its rows (instance and timer job), so the
load takes seconds and every timer is due at the same moment, a little after the workers started.
Each job then does what a real timer does: load the instance, let Spiff fire the timer, run the
engine to the end, save, mark the job done.
"""
import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, insert, select

from engine.actor import Actor
from engine.db import db
from engine.models import Job, ProcessInstance

from .common import driver_url, ensure_pg_database, make_app, percentiles, pg_url, reset_schema

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench_timer"


def diagram(fire_at: datetime) -> bytes:
    ns = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
          'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')
    nodes = ['<bpmn:startEvent id="Start_New" />',
             f'<bpmn:intermediateCatchEvent id="Timer"><bpmn:timerEventDefinition><bpmn:timeDate '
             f'xsi:type="bpmn:tFormalExpression">"{fire_at.isoformat()}"</bpmn:timeDate></bpmn:timerEventDefinition>'
             f'</bpmn:intermediateCatchEvent>',
             # the platform's registry wants every end event's status (engine.validation)
             '<bpmn:endEvent id="End_Done"><bpmn:extensionElements><spiffworkflow:properties>'
             '<spiffworkflow:property name="status" value="已办结" /></spiffworkflow:properties>'
             '</bpmn:extensionElements></bpmn:endEvent>']
    flows = [("F1", "Start_New", "Timer"), ("F2", "Timer", "End_Done")]
    where = {"Start_New": 100, "Timer": 200, "End_Done": 300}
    shapes = "".join(f'<bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{x}" y="100" width="36" '
                     f'height="36" /></bpmndi:BPMNShape>' for n, x in where.items())
    edges = "".join(f'<bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="{where[a] + 36}" y="118" />'
                    f'<di:waypoint x="{where[b]}" y="118" /></bpmndi:BPMNEdge>' for f, a, b in flows)
    flow_xml = "".join(f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}" />' for f, a, b in flows)
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {ns} id="Defs_{KEY}" '
            f'targetNamespace="https://example.test/{KEY}"><bpmn:process id="{KEY}" name="定时器基准" '
            f'isExecutable="true">{"".join(nodes)}{flow_xml}</bpmn:process><bpmndi:BPMNDiagram id="D">'
            f'<bpmndi:BPMNPlane id="P" bpmnElement="{KEY}">{shapes}{edges}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>'
            f'</bpmn:definitions>').encode("utf-8")


def load(app, n: int, fire_at: datetime) -> None:
    """n instances each waiting on the timer, with their n jobs due at ``fire_at``."""
    services = app.extensions["services"]
    with app.app_context():
        engine = services.engine
        with engine.command():
            engine.definitions.deploy(diagram(fire_at), f"{KEY}.bpmn")
        with engine.command():
            first = engine.start(KEY, "bench-timer-0", Actor.system(), subject="定时器基准").instance
        job = db.session.scalars(select(Job)).one()
        row = db.session.get(ProcessInstance, first.id)
        columns = [c.name for c in ProcessInstance.__table__.c if c.name != "id"]
        base = {c: getattr(row, c) for c in columns}
        payload = json.loads(job.payload)
        conn = db.session.connection()
        for start in range(1, n, 1000):
            rows = [dict(base, business_key=f"bench-timer-{i}") for i in range(start, min(n, start + 1000))]
            ids = conn.execute(insert(ProcessInstance.__table__).returning(ProcessInstance.id), rows).scalars().all()
            conn.execute(insert(Job.__table__), [
                dict(kind=job.kind, payload=json.dumps(dict(payload, instance_id=i)), state="pending",
                     due_at=job.due_at, attempts=0, created_at=job.created_at) for i in ids])
        db.session.commit()


def run(url: str, n: int, workers: int, lead: float = 15.0, timeout: float = 900.0) -> dict:
    work = Path(tempfile.mkdtemp(prefix="ynqs-bench-timers-"))
    app = make_app(url, work)
    reset_schema(app)
    fire_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=lead)
    t0 = time.perf_counter()
    load(app, n, fire_at)
    loaded = time.perf_counter() - t0
    if datetime.now(timezone.utc) >= fire_at:
        raise RuntimeError(f"loading took {loaded:.0f} s, past the due time: raise --lead")
    procs = [subprocess.Popen([sys.executable, "-m", "bench.timers", "--worker", url], cwd=ROOT)
             for _ in range(workers)]
    try:
        with app.app_context():
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                db.session.rollback()
                if not db.session.scalar(select(func.count()).select_from(Job).where(Job.state == "pending")):
                    break
                time.sleep(0.5)
            db.session.rollback()
            rows = db.session.execute(select(Job.due_at, Job.finished_at, Job.state, Job.attempts)).all()
            completed = db.session.scalar(select(func.count()).select_from(ProcessInstance)
                                          .where(ProcessInstance.status == "completed"))
            dialect = db.engine.dialect.name
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    done = [r for r in rows if r.state == "done"]
    due = fire_at.replace(tzinfo=None)
    last = max(r.finished_at for r in done)
    lag = [(r.finished_at - r.due_at).total_seconds() for r in done]
    span = (last - due).total_seconds()
    return {"dialect": dialect, "timers": n, "workers": workers, "load_seconds": loaded, "done": len(done),
            "instances_completed": completed, "retried": sum(1 for r in done if r.attempts > 1),
            "seconds": span, "jobs_per_second": len(done) / span if span > 0 else None,
            "lag_ms": percentiles(lag)}


def worker(url: str) -> None:
    import threading
    work = Path(tempfile.mkdtemp(prefix="ynqs-bench-worker-"))
    app = make_app(url, work)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.app_context():
        app.extensions["services"].worker(batch=20).run_forever(stop, poll=0.2)


def main(argv=None) -> dict | None:
    p = argparse.ArgumentParser(prog="python -m bench.timers", description=__doc__.split("\n\n")[0])
    p.add_argument("--timers", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--database", default=None, help="database URL (default: BENCH_DATABASE_URL or the bench database)")
    p.add_argument("--lead", type=float, default=15.0, help="seconds from the start of loading to the due time")
    p.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return None
    url = args.database or pg_url()
    if url.startswith("postgres"):
        ensure_pg_database(url)
    result = run(driver_url(url), args.timers, args.workers, args.lead)
    lag = result["lag_ms"]
    print(f"{result['timers']} timers on {result['dialect']}, {result['workers']} workers: "
          f"{result['jobs_per_second']:.0f} jobs/s over {result['seconds']:.1f} s; lag due → fired "
          f"p50 {lag['p50'] / 1000:.2f} s, p95 {lag['p95'] / 1000:.2f} s, max {lag['max'] / 1000:.2f} s; "
          f"{result['done']} done, {result['instances_completed']} instances completed, "
          f"{result['retried']} run more than once (lease expiry)")
    print(json.dumps(result, default=str))
    return result


if __name__ == "__main__":
    main()
