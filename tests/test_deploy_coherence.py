"""A change made by one process is used by every other at its next request, no restart: a
deployment (its diagram and forms) and the working calendar (engine.generations).

Two gunicorn workers serve the test database; they first serve the shipped unlock process (so
each has cached what it serves). A separate process (``flask bpmn deploy``) then deploys the
site-check example: the unlock diagram with a 现场核查 step whose form file (forms/site_check.json)
exists only in that bundle. The next application reported through the workers waits at 现场核查,
and its task page renders the new form on every request, whichever worker answers it.
"""
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask
from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM

from .world import PDF_BYTES, locked_person

ROOT = Path(__file__).resolve().parent.parent
SITE_CHECK = Path(__file__).parent / "bpmn_site_check"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Browser:
    """A cookie-keeping HTTP client (no redirects followed: the tests read Location)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  self._NoRedirect)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers={"Connection": "close"})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def post(self, path: str, data: dict, page: str | None = None) -> int:
        _status, html = self.request(page or path)
        m = _CSRF.search(html)
        return self.request(path, {**data, "csrf_token": m.group(1) or m.group(2)})[0]

    def login(self, username: str) -> None:
        assert self.post("/auth/login", {"username": username, "password": "demo1234"}) == 302


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def two_workers(ctx):
    """gunicorn -w 2 on the test database; yields its base URL."""
    with gunicorn(ctx) as base:
        yield base


@contextmanager
def gunicorn(app, workers: int = 2, **env):
    """``gunicorn -w workers`` on ``app``'s database, with ``env`` added to its environment; yields
    its base URL once it answers."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
           "UPLOAD_DIR": app.config["UPLOAD_DIR"], **env}
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers),
                               "-b", f"127.0.0.1:{port}", "webui:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/auth/login", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stderr.read().decode())
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _saved_unlock(world, services, name):
    person, _project = locked_person(world, name)
    from handlers import lock_rule
    applicant = world.who("contractor_user")
    app = services.unlock.create(applicant, lock_rule.open_locks(person.id)[0].id)
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    return app.id


def _open_task(instance_id: int) -> HumanTask:
    db.session.rollback()   # see what the workers committed
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "open"))


def test_a_bundle_deployed_by_another_process_is_served_by_every_worker_at_its_next_request(ctx, world, services,
                                                                                          two_workers):
    from handlers.models import UnlockApplication
    before = _saved_unlock(world, services, "张旧")
    db.session.commit()
    applicant, reviewer = Browser(two_workers), Browser(two_workers)
    applicant.login("contractor_user")
    reviewer.login("agency_reviewer")

    # version 1 served and cached by both workers: the applicant's pages and a review task page
    assert applicant.post(f"/apply/unlock/{before}/report", {"back": "list"}, f"/apply/unlock/{before}") == 302
    old_task = _open_task(db.session.get(UnlockApplication, before).instance_id)
    assert old_task.element_id == "Task_Review"
    for _ in range(12):
        assert applicant.request("/apply/unlock/")[0] == 200
        status, page = reviewer.request(f"/review/task/{old_task.id}")
        assert status == 200 and "审核" in page

    # another process deploys the site-check bundle (a new step and a form file no worker has read)
    deploy = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "webui", "bpmn", "deploy",
                             "--dir", str(SITE_CHECK), "--note", "增加现场核查"], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "DATABASE_URL": ctx.config["SQLALCHEMY_DATABASE_URI"],
                                            "SECRET_KEY": "test"})
    assert deploy.returncode == 0, deploy.stderr
    assert "deployed personnel_unlock v2" in deploy.stdout

    # the next application starts on version 2 and is reported through the workers, which read the
    # new version's diagram and its new step's form from the database
    db.session.rollback()   # a fresh snapshot: the workers and the deploy wrote since
    after = _saved_unlock(world, services, "李新")
    db.session.commit()
    assert applicant.post(f"/apply/unlock/{after}/report", {"back": "list"}, f"/apply/unlock/{after}") == 302
    new_task = _open_task(db.session.get(UnlockApplication, after).instance_id)
    assert (new_task.element_id, new_task.form_key) == ("Task_SiteCheck", "site_check")
    task_page = f"/review/task/{new_task.id}"
    assert reviewer.post(f"{task_page}/claim", {}, task_page) == 302   # the form shows to its holder
    for _ in range(12):
        status, page = reviewer.request(f"/review/task/{new_task.id}")
        assert status == 200, page[:300]
        assert "现场核查" in page and "核查结论" in page
    # the instance started on version 1 keeps its version's form
    status, page = reviewer.request(f"/review/task/{old_task.id}")
    assert status == 200 and "核查结论" not in page



def test_a_closed_day_entered_by_another_process_sets_due_dates_at_every_workers_next_request(ctx, world, services,
                                                                                           two_workers):
    """Both workers compute due dates with the calendar they cached (the inbox shows the days left of
    each task); the administrator of another host then closes the next working day (本地停止办公).
    Every application reported afterwards, whichever worker takes it, falls due a working day later."""
    from engine import calendar_store, deadlines, workcalendar
    from engine.db import unit_of_work
    from handlers.models import UnlockApplication
    first = _saved_unlock(world, services, "张甲")
    db.session.commit()
    applicant, reviewer = Browser(two_workers), Browser(two_workers)
    applicant.login("contractor_user")
    reviewer.login("agency_reviewer")
    assert applicant.post(f"/apply/unlock/{first}/report", {"back": "list"}, f"/apply/unlock/{first}") == 302
    for _ in range(12):   # each worker's inbox computes days left: the calendar is cached in both
        status, page = reviewer.request("/review/")
        assert status == 200 and "张甲" in page

    # another process (this test's) closes the next working day: its rows and the generation, one commit
    before = workcalendar.current()
    closed = before.add_working_days(workcalendar.today(), 1)
    with unit_of_work():
        calendar_store.set_local_day(closed, False, "本地停止办公", "平台管理员")
    db.session.commit()

    db.session.rollback()
    reported = [_saved_unlock(world, services, name) for name in ("李乙", "王丙", "赵丁", "钱戊")]
    db.session.commit()
    for app_id in reported:
        assert applicant.post(f"/apply/unlock/{app_id}/report", {"back": "list"}, f"/apply/unlock/{app_id}") == 302
    for app_id in reported:
        task = _open_task(db.session.get(UnlockApplication, app_id).instance_id)
        assert task.due_rule == "wd:5"
        due = deadlines.due_at(task.created_at, task.due_rule)   # this process: the new calendar
        assert task.due_at == due.at, (app_id, task.due_at, due.at)
        assert task.due_at > deadlines.due_at(task.created_at, task.due_rule, before).at   # a working day later
