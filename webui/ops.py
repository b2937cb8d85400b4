"""The operators' endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (docs/operators.md,
"Running a farm: health, metrics, logs").

None of them reads the session or a login, refreshes the caches or sets a cookie: a probe or a
scraper is not a user. ``/healthz`` never touches the database; ``/readyz`` asks it whether it
answers and is at the migrations' head; ``/metrics`` is off (404) unless ``METRICS_TOKEN`` and/or
``METRICS_ALLOWED_IPS`` is set, and then reports the request latency histogram of this process
(of every gunicorn worker in multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR``) and the farm's
counts read from the database at scrape time.
"""
import hmac
import ipaddress
import logging
import os
import time
from functools import lru_cache
from pathlib import Path

from flask import Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
ENDPOINTS = frozenset({"healthz", "readyz", "metrics"})
REQUEST_SECONDS = Histogram(
    "ynqs_request_duration_seconds", "Time to answer a request, by Flask endpoint and status class",
    ["endpoint", "status"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def init_app(app, migrations_dir: Path) -> None:
    app.config["METRICS_NETWORKS"] = _networks(app.config["METRICS_ALLOWED_IPS"])
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):   # gunicorn_conf makes it too; a worker must not fail on it
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

    @app.after_request
    def _observe(response):
        started = g.get("request_started")
        if started is not None:
            REQUEST_SECONDS.labels(request.endpoint or "unmatched", f"{response.status_code // 100}xx").observe(
                time.perf_counter() - started)
        return response

    @app.get("/healthz")
    def healthz():
        """The process answers (a liveness probe): no database, no session."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """Ready for traffic: the database answers and is at the migrations' head (503 otherwise)."""
        reason = not_ready_reason(migrations_dir)
        if reason:
            return {"status": "unavailable", "reason": reason}, 503
        return {"status": "ready"}

    @app.get("/metrics")
    def metrics():
        _allow_scrape(app.config)
        return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)


# -- readiness -----------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def migration_heads(migrations_dir: Path) -> tuple[str, ...]:
    """The head revision(s) of the migration scripts this code ships (read once per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def not_ready_reason(migrations_dir: Path) -> str | None:
    from handlers.farm_status import schema_revision
    try:
        current = schema_revision()
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", exc.__class__.__name__)
        return "database unreachable"
    heads = migration_heads(migrations_dir)
    if current is None:
        return "database has no migration version (alembic_version): run flask init-db"
    if current != heads:
        return f"migrations not at head: database at {', '.join(current) or 'none'}, code at {', '.join(heads)}"
    return None


# -- metrics -------------------------------------------------------------------------------------
def _networks(value: str):
    networks = []
    for part in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOWED_IPS: {part!r} is not an address or a network") from None
    return tuple(networks)


def _allow_scrape(config) -> None:
    """404 while metrics are off or for a client outside METRICS_ALLOWED_IPS (the endpoint does
    not exist for it); 401 without the METRICS_TOKEN bearer token."""
    token, networks = config["METRICS_TOKEN"], config["METRICS_NETWORKS"]
    if not token and not networks:
        abort(404)
    if networks:
        try:
            client = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            abort(404)
        if getattr(client, "ipv4_mapped", None):
            client = client.ipv4_mapped
        if not any(client in net for net in networks):
            abort(404)
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            abort(Response("metrics need the bearer token\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}))


class _Collected:
    """Metric families made at scrape time, served once (no describe: nothing to check twice)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)

    def describe(self):
        return []


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(registry)   # every worker's histogram, dead ones included
    else:
        registry.register(_Collected(list(REGISTRY.collect())))
    registry.register(_Collected(_farm_families()))
    return generate_latest(registry)


def _farm_families():
    from handlers.farm_status import gauges
    try:
        v = gauges()
    except SQLAlchemyError:
        log.exception("metrics: the farm's counts could not be read")
        from handlers.database import abandon_transaction
        abandon_transaction()
        up = GaugeMetricFamily("ynqs_database_up", "1 when the database answered the scrape's query")
        up.add_metric([], 0)
        return [up]
    up = GaugeMetricFamily("ynqs_database_up", "1 when the database answered the scrape's query")
    up.add_metric([], 1)
    families = [up]

    def gauge(name, doc, value, labels=None):
        family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
        family.add_metric(list((labels or {}).values()), value)
        families.append(family)
        return family

    gauge("ynqs_open_tasks", "Open human tasks (待办)", v.open_tasks)
    gauge("ynqs_overdue_tasks", "Open human tasks past their due time (超期)", v.overdue_tasks)
    gauge("ynqs_job_queue_depth", "Pending jobs whose time has come", v.jobs_due)
    gauge("ynqs_jobs_scheduled", "Pending jobs due later (timers)", v.jobs_scheduled)
    gauge("ynqs_job_queue_lag_seconds", "Age of the oldest due job (0 when none is due)", v.job_lag_seconds)
    incidents = GaugeMetricFamily("ynqs_incidents", "Incidents: failed jobs and errored process instances",
                                  labels=["kind"])
    incidents.add_metric(["failed_job"], v.failed_jobs)
    incidents.add_metric(["errored_instance"], v.errored_instances)
    families.append(incidents)
    gauge("ynqs_webhook_failed_deliveries", "Webhook deliveries that failed every attempt", v.failed_webhook_deliveries)
    return families
