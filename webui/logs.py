"""Request ids and structured logs.

Every request gets an id: a well-formed ``X-Request-ID`` from the client or the proxy in front
(up to 128 letters, digits and ``._:-``), or a new one. The response carries it back, and every
log line written while the request runs names it (engine.logcontext); the job worker's lines name
the job. With ``LOG_FORMAT=json`` the process logs JSON lines to standard error, one per request
(logger ``ynqs.request``) besides the application's own; the default ``text`` leaves logging as
it was (Flask's and the server's own lines).
"""
import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import g, request, session

from engine import logcontext

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
HANDLER_NAME = "ynqs-json"
access_log = logging.getLogger("ynqs.request")


def init_app(app) -> None:
    fmt = app.config["LOG_FORMAT"]
    if fmt not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT must be text or json, not {fmt!r}")
    if fmt == "json":
        configure_json(app.config["LOG_LEVEL"])
        from flask.logging import default_handler
        app.logger.removeHandler(default_handler)   # the root's JSON handler writes the app's lines
    json_lines = fmt == "json"

    @app.before_request
    def _start():
        g.request_started = time.perf_counter()
        g.request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = logcontext.request_id.set(g.request_id)

    @app.after_request
    def _finish(response):
        rid = g.get("request_id")
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
            if json_lines:
                _log_request(response.status_code)
        return response

    @app.teardown_request
    def _forget(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            logcontext.request_id.reset(token)


def request_id_of(given: str | None) -> str:
    """The client's id when it is well formed (it reaches logs and a header: nothing else), else a new one."""
    if given and _WELL_FORMED.fullmatch(given):
        return given
    return uuid.uuid4().hex


def elapsed_ms() -> float | None:
    started = g.get("request_started")
    return None if started is None else (time.perf_counter() - started) * 1000


def _log_request(status: int) -> None:
    access_log.info("%s %s %s", request.method, request.path, status, extra={"request": {
        "method": request.method, "path": request.path, "endpoint": request.endpoint, "status": status,
        "duration_ms": round(elapsed_ms() or 0.0, 2), "user_id": _user_id(), "remote_addr": request.remote_addr}})


def _user_id() -> int | None:
    """The logged-in user's id when this request loaded the login (never a query of its own: the
    id comes from the session the login was loaded from)."""
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    uid = session.get("_user_id")
    return int(uid) if uid is not None and str(uid).isdigit() else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id / job_id when
    there is one, the request's fields on a request line, the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        rid, jid = logcontext.request_id.get(), logcontext.job_id.get()
        if rid is not None:
            line["request_id"] = rid
        if jid is not None:
            line["job_id"] = jid
        line.update(getattr(record, "request", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_json(level: str = "INFO", stream=None) -> logging.Handler:
    """Send every logger's lines (the root's handler) as JSON to ``stream`` (standard error);
    idempotent: a second call replaces the first's handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
