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
    app.extensions[EXTENSION] = Limiter(key_func=lambda: request.remote_addr or "-", default_limits=[], app=app)


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
