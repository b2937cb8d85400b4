"""HTTP: the unlock lifecycle over the web pages, against gunicorn (sync workers).

The application runs under ``gunicorn -w N`` on a database of its own (PostgreSQL:
``<benchmark database>_http``; SQLite: a file in the work directory, the embedded default a
new user runs), created with ``flask init-db`` and filled with the test
province plus one locked project manager per lifecycle. A bounded client on the same
machine drives it: a fixed number of virtual users (threads), each with two
``requests.Session`` — the applicant (吴施工, contractor) and the reviewer (赵监督, agency)
— logged in once through /auth/login with the form's CSRF token. Each lifecycle is what a
browser does, redirects followed:

applicant: 添加 (POST /apply/unlock/new) → detail page → 确定 with reason and the uploaded
申请表 (multipart POST) → list → 上报 → list; reviewer: inbox filtered by the project name
→ task page → 签收 → task page → 审核通过 → the next task's page, or the inbox.

A lifecycle counts only if every response was the expected one (status, redirect target,
success message) *and* the database shows it finished afterwards: the application
approved (已办结), its review task completed, the person's lock closed. Everything else is
listed as a failure.
"""
import io
import os
import re
import signal
import statistics
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from webui import profiling

from . import memory
from .common import driver_url, ensure_pg_database, make_app, percentiles

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PDF = b"%PDF-1.4 bench unlock form over HTTP"
APPLICANT, REVIEWER, PASSWORD = "contractor_user", "agency_reviewer", "demo1234"
# timed requests, in lifecycle order; "page" rows are the GETs a browser makes in between
ACTIONS = ("create", "save+upload", "report", "claim", "approve")
PAGES = ("detail page", "list page after save", "list page after report", "inbox search", "task page",
         "task page after claim", "task page after approve")
# the JSON API lifecycle (/api/v1 with personal tokens, docs/api.md): its 7 requests, in order
API_REQUESTS = ("create", "save+upload", "report", "inbox search", "task", "claim", "approve")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Failed(Exception):
    pass


def run(db_url: str, work, threads: int, lifecycles: int, seconds: float = 300.0, workers: int = 2,
        port: int | None = None, scale: float = 1.0, engine_rounds=None, rounds: int = 0,
        per_round: int = 20, profiled: int = 20, server_threads: int = 1) -> dict:
    """The timed run; with ``engine_rounds`` (a callable running engine-API lifecycles in this
    process and returning their rate) also ``rounds`` alternating rounds: engine API, then
    ``per_round`` HTTP lifecycles, so that both sides of each ratio see the same machine."""
    work = Path(work)
    url = http_database(db_url, work)
    measured = {"at": time.strftime("%Y-%m-%d %H:%M %Z"), "load_before": os.getloadavg()}
    paired_need = 2 * rounds * (per_round + threads) if engine_rounds else 0   # pages, then the JSON API
    projects = prepare(url, work, lifecycles + threads + paired_need + (profiled + 1 if profiled else 0), scale)
    main, projects = projects[:lifecycles + threads], projects[lifecycles + threads:]
    rest, for_profile = projects[:paired_need], projects[paired_need:]
    server = Gunicorn(url, work, workers, port, scale, threads=server_threads)
    try:
        server.start()
        cpu_before = _cpu(server)
        result = drive(server.base, main, threads, lifecycles, seconds, scale)
        result["cpu"] = _cpu_per_lifecycle(cpu_before, _cpu(server), result["started"])
        if engine_rounds and rounds:
            pages, api = rest[:len(rest) // 2], rest[len(rest) // 2:]
            result["paired"] = paired(server.base, pages, threads, per_round, rounds, engine_rounds, scale)
            result["attempted"] += _untimed(result["paired"].pop("attempted"))
            result["api"] = paired(server.base, with_tokens(url, work, api), threads, per_round, rounds,
                                   engine_rounds, scale, api=True)
            result["attempted"] += _untimed(result["api"].pop("attempted"))
            for failure in result["api"].pop("failure_list"):
                result["failures"].append(f"JSON API: {failure}")
        result["memory"] = memory.gunicorn(server.proc.pid)
        measured["load_after"] = os.getloadavg()
        result["measured"] = measured
    finally:
        server.stop()
    if profiled:
        result["profile"] = request_profile(url, work, for_profile, port, scale)
        result["attempted"] += _untimed(result["profile"].pop("attempted"))
    result["workers"], result["server_threads"], result["cores"] = workers, server_threads, os.cpu_count()
    result["verified"] = verify(url, work, result.pop("attempted"))
    result["failures"] += result["verified"]["problems"]
    result["completed"] = result["verified"]["completed_timed"]
    result["per_second"] = result["completed"] / result["seconds"] if result["seconds"] else 0.0
    result["errors"] = len(result["failures"])
    result["dialect"] = make_url(driver_url(url)).get_backend_name()
    result["database"] = make_url(driver_url(url)).database
    if result["dialect"] == "sqlite":
        result["database"] = Path(result["database"]).name
    result["server_log"] = server.log_tail()
    for failure in result["failures"]:
        print(f"[bench http] FAILED {failure}", flush=True)
    return result


def scaling(db_url: str, work, worker_counts=(1, 2, 4), user_counts=(2, 4, 8), lifecycles: int = 40,
            seconds: float = 60.0, port: int | None = None, scale: float = 1.0) -> dict:
    """Throughput for each number of gunicorn workers and of virtual users (a fresh set of
    lifecycles for each cell, each virtual user warmed up first), verified in the database."""
    work = Path(work)
    url = http_database(db_url, work)
    cells = [(w, u) for w in worker_counts for u in user_counts]
    projects = prepare(url, work, sum(lifecycles + u for _, u in cells), scale)
    rows, attempted = [], []
    for w in worker_counts:
        server = Gunicorn(url, work, w, port, scale)
        try:
            server.start()
            for u in user_counts:
                mine, projects = projects[:lifecycles + u], projects[lifecycles + u:]
                cell = drive(server.base, mine, u, lifecycles, seconds, scale)
                attempted += cell["attempted"]
                rows.append({"workers": w, "users": u, "seconds": cell["seconds"], "started": cell["started"],
                             "failures": len(cell["failures"]), "locks": {a[0] for a in cell["attempted"] if a[2]},
                             "p50_ms": _request_p50(cell)})
        finally:
            server.stop()
    verified = verify(url, work, attempted)
    bad = {int(p.split(":")[0].split()[1]) for p in verified["problems"]}
    for row in rows:
        locks = row.pop("locks")
        row["completed"] = len(locks - bad)
        row["per_second"] = row["completed"] / row["seconds"] if row["seconds"] else 0.0
    return {"dialect": make_url(driver_url(url)).get_backend_name(), "lifecycles": lifecycles, "rows": rows,
            "problems": verified["problems"]}


def request_profile(url: str, work: Path, projects, port: int | None, scale: float) -> dict:
    """Lifecycles one after another against one worker with the request profiler on
    (``REQUEST_PROFILE=1``, webui/profiling.py): the mean of each phase per request, from the
    ``Server-Timing`` header of every response. Also the inbox without a filter."""
    server = Gunicorn(url, work, 1, port, scale, {"REQUEST_PROFILE": "1"})
    try:
        server.start()
        cell = drive(server.base, projects, 1, len(projects) - 1, 600.0 * scale, scale, profile=True)
    finally:
        server.stop()
    rows = {}
    for label, samples in cell["profiles"].items():
        keys = samples[0].keys()
        rows[label] = {k: statistics.fmean(s[k] for s in samples) for k in keys}
        rows[label]["n"] = len(samples)
        rows[label]["statements_max"] = max(s["statements"] for s in samples)
    return {"lifecycles": cell["started"], "failures": cell["failures"], "rows": rows,
            "attempted": cell["attempted"]}


def _cpu(server) -> dict:
    """CPU seconds so far of this process (the client) and of the gunicorn workers."""
    workers = 0.0
    for child in psutil.Process(server.proc.pid).children():
        try:
            t = child.cpu_times()
            workers += t.user + t.system
        except psutil.Error:
            pass
    return {"client": time.process_time(), "workers": workers}


def _cpu_per_lifecycle(before: dict, after: dict, lifecycles: int) -> dict:
    """CPU milliseconds per lifecycle of the timed run: the client (this process, warm-up logins
    excluded only approximately) and the server's workers."""
    n = max(lifecycles, 1)
    return {k: (after[k] - before[k]) * 1000 / n for k in before}


def _untimed(attempted):
    """Lifecycles checked in the database but not counted in the main run's throughput."""
    return [(lock_id, app_id, False) for lock_id, app_id, _ in attempted]


def _request_p50(cell) -> float:
    values = [p["p50"] for p in list(cell["actions"].values()) + list(cell["pages"].values()) if p.get("n")]
    return statistics.median(values) if values else 0.0


def paired(base: str, projects, threads: int, per_round: int, rounds: int, engine_rounds, scale: float,
           api: bool = False) -> dict:
    """HTTP/engine-API ratio in alternating rounds (engine API in this process while the server is
    idle, then ``per_round`` HTTP lifecycles, through the pages or, with ``api``, the JSON API):
    the median over the rounds, lowest and highest."""
    ratios, failures, attempted, samples = [], [], [], {}
    for i in range(rounds):
        engine_rate = engine_rounds()
        batch = projects[i * (per_round + threads):(i + 1) * (per_round + threads)]
        cell = drive(base, batch, threads, per_round, 300.0 * scale, scale, api=api)
        failures += cell["failures"]
        attempted += cell["attempted"]
        for label, values in cell["samples"].items():
            samples.setdefault(label, []).extend(values)
        done = cell["started"] - len([f for f in cell["failures"] if not f.startswith("virtual user")])
        ratios.append((done / cell["seconds"]) / engine_rate if cell["seconds"] else 0.0)
    out = {"rounds": rounds, "per_round": per_round, "median": statistics.median(ratios),
           "min": min(ratios), "max": max(ratios), "failures": len(failures), "attempted": attempted}
    if api:
        out["requests"] = {label: percentiles(samples.get(label, [])) for label in API_REQUESTS}
        out["failure_list"] = failures
    return out


# -- database ---------------------------------------------------------------------------------
def http_database(db_url: str, work: Path) -> str:
    """The HTTP part's own database: ``<name>_http`` next to a PostgreSQL one, a file in the
    work directory for SQLite."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{Path(work) / 'http.sqlite3'}"
    u = make_url(db_url)
    return u.set(database=f"{u.database}_http").render_as_string(hide_password=False)


def prepare(url: str, work: Path, count: int, scale: float = 1.0) -> list[tuple[int, str]]:
    """Empty schema, ``flask init-db``, the province and ``count`` locked project managers.
    Returns (lock record id, project name) per lifecycle."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
    else:
        ensure_pg_database(url)
        engine = create_engine(driver_url(url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench-http")
    done = subprocess.run([str(BIN / "flask"), "--app", "webui", "init-db"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600 * scale)
    if done.returncode:
        raise RuntimeError(f"flask init-db failed ({done.returncode}):\n{done.stderr[-2000:]}")

    from engine.db import db
    from tests.world import World
    app = make_app(url, work)
    with app.app_context():
        out = locked_managers(World.build(), count, "HTTP基准工程{}号楼", "经理{}")
        db.session.remove()
        db.engine.dispose()
    return out


def locked_managers(world, count: int, project_name: str, person_name: str) -> list[tuple[int, str]]:
    """``count`` project managers, each locked on a project of their own: (lock id, project name)
    for the lifecycles to unlock (names are formats of the index)."""
    from handlers import lock_rule
    from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B
    out = []
    for i in range(count):
        name = project_name.format(i)
        pm = world.add_person(person_name.format(i), "contractor", CONSTRUCTOR, SAFETY_B)
        world.assign(pm, world.add_project(name), PROJECT_MANAGER)
        [lock] = lock_rule.open_locks(pm.id)
        out.append((lock.id, name))
    return out


def with_tokens(url: str, work: Path, projects) -> list[tuple[int, str, tuple[str, str]]]:
    """Each lifecycle of the JSON API with personal tokens of its own (the applicant's and the
    reviewer's): a token's calls are rate-limited (API_RATE_LIMIT, 600 a minute by default), and the
    benchmark measures the work of a call, not the limit."""
    from engine.db import db
    from handlers import api_tokens
    app = make_app(url, work)
    out = []
    with app.app_context():
        for lock_id, name in projects:
            out.append((lock_id, name, (api_tokens.create_personal_token(APPLICANT)[1],
                                        api_tokens.create_personal_token(REVIEWER)[1])))
        db.session.remove()
        db.engine.dispose()
    return out


def verify(url: str, work: Path, attempted: list[tuple[int, int | None, bool]]) -> dict:
    """Every attempted lifecycle (warm-up included), checked in the database:
    (lock id, application id the client saw created, timed or warm-up)."""
    from engine.db import db
    from engine.models import HumanTask
    from handlers.models import APPROVED, APPLICATION_STATUS, LockRecord, UnlockApplication
    app = make_app(url, work)
    problems, completed, completed_timed = [], 0, 0
    with app.app_context():
        for lock_id, app_id, is_timed in attempted:
            apps = db.session.scalars(select(UnlockApplication).where(UnlockApplication.lock_record_id == lock_id)).all()
            lock = db.session.get(LockRecord, lock_id)
            issues = []
            if len(apps) != 1:
                issues.append(f"{len(apps)} unlock applications for the lock")
            for a in apps:
                if a.status != APPROVED:
                    issues.append(f"application {a.id} is {APPLICATION_STATUS.get(a.status, a.status)}, not 已办结")
                if app_id is not None and a.id != app_id:
                    issues.append(f"application {a.id} is not the one the client created ({app_id})")
                if a.instance_id is not None:
                    states = db.session.scalars(select(HumanTask.state).where(
                        HumanTask.instance_id == a.instance_id)).all()
                    if "open" in states:
                        issues.append(f"instance {a.instance_id} still has an open task")
                else:
                    issues.append(f"application {a.id} has no process instance")
            if lock is None or lock.closed_at is None:
                issues.append(f"lock {lock_id} is still open")
            if issues:
                problems.append(f"lock {lock_id}: " + "; ".join(issues))
            else:
                completed += 1
                completed_timed += is_timed
        db.session.remove()
        db.engine.dispose()
    return {"checked": len(attempted), "completed": completed, "completed_timed": completed_timed,
            "problems": problems}


# -- server -----------------------------------------------------------------------------------
class Gunicorn:
    """``gunicorn -w N`` on ``port`` (a free one when None). Every wait is generous and scales
    with ``scale``: on a slow machine a worker may take many seconds to import the application."""

    def __init__(self, url: str, work: Path, workers: int = 2, port: int | None = None, scale: float = 1.0,
                 env: dict | None = None, threads: int = 1):
        self.url, self.work, self.workers, self.scale, self.env = url, work, workers, scale, env or {}
        self.threads = threads   # > 1: gunicorn's gthread workers, each serving this many requests at once
        self.port = port or _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / f"gunicorn-{workers}.log"
        self.proc = None

    def start(self):
        env = dict(os.environ, DATABASE_URL=self.url, SECRET_KEY="bench-http", **self.env)
        timeout = int(120 * self.scale)   # the worker timeout covers importing the application too
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(self.workers), "--threads", str(self.threads),
             "-b", f"127.0.0.1:{self.port}", "--timeout", str(timeout), "--graceful-timeout", str(timeout),
             "webui:create_app()"],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        self._wait_ready(180 * self.scale)

    def _wait_ready(self, seconds: float):
        """Until every worker has answered a page: a worker still importing answers late, not
        never, so any request error (refused, reset, read timeout) only means "not yet"."""
        deadline = time.monotonic() + seconds
        answered, last = 0, None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with requests.Session() as s:   # a new connection: the kernel may hand it to another worker
                    resp = s.get(self.base + "/auth/login", timeout=min(60 * self.scale, seconds))
                if resp.status_code == 200:
                    answered += 1
                    if answered >= 2 * self.workers and self._booted():
                        return
                    continue
                last = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {seconds:.0f} s (last: {last}):\n{self.log_tail()}")

    def _booted(self) -> bool:
        """Every worker has been spawned (gunicorn logs one line per worker before it imports)."""
        try:
            return self.log.read_text(errors="replace").count("Booting worker") >= self.workers
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- client -----------------------------------------------------------------------------------
class Browser:
    """One logged-in session; records the time of each request under a label."""

    def __init__(self, base: str, samples: dict, timeout: float = 120.0):
        self.base, self.samples, self.timeout = base, samples, timeout
        self.s = requests.Session()
        self.token = None
        self.profiles = None   # {label: [parsed Server-Timing]} when collecting the request profile

    def request(self, label, method, path, expect=(200,), **kw):
        t0 = time.perf_counter()
        resp = self.s.request(method, self.base + path, allow_redirects=False, timeout=self.timeout, **kw)
        if label:
            self.samples.setdefault(label, []).append(time.perf_counter() - t0)
            if self.profiles is not None and "Server-Timing" in resp.headers:
                self.profiles.setdefault(label, []).append(profiling.parse(resp.headers["Server-Timing"]))
        if resp.status_code not in expect:
            raise Failed(f"{method} {path}: HTTP {resp.status_code}, expected {expect}")
        if resp.status_code == 200 and "text/html" in resp.headers.get("Content-Type", ""):
            m = _CSRF.search(resp.text)
            if m:
                self.token = m.group(1) or m.group(2)
        return resp

    def post(self, label, path, data, files=None, to=None):
        """POST with the current page's CSRF token; expects a redirect (to a path matching ``to``)."""
        resp = self.request(label, "POST", path, (302, 303), data=dict(data, csrf_token=self.token), files=files)
        location = resp.headers.get("Location", "")
        if to and not re.search(to, location):
            raise Failed(f"POST {path}: redirected to {location!r}, expected {to!r}")
        return location

    def follow(self, label, location, must_contain=None):
        path = re.sub(r"^https?://[^/]+", "", location)
        resp = self.request(label, "GET", path)
        if must_contain and must_contain not in resp.text:
            flash = re.findall(r'class="[^"]*alert[^"]*"[^>]*>\s*([^<]+)', resp.text)
            raise Failed(f"GET {path}: no “{must_contain}” on the page (messages: {flash or 'none'})")
        return resp

    def login(self, username):
        self.request(None, "GET", "/auth/login")
        location = self.post(None, "/auth/login", {"username": username, "password": PASSWORD})
        if "/auth/role" in location:
            page = self.follow(None, location)
            m = re.search(r'name="account_id"[^>]*value="(\d+)"', page.text)
            if not m:
                raise Failed(f"login {username}: no role to choose")
            self.post(None, "/auth/role", {"account_id": m.group(1)})
        if "/auth/login" in location:
            raise Failed(f"login {username}: refused")


class ApiClient:
    """A JSON API client (``requests.Session``); its bearer token is set per lifecycle."""

    def __init__(self, base: str, samples: dict, timeout: float = 120.0):
        self.base, self.samples, self.timeout = base, samples, timeout
        self.s = requests.Session()

    def call(self, label, method, path, expect=(200,), **kw) -> dict:
        t0 = time.perf_counter()
        resp = self.s.request(method, self.base + "/api/v1" + path, allow_redirects=False, timeout=self.timeout, **kw)
        if label:
            self.samples.setdefault(label, []).append(time.perf_counter() - t0)
        if resp.status_code not in expect:
            raise Failed(f"{method} /api/v1{path}: HTTP {resp.status_code}, expected {expect}: {resp.text[:300]}")
        return resp.json()


def api_lifecycle(applicant: ApiClient, reviewer: ApiClient, lock_id: int, project: str, tokens, state: dict) -> None:
    """One lifecycle through the JSON API (docs/api.md "Process endpoints"): 添加, the 申请表 uploaded
    with the reason, 上报; the reviewer's inbox filtered by the project, the task, 签收, 审核通过."""
    applicant.s.headers["Authorization"], reviewer.s.headers["Authorization"] = (f"Bearer {t}" for t in tokens)
    app = applicant.call("create", "POST", "/applications/unlock", (201,), json={"target_id": lock_id})
    state["app_id"] = app["id"]
    base = f"/applications/unlock/{app['id']}"
    applicant.call("save+upload", "POST", f"{base}/attachments", params={"kind": "unlock_form"},
                   data={"reason": "项目已停工"}, files={"file": ("申请表.pdf", io.BytesIO(PDF), "application/pdf")})
    reported = applicant.call("report", "POST", f"{base}/report")
    if reported["status"] != "reported":
        raise Failed(f"report: status {reported['status']!r}, not reported")
    inbox = reviewer.call("inbox search", "GET", "/inbox", params={"scope": project})
    tasks = [t["id"] for t in inbox["items"]]
    if tasks != [reported["open_task_id"]]:
        raise Failed(f"inbox filtered by {project}: {tasks}, expected [{reported['open_task_id']}]")
    task = f"/tasks/{tasks[0]}"
    reviewer.call("task", "GET", task)
    reviewer.call("claim", "POST", f"{task}/claim")
    done = reviewer.call("approve", "POST", f"{task}/approve", json={"opinion": "同意解锁"})
    if done["status"] != "approved":
        raise Failed(f"approve: status {done['status']!r}, not approved")


def lifecycle(applicant: Browser, reviewer: Browser, lock_id: int, project: str, state: dict) -> None:
    """One lifecycle; the applicant starts (and ends) on the unlock list page."""
    location = applicant.post("create", "/apply/unlock/new", {"target_id": str(lock_id)}, to=r"/apply/unlock/\d+$")
    app_id = int(location.rsplit("/", 1)[1])
    state["app_id"] = app_id
    applicant.follow("detail page", location, "建设工程项目人员解锁申请表")
    location = applicant.post("save+upload", f"/apply/unlock/{app_id}", {"reason": "项目已停工", "explanation": ""},
                              files={"unlock_form": ("申请表.pdf", io.BytesIO(PDF), "application/pdf")},
                              to=r"/apply/unlock/$")
    applicant.follow("list page after save", location, "已暂存")
    location = applicant.post("report", f"/apply/unlock/{app_id}/report", {"back": "list"}, to=r"/apply/unlock/$")
    applicant.follow("list page after report", location, "已上报")

    page = reviewer.request("inbox search", "GET", "/review/", params={"scope": project})
    tasks = set(re.findall(r"/review/task/(\d+)", page.text))
    if len(tasks) != 1:
        raise Failed(f"inbox filtered by {project}: {len(tasks)} tasks listed, expected 1")
    task = f"/review/task/{tasks.pop()}"
    reviewer.follow("task page", task)
    location = reviewer.post("claim", f"{task}/claim", {}, to=re.escape(task) + "$")
    reviewer.follow("task page after claim", location, "签收成功")
    # after a decision the reviewer is taken to the next task to work, or to the inbox
    location = reviewer.post("approve", f"{task}/decide", {"decision": "approve", "opinion": "同意解锁"},
                             to=r"/review/(task/\d+)?$")
    reviewer.follow("task page after approve", location, "审核通过")   # the next task, or the inbox


def drive(base: str, projects: list[tuple], threads: int, lifecycles: int, seconds: float,
          scale: float = 1.0, profile: bool = False, api: bool = False) -> dict:
    """``projects``: (lock id, project name) per lifecycle; with ``api`` also the lifecycle's tokens."""
    run_one = api_lifecycle if api else lifecycle
    warmup, timed = projects[:threads], projects[threads:threads + lifecycles]
    queue, lock = iter(timed), threading.Lock()
    attempted, failures, samples = [], [], [{} for _ in range(threads)]
    profiles = {}
    clock = {}

    def begin():
        clock["t0"] = time.perf_counter()
        clock["deadline"] = clock["t0"] + seconds
    start = threading.Barrier(threads + 1, action=begin)

    def user(i):
        try:
            if api:
                applicant, reviewer = ApiClient(base, {}, 120 * scale), ApiClient(base, {}, 120 * scale)
            else:
                applicant, reviewer = Browser(base, {}, 120 * scale), Browser(base, {}, 120 * scale)
                applicant.login(APPLICANT)
                reviewer.login(REVIEWER)
                applicant.follow(None, "/apply/unlock/")
            state = {}
            with lock:
                attempted.append((warmup[i][0], state))
            run_one(applicant, reviewer, *warmup[i], state)   # untimed warm-up
        except Exception as exc:   # noqa: BLE001 - reported, never counted
            with lock:
                failures.append(f"virtual user {i}: login or warm-up: {type(exc).__name__}: {exc}")
            start.wait()
            return
        applicant.samples = reviewer.samples = samples[i]
        if profile:
            applicant.profiles = reviewer.profiles = profiles
        start.wait()
        while time.perf_counter() < clock["deadline"]:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            state = {}
            with lock:
                attempted.append((item[0], state))
            try:
                run_one(applicant, reviewer, *item, state)
                if profile:   # the inbox as a reviewer first sees it, without a filter
                    reviewer.request("inbox", "GET", "/review/")
            except Exception as exc:   # noqa: BLE001 - reported, never counted
                with lock:
                    failures.append(f"lock {item[0]} (application {state.get('app_id', '-')}): "
                                    f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - clock["t0"]
    merged = {}
    for s in samples:
        for label, values in s.items():
            merged.setdefault(label, []).extend(values)
    timed_locks = {item[0] for item in timed}
    attempted = [(lock_id, state.get("app_id"), lock_id in timed_locks) for lock_id, state in attempted]
    started = sum(1 for *_, is_timed in attempted if is_timed)
    return {"threads": threads, "lifecycles": lifecycles, "started": started, "not_started": lifecycles - started,
            "time_cap": seconds, "seconds": elapsed, "warmup": threads,
            "actions": {a: percentiles(merged.get(a, [])) for a in ACTIONS},
            "pages": {p: percentiles(merged.get(p, [])) for p in PAGES},
            "attempted": attempted, "failures": failures, "profiles": profiles, "samples": merged}
