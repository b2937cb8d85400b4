"""The farm: several hosts on this machine, each a Linux network namespace, cabled with veth pairs.

::

    client (root ns) 10.231.0.1 ──── 10.231.0.2 lb (HAProxy) 10.231.1.1 ──── 10.231.1.2 web1 (gunicorn -w 2)
                                                             10.231.2.1 ──── 10.231.2.2 web2 (gunicorn -w 2)
    database host (root ns) 10.231.11.1 ──── 10.231.11.2 web1
                            10.231.12.1 ──── 10.231.12.2 web2
                            10.231.13.1 ──── 10.231.13.2 jobs (flask engine worker)

Every link is a veth pair of its own, so no packet is forwarded anywhere (the machine's routing
and firewall are left as they are). The root namespace is the database host: PostgreSQL and
Redis listen on 127.0.0.1 only, so a socat forwarder on each database-link address hands the
hosts' connections to them; the webhook receiver and the SMTP server of the test listen there
too. HAProxy balances round-robin over the two web hosts with health checks, passes the client's
address in ``X-Forwarded-For`` (the web hosts trust one proxy: ``TRUSTED_PROXIES=1``), and has a
frontend per web host (ports 8081 and 8082) to reach one host on purpose. Each web host keeps its
uploads in a folder of its own, as separate machines would. With two or more cores, web1 runs on
the first and web2 on the second (taskset), so that a host is a core's worth of machine; the
database, HAProxy, the job worker and the client run wherever the kernel puts them.

What the farm shows (``run`` writes the report; tests/test_farm.py asserts each part):

- an attachment uploaded through web1 is downloaded through web2;
- 100 wrong /progress lookups from one client address, spread by HAProxy over both hosts, get
  at most PROGRESS_LOOKUPS_PER_MINUTE answers;
- throughput of the same load (the unlock lifecycle of bench/http.py) through one web host and
  through two, as a ratio;
- web1 killed (SIGKILL to its gunicorn master and workers) in the middle of a load: no action
  lost and none doubled (every lifecycle finished exactly once, one application and one
  attachment per lock, the same operation-log entries in every instance), ``flask
  check-invariants`` and ``flask audit verify`` clean, and every job ran exactly once (each
  webhook delivery received once, one e-mail per e-mail job, no job claimed twice);
- a deployment made on web1 (``flask bpmn deploy``) is served by web2 at its next request.

Run it with ``bash scripts/farm`` (root, ``ip netns``); it needs PostgreSQL and Redis on
127.0.0.1 and creates and drops its own database (``farm_test`` by default).
"""
import argparse
import importlib.util
import io
import json
import os
import re
import signal
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .common import driver_url
from .http import APPLICANT, PDF, REVIEWER, Browser, Failed, locked_managers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("FARM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/farm_test")
REDIS = os.environ.get("FARM_REDIS_URL", "redis://127.0.0.1:6379/4")
SECRET = "farm-shared-secret"
PREFIX = "ynqsfarm"
NETNS = {h: f"{PREFIX}-{h}" for h in ("lb", "web1", "web2", "jobs")}
# (device, namespace or None for the root, address) on each end of a link
LINKS = [
    (("yf-c", None, "10.231.0.1"), ("yf-lb-c", "lb", "10.231.0.2")),
    (("yf-lb-w1", "lb", "10.231.1.1"), ("yf-w1-lb", "web1", "10.231.1.2")),
    (("yf-lb-w2", "lb", "10.231.2.1"), ("yf-w2-lb", "web2", "10.231.2.2")),
    (("yf-d-w1", None, "10.231.11.1"), ("yf-w1-d", "web1", "10.231.11.2")),
    (("yf-d-w2", None, "10.231.12.1"), ("yf-w2-d", "web2", "10.231.12.2")),
    (("yf-d-j", None, "10.231.13.1"), ("yf-j-d", "jobs", "10.231.13.2")),
]
CLIENT_ADDR, LB_ADDR = "10.231.0.1", "10.231.0.2"
WEB_ADDR = {"web1": "10.231.1.2", "web2": "10.231.2.2"}
DB_SIDE = {"web1": "10.231.11.1", "web2": "10.231.12.1", "jobs": "10.231.13.1"}
WEB_PORT, LB_PORT, LB_PORT_HOST = 8000, 8080, {"web1": 8081, "web2": 8082}
LOCK = Path("/tmp/ynqs-farm.lock")
SITE_CHECK = ROOT / "tests" / "bpmn_site_check"


class FarmUnavailable(RuntimeError):
    """The machine cannot build the farm (not root, no ip netns, no haproxy or socat)."""


def requirements_missing() -> str | None:
    """Why the farm cannot be built here, or None."""
    if os.geteuid() != 0:
        return "the farm needs root (network namespaces and veth pairs)"
    for tool in ("ip", "haproxy", "socat", "taskset"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (bash scripts/install-farm)"
    pg, redis = make_url(driver_url(PG_ADMIN)), re.match(r"redis://([^/:]+)(?::(\d+))?", REDIS)
    for what, host, port in (("PostgreSQL", pg.host, pg.port or 5432),
                             ("Redis", redis.group(1) if redis else "?", int(redis.group(2) or 6379) if redis else 0)):
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            return f"{what} is not reachable at {host}:{port} ({exc})"
    return None


def _run(*args, check=True):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(map(str, args))}: {done.stderr.strip()}")
    return done


def _ns(host):
    return ["ip", "netns", "exec", NETNS[host]] if host else []


def teardown_network() -> None:
    """Delete the farm's namespaces and root-side links (also what a crashed run left behind)."""
    for ns in NETNS.values():
        pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:   # only the farm's own processes live in its namespaces
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _run("ip", "netns", "del", ns, check=False)
    for (dev, ns, _addr), _other in LINKS:
        if ns is None:
            _run("ip", "link", "del", dev, check=False)


def build_network() -> None:
    teardown_network()
    for ns in NETNS.values():
        _run("ip", "netns", "add", ns)
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    for (dev_a, host_a, addr_a), (dev_b, host_b, addr_b) in LINKS:
        _run("ip", "link", "add", dev_a, "type", "veth", "peer", "name", dev_b)
        for dev, host, addr in ((dev_a, host_a, addr_a), (dev_b, host_b, addr_b)):
            if host:
                _run("ip", "link", "set", dev, "netns", NETNS[host])
            _run(*_ns(host), "ip", "addr", "add", f"{addr}/24", "dev", dev)
            _run(*_ns(host), "ip", "link", "set", dev, "up")


# -- the services of the test on the database host --------------------------------------------
class WebhookReceiver:
    """Records each delivery's id (X-Ynqs-Delivery); answers 200."""

    def __init__(self, host):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.deliveries = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries[self.headers.get("X-Ynqs-Delivery")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpServer:
    """A local SMTP server (aiosmtpd) counting the messages it receives."""

    def __init__(self, host):
        from aiosmtpd.controller import Controller
        self.messages = 0
        server = self

        class Handler:
            async def handle_DATA(self, _server, _session, _envelope):
                server.messages += 1
                return "250 OK"

        with socket.socket() as s:
            s.bind((host, 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname=host, port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()


# -- the farm ----------------------------------------------------------------------------------
class Farm:
    def __init__(self, work: Path, db_url: str = PG_ADMIN, redis_url: str = REDIS, scale: float = 1.0,
                 log=print):
        self.work, self.scale, self.log = Path(work), scale, log
        self.db_url = driver_url(db_url)
        self.database = make_url(self.db_url).database
        self.redis_url = redis_url
        self.procs: dict[str, subprocess.Popen] = {}
        self.health = "/healthz" if _has_route("/healthz") else "/auth/login"
        self.cpus = os.cpu_count() or 1
        self._lock = None
        self.receiver = self.smtp = None
        self.probe = None

    # urls of the hosts as each host reaches the services
    def host_db_url(self, host):
        u = make_url(self.db_url)
        return u.set(host=DB_SIDE[host], port=u.port or 5432).render_as_string(hide_password=False)

    def host_redis_url(self, host):
        return re.sub(r"//[^/:]+(:\d+)?", f"//{DB_SIDE[host]}:6379", self.redis_url, count=1)

    @property
    def base(self):
        return f"http://{LB_ADDR}:{LB_PORT}"

    def base_of(self, host):
        return f"http://{LB_ADDR}:{LB_PORT_HOST[host]}"

    # -- building up and tearing down ----------------------------------------------------------
    def start(self):
        self.work.mkdir(parents=True, exist_ok=True)
        self._lock = open(LOCK, "w")
        import fcntl
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FarmUnavailable("another farm is running on this machine (/tmp/ynqs-farm.lock)")
        t0 = time.monotonic()
        build_network()
        for host, addr in DB_SIDE.items():
            for port, target in ((make_url(self.db_url).port or 5432, make_url(self.db_url).host),
                                 (6379, "127.0.0.1")):
                self._spawn(f"forward-{host}-{port}", None,
                            ["socat", f"TCP-LISTEN:{port},bind={addr},reuseaddr,fork", f"TCP:{target}:{port}"])
        self._wait_port(DB_SIDE["web1"], 6379)
        self.receiver = WebhookReceiver(DB_SIDE["jobs"])
        self.smtp = SmtpServer(DB_SIDE["jobs"])
        self._flush_redis()
        self.log(f"[farm] network and forwarders up in {time.monotonic() - t0:.1f} s")

    def stop(self):
        for name in list(self.procs):
            self._kill(name, signal.SIGTERM, wait=5)
        teardown_network()
        for svc in (self.receiver, self.smtp):
            if svc is not None:
                try:
                    svc.close()
                except Exception:  # noqa: BLE001 - tearing down regardless
                    pass
        if self.probe is not None:
            self.probe.dispose()
        self.drop_database()
        if self._lock is not None:
            self._lock.close()

    def _spawn(self, name, host, argv, env=None, cpu=None, log_name=None):
        prefix = ["taskset", "-c", str(cpu)] if cpu is not None else []
        out = (self.work / f"{log_name or name}.log").open("ab")
        self.procs[name] = subprocess.Popen([*prefix, *_ns(host), *argv], cwd=ROOT, env=env or os.environ.copy(),
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        return self.procs[name]

    def _kill(self, name, sig, wait=5.0):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)   # the process group of a process this farm started
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass

    def _wait_port(self, host, port, seconds=10):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {host}:{port}")

    def _redis(self, command: str) -> bytes:
        """One command on the farm's Redis database (RESP inline commands; no client library needed)."""
        u = re.match(r"redis://([^/:]+)(?::(\d+))?/(\d+)", self.redis_url)
        if not u:
            return b""
        with socket.create_connection((u.group(1), int(u.group(2) or 6379)), timeout=5) as s:
            s.sendall(f"SELECT {u.group(3)}\r\n{command}\r\n".encode())
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\r\n")[1]

    def _flush_redis(self):
        self._redis("FLUSHDB")

    def redis_keys(self) -> int:
        """Keys in the farm's Redis database (the shared rate-limit counters live there)."""
        reply = self._redis("DBSIZE")
        return int(reply[1:]) if reply.startswith(b":") else -1

    def env(self, host, **extra):
        return {
            **os.environ, "DATABASE_URL": self.host_db_url(host), "SECRET_KEY": SECRET,
            "UPLOAD_DIR": str(self.work / f"uploads-{host}"),   # each host's own disk
            "TRUSTED_PROXIES": "1",
            "SMTP_HOST": DB_SIDE["jobs"], "SMTP_PORT": str(self.smtp.port),
            "WEBHOOK_ALLOWED_HOSTS": DB_SIDE["jobs"], "PYTHONUNBUFFERED": "1",
            # /metrics answers the client's address only (through HAProxy: X-Forwarded-For)
            "METRICS_ALLOWED_IPS": CLIENT_ADDR,
            # the limits count in Redis, shared by every worker of every host (when the client library is there)
            **({"RATELIMIT_STORAGE_URI": self.host_redis_url(host)} if importlib.util.find_spec("redis") else {}),
            **extra,
        }

    # -- the database --------------------------------------------------------------------------
    def create_database(self):
        admin = create_engine(make_url(self.db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()

    def drop_database(self):
        try:
            admin = create_engine(make_url(self.db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()
        except Exception as exc:  # noqa: BLE001 - reported, the rest of the teardown goes on
            self.log(f"[farm] could not drop {self.database}: {exc}")

    def flask(self, host, *args, timeout=300):
        """A ``flask`` command run on ``host`` (its namespace, its environment)."""
        done = subprocess.run([*_ns(host), str(BIN / "flask"), "--app", "webui", *args], cwd=ROOT,
                              env=self.env(host), capture_output=True, text=True, timeout=timeout * self.scale)
        return done

    def prepare(self, lifecycles: int, on_schema=None) -> list[tuple[int, str]]:
        """``flask init-db`` on the job host, the test province, one locked project manager per
        lifecycle, an e-mail address for every account and a webhook subscription to every event."""
        t0 = time.monotonic()
        self.create_database()
        done = self.flask("jobs", "init-db", timeout=600)
        if done.returncode:
            raise RuntimeError(f"flask init-db failed:\n{done.stderr[-2000:]}")
        if on_schema is not None:
            on_schema()   # the hosts boot while the province is built
        from engine.db import db
        from handlers import api_tokens, webhooks
        from handlers.webhook_targets import AllowList
        from tests.world import World
        from webui import create_app
        app = create_app({"SQLALCHEMY_DATABASE_URI": self.db_url, "UPLOAD_DIR": str(self.work / "uploads-client"),
                          "SECRET_KEY": SECRET})
        with app.app_context():
            out = locked_managers(World.build(), lifecycles, "集群工程{}号楼", "集群经理{}")
            db.session.execute(text("UPDATE app_user SET email = username || '@farm.test'"))
            db.session.commit()
            before = webhooks.settings
            webhooks.configure(webhooks.Settings(AllowList.parse(DB_SIDE["jobs"]), webhooks.DEADLINE))
            try:
                token, _ = api_tokens.create_client_token("集群测试", "webhooks:manage")
                webhooks.subscribe(token.id, self.receiver.url, sorted(webhooks.EVENTS))
            finally:
                webhooks.configure(before)
            db.session.remove()
            db.engine.dispose()
        self.probe = create_engine(self.db_url, pool_size=10, max_overflow=10)
        self.log(f"[farm] database {self.database} ready with {lifecycles} locked managers "
                 f"in {time.monotonic() - t0:.1f} s")
        return out

    # -- hosts ---------------------------------------------------------------------------------
    def start_web(self, host):
        cpu = (0 if host == "web1" else 1) if self.cpus >= 2 else None
        timeout = str(int(120 * self.scale))
        # the shipped gunicorn settings when there are (graceful stop, the metrics' multiprocess hooks)
        conf = ["-c", "python:webui.gunicorn_conf"] if (ROOT / "webui" / "gunicorn_conf.py").exists() else []
        metrics = self.work / f"metrics-{host}"
        metrics.mkdir(parents=True, exist_ok=True)
        self._spawn(host, host, [str(BIN / "gunicorn"), *conf, "-w", "2", "-b", f"{WEB_ADDR[host]}:{WEB_PORT}",
                                 "--timeout", timeout, "--graceful-timeout", "10", "webui:create_app()"],
                    env=self.env(host, PROMETHEUS_MULTIPROC_DIR=str(metrics)), cpu=cpu)

    def start_jobs(self):
        self._spawn("jobs", "jobs", [str(BIN / "flask"), "--app", "webui", "engine", "worker", "--poll", "0.2"],
                    env=self.env("jobs"))

    def start_lb(self):
        cfg = self.work / "haproxy.cfg"
        servers = "\n".join(f"    server {h} {WEB_ADDR[h]}:{WEB_PORT} check" for h in WEB_ADDR)
        per_host = "".join(f"""
frontend to_{h}
    bind {LB_ADDR}:{LB_PORT_HOST[h]}
    default_backend only_{h}
backend only_{h}
    server {h} {WEB_ADDR[h]}:{WEB_PORT} check
""" for h in WEB_ADDR)
        cfg.write_text(f"""global
    maxconn 1000
    stats socket {self.work}/haproxy.sock mode 600 level admin
defaults
    mode http
    option forwardfor
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 3s
    option httpchk GET {self.health}
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1
frontend farm
    bind {LB_ADDR}:{LB_PORT}
    default_backend web
backend web
    balance roundrobin
{servers}
{per_host}""")
        self._spawn("lb", "lb", ["haproxy", "-db", "-f", str(cfg)])

    def wait_web(self, host, seconds=180.0):
        """Until the host's every worker has answered (through its own frontend)."""
        deadline = time.monotonic() + seconds * self.scale
        answered, last = 0, None
        while time.monotonic() < deadline:
            proc = self.procs.get(host)
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"{host} exited:\n{self.log_tail(host)}")
            try:
                with requests.Session() as s:
                    resp = s.get(self.base_of(host) + "/auth/login", timeout=30)
                if resp.status_code == 200:
                    answered += 1
                    if answered >= 4:
                        return
                    continue
                last = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise RuntimeError(f"{host} did not answer (last: {last}):\n{self.log_tail(host)}")

    def wait_both_in_rotation(self, seconds=30.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            up = {row["svname"] for row in self.stats() if row["pxname"] == "web" and row["status"] == "UP"}
            if set(WEB_ADDR) <= up:
                return
            time.sleep(0.2)
        raise RuntimeError(f"HAProxy does not see both web hosts up: {self.stats()}")

    def kill_host(self, host):
        """The host dies: SIGKILL to its gunicorn master and workers at once."""
        self._kill(host, signal.SIGKILL)

    def stats(self) -> list[dict]:
        """HAProxy's ``show stat`` through its admin socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.work / "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().strip().splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    def requests_by_server(self, backend="web") -> dict:
        return {r["svname"]: int(r.get("req_tot") or r["stot"] or 0) for r in self.stats()
                if r["pxname"] == backend and r["svname"] in WEB_ADDR}

    def log_tail(self, name, lines=30):
        try:
            return "\n".join((self.work / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- reading the database as the operator would ----------------------------------------------
    def scalar(self, sql, **params):
        with self.probe.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql, **params):
        with self.probe.connect() as conn:
            return conn.execute(text(sql), params).all()


def _has_route(path: str) -> bool:
    """Whether the application serves ``path`` (read from its source: no app is built for it)."""
    return any(f'"{path}"' in p.read_text(encoding="utf-8") for p in (ROOT / "webui").rglob("*.py"))


# -- the client ---------------------------------------------------------------------------------
class Resilient:
    """A lifecycle as a user goes through it when the site fails them: a request that gets no
    answer or a 502/503 is tried again after the user looked whether it took effect (reloading
    the page; here read from the database), never blindly repeated after it did."""

    def __init__(self, farm: Farm, tries: int = 6):
        self.farm, self.tries = farm, tries
        self.retries = Counter()

    def attempt(self, label, action, done=None):
        last = None
        for i in range(self.tries):
            if i:
                self.retries[label] += 1
                time.sleep(min(0.3 * i, 1.5))
                if done is not None:
                    result = done()
                    if result:
                        return result
            try:
                return action()
            except (requests.RequestException, Failed) as exc:
                last = exc
        raise Failed(f"{label}: no success after {self.tries} tries: {last}")

    # what the database says about a lock's application
    def app_of(self, lock_id):
        return self.farm.rows("SELECT id, status, instance_id FROM unlock_application WHERE lock_record_id = :l "
                              "ORDER BY id", l=lock_id)

    def task_of(self, instance_id):
        return self.farm.rows("SELECT id, state, claimed_by_user_id FROM human_task WHERE instance_id = :i "
                              "AND element_id = 'Task_Review' ORDER BY id", i=instance_id)

    def lifecycle(self, applicant: Browser, reviewer: Browser, lock_id: int, project: str, state: dict):
        def create():
            location = applicant.post("create", "/apply/unlock/new", {"target_id": str(lock_id)},
                                      to=r"/apply/unlock/\d+$")
            return int(location.rsplit("/", 1)[1])

        def created():
            rows = self.app_of(lock_id)
            return rows[0].id if rows else None

        app_id = self.attempt("create", create, created)
        state["app_id"] = app_id
        self.attempt("detail page", lambda: applicant.follow("detail page", f"/apply/unlock/{app_id}"))

        def save():
            applicant.post("save+upload", f"/apply/unlock/{app_id}", {"reason": "项目已停工", "explanation": ""},
                           files={"unlock_form": ("申请表.pdf", io.BytesIO(PDF), "application/pdf")},
                           to=r"/apply/unlock/$")
            return True

        def saved():
            return self.farm.scalar("SELECT count(*) FROM attachment WHERE owner_type = 'unlock' AND owner_id = :a",
                                    a=app_id) > 0

        self.attempt("save+upload", save, saved)
        self.attempt("list page", lambda: applicant.follow("list page after save", "/apply/unlock/"))

        def report():
            applicant.post("report", f"/apply/unlock/{app_id}/report", {"back": "list"}, to=r"/apply/unlock/$")
            return True

        def reported():
            rows = self.app_of(lock_id)
            return bool(rows) and rows[0].status != "draft"

        self.attempt("report", report, reported)
        self.attempt("list page", lambda: applicant.follow("list page after report", "/apply/unlock/"))

        def find_task():
            page = reviewer.request("inbox search", "GET", "/review/", params={"scope": project})
            tasks = set(re.findall(r"/review/task/(\d+)", page.text))
            if len(tasks) != 1:
                raise Failed(f"inbox filtered by {project}: {len(tasks)} tasks listed, expected 1")
            return f"/review/task/{tasks.pop()}"

        task = self.attempt("inbox search", find_task)
        self.attempt("task page", lambda: reviewer.follow("task page", task))
        instance_id = self.app_of(lock_id)[0].instance_id

        def claim():
            reviewer.post("claim", f"{task}/claim", {}, to=re.escape(task) + "$")
            return True

        def claimed():
            rows = self.task_of(instance_id)
            return bool(rows) and rows[0].claimed_by_user_id is not None

        self.attempt("claim", claim, claimed)
        self.attempt("task page", lambda: reviewer.follow("task page after claim", task))

        def approve():
            reviewer.post("approve", f"{task}/decide", {"decision": "approve", "opinion": "同意解锁"},
                          to=r"/review/(task/\d+)?$")
            return True

        def approved():
            rows = self.app_of(lock_id)
            return bool(rows) and rows[0].status == "approved"

        self.attempt("approve", approve, approved)


def drive(farm: Farm, base: str, projects, threads: int, lifecycles: int, seconds: float,
          during=None) -> dict:
    """``threads`` virtual users (applicant and reviewer sessions each, one untimed warm-up
    lifecycle) take ``lifecycles`` lifecycles from a shared list until it is empty or ``seconds``
    passed. ``during(done_count)`` is called by a watcher thread while the load runs."""
    warmup, timed = projects[:threads], projects[threads:threads + lifecycles]
    queue, lock = iter(timed), threading.Lock()
    client = Resilient(farm)
    attempted, failures, finished = [], [], [0]
    clock = {}

    def begin():
        clock["t0"] = time.perf_counter()
        clock["deadline"] = clock["t0"] + seconds
    start = threading.Barrier(threads + 1, action=begin)

    def user(i):
        try:
            applicant, reviewer = Browser(base, {}, 60), Browser(base, {}, 60)
            client.attempt("login", lambda: applicant.login(APPLICANT))
            client.attempt("login", lambda: reviewer.login(REVIEWER))
            client.attempt("list page", lambda: applicant.follow(None, "/apply/unlock/"))
            state = {}
            with lock:
                attempted.append((warmup[i][0], state, False))
            client.lifecycle(applicant, reviewer, *warmup[i], state)
        except Exception as exc:   # noqa: BLE001 - reported, never counted
            with lock:
                failures.append(f"virtual user {i}: login or warm-up: {type(exc).__name__}: {exc}")
            start.wait()
            return
        start.wait()
        while time.perf_counter() < clock["deadline"]:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            state = {}
            with lock:
                attempted.append((item[0], state, True))
            try:
                client.lifecycle(applicant, reviewer, *item, state)
                with lock:
                    finished[0] += 1
            except Exception as exc:   # noqa: BLE001 - reported, never counted
                with lock:
                    failures.append(f"lock {item[0]} (application {state.get('app_id', '-')}): "
                                    f"{type(exc).__name__}: {exc}")

    users = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(threads)]
    for u in users:
        u.start()
    start.wait()
    stop_watch = threading.Event()
    if during is not None:
        def watch():
            while not stop_watch.is_set():
                during(finished[0])
                stop_watch.wait(0.05)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    for u in users:
        u.join()
    elapsed = time.perf_counter() - clock["t0"]
    stop_watch.set()
    timed_done = finished[0]
    return {"threads": threads, "lifecycles": lifecycles, "seconds": elapsed, "finished": timed_done,
            "per_second": timed_done / elapsed if elapsed else 0.0, "failures": failures,
            "retries": dict(client.retries),
            "attempted": [(lock_id, state.get("app_id"), is_timed) for lock_id, state, is_timed in attempted]}


# -- the checks ---------------------------------------------------------------------------------
def verify_lifecycles(farm: Farm, attempted) -> dict:
    """No action lost, none doubled: for every lock a lifecycle was attempted on, exactly one
    application (the one the client saw created), approved, with one attachment, its review task
    completed once, the lock closed; and every instance has the same operation-log actions."""
    problems, logs = [], {}
    for lock_id, app_id, _timed in attempted:
        apps = farm.rows("SELECT id, status, instance_id FROM unlock_application WHERE lock_record_id = :l", l=lock_id)
        issues = []
        if len(apps) != 1:
            issues.append(f"{len(apps)} applications")
        for a in apps:
            if a.status != "approved":
                issues.append(f"application {a.id} is {a.status}")
            if app_id is not None and a.id != app_id:
                issues.append(f"application {a.id} is not the one the client created ({app_id})")
            files = farm.scalar("SELECT count(*) FROM attachment WHERE owner_type = 'unlock' AND owner_id = :a", a=a.id)
            if files != 1:
                issues.append(f"{files} attachments")
            tasks = farm.rows("SELECT element_id, state FROM human_task WHERE instance_id = :i", i=a.instance_id)
            steps = Counter(t.element_id for t in tasks)
            if any(t.state != "completed" for t in tasks) or any(n > 1 for n in steps.values()):
                issues.append(f"tasks {[(t.element_id, t.state) for t in tasks]}")
            logs[a.instance_id] = tuple(r.action for r in farm.rows(
                "SELECT action FROM audit_entry WHERE instance_id = :i ORDER BY seq", i=a.instance_id))
        if farm.scalar("SELECT closed_at IS NOT NULL FROM lock_record WHERE id = :l", l=lock_id) is not True:
            issues.append("lock still open")
        if issues:
            problems.append(f"lock {lock_id}: " + "; ".join(issues))
    shapes = Counter(logs.values())
    if len(shapes) > 1:
        common = shapes.most_common(1)[0][0]
        problems += [f"instance {i}: operation log {list(actions)}, the others {list(common)}"
                     for i, actions in logs.items() if actions != common]
    return {"checked": len(attempted), "problems": problems,
            "log_actions": list(shapes.most_common(1)[0][0]) if shapes else []}


def drain_jobs(farm: Farm, seconds: float = 90.0) -> dict:
    """Wait until no job is due and pending; then: every job ran once (claimed once, done), each
    webhook delivery reached the receiver exactly once, one e-mail per e-mail job.

    The load's BPMN timers (超期预警 and overdue of the review step) are due days later; every
    review of the load is finished, so they are first made due now: each then runs once, as the
    no-op a timer of a finished step is."""
    with farm.probe.begin() as conn:
        timers = conn.execute(text("UPDATE engine_job SET due_at = :n WHERE kind = 'bpmn.timer' AND state = 'pending'"),
                              {"n": datetime.now(timezone.utc).replace(tzinfo=None)}).rowcount
    deadline = time.monotonic() + seconds * farm.scale
    due = None
    while time.monotonic() < deadline:
        # every job (a delivery put off while another to the same receiver is in flight waits a moment)
        due = farm.scalar("SELECT count(*) FROM engine_job WHERE state = 'pending'")
        if due == 0:
            break
        time.sleep(0.3)
    time.sleep(0.5)   # the receiver's last answers
    by_kind = {(r.kind, r.state): r.n for r in farm.rows(
        "SELECT kind, state, count(*) AS n FROM engine_job GROUP BY kind, state")}
    twice = farm.scalar("SELECT count(*) FROM engine_job WHERE state = 'done' AND attempts <> 1")
    deliveries = farm.rows("SELECT id, state FROM webhook_delivery")
    received = farm.receiver.deliveries
    emails_done = by_kind.get(("notify.email", "done"), 0)
    return {
        "due_left": due, "jobs": {f"{k} {s}": n for (k, s), n in sorted(by_kind.items())},
        "done_more_than_once": twice,
        "failed": sum(n for (k, s), n in by_kind.items() if s == "failed"),
        "deliveries": len(deliveries),
        "deliveries_delivered": sum(1 for d in deliveries if d.state == "delivered"),
        "deliveries_received": len(received), "received_twice": sum(1 for n in received.values() if n > 1),
        "received_unknown": len(set(received) - {str(d.id) for d in deliveries}),
        "emails_done": emails_done, "emails_received": farm.smtp.messages,
        "timers_made_due": timers, "timers_done": by_kind.get(("bpmn.timer", "done"), 0),
    }


def metrics(farm: Farm, host: str) -> dict:
    """What a host's /metrics says (when the application has it): the farm-wide gauges and how
    many requests its workers answered."""
    resp = requests.get(farm.base_of(host) + "/metrics", timeout=30)
    if resp.status_code != 200:
        return {"status": resp.status_code}
    out = {"status": 200, "requests": 0.0}
    for line in resp.text.splitlines():
        m = re.match(r"(ynqs_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if not m:
            continue
        name, value = m.group(1), float(m.group(3))
        if name == "ynqs_request_duration_seconds_count":
            out["requests"] += value
        elif name in ("ynqs_open_tasks", "ynqs_job_queue_depth", "ynqs_job_queue_lag_seconds", "ynqs_jobs_scheduled",
                      "ynqs_database_up", "ynqs_webhook_failed_deliveries"):
            out[name.removeprefix("ynqs_")] = value
    return out


def rate_limit(farm: Farm, lookups: int = 100) -> dict:
    """``lookups`` wrong progress lookups from one client (one session, one address) through
    HAProxy: how many were answered (not 429), and how HAProxy spread them."""
    before = farm.requests_by_server()
    s = requests.Session()
    page = s.get(farm.base + "/progress", timeout=30)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', page.text)
    token = m.group(1) or m.group(2)
    statuses = Counter()
    for i in range(lookups):
        resp = s.post(farm.base + "/progress", data={"csrf_token": token, "case_no": f"ZX2099{i:06d}",
                                                     "credit_code": "91530000000000000X"}, timeout=30)
        statuses[resp.status_code] += 1
    after = farm.requests_by_server()
    spread = {h: after.get(h, 0) - before.get(h, 0) for h in WEB_ADDR}
    return {"lookups": lookups, "answered": sum(n for code, n in statuses.items() if code != 429),
            "refused": statuses.get(429, 0), "statuses": dict(statuses), "spread": spread,
            "storage": "redis" if "RATELIMIT_STORAGE_URI" in farm.env("web1") else "the application's default",
            "redis_keys": farm.redis_keys()}


def attachment_across_hosts(farm: Farm, project) -> dict:
    """An applicant uploads through web1 (its own frontend); the file is then downloaded through
    web2 by the same applicant, and by the reviewer after 上报."""
    lock_id, _name = project
    one, two = Browser(farm.base_of("web1"), {}), Browser(farm.base_of("web2"), {})
    one.login(APPLICANT)
    two.s.cookies = one.s.cookies   # the same user's browser, answered by the other host
    one.follow(None, "/apply/unlock/")
    location = one.post(None, "/apply/unlock/new", {"target_id": str(lock_id)}, to=r"/apply/unlock/\d+$")
    app_id = int(location.rsplit("/", 1)[1])
    one.follow(None, location)
    body = PDF + b" uploaded through web1 " + os.urandom(8).hex().encode()
    one.post(None, f"/apply/unlock/{app_id}", {"reason": "项目已停工", "explanation": ""},
             files={"unlock_form": ("申请表.pdf", io.BytesIO(body), "application/pdf")}, to=r"/apply/unlock/$")
    page = two.request(None, "GET", f"/apply/unlock/{app_id}").text
    links = sorted(set(re.findall(rf"/apply/unlock/{app_id}/files/(\d+)", page)))
    result = {"app_id": app_id, "attachments_listed_by_web2": len(links)}
    if links:
        resp = two.s.get(f"{two.base}/apply/unlock/{app_id}/files/{links[0]}", timeout=30)
        result.update(status=resp.status_code, same_bytes=resp.content == body)
    return result


def deployment_across_hosts(farm: Farm, project) -> dict:
    """web2 serves the shipped unlock process (and has it cached); ``flask bpmn deploy`` on web1
    deploys the site-check bundle; the next application, filed and reviewed through web2 alone,
    waits at the new 现场核查 step and web2 renders the new form at once."""
    lock_id, _name = project
    applicant, reviewer = Browser(farm.base_of("web2"), {}), Browser(farm.base_of("web2"), {})
    applicant.login(APPLICANT)
    reviewer.login(REVIEWER)
    reviewer.follow(None, "/review/")
    applicant.follow(None, "/apply/unlock/")
    deploy = farm.flask("web1", "bpmn", "deploy", "--dir", str(SITE_CHECK), "--note", "增加现场核查")
    result = {"deploy_exit": deploy.returncode, "deploy_output": (deploy.stdout + deploy.stderr).strip()[-400:]}
    location = applicant.post(None, "/apply/unlock/new", {"target_id": str(lock_id)}, to=r"/apply/unlock/\d+$")
    app_id = int(location.rsplit("/", 1)[1])
    applicant.follow(None, location)
    applicant.post(None, f"/apply/unlock/{app_id}", {"reason": "项目已停工", "explanation": ""},
                   files={"unlock_form": ("申请表.pdf", io.BytesIO(PDF), "application/pdf")}, to=r"/apply/unlock/$")
    applicant.follow(None, "/apply/unlock/")
    applicant.post(None, f"/apply/unlock/{app_id}/report", {"back": "list"}, to=r"/apply/unlock/$")
    instance = farm.scalar("SELECT instance_id FROM unlock_application WHERE id = :a", a=app_id)
    task = farm.rows("SELECT id, element_id, form_key FROM human_task WHERE instance_id = :i AND state = 'open'",
                     i=instance)
    result["open_steps"] = [(t.element_id, t.form_key) for t in task]
    if task:
        path = f"/review/task/{task[0].id}"
        reviewer.follow(None, path)
        reviewer.post(None, f"{path}/claim", {}, to=re.escape(path) + "$")
        page = reviewer.request(None, "GET", path).text
        result["web2_shows_new_form"] = "现场核查" in page and "核查结论" in page
    return result


def run(work: Path, db_url: str = PG_ADMIN, redis_url: str = REDIS, lifecycles: int = 30, kill_lifecycles: int = 40,
        threads: int = 4, rounds: int = 1, scale: float = 1.0, log=print) -> dict:
    """The whole farm: build, the five demonstrations, tear down. Returns the figures."""
    farm = Farm(work, db_url, redis_url, scale, log)
    t0 = time.monotonic()
    result = {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": farm.cpus,
              "load_before": os.getloadavg(), "health_check": farm.health}
    try:
        farm.start()
        need = 2 + 2 * rounds * (max(lifecycles // rounds, 1) + threads) + kill_lifecycles + threads

        def boot():
            for host in ("web1", "web2"):
                farm.start_web(host)
            farm.start_jobs()
            farm.start_lb()
        projects = farm.prepare(need, on_schema=boot)
        for host in ("web1", "web2"):
            farm.wait_web(host)
        farm.wait_both_in_rotation()
        result["setup_seconds"] = time.monotonic() - t0
        log(f"[farm] hosts up at {time.monotonic() - t0:.0f} s")
        result.update(farm_steps(farm, projects, lifecycles, kill_lifecycles, threads, rounds, log))
    finally:
        result["seconds"] = time.monotonic() - t0
        result["load_after"] = os.getloadavg()
        farm.stop()
    return result


def farm_steps(farm, projects, lifecycles, kill_lifecycles, threads, rounds, log):
    """The demonstrations on a running farm, in order (the deployment last: it changes the process)."""
    r = {"timings": {}}
    t = [time.monotonic()]

    def lap(name):
        now = time.monotonic()
        r["timings"][name] = now - t[0]
        t[0] = now
    r["attachment"] = attachment_across_hosts(farm, projects.pop())
    lap("attachment")
    log(f"[farm] attachment: {r['attachment']}")
    r["rate_limit"] = rate_limit(farm)
    lap("rate limit")
    log(f"[farm] rate limit: {r['rate_limit']}")
    # alternating rounds (one host, then two, again), so that both sides see the same machine;
    # the ratio is the median of the rounds' ratios
    per_round = max(lifecycles // rounds, 1)
    runs = {"one_host": [], "two_hosts": []}
    for _ in range(rounds):
        for key, base in (("one_host", farm.base_of("web1")), ("two_hosts", farm.base)):
            batch = [projects.pop() for _ in range(per_round + threads)]
            runs[key].append(drive(farm, base, batch, threads, per_round, 120 * farm.scale))
    for key, cells in runs.items():
        r[key] = {"threads": threads, "rounds": rounds, "lifecycles": per_round * rounds,
                  "finished": sum(c["finished"] for c in cells), "seconds": sum(c["seconds"] for c in cells),
                  "failures": [f for c in cells for f in c["failures"]],
                  "attempted": [a for c in cells for a in c["attempted"]],
                  "round_rates": [c["per_second"] for c in cells]}
        r[key]["per_second"] = r[key]["finished"] / r[key]["seconds"] if r[key]["seconds"] else 0.0
    ratios = [b / a for a, b in zip(r["one_host"]["round_rates"], r["two_hosts"]["round_rates"]) if a]
    r["round_ratios"] = ratios
    r["ratio"] = statistics.median(ratios) if ratios else 0.0
    one, two = r["one_host"]["per_second"], r["two_hosts"]["per_second"]
    lap("throughput, one host then two")
    log(f"[farm] throughput: one host {one:.2f}/s, two hosts {two:.2f}/s, ratio {r['ratio']:.2f}")

    batch = [projects.pop() for _ in range(kill_lifecycles + threads)]
    killed = {}

    def kill_midway(done):
        if not killed and done >= kill_lifecycles // 3:
            killed["after"] = done
            killed["at"] = time.monotonic()
            farm.kill_host("web1")
            log(f"[farm] web1 killed after {done} lifecycles")
    by_server_before = farm.requests_by_server()
    r["kill"] = drive(farm, farm.base, batch, threads, kill_lifecycles, 180 * farm.scale, during=kill_midway)
    by_server_after = farm.requests_by_server()
    r["kill"]["killed_after"] = killed.get("after")
    r["kill"]["requests_by_host"] = {h: by_server_after.get(h, 0) - by_server_before.get(h, 0) for h in WEB_ADDR}
    attempted = r["one_host"]["attempted"] + r["two_hosts"]["attempted"] + r["kill"]["attempted"]
    r["verified"] = verify_lifecycles(farm, attempted)
    r["jobs"] = drain_jobs(farm)
    for name, args in (("check_invariants", ("check-invariants",)), ("audit_verify", ("audit", "verify"))):
        done = farm.flask("jobs", *args)
        r[name] = {"exit": done.returncode, "output": (done.stdout + done.stderr).strip()[-600:]}
    r["metrics_web2"] = metrics(farm, "web2")
    lap("kill under load, checks and jobs")
    log(f"[farm] kill: {r['kill']['finished']} of {kill_lifecycles} finished, failures {r['kill']['failures']}, "
        f"retries {r['kill']['retries']}; verified problems {len(r['verified']['problems'])}; jobs {r['jobs']}")

    farm.start_web("web1")   # the host comes back (it boots while the deployment is checked)
    r["deployment"] = deployment_across_hosts(farm, projects.pop())
    farm.wait_web("web1")
    farm.wait_both_in_rotation()
    r["deployment"]["web1_back_in_rotation"] = True
    lap("web1 back, deployment")
    log(f"[farm] deployment: {r['deployment']}")
    return r


# -- the report ---------------------------------------------------------------------------------
def report(r: dict) -> str:
    one, two, kill = r.get("one_host", {}), r.get("two_hosts", {}), r.get("kill", {})
    jobs, rl, att, dep = r.get("jobs", {}), r.get("rate_limit", {}), r.get("attachment", {}), r.get("deployment", {})
    lines = [
        "# Farm report",
        "",
        "Written by `bash scripts/farm` (bench/farm.py); tests/test_farm.py runs the same farm and asserts it.",
        "Nothing below is typed in by hand.",
        "",
        f"- measured {r.get('at')}; {r.get('cores')} cores; load average before "
        f"{' '.join(f'{x:.2f}' for x in r.get('load_before', ()))}, after "
        f"{' '.join(f'{x:.2f}' for x in r.get('load_after', ()))}; the whole farm took {r.get('seconds', 0):.0f} s",
        "- hosts: network namespaces cabled with veth pairs — HAProxy (round-robin, health check "
        f"`GET {r.get('health_check')}` every 0.5 s), two web hosts (`gunicorn -w 2` each"
        + (", web1 pinned to core 0 and web2 to core 1" if r.get("cores", 1) >= 2 else "")
        + "), one job-worker host (`flask engine worker`); PostgreSQL and Redis on the database host "
        "(the root namespace) through socat forwarders",
        f"- time: setting up (network, database, province, hosts) {r.get('setup_seconds', 0):.0f} s; "
        + "; ".join(f"{k} {v:.0f} s" for k, v in r.get("timings", {}).items()),
        "",
        "## Attachments",
        "",
        f"Uploaded through web1, listed and downloaded through web2: {att.get('attachments_listed_by_web2')} listed, "
        f"HTTP {att.get('status', '-')}, same bytes: {att.get('same_bytes', False)}.",
        "",
        "## Rate limit across hosts",
        "",
        f"{rl.get('lookups')} wrong /progress lookups from one client address through HAProxy "
        f"(spread: {', '.join(f'{h} {n}' for h, n in rl.get('spread', {}).items())}): "
        f"**{rl.get('answered')} answered**, {rl.get('refused')} refused with 429 "
        f"(PROGRESS_LOOKUPS_PER_MINUTE = 10). Counted in {rl.get('storage')} "
        f"(keys in the farm's Redis database afterwards: {rl.get('redis_keys')}).",
        "",
        "## Throughput: one web host against two",
        "",
        "The unlock lifecycle of bench/http.py (12 requests, 5 of them actions) through HAProxy, "
        f"{one.get('threads')} virtual users, the same number of lifecycles in each run, each user warmed up first; "
        "one host: HAProxy's frontend of web1 alone; two hosts: the round-robin frontend. The runs alternate "
        f"({one.get('rounds')} round(s) of each).",
        "",
        "| web hosts | lifecycles | seconds | lifecycles/s | failures |",
        "|---:|---:|---:|---:|---:|",
        f"| 1 | {one.get('finished')} of {one.get('lifecycles')} | {one.get('seconds', 0):.1f} | "
        f"{one.get('per_second', 0):.2f} | {len(one.get('failures', []))} |",
        f"| 2 | {two.get('finished')} of {two.get('lifecycles')} | {two.get('seconds', 0):.1f} | "
        f"{two.get('per_second', 0):.2f} | {len(two.get('failures', []))} |",
        "",
        f"**Ratio two hosts / one host: {r.get('ratio', 0):.2f}** (the median of {len(r.get('round_ratios', []))} "
        f"alternating round(s): {', '.join(f'{x:.2f}' for x in r.get('round_ratios', []))}). All hosts, the database and the client share "
        f"this machine's {r.get('cores')} cores, so the ratio says what a second host adds when the database and "
        "the client have to share the cores with it; on separate machines the web tier's share grows with each host.",
        "",
        "## A web host killed under load",
        "",
        f"{kill.get('threads')} virtual users through HAProxy; web1's gunicorn master and workers got SIGKILL after "
        f"{kill.get('killed_after')} lifecycles. {kill.get('finished')} of {kill.get('lifecycles')} lifecycles "
        f"finished in {kill.get('seconds', 0):.1f} s; requests by host during the run: "
        f"{', '.join(f'{h} {n}' for h, n in kill.get('requests_by_host', {}).items())}.",
        f"Requests the client had to try again (no answer, or HAProxy's 502/503 while web1 died): "
        f"{kill.get('retries') or 'none'}; before trying again the client looked whether the action had been done.",
        "",
        f"- lifecycles checked in the database (all three runs, warm-ups included): {r.get('verified', {}).get('checked')}; "
        f"problems: {len(r.get('verified', {}).get('problems', []))}"
        + "".join(f"\n  - {p}" for p in r.get("verified", {}).get("problems", [])[:20]),
        f"- every instance's operation log: {' → '.join(r.get('verified', {}).get('log_actions', []))}",
        f"- `flask check-invariants`: exit {r.get('check_invariants', {}).get('exit')} "
        f"({(r.get('check_invariants', {}).get('output', '').splitlines() or [''])[-1]})",
        f"- `flask audit verify`: exit {r.get('audit_verify', {}).get('exit')} "
        f"({(r.get('audit_verify', {}).get('output', '').splitlines() or [''])[-1]})",
        f"- jobs: {', '.join(f'{k}: {v}' for k, v in jobs.get('jobs', {}).items())}; due and still pending: "
        f"{jobs.get('due_left')}; done after more than one claim: {jobs.get('done_more_than_once')}; failed: "
        f"{jobs.get('failed')}",
        f"- webhook deliveries: {jobs.get('deliveries')} recorded, {jobs.get('deliveries_delivered')} delivered, "
        f"{jobs.get('deliveries_received')} received, received twice: {jobs.get('received_twice')}",
        f"- e-mails: {jobs.get('emails_done')} e-mail jobs done, {jobs.get('emails_received')} messages received",
        f"- timers: the load's {jobs.get('timers_made_due')} BPMN timers (超期预警 and overdue of review steps "
        f"already finished, due days later) were made due after the load: {jobs.get('timers_done')} done, each "
        "once (a timer of a finished step fires as a no-op)",
        (f"- web2's /metrics afterwards: {int(mt['requests'])} requests answered by its workers, open tasks "
         f"{mt.get('open_tasks')}, job queue depth {mt.get('job_queue_depth')}, lag {mt.get('job_queue_lag_seconds')} s, "
         f"failed webhook deliveries {mt.get('webhook_failed_deliveries')}"
         if (mt := r.get("metrics_web2", {})).get("status") == 200 else "- /metrics: not served"),
        "",
        "## A deployment on one host, served by the other",
        "",
        f"`flask bpmn deploy --dir tests/bpmn_site_check` on web1: exit {dep.get('deploy_exit')}. The next "
        f"application, filed and reported through web2, waits at {dep.get('open_steps')}; web2 renders the new "
        f"step's form: {dep.get('web2_shows_new_form')}. Meanwhile web1 started again and HAProxy took it back "
        f"into the rotation: {dep.get('web1_back_in_rotation', False)}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output", default=str(ROOT / "docs" / "farm-report.md"))
    p.add_argument("--work", default="/tmp/ynqs-farm")
    p.add_argument("--lifecycles", type=int, default=36, help="timed lifecycles of each throughput side")
    p.add_argument("--kill-lifecycles", type=int, default=40)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the one-host and two-host runs")
    p.add_argument("--timeout-scale", type=float, default=1.0)
    args = p.parse_args(argv)
    why = requirements_missing()
    if why:
        sys.exit(f"farm: {why}")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    result = run(work, lifecycles=args.lifecycles, kill_lifecycles=args.kill_lifecycles, threads=args.threads,
                 rounds=args.rounds, scale=args.timeout_scale)
    Path(args.output).write_text(report(result), encoding="utf-8")
    (work / "farm.json").write_text(json.dumps(result, default=str, ensure_ascii=False, indent=1))
    print(f"[farm] report written to {args.output}")


if __name__ == "__main__":
    main()
