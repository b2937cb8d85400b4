"""Per action: what each request of the lifecycle costs, in measures a busy machine does not move.

``python -m bench.actions [--database URL] [--lifecycles N] [--json FILE]``

The unlock lifecycle in this process, three ways: through the pages (Flask's test client, each
request in its own application context as under gunicorn, redirects followed as a browser does),
through the JSON API (/api/v1 with personal tokens) and through the domain services alone
(``bench/service.py``'s lifecycle). For every request or action:

- statements sent to the database (a ``before_cursor_execute`` listener);
- ORM objects loaded (the ``load`` event of every mapper);
- Python function calls under cProfile (deterministic for the same code and data);
- time under cProfile and without it (the medians; these move with the machine's load).

Lifecycles alternate: one with the profiler on, one without, so both times see the same machine.
The first lifecycle of each kind warms what a worker keeps between requests and is not counted.
"""
import argparse
import cProfile
import io
import json
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Mapper

from engine.db import db, end_reading

from .common import driver_url, make_app, reset_schema

PDF = b"%PDF-1.4 bench unlock form, per action"
PAGES = ("list page", "create", "detail page", "save+upload", "list page after save", "report",
         "list page after report", "inbox", "inbox search", "task page", "claim", "task page after claim",
         "approve", "task page after approve")
API = ("create", "save+upload", "report", "inbox search", "task", "claim", "approve")
SERVICE = ("create", "save", "report", "claim", "approve")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Meter:
    """Statements and ORM loads of the request in progress; cProfile when ``profiling``."""

    def __init__(self, engine):
        self.engine, self.statements, self.loads, self.profiling = engine, 0, 0, False
        self.rows: dict[str, dict[str, list]] = {}
        self.profiles: dict[str, pstats.Stats] = {}   # each label's profiles, added up (``--profile``)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(Mapper, "load", self._load)

    def _statement(self, *_a):
        self.statements += 1

    def _load(self, *_a):
        self.loads += 1

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(Mapper, "load", self._load)

    def measure(self, label, fn, record=True):
        self.statements = self.loads = 0
        prof = cProfile.Profile() if self.profiling else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        try:
            return fn()
        finally:
            if prof:
                prof.disable()
            elapsed = (time.perf_counter() - t0) * 1000
            if record:
                row = self.rows.setdefault(label, {"statements": [], "loads": [], "calls": [], "profiled_ms": [],
                                                   "ms": []})
                row["statements"].append(self.statements)
                row["loads"].append(self.loads)
                if prof:
                    stats = pstats.Stats(prof)
                    row["calls"].append(sum(v[1] for v in stats.stats.values()))
                    if label in self.profiles:
                        self.profiles[label].add(stats)
                    else:
                        self.profiles[label] = stats
                    row["profiled_ms"].append(elapsed)
                else:
                    row["ms"].append(elapsed)


class Browser:
    """Flask's test client, each request in an application context of its own (webui FreshClient)."""

    def __init__(self, app, meter, prefix=""):
        from tests.web_helpers import FreshClient
        app.test_client_class = FreshClient
        self.client, self.meter, self.prefix, self.token = app.test_client(), meter, prefix, None
        self.record = True

    def request(self, label, method, url, expect=200, **kw):
        resp = self.meter.measure(self.prefix + label, lambda: self.client.open(url, method=method, **kw),
                                  self.record)
        if resp.status_code != expect:
            raise AssertionError(f"{label}: {method} {url} answered {resp.status_code}, expected {expect}")
        if "text/html" in resp.content_type:
            m = _CSRF.search(resp.get_data(as_text=True))
            if m:
                self.token = m.group(1) or m.group(2)
        return resp

    def post(self, label, url, data, **kw):
        resp = self.request(label, "POST", url, 302, data=dict(data, csrf_token=self.token), **kw)
        return re.sub(r"^https?://[^/]+", "", resp.headers["Location"])

    def login(self, username):
        from tests.web_helpers import login
        login(self.client, username)


def page_lifecycle(applicant, reviewer, lock_id, project):
    applicant.request("list page", "GET", "/apply/unlock/")
    location = applicant.post("create", "/apply/unlock/new", {"target_id": str(lock_id)})
    app_id = int(location.rsplit("/", 1)[1])
    applicant.request("detail page", "GET", location)
    location = applicant.post("save+upload", f"/apply/unlock/{app_id}",
                              {"reason": "项目已停工", "explanation": "", "unlock_form": (io.BytesIO(PDF), "申请表.pdf")},
                              content_type="multipart/form-data")
    applicant.request("list page after save", "GET", location)
    location = applicant.post("report", f"/apply/unlock/{app_id}/report", {"back": "list"})
    applicant.request("list page after report", "GET", location)
    reviewer.request("inbox", "GET", "/review/")
    page = reviewer.request("inbox search", "GET", "/review/", query_string={"scope": project})
    [task_id] = set(re.findall(r"/review/task/(\d+)", page.get_data(as_text=True)))
    task = f"/review/task/{task_id}"
    reviewer.request("task page", "GET", task)
    location = reviewer.post("claim", f"{task}/claim", {})
    reviewer.request("task page after claim", "GET", location)
    location = reviewer.post("approve", f"{task}/decide", {"decision": "approve", "opinion": "同意解锁"})
    page = reviewer.request("task page after approve", "GET", location)
    if "审核通过" not in page.get_data(as_text=True):
        raise AssertionError("no 审核通过 after the approval")


def api_lifecycle(client, meter, tokens, lock_id, project, record=True):
    me, reviewer = ({"Authorization": f"Bearer {t}"} for t in tokens)

    def call(label, method, url, expect=200, headers=me, **kw):
        resp = meter.measure("api " + label, lambda: client.open("/api/v1" + url, method=method, headers=headers,
                                                                  **kw), record)
        if resp.status_code != expect:
            raise AssertionError(f"api {label}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return resp.get_json()
    app = call("create", "POST", "/applications/unlock", 201, json={"target_id": lock_id})
    base = f"/applications/unlock/{app['id']}"
    call("save+upload", "POST", f"{base}/attachments?kind=unlock_form", content_type="multipart/form-data",
         data={"reason": "项目已停工", "file": (io.BytesIO(PDF), "申请表.pdf")})
    call("report", "POST", f"{base}/report")
    inbox = call("inbox search", "GET", "/inbox", headers=reviewer, query_string={"scope": project})
    [task_id] = [t["id"] for t in inbox["items"]]
    call("task", "GET", f"/tasks/{task_id}", headers=reviewer)
    call("claim", "POST", f"/tasks/{task_id}/claim", headers=reviewer)
    done = call("approve", "POST", f"/tasks/{task_id}/approve", headers=reviewer, json={"opinion": "同意"})
    if done["status"] != "approved":
        raise AssertionError(f"api approve: {done['status']}")


def service_lifecycle(app, meter, world, lock_id, record=True):
    from handlers.applications import Upload
    from handlers.database import key_of
    from handlers.processes.unlock import UNLOCK_FORM
    from .service import open_review_task
    services = app.extensions["services"]
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")

    def step(label, fn):
        def run():
            with app.app_context():
                try:
                    return fn()
                finally:
                    db.session.remove()
        return meter.measure("service " + label, run, record)
    app_id = step("create", lambda: key_of(services.unlock.create(applicant, lock_id)))   # as the page does
    step("save", lambda: services.unlock.save(applicant, app_id, {"reason": "项目已停工"},
                                              [Upload(UNLOCK_FORM, "申请表.pdf", PDF)]))
    step("report", lambda: services.unlock.report(applicant, app_id))
    with app.app_context():
        task_id = open_review_task(app_id)
        end_reading()   # as a request's teardown ends a transaction that only read (no ROLLBACK)
        db.session.remove()
    step("claim", lambda: services.reviews.claim(reviewer, task_id))
    step("approve", lambda: services.reviews.approve(reviewer, task_id, "同意"))


def prepare(app, count):
    from handlers import api_tokens, lock_rule
    from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B
    from tests.world import World
    with app.app_context():
        world = World.build()
        out = []
        for i in range(count):
            name = f"逐项基准工程{i}号楼"
            pm = world.add_person(f"逐项经理{i}", "contractor", CONSTRUCTOR, SAFETY_B)
            project = world.add_project(name)
            world.assign(pm, project, PROJECT_MANAGER)
            [lock] = lock_rule.open_locks(pm.id)
            out.append((lock.id, name))
        tokens = (api_tokens.create_personal_token("contractor_user")[1],
                  api_tokens.create_personal_token("agency_reviewer")[1])
        db.session.commit()
        db.session.remove()
    return world, out, tokens


def run(url: str, lifecycles: int = 20, work: Path | None = None, profiles: bool = False) -> dict:
    """The per-request figures; ``profiles``: also each label's added-up ``pstats.Stats``."""
    work = Path(work or tempfile.mkdtemp(prefix="ynqs-actions-"))
    app = make_app(url, work)
    app.config["API_RATE_LIMIT"] = "1000000 per minute"   # the work of a call is measured, not the limit
    reset_schema(app)
    n = lifecycles + 1
    full = 7   # lifecycles before the measured ones: the applicant's list pages show a full page (20 rows)
    world, locks, tokens = prepare(app, 3 * n + full)
    locks, before = locks[:3 * n], locks[3 * n:]
    with app.app_context():
        meter = Meter(db.engine)
    try:
        applicant, reviewer = Browser(app, meter), Browser(app, meter)
        applicant.login("contractor_user")
        reviewer.login("agency_reviewer")
        api_client = app.test_client()
        for lock_id, _name in before:
            service_lifecycle(app, meter, world, lock_id, record=False)
        for i in range(n):
            meter.profiling = i % 2 == 1
            record = i > 0   # the first of each kind warms the worker's caches
            applicant.record = reviewer.record = record
            page_lifecycle(applicant, reviewer, *locks[i])
            api_lifecycle(api_client, meter, tokens, *locks[n + i], record=record)
            service_lifecycle(app, meter, world, locks[2 * n + i][0], record=record)
    finally:
        with app.app_context():
            meter.close()
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    rows = {}
    for label, row in meter.rows.items():
        rows[label] = {"statements": statistics.fmean(row["statements"]), "statements_max": max(row["statements"]),
                       "loads": statistics.fmean(row["loads"]),
                       "calls": statistics.fmean(row["calls"]) if row["calls"] else 0,
                       "profiled_ms": statistics.median(row["profiled_ms"]) if row["profiled_ms"] else 0,
                       "ms": statistics.median(row["ms"]) if row["ms"] else 0}
    result = {"dialect": dialect, "lifecycles": lifecycles, "rows": rows}
    if profiles:
        result["profiles"] = meter.profiles
    return result


def memory(url: str, lifecycles: int = 1000, work: Path | None = None) -> dict:
    """Resident memory of this process around ``lifecycles`` service lifecycles, one after another as a
    worker serves them (each action in an application context of its own): what a worker keeps."""
    from . import memory as mem
    import os
    work = Path(work or tempfile.mkdtemp(prefix="ynqs-memory-"))
    app = make_app(url, work)
    reset_schema(app)
    world, locks, _tokens = prepare(app, lifecycles + 20)
    with app.app_context():
        meter = Meter(db.engine)
    marks = {}
    try:
        for i, (lock_id, _name) in enumerate(locks):
            if i == 20:
                marks[0] = mem.of(os.getpid())["rss_mib"]   # after the warm-up: caches and pools filled
            service_lifecycle(app, meter, world, lock_id, record=False)
            if i >= 20 and (i - 19) in (100, 500, lifecycles):
                marks[i - 19] = mem.of(os.getpid())["rss_mib"]
    finally:
        with app.app_context():
            meter.close()
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    return {"dialect": dialect, "lifecycles": lifecycles, "rss_mib": marks,
            "peak_mib": mem.of(os.getpid())["peak_mib"]}


def table(result: dict) -> list[str]:
    out = ["| request | statements | ORM loads | function calls | ms under cProfile | ms |",
           "|---|---:|---:|---:|---:|---:|"]
    groups = [("page", PAGES, ""), ("JSON API", API, "api "), ("service", SERVICE, "service ")]
    totals = {}
    for group, labels, prefix in groups:
        for label in labels:
            r = result["rows"].get(prefix + label)
            if r is None:
                continue
            t = totals.setdefault(group, dict.fromkeys(("statements", "loads", "calls", "profiled_ms", "ms"), 0.0))
            for k in t:
                t[k] += r[k]
            out.append(f"| {group}: {label} | {r['statements']:.0f} | {r['loads']:.0f} | {r['calls']:,.0f} | "
                       f"{r['profiled_ms']:.1f} | {r['ms']:.1f} |")
        if group in totals:
            t = totals[group]
            out.append(f"| **{group} lifecycle** | **{t['statements']:.0f}** | **{t['loads']:.0f}** | "
                       f"**{t['calls']:,.0f}** | **{t['profiled_ms']:.1f}** | **{t['ms']:.1f}** |")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    p.add_argument("--lifecycles", type=int, default=20)
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--profile", action="append", default=[], metavar="LABEL",
                   help="print the profiled functions of this request (e.g. 'service approve', 'api approve', "
                        "'task page after claim'), added up over the profiled lifecycles")
    p.add_argument("--sort", default="cumulative", help="pstats sort key of --profile (cumulative, tottime)")
    p.add_argument("--memory", type=int, default=0,
                   help="instead: resident memory of this process over this many service lifecycles")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ynqs-actions-"))
    url = driver_url(args.database) if args.database else f"sqlite:///{work / 'actions.sqlite3'}"
    if args.memory:
        result = memory(url, args.memory, work)
        print(f"{result['dialect']}: resident MiB after n service lifecycles (0 = after a warm-up of 20): "
              + ", ".join(f"{n}: {v:.1f}" for n, v in result["rss_mib"].items()) + f"; peak {result['peak_mib']:.1f}")
        return result
    result = run(url, args.lifecycles, work, profiles=bool(args.profile))
    print(f"{result['dialect']}, {result['lifecycles']} lifecycles of each kind")
    print("\n".join(table(result)))
    for label in args.profile:
        stats = result["profiles"].get(label)
        if stats is None:
            print(f"no profile of {label!r}; labels: {', '.join(sorted(result['profiles']))}")
            continue
        print(f"\n--- {label} ---")
        stats.sort_stats(args.sort).print_stats(60)
    result.pop("profiles", None)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
