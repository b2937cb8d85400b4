"""HTTP: the unlock lifecycle over the web pages, against gunicorn with two workers on PostgreSQL.

The application runs under ``gunicorn -w 2`` (sync workers) on a database of its own
(``<benchmark database>_http``), created with ``flask init-db`` and filled with the test
province plus one locked project manager per lifecycle. A bounded client on the same
machine drives it: a fixed number of virtual users (threads), each with two
``requests.Session`` — the applicant (吴施工, contractor) and the reviewer (赵监督, agency)
— logged in once through /auth/login with the form's CSRF token. Each lifecycle is what a
browser does, redirects followed:

applicant: 添加 (POST /apply/unlock/new) → detail page → 确定 with reason and the uploaded
申请表 (multipart POST) → list → 上报 → list; reviewer: inbox filtered by the project name
→ task page → 签收 → task page → 审核通过 → task page.

A lifecycle counts only if every response was the expected one (status, redirect target,
success message) *and* the database shows it finished afterwards: the application
approved (已办结), its review task completed, the person's lock closed. Everything else is
listed as a failure.
"""
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from . import memory
from .common import driver_url, ensure_pg_database, make_app, percentiles

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PDF = b"%PDF-1.4 bench unlock form over HTTP"
APPLICANT, REVIEWER, PASSWORD = "contractor_user", "agency_reviewer", "demo1234"
# timed requests, in lifecycle order; "page" rows are the GETs a browser makes in between
ACTIONS = ("create", "save+upload", "report", "claim", "approve")
PAGES = ("detail page", "list page", "inbox search", "task page")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Failed(Exception):
    pass


def run(pg_url: str, work, threads: int, lifecycles: int, seconds: float = 300.0) -> dict:
    work = Path(work)
    url = http_database(pg_url)
    measured = {"at": time.strftime("%Y-%m-%d %H:%M %Z"), "load_before": os.getloadavg()}
    projects = prepare(url, work, lifecycles + threads)   # one warm-up lifecycle per virtual user
    server = Gunicorn(url, work)
    try:
        server.start()
        result = drive(server.base, projects, threads, lifecycles, seconds)
        result["memory"] = memory.gunicorn(server.proc.pid)
        measured["load_after"] = os.getloadavg()
        result["measured"] = measured
    finally:
        server.stop()
    result["verified"] = verify(url, work, result.pop("attempted"))
    result["failures"] += result["verified"]["problems"]
    result["completed"] = result["verified"]["completed_timed"]
    result["per_second"] = result["completed"] / result["seconds"] if result["seconds"] else 0.0
    result["errors"] = len(result["failures"])
    result["database"] = make_url(driver_url(url)).database
    result["server_log"] = server.log_tail()
    for failure in result["failures"]:
        print(f"[bench http] FAILED {failure}", flush=True)
    return result


# -- database ---------------------------------------------------------------------------------
def http_database(pg_url: str) -> str:
    u = make_url(pg_url)
    return u.set(database=f"{u.database}_http").render_as_string(hide_password=False)


def prepare(url: str, work: Path, count: int) -> list[tuple[int, str]]:
    """Empty schema, ``flask init-db``, the province and ``count`` locked project managers.
    Returns (lock record id, project name) per lifecycle."""
    ensure_pg_database(url)
    engine = create_engine(driver_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench-http", UPLOAD_DIR=str(work / "http-uploads"))
    subprocess.run([str(BIN / "flask"), "--app", "webui", "init-db"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)

    from engine.db import db
    from handlers import lock_rule
    from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B
    from tests.world import World
    app = make_app(url, work)
    out = []
    with app.app_context():
        world = World.build()
        for i in range(count):
            name = f"HTTP基准工程{i}号楼"
            pm = world.add_person(f"经理{i}", "contractor", CONSTRUCTOR, SAFETY_B)
            project = world.add_project(name)
            world.assign(pm, project, PROJECT_MANAGER)
            [lock] = lock_rule.open_locks(pm.id)
            out.append((lock.id, name))
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
    def __init__(self, url: str, work: Path, workers: int = 2):
        self.url, self.work, self.workers = url, work, workers
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / "gunicorn.log"
        self.proc = None

    def start(self, timeout: float = 60.0):
        env = dict(os.environ, DATABASE_URL=self.url, SECRET_KEY="bench-http",
                   UPLOAD_DIR=str(self.work / "http-uploads"))
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "webui:create_app()"],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(self.base + "/auth/login", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")

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

    def __init__(self, base: str, samples: dict):
        self.base, self.samples = base, samples
        self.s = requests.Session()
        self.token = None

    def request(self, label, method, path, expect=(200,), **kw):
        t0 = time.perf_counter()
        resp = self.s.request(method, self.base + path, allow_redirects=False, timeout=120, **kw)
        if label:
            self.samples.setdefault(label, []).append(time.perf_counter() - t0)
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


def lifecycle(applicant: Browser, reviewer: Browser, lock_id: int, project: str, state: dict) -> None:
    """One lifecycle; the applicant starts (and ends) on the unlock list page."""
    location = applicant.post("create", "/apply/unlock/new", {"target_id": str(lock_id)}, to=r"/apply/unlock/\d+$")
    app_id = int(location.rsplit("/", 1)[1])
    state["app_id"] = app_id
    applicant.follow("detail page", location, "建设工程项目人员解锁申请表")
    location = applicant.post("save+upload", f"/apply/unlock/{app_id}", {"reason": "项目已停工", "explanation": ""},
                              files={"unlock_form": ("申请表.pdf", io.BytesIO(PDF), "application/pdf")},
                              to=r"/apply/unlock/$")
    applicant.follow("list page", location, "已保存")
    location = applicant.post("report", f"/apply/unlock/{app_id}/report", {"back": "list"}, to=r"/apply/unlock/$")
    applicant.follow("list page", location, "已上报")

    page = reviewer.request("inbox search", "GET", "/review/", params={"scope": project})
    tasks = set(re.findall(r"/review/task/(\d+)", page.text))
    if len(tasks) != 1:
        raise Failed(f"inbox filtered by {project}: {len(tasks)} tasks listed, expected 1")
    task = f"/review/task/{tasks.pop()}"
    reviewer.follow("task page", task)
    location = reviewer.post("claim", f"{task}/claim", {}, to=re.escape(task) + "$")
    reviewer.follow("task page", location, "签收成功")
    location = reviewer.post("approve", f"{task}/decide", {"decision": "approve", "opinion": "同意解锁"},
                             to=re.escape(task) + "$")
    reviewer.follow("task page", location, "该任务已处理完毕")


def drive(base: str, projects: list[tuple[int, str]], threads: int, lifecycles: int, seconds: float) -> dict:
    warmup, timed = projects[:threads], projects[threads:threads + lifecycles]
    queue, lock = iter(timed), threading.Lock()
    attempted, failures, samples = [], [], [{} for _ in range(threads)]
    clock = {}

    def begin():
        clock["t0"] = time.perf_counter()
        clock["deadline"] = clock["t0"] + seconds
    start = threading.Barrier(threads + 1, action=begin)

    def user(i):
        try:
            applicant, reviewer = Browser(base, {}), Browser(base, {})
            applicant.login(APPLICANT)
            reviewer.login(REVIEWER)
            applicant.follow(None, "/apply/unlock/")
            state = {}
            with lock:
                attempted.append((warmup[i][0], state))
            lifecycle(applicant, reviewer, *warmup[i], state)   # untimed warm-up
        except Exception as exc:   # noqa: BLE001 - reported, never counted
            with lock:
                failures.append(f"virtual user {i}: login or warm-up: {type(exc).__name__}: {exc}")
            start.wait()
            return
        applicant.samples = reviewer.samples = samples[i]
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
                lifecycle(applicant, reviewer, *item, state)
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
    timed_locks = {lock_id for lock_id, _ in timed}
    attempted = [(lock_id, state.get("app_id"), lock_id in timed_locks) for lock_id, state in attempted]
    started = sum(1 for *_, is_timed in attempted if is_timed)
    return {"threads": threads, "lifecycles": lifecycles, "started": started, "not_started": lifecycles - started,
            "time_cap": seconds, "seconds": elapsed, "warmup": threads,
            "actions": {a: percentiles(merged.get(a, [])) for a in ACTIONS},
            "pages": {p: percentiles(merged.get(p, [])) for p in PAGES},
            "attempted": attempted, "failures": failures}
