"""The product's one rate limiter: Flask-Limiter, for the public pages and the API alike.

Every limit is counted per client address (or, on the API, per token) by Flask-Limiter's
fixed-window strategy in one shared store (docs/operators.md "Rate limits"):

- ``RATELIMIT_STORAGE_URI`` set (e.g. ``redis://redis.internal:6379/0``): there, shared by every
  worker and host that names it;
- unset: the application's own database (``database://``, engine.ratecounter), which every worker
  of every host already shares.

The pages count with ``hit`` where their rule applies (a POST of the progress lookup, a valid
忘记密码 form, a new QR code) and answer a refusal in their own words; the API's limits are applied
once the token is checked (webui/api/security.py).
"""
from flask import current_app, request
from flask_limiter import Limiter
from limits import parse
from limits.errors import StorageError

from engine import ratecounter   # registers the database:// storage with the limits library

DEFAULT_STORAGE = f"{ratecounter.SCHEME}://"
EXTENSION = "rate_limiter"


def init_app(app) -> None:
    """The application's limiter (one per application object: each counts in its own store)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", DEFAULT_STORAGE)   # webui/config.py reads the environment
    # a store that fails raises limits' StorageError, which ``hit`` lets pass (logged)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"wrap_exceptions": True})
    app.extensions[EXTENSION] = ext = Limiter(key_func=lambda: request.remote_addr or "-", default_limits=[], app=app)
    _check_only_declared(app, ext)


def _check_only_declared(app, ext: Limiter) -> None:
    """Flask-Limiter checks every request against the limits declared on the application, its
    blueprints and its views; the product declares none (it counts with ``hit``), so a request
    skips that check (some 280 function calls) while nothing is declared. Should a limit ever be
    declared (``@limiter().limit``, default, application or meta limits), every request is checked
    again, as Flask-Limiter does."""
    check = ext._check_request_limit
    hooks = app.before_request_funcs.get(None, [])
    if check not in hooks:   # disabled (RATELIMIT_ENABLED false): no hook to replace
        return
    manager = ext.limit_manager

    def _check_request_limit():
        if (manager._decorated_limits or manager._blueprint_limits or manager._default_limits
                or manager._application_limits or ext._meta_limits):
            return check()
        return None

    hooks[hooks.index(check)] = _check_request_limit


def limiter() -> Limiter:
    return current_app.extensions[EXTENSION]


def hit(limit: str, bucket: str, *key: str) -> bool:
    """Count one hit against ``limit`` (e.g. "10 per minute") for ``bucket`` and ``key`` (default: the
    client's address); False when it is over the limit. A store that cannot be reached lets the
    request through: the limits guard against guessing, and an outage must not close the site."""
    try:
        return limiter().limiter.hit(parse(limit), bucket, *(key or (request.remote_addr or "-",)))
    except StorageError:
        current_app.logger.exception("rate-limit store unavailable; %s not counted", bucket)
        return True


def per_minute(n: int) -> str:
    return f"{int(n)} per minute"


def per_hour(n: int) -> str:
    return f"{int(n)} per hour"


def reset() -> None:
    """Forget every count of the current application's store."""
    limiter().reset()
