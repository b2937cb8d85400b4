"""Request profiler: where a request's time goes, sent back in a ``Server-Timing`` header.

Enabled by the ``REQUEST_PROFILE`` setting (environment ``REQUEST_PROFILE=1``), off by default:
when off, ``init_app`` installs nothing, so a request runs exactly the code it runs without
this module. It is a measuring tool (the benchmark turns it on for one profiled run); the
header names internals, so production leaves it off.

Each request's wall time is split into exclusive phases (a phase nested in another is taken
out of the outer one):

- ``session``: the signed session cookie, read and written;
- ``login``: the logged-in user and the acting principal (account, organisation) loaded and checked;
- ``csrf``: the CSRF check of a form and the tokens put into pages;
- ``context``: the context processors (the page header: principal, role count, unread messages);
- ``render``: Jinja rendering, navigation included;
- ``view``: the view function and the domain services it calls (Python, less what is below);
- ``sql``: inside the database driver (statements sent and their results);
- ``flask``: the rest, Flask and Werkzeug: routing, request parsing, the response, teardown.

Counts: ``statements`` (sent to the database) and ``loads`` (ORM objects built from rows).
"""
import threading
import time
from functools import wraps

from sqlalchemy import event
from sqlalchemy.orm import Mapper

PHASES = ("flask", "session", "login", "csrf", "context", "render", "view", "sql")
HEADER = "Server-Timing"
_local = threading.local()


class _Profile:
    """One request: exclusive time per phase, with a stack of the phases open."""

    def __init__(self):
        self.start = time.perf_counter()
        self.spent = dict.fromkeys(PHASES, 0.0)
        self.stack = [["flask", self.start]]
        self.statements = 0
        self.loads = 0

    def enter(self, name):
        now = time.perf_counter()
        top = self.stack[-1]
        self.spent[top[0]] += now - top[1]
        self.stack.append([name, now])

    def leave(self, name):
        now = time.perf_counter()
        if len(self.stack) > 1 and self.stack[-1][0] == name:
            top = self.stack.pop()
            self.spent[top[0]] += now - top[1]
            self.stack[-1][1] = now

    def finish(self) -> str:
        now = time.perf_counter()
        while len(self.stack) > 1:
            self.leave(self.stack[-1][0])
        self.spent["flask"] += now - self.stack[0][1]
        parts = [f"{name};dur={seconds * 1000:.3f}" for name, seconds in self.spent.items()]
        parts.append(f"total;dur={(now - self.start) * 1000:.3f}")
        parts += [f"statements;desc={self.statements}", f"loads;desc={self.loads}"]
        return ", ".join(parts)


def _current():
    return getattr(_local, "profile", None)


def timed(phase: str, fn):
    """``fn`` counted in ``phase`` while a request is profiled."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        profile = _current()
        if profile is None:
            return fn(*args, **kwargs)
        profile.enter(phase)
        try:
            return fn(*args, **kwargs)
        finally:
            profile.leave(phase)
    return wrapper


def parse(header: str) -> dict:
    """A ``Server-Timing`` header of this module back into {phase: ms, statements: n, loads: n}."""
    out = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        key, _, value = rest.partition("=")
        out[name] = float(value) if key == "dur" else int(value)
    return out


class _Middleware:
    """Wraps the WSGI app: the profile spans the whole request, teardown included, and the
    header is added once Flask has returned (the body is already built by then)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        _local.profile = _Profile()
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None   # Flask never calls write()

        try:
            body = self.wsgi_app(environ, capture)
            header = _local.profile.finish()
        finally:
            _local.profile = None
        headers = list(captured["headers"]) + [(HEADER, header)]
        start_response(captured["status"], headers, captured["exc_info"])
        return body


def init_app(app) -> None:
    if not app.config.get("REQUEST_PROFILE"):
        return
    from handlers.database import current_engine

    from . import auth, csrf

    app.wsgi_app = _Middleware(app.wsgi_app)
    # session cookie (a copy: Flask shares one interface object between applications)
    interface = app.session_interface = type(app.session_interface)()
    interface.open_session = timed("session", interface.open_session)
    interface.save_session = timed("session", interface.save_session)
    _wrap_shared_once(auth, csrf)
    app.jinja_env.globals["csrf_token"] = timed("csrf", app.jinja_env.globals["csrf_token"])
    # context processors, Jinja, views
    for key, processors in app.template_context_processors.items():
        app.template_context_processors[key] = [timed("context", p) for p in processors]
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = timed("view", view)
    from flask import before_render_template, template_rendered
    before_render_template.connect(lambda *_a, **_k: _enter("render"), app, weak=False)
    template_rendered.connect(lambda *_a, **_k: _leave("render"), app, weak=False)
    # the database
    with app.app_context():
        engine = current_engine()
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "after_cursor_execute", lambda *_a: _leave("sql"))
    event.listen(engine, "handle_error", lambda _ctx: _leave("sql"))


_shared = []


def _wrap_shared_once(auth, csrf) -> None:
    """What every application of this process shares: wrapped once, a no-op outside a profile."""
    if _shared:
        return
    _shared.append(True)
    # user and principal (module globals of webui.auth, looked up at each call)
    for name in ("login_session", "session_is_current", "acting_principal"):
        setattr(auth, name, timed("login", getattr(auth, name)))
    # CSRF: the check (CSRFProtect's before_request calls self.protect()) and the page tokens
    csrf.protect = timed("csrf", csrf.protect)
    event.listen(Mapper, "load", _on_load)


def _enter(phase):
    profile = _current()
    if profile is not None:
        profile.enter(phase)


def _leave(phase):
    profile = _current()
    if profile is not None:
        profile.leave(phase)


def _before_execute(*_args):
    profile = _current()
    if profile is not None:
        profile.statements += 1
        profile.enter("sql")


def _on_load(*_args):
    profile = _current()
    if profile is not None:
        profile.loads += 1
