"""SQL statements per request of the unlock lifecycle, as a browser makes them: a page that
starts loading rows one by one (an N+1) or a new per-request query fails here, not only in the
benchmark. Counted with a ``before_cursor_execute`` listener (BEGIN and SAVEPOINT sent as SQL
count, the driver-level COMMIT does not). PostgreSQL sends fewer statements than SQLite: the
engine writes with data-modifying CTEs there (engine/store.py).

When a change lowers a count, lower the number here; a higher count needs a reason.
``SHOW_SQL=1 pytest -s tests/test_statement_counts.py`` prints each request's statements;
``SHOW_SQL=stack`` also the project's functions that sent each one.
"""
import io
import os
import re
import traceback
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from engine.db import db
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from .web_helpers import FreshClient, login, token_from

PDF = b"%PDF-1.4 unlock form"
SHOW_SQL = os.environ.get("SHOW_SQL") in ("1", "stack")
SHOW_STACK = os.environ.get("SHOW_SQL") == "stack"
PROJECT_DIRS = ("/engine/", "/handlers/", "/webui/")

# request -> statements, per dialect
# report and approve also read the active webhook subscriptions for the events they raise
# (handlers/webhooks.py writes the deliveries at commit)
# Issue 12 added, with reason: a list page +1 (the 添加 dialog greys records with an open application:
# one query of their open keys), create +2 (the case number: its counter and the instance's number),
# a draft's detail page +18 (the preview of what approval will do: the approval's operators rehearsed
# in a savepoint that is rolled back, handlers.applicant_preview)
# The holder's task page runs the approval's
# operators as a dry run in a savepoint (handlers/preview.py: the consequences shown before 审核通过)
# and reads the holder's 常用意见 and colleagues (转办); approve then looks up the next open task (one
# statement over two keyset ranges) and lands on the inbox when none is left.
# Issue 13 lowered, with reason: the previews rehearse in a savepoint of the request's own transaction
# on PostgreSQL instead of committing a unit of work of their own (a commit expired every loaded row,
# so the page read the task, the application, its attachments and each log entry again); the page's
# diagram and clock share one read of the instance's tasks; the reviewer's preview takes the task
# page's application instead of reading the task again; the case number is written with the new
# instance; 上报 writes the application once and takes the candidates of the opened task from the
# engine; webhook subscriptions are read once per transaction; the next task after a decision is one
# statement; the id of a new application is taken from the session after the commit.
# Deployment bundles added, with reason: every request +1 (the cache-generation read that makes a
# deployment by any worker or host served at the next request, engine.generations); the task page,
# the page after claim and approve +1 more (the task's form comes from its own version's bundle:
# one read of the instance's version, engine.definitions.form_of_instance).
# Attachments in the database added, with reason: save+upload +1 (the file's bytes are written to
# upload_blob in the save's own transaction, one INSERT … ON CONFLICT, instead of to a folder on one
# host's disk; handlers/uploads.py DatabaseStore).
# Certificates added, with reason: approve +3 (the approval that ends the case issues its 办结通知书 in
# the same transaction: the instance's subject, the certificate number's counter, the certificate's row).
# 一次性告知 added, with reason: the task page and the page after claim +2 (the return's checklist
# comes from the application's form of the instance's version: its version read once more; the
# case's correction notices, one read of none here, handlers.corrections.history).
# Lowered, with reason: the pages rehearse their approval preview before reading the log, the
# attachments and the diagram's tasks, and on SQLite the rehearsal's own transaction (which commits
# nothing) no longer expires what the page loaded: the holder's task page and a draft's detail page
# no longer read the task, the application and each log entry a second time (SQLite -6 and -1).
# Lowered, with reason: the previews read the instance through the session, which holds it for the
# request, so the page's diagram takes it from there (both pages -1 on both databases). A rehearsal
# takes no row locks (lock_rule.serialize: it is rolled back, so it neither waits for an effect nor
# holds one up) and so reloads nothing after them (PostgreSQL: both pages -3).
# Lowered, with reason: approve -1 (the certificate takes the case's subject and number from the
# instance the approving command read, not from a second read of the instance). The task page -1
# and, on PostgreSQL, the page after claim -1: the task's form and the application's form come from
# one read per transaction of the version the instance runs on (engine.definitions).
# Raised, with reason: a rehearsal takes its effect's row locks again (PostgreSQL: the detail page and
# the page after claim +2, the project's and the person's rows). Without them a preview that had
# written a lock record's row and the approval holding its person's row deadlocked under load: the
# approval failed into an incident, or the page answered 500 (tests/test_effect_races.py). It still
# reloads nothing after the locks: it is rolled back.
# Lowered, with reason: approve on PostgreSQL -1 (the command takes the task and the application the
# page read to check the form in the same transaction; its gate re-checks the task in its statement).
# Lowered, with reason: report and approve -1 on both databases (the webhook subscriptions are kept
# per process and read again when the ``webhooks`` generation moves, handlers/webhooks.py); on
# PostgreSQL the detail page and the page after claim -1 (a rehearsal gives the objects its rolled-back
# savepoint expired their loaded values back instead of the page reading the application again,
# engine.db) and approve -1 more (自动解锁 reads the person's open locks once under the person's
# lock, the lock being unlocked among them, instead of reloading it and reading them again).
# Lowered, with reason: report, claim and approve -1 on both databases (a notification's recipients
# are chosen and their in-app messages written by one INSERT … SELECT when no e-mail goes out,
# handlers/notifications.py). Create -1 on both databases: an open application for the same thing
# is refused by the unique open key's violation, not looked for first (handlers/applications.py).
# Every request -1 on both databases: the login's statement carries the cache generations
# (engine.generations.carried), so the request's generation check reads nothing of its own.
# SQLite: the detail page -3 and the page after claim -4: the rehearsal takes a session and
# connection of its own for its write transaction instead of ending the page's read transaction,
# which expired everything the page had loaded (the application, the task, the login's account and
# the version read again after it), and the instance it read is handed to the page (engine.db.adopt).
# The task page, the page after claim and approve -1 on both databases: the review task's read carries
# the version its instance runs on (engine.definitions.version_of_task), which the task's form needs.
# SQLite: save+upload -1 and approve -2: the view reads the application (and the task) inside the
# command's write transaction (webui/writes.py), so the command's BEGIN IMMEDIATE no longer ends the
# view's read transaction and expires what it read, and the command reads none of it again.
# Lowered, with reason: the detail page, the page after claim and approve -1 on both databases:
# 自动解锁 reads the person's active assignments once under the person's lock, ends the released one
# among them and counts them for the lock rule in Python (handlers/lock_rule.holdings), instead of
# reading the assignment to end and then counting in SQL after a flush. The page after claim -4 more:
# a rehearsal that only changed rows it had loaded records them from the session without sending
# them (its savepoint's rollback undoes them in memory, handlers/preview.record_changes), so the
# reviewer's preview writes nothing; the detail page -4 as well: the applicant's preview reads the
# projects still counted after the effect without flushing it, each assignment then taken as the
# session holds it (handlers/lock_rule.counted_projects). PostgreSQL: both pages -2 more, a rehearsal
# takes its row locks right before its first write, and one that writes nothing takes none
# (handlers/lock_rule.serialize; tests/test_effect_races.py). Both pages -2 more on PostgreSQL and -4 on
# SQLite: a rehearsal runs first in the request's session and transaction as they stand, without a
# savepoint (engine.db.rehearse), and only one that reaches a write runs again in a savepoint; SQLite
# no longer opens a write transaction of its own for it (BEGIN IMMEDIATE, the savepoint and its
# rollback, and the application read again in that session).
EXPECTED = {
    "sqlite": {
        "list page": 6, "create": 12, "detail page": 11, "save+upload": 12, "list page after save": 6,
        "report": 16, "list page after report": 6, "inbox": 4, "inbox search": 4, "task page": 9,
        "claim": 9, "task page after claim": 13, "approve": 23, "task page after approve": 4,
    },
    "postgresql": {
        "list page": 5, "create": 7, "detail page": 10, "save+upload": 8, "list page after save": 5,
        "report": 9, "list page after report": 5, "inbox": 3, "inbox search": 3, "task page": 8,
        "claim": 4, "task page after claim": 12, "approve": 19, "task page after approve": 3,
    },
}


class Counter:
    def __init__(self, engine):
        self.engine, self.n = engine, 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn, _cursor, statement, *_args):
        self.n += 1
        if SHOW_SQL:
            print("   ", " ".join(statement.split())[:200])
        if SHOW_STACK:
            frames = [f"{f.filename.rsplit('/', 1)[1]}:{f.lineno} {f.name}" for f in traceback.extract_stack()
                      if any(d in f.filename for d in PROJECT_DIRS) and "-packages/" not in f.filename]
            print("        <-", " < ".join(reversed(frames[-5:])))

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


class Browser:
    """A test client whose every request is counted under a label."""

    def __init__(self, app, counter, counts):
        self.client, self.counter, self.counts = app.test_client(), counter, counts
        self.token = None

    def request(self, label, method, url, **kw):
        before = self.counter.n
        resp = self.client.open(url, method=method, **kw)
        self.counts[label] = self.counter.n - before
        if SHOW_SQL:
            print(f"^ {label}: {method} {url}, {self.counts[label]} statements")
        html = resp.get_data(as_text=True)
        if resp.status_code == 200 and 'name="csrf_token"' in html:
            self.token = token_from(html)
        return resp

    def post(self, label, url, data, **kw):
        resp = self.request(label, "POST", url, data=dict(data, csrf_token=self.token), **kw)
        assert resp.status_code == 302, (label, resp.status_code)
        return resp.headers["Location"]

    def follow(self, label, location, must_contain):
        resp = self.request(label, "GET", re.sub(r"^https?://[^/]+", "", location))
        assert resp.status_code == 200 and must_contain in resp.get_data(as_text=True), label
        return resp


@contextmanager
def fresh_clients(ctx):
    ctx.test_client_class = FreshClient
    try:
        yield
    finally:
        ctx.test_client_class = None


@pytest.fixture()
def lifecycle_counts(world, ctx):
    """Counts of the second lifecycle: the first one warms what a worker keeps between requests
    (the parsed diagrams, their XML, the compiled statements), as a serving worker has."""
    from handlers import lock_rule
    locks = []
    for name in ("昆明市第一中学教学楼", "昆明市第二中学教学楼"):
        pm = world.add_person(f"{name}经理", "contractor", CONSTRUCTOR, SAFETY_B)
        project = world.add_project(name)
        world.assign(pm, project, PROJECT_MANAGER)
        [lock] = lock_rule.open_locks(pm.id)
        locks.append((lock.id, name))
    db.session.commit()
    db.session.remove()

    counts = {}
    counter = Counter(db.engine)
    try:
        with fresh_clients(ctx):
            applicant, reviewer = Browser(ctx, counter, counts), Browser(ctx, counter, counts)
            login(applicant.client, "contractor_user")
            login(reviewer.client, "agency_reviewer")
            _lifecycle(applicant, reviewer, *locks[0])
            counts.clear()
            _lifecycle(applicant, reviewer, *locks[1])
    finally:
        counter.close()
    return counts


def _lifecycle(applicant, reviewer, lock_id, project_name):
    applicant.request("list page", "GET", "/apply/unlock/")
    location = applicant.post("create", "/apply/unlock/new", {"target_id": str(lock_id)})
    app_id = int(location.rsplit("/", 1)[1])
    applicant.follow("detail page", location, "建设工程项目人员解锁申请表")
    location = applicant.post("save+upload", f"/apply/unlock/{app_id}",
                              {"reason": "项目已停工", "explanation": "",
                               "unlock_form": (io.BytesIO(PDF), "申请表.pdf")},
                              content_type="multipart/form-data")
    applicant.follow("list page after save", location, "已暂存")
    location = applicant.post("report", f"/apply/unlock/{app_id}/report", {"back": "list"})
    applicant.follow("list page after report", location, "已上报")

    reviewer.request("inbox", "GET", "/review/")
    page = reviewer.request("inbox search", "GET", "/review/", query_string={"scope": project_name})
    [task_id] = set(re.findall(r"/review/task/(\d+)", page.get_data(as_text=True)))
    task = f"/review/task/{task_id}"
    reviewer.follow("task page", task, "签收")
    location = reviewer.post("claim", f"{task}/claim", {})
    reviewer.follow("task page after claim", location, "签收成功")
    location = reviewer.post("approve", f"{task}/decide", {"decision": "approve", "opinion": "同意解锁"})
    # after a decision the next open task opens, or (none left, as here) the inbox
    reviewer.follow("task page after approve", location, "审核通过。待办事项已全部处理")


def test_statements_per_request_of_the_unlock_lifecycle(lifecycle_counts):
    assert lifecycle_counts == EXPECTED[db.engine.dialect.name]


# The same lifecycle through the JSON API (/api/v1, personal tokens, 7 calls), per dialect. Every
# call: the token check (one statement: the token with its account, user, organisation and the cache
# generations), the rate counter's hit (a transaction of its own: BEGIN IMMEDIATE + the upsert
# on SQLite) and the audit row with the token's last use (PostgreSQL: one statement, a data-modifying
# CTE; SQLite: two). A call that writes (create, save+upload, report, claim, approve) writes its
# audit row in its command's transaction, so it commits once; the command ends with the engine's rows
# expired (written with Core) and the domain's objects kept as the session wrote them, so the answer
# takes the application from the session (engine.db.call_unit); it reads the open task, unless the
# call's engine results say it (create: the tasks the start opened; approve: the case ended, no open
# task), and claim's task is the one its gate returned (webui/api/processes.py). Lowered, with reason:
# create, save+upload, report, claim and approve -1 each on both databases (the application not read
# again after the command; a test compares each answer with a fresh GET, tests/test_api_processes.py),
# create -1 more (the open key, as on the pages above). Every call -1: the token's statement carries
# the cache generations (engine.generations.carried), so the call's generation check reads nothing.
# Approve -1: the review task's read carries its instance's version (as the pages above).
# A call that only reads writes its audit row after (SQLite: BEGIN IMMEDIATE). Approve issues the
# case's certificate with the instance its command read (handlers/certificates.py).
# SQLite, every call -1: the token's last use is kept to the minute (handlers/api_tokens.record_call),
# and the second lifecycle's token was used less than a minute ago (PostgreSQL: the CTE, as many
# statements). Approve -1: 自动解锁 reads the person's assignments once (as the pages above).
API_EXPECTED = {
    "sqlite": {"create": 15, "save+upload": 16, "report": 20, "inbox search": 8, "task": 9, "claim": 13,
               "approve": 24},
    "postgresql": {"create": 9, "save+upload": 11, "report": 12, "inbox search": 5, "task": 6, "claim": 7,
                   "approve": 20},
}


@pytest.fixture()
def api_lifecycle_counts(world, ctx):
    """Counts of the second API lifecycle (the first warms what a worker keeps)."""
    from handlers import api_tokens, lock_rule
    locks = []
    for name in ("昆明市第三中学教学楼", "昆明市第四中学教学楼"):
        pm = world.add_person(f"{name}经理", "contractor", CONSTRUCTOR, SAFETY_B)
        project = world.add_project(name)
        world.assign(pm, project, PROJECT_MANAGER)
        [lock] = lock_rule.open_locks(pm.id)
        locks.append((lock.id, name))
    tokens = (api_tokens.create_personal_token("contractor_user")[1],
              api_tokens.create_personal_token("agency_reviewer")[1])
    db.session.commit()
    db.session.remove()

    counts = {}
    counter = Counter(db.engine)
    try:
        client = ctx.test_client()
        _api_lifecycle(client, counter, counts, tokens, *locks[0])
        counts.clear()
        _api_lifecycle(client, counter, counts, tokens, *locks[1])
    finally:
        counter.close()
    return counts


def _api_lifecycle(client, counter, counts, tokens, lock_id, project_name):
    me, reviewer = ({"Authorization": f"Bearer {t}"} for t in tokens)

    def call(label, method, url, status=200, headers=me, **kw):
        before = counter.n
        resp = client.open("/api/v1" + url, method=method, headers=headers, **kw)
        counts[label] = counter.n - before
        if SHOW_SQL:
            print(f"^ api {label}: {method} {url}, {counts[label]} statements")
        assert resp.status_code == status, (label, resp.get_json())
        return resp.get_json()
    app = call("create", "POST", "/applications/unlock", 201, json={"target_id": lock_id})
    base = f"/applications/unlock/{app['id']}"
    call("save+upload", "POST", f"{base}/attachments?kind=unlock_form", content_type="multipart/form-data",
         data={"reason": "项目已停工", "file": (io.BytesIO(PDF), "申请表.pdf")})
    assert call("report", "POST", f"{base}/report")["status"] == "reported"
    inbox = call("inbox search", "GET", "/inbox", headers=reviewer, query_string={"scope": project_name})
    [task_id] = [t["id"] for t in inbox["items"]]
    call("task", "GET", f"/tasks/{task_id}", headers=reviewer)
    assert call("claim", "POST", f"/tasks/{task_id}/claim", headers=reviewer)["task"]["claimed_by_name"]
    assert call("approve", "POST", f"/tasks/{task_id}/approve", headers=reviewer,
                json={"opinion": "同意"})["status"] == "approved"


def test_statements_per_call_of_the_api_lifecycle(api_lifecycle_counts):
    assert api_lifecycle_counts == API_EXPECTED[db.engine.dialect.name]
