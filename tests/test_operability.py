"""Running a farm (docs/operators.md): the probes an orchestrator asks (/healthz, /readyz), the
metrics Prometheus scrapes (/metrics, only for whom the configuration allows), the request id that
every response and log line carries, and JSON logs. The job worker's graceful stop is in
tests/test_worker_shutdown.py."""
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

from engine.db import db, unit_of_work
from engine.jobs import JobExecutor, enqueue, enqueue_many
from engine.models import HumanTask, utcnow
from handlers import webhooks
from webui import create_app, logs

from .conftest import DATABASE_URL, _driver, is_postgres
from .receivers import Receiver, subscription, webhook_settings
from .web_helpers import login
from .world import approve_into_an_incident, locked_person, reported_unlock

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-t0ken"


def _app(url, **config):
    return create_app({"SQLALCHEMY_DATABASE_URI": _driver(url), "SECRET_KEY": "test", "TESTING": True,
                       "UPLOAD_DIR": "/tmp/ops/uploads", **config})


@pytest.fixture()
def spare_database(tmp_path):
    """An empty database of its own (SQLite: a file; PostgreSQL: a database beside the suite's,
    dropped afterwards), for the readiness of a schema in every state."""
    if not is_postgres():
        yield f"sqlite:///{tmp_path / 'spare.sqlite3'}"
        return
    import psycopg
    base = make_url(DATABASE_URL)
    name = f"{base.database}_ready"
    admin_url = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _statements(app):
    with app.app_context():
        engine = db.engine
    sent = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


# -- /healthz and /readyz ------------------------------------------------------------------------
def test_healthz_answers_without_the_database_a_session_or_a_login():
    app = _app("postgresql://postgres@127.0.0.1:1/nowhere")   # a closed port: no database at all
    client = app.test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"   # the security headers as everywhere


def test_healthz_sends_no_statement_even_with_a_session_cookie(client_world_app):
    app, client = client_world_app
    login(client, "admin")
    sent = _statements(app)
    resp = client.get("/healthz")
    assert resp.status_code == 200 and sent == []


@pytest.fixture()
def client_world_app(world, ctx):
    from .web_helpers import FreshClient
    ctx.test_client_class = FreshClient
    try:
        yield ctx, ctx.test_client()
    finally:
        ctx.test_client_class = None


def test_readyz_is_unavailable_while_the_database_does_not_answer():
    for url in ("postgresql://postgres@127.0.0.1:1/nowhere", "sqlite:////nonexistent-folder/ynqs.sqlite3"):
        client = _app(url).test_client()
        resp = client.get("/readyz")
        assert resp.status_code == 503, url
        assert resp.json == {"status": "unavailable", "reason": "database unreachable"}
        assert client.get("/healthz").status_code == 200   # the process itself still answers


def test_readyz_while_migrations_are_behind_then_after_the_run_path(spare_database):
    """A database migrated up to the previous revision is behind this code; flask init-db (the
    README's run path: scripts/run) brings it to the head, and it is ready."""
    import flask_migrate
    from alembic.script import ScriptDirectory
    from webui.ops import migration_heads
    app = _app(spare_database)
    client = app.test_client()
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json["reason"]) == \
        (503, "database has no migration version (alembic_version): run flask init-db")
    [head] = migration_heads(Path(app.extensions["migrate"].directory))
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
        previous = ScriptDirectory.from_config(config).get_revision(head).down_revision
        flask_migrate.upgrade(revision=previous)   # this code deployed before its upgrade ran
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json == {"status": "unavailable",
                         "reason": f"migrations not at head: database at {previous}, code at {head}"}
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0 and "database ready" in result.output, result.output
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json) == (200, {"status": "ready"})
    with app.app_context():
        db.engine.dispose()


def test_readyz_of_a_schema_created_from_the_models_asks_for_init_db(spare_database):
    app = _app(spare_database)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and "run flask init-db" in resp.json["reason"]


@pytest.mark.skipif(not is_postgres(), reason="drops a PostgreSQL database under a running app")
def test_readyz_turns_unavailable_when_the_database_goes_away(spare_database):
    import flask_migrate
    app = _app(spare_database)
    with app.app_context():
        db.create_all()
        flask_migrate.stamp()
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    import psycopg
    url = make_url(spare_database)
    with psycopg.connect(url.set(database="postgres").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')   # the pool's connections are cut too
    resp = client.get("/readyz")
    assert (resp.status_code, resp.json["reason"]) == (503, "database unreachable")
    assert client.get("/healthz").status_code == 200


# -- /metrics: protection ------------------------------------------------------------------------
def _allow(app, monkeypatch, token="", ips=""):
    from webui.ops import _networks
    monkeypatch.setitem(app.config, "METRICS_TOKEN", token)
    monkeypatch.setitem(app.config, "METRICS_NETWORKS", _networks(ips))


def test_metrics_are_off_unless_configured(ctx):
    client = ctx.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_need_the_bearer_token(ctx, monkeypatch):
    _allow(ctx, monkeypatch, token=TOKEN)
    client = ctx.test_client()
    resp = client.get("/metrics")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "Set-Cookie" not in resp.headers


def test_metrics_only_for_the_allowed_addresses(ctx, monkeypatch):
    _allow(ctx, monkeypatch, ips="10.0.0.0/8, 192.0.2.7")
    client = ctx.test_client()
    assert client.get("/metrics").status_code == 404   # 127.0.0.1: the endpoint does not exist for it
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 404
    _allow(ctx, monkeypatch, token=TOKEN, ips="10.0.0.0/8")   # both: the right address and the token
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.1"},
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_bad_allowed_address_stops_the_start():
    with pytest.raises(ValueError, match="METRICS_ALLOWED_IPS"):
        _app("sqlite://", METRICS_ALLOWED_IPS="10.0.0.0/8 not-an-address")


# -- /metrics: content ---------------------------------------------------------------------------
def _scrape(client) -> dict:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _gauges(client) -> dict:
    s = _scrape(client)
    return {"open": s[("ynqs_open_tasks", ())], "overdue": s[("ynqs_overdue_tasks", ())],
            "depth": s[("ynqs_job_queue_depth", ())], "scheduled": s[("ynqs_jobs_scheduled", ())],
            "lag": s[("ynqs_job_queue_lag_seconds", ())],
            "failed_jobs": s[("ynqs_incidents", (("kind", "failed_job"),))],
            "errored": s[("ynqs_incidents", (("kind", "errored_instance"),))],
            "webhooks": s[("ynqs_webhook_failed_deliveries", ())], "up": s[("ynqs_database_up", ())]}


def _drain(services):
    """Run every job due now (notifications and the like), so that the queue starts empty."""
    services.worker().run_due()


def test_metrics_report_tasks_jobs_incidents_and_webhook_failures(ctx, world, services, monkeypatch):
    _allow(ctx, monkeypatch, token=TOKEN)
    client = ctx.test_client()
    _drain(services)
    before = _gauges(client)
    assert before["up"] == 1 and before["depth"] == 0 and before["lag"] == 0

    # an unlock application reported: one more open task for the agency, due in its time limit
    pm, _project = locked_person(world, "张三")
    reported_unlock(world, services, pm)
    _drain(services)
    after = _gauges(client)
    assert after["open"] == before["open"] + 1 and after["overdue"] == before["overdue"]
    with time_machine.travel(utcnow() + timedelta(days=90), tick=False):
        late = _gauges(client)
    assert late["overdue"] == late["open"] == after["open"]   # past every time limit, every task is overdue

    # a failing service task: an errored instance (an incident)
    other, _ = locked_person(world, "李四")
    application = reported_unlock(world, services, other)
    _drain(services)
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == application.instance_id,
                                                           HumanTask.state == "open"))
    approve_into_an_incident(services, monkeypatch, world.who("agency_reviewer"), task_id, "同意")
    _allow(ctx, monkeypatch, token=TOKEN)   # approve_into_an_incident undoes the monkeypatches
    assert _gauges(client)["errored"] == before["errored"] + 1

    # a job that fails its last attempt: an incident
    _drain(services)
    with unit_of_work():
        enqueue("ops.unknown_kind")
    assert services.worker(max_attempts=1, kinds={"ops.unknown_kind"}).run_due() == 1
    assert _gauges(client)["failed_jobs"] == before["failed_jobs"] + 1

    # a webhook delivery that fails every attempt
    with webhook_settings("127.0.0.1"):
        receiver = Receiver([500] * webhooks.MAX_ATTEMPTS)
        try:
            subscription(receiver.url, ["lock.opened"], client="工改系统")
            locked_person(world, "赵六")
            worker, at = services.worker(kinds={webhooks.DELIVER_JOB}), utcnow()
            for _ in range(webhooks.MAX_ATTEMPTS):
                at += timedelta(hours=2)
                with time_machine.travel(at, tick=False):
                    worker.run_due()
        finally:
            receiver.close()
    assert _gauges(client)["webhooks"] == before["webhooks"] + 1

    # the queue: three jobs waiting for two minutes, two timers due tomorrow
    _drain(services)
    base = _gauges(client)
    now = utcnow()
    with unit_of_work():
        enqueue_many([("ops.noop", {}, now - timedelta(seconds=120))] * 3 +
                     [("ops.noop", {}, now + timedelta(days=1))] * 2)
    queued = _gauges(client)
    assert queued["depth"] == base["depth"] + 3 == 3
    assert queued["scheduled"] == base["scheduled"] + 2
    assert 120 <= queued["lag"] < 3600


def test_request_latency_is_counted_by_endpoint_and_status_class(ctx, monkeypatch):
    _allow(ctx, monkeypatch, token=TOKEN)
    client = ctx.test_client()
    key = ("ynqs_request_duration_seconds_count", (("endpoint", "healthz"), ("status", "2xx")))
    before = _scrape(client).get(key, 0)
    for _ in range(3):
        client.get("/healthz")
    client.get("/apply/unlock/12345")                 # a page with an id: anonymous, sent to log in
    client.get("/no/such/page/67890")                 # no route at all
    samples = _scrape(client)
    assert samples[key] == before + 3
    labels = {dict(labels).get("endpoint") for (_name, labels) in samples if _name.startswith("ynqs_request")}
    assert "unmatched" in labels and "healthz" in labels
    assert not any("/" in (e or "") or "12345" in (e or "") for e in labels)   # names, never raw paths
    assert samples[("ynqs_request_duration_seconds_count", (("endpoint", "unmatched"), ("status", "4xx")))] >= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_workers_add_up_their_histograms_in_multiprocess_mode(ctx, tmp_path):
    """Two gunicorn workers with PROMETHEUS_MULTIPROC_DIR: whichever worker is scraped, the
    histogram counts every worker's requests."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "SECRET_KEY": "test", "UPLOAD_DIR": str(tmp_path / "uploads"), "METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:webui.gunicorn_conf",
                               "webui:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)

        def healthz_count():
            req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            body = urllib.request.urlopen(req, timeout=10).read().decode()
            m = re.search(r'^ynqs_request_duration_seconds_count\{endpoint="healthz",status="2xx"\} (\S+)$',
                          body, re.M)
            return float(m.group(1)), body
        start = healthz_count()[0]
        # requests until both workers have answered some (each keeps its counts in a file of its own)
        sent = 0
        while len(list((tmp_path / "prom").glob("histogram_*.db"))) < 2 or sent < 40:
            urllib.request.urlopen(base + "/healthz", timeout=5).read()
            sent += 1
            assert sent < 2000, "one worker answered every request"
        counts = {healthz_count()[0] for _ in range(6)}
        assert counts == {start + sent}   # every worker's requests, whichever worker is scraped
        assert "ynqs_open_tasks" in healthz_count()[1]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0   # gunicorn's own graceful stop


# -- request ids and JSON logs -------------------------------------------------------------------
@pytest.fixture()
def json_logs(ctx):
    """The suite's app with LOG_FORMAT=json, its lines written to a buffer."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
                      "UPLOAD_DIR": ctx.config["UPLOAD_DIR"], "LOG_FORMAT": "json", "WTF_CSRF_ENABLED": True})

    @app.get("/test-failure")
    def failure():
        raise RuntimeError("a view that fails")

    root = logging.getLogger()
    level = root.level
    [handler] = [h for h in root.handlers if h.get_name() == logs.HANDLER_NAME]
    buffer = io.StringIO()
    handler.setStream(buffer)

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines()]
    yield app, lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_well_formed_request_id_is_kept_and_logged(json_logs):
    app, lines = json_logs
    resp = app.test_client().get("/healthz", headers={"X-Request-ID": "lb-7f3a.01:9"})
    assert resp.headers["X-Request-ID"] == "lb-7f3a.01:9"
    [line] = [x for x in lines() if x["logger"] == "ynqs.request"]
    assert line["request_id"] == "lb-7f3a.01:9"
    assert (line["level"], line["method"], line["endpoint"], line["path"], line["status"]) == \
        ("INFO", "GET", "healthz", "/healthz", 200)
    assert isinstance(line["duration_ms"], float) and line["user_id"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


@pytest.mark.parametrize("given", ["", "a" * 129, "bad id", "x;Set-Cookie=a", "a\"b", "<script>", "-leading", "标识"])
def test_a_malformed_request_id_is_replaced(json_logs, given):
    app, lines = json_logs
    resp = app.test_client().get("/healthz", headers={"X-Request-ID": given})
    made = resp.headers["X-Request-ID"]
    assert made != given and re.fullmatch(r"[0-9a-f]{32}", made)
    assert [x["request_id"] for x in lines() if x["logger"] == "ynqs.request"] == [made]


def test_every_request_gets_its_own_id(json_logs):
    app, _lines = json_logs
    client = app.test_client()
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_an_exception_is_logged_with_its_request_id_and_traceback(json_logs):
    app, lines = json_logs
    resp = app.test_client().get("/test-failure", headers={"X-Request-ID": "req-500"})
    assert resp.status_code == 500 and resp.headers["X-Request-ID"] == "req-500"
    [error] = [x for x in lines() if x["level"] == "ERROR"]
    assert error["request_id"] == "req-500"
    assert "RuntimeError: a view that fails" in error["exception"]
    [request_line] = [x for x in lines() if x["logger"] == "ynqs.request"]
    assert (request_line["status"], request_line["request_id"], request_line["endpoint"]) == \
        (500, "req-500", "failure")


def test_the_request_line_names_the_logged_in_user(json_logs, world):
    from handlers.models import User
    app, lines = json_logs
    from .web_helpers import FreshClient
    app.test_client_class = FreshClient
    client = app.test_client()
    login(client, "admin")
    client.get("/messages/", headers={"X-Request-ID": "admin-inbox"})
    [line] = [x for x in lines() if x.get("request_id") == "admin-inbox"]
    admin_id = db.session.scalar(db.select(User.id).where(User.username == "admin"))
    assert (line["status"], line["user_id"], line["endpoint"]) == (200, admin_id, "messages.index")


def test_text_logs_stay_as_they_were(ctx):
    assert ctx.config["LOG_FORMAT"] == "text"
    assert not [h for h in logging.getLogger().handlers if h.get_name() == logs.HANDLER_NAME]
    assert ctx.test_client().get("/healthz").headers["X-Request-ID"]   # the header all the same


def test_a_job_workers_log_lines_carry_the_job_id(ctx):
    buffer = io.StringIO()
    handler = logs.configure_json("INFO", buffer)
    root_level = logging.getLogger().level
    try:
        def notify(job):
            logging.getLogger("handlers.notifications").info("sending %s", job.payload["n"])
        with unit_of_work():
            enqueue("ops.log_line", {"n": 1})
        executor = JobExecutor({"ops.log_line": notify})
        assert executor.run_due() == 1
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(root_level)
    job_id = db.session.execute(text("SELECT id FROM engine_job WHERE kind = 'ops.log_line'")).scalar_one()
    [line] = [json.loads(x) for x in buffer.getvalue().splitlines() if "sending" in x]
    assert (line["message"], line["job_id"], line["logger"]) == ("sending 1", job_id, "handlers.notifications")
    assert "request_id" not in line
