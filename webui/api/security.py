"""Bearer tokens on every /api/v1 call: who calls, what they may do, the rate limits and the audit row.

No cookie is ever read here: the API is exempt from CSRF because a browser cannot attach a bearer
token to a forged cross-site request (docs/api.md).

Rate limits are counted after the token is checked (docs/operators.md "Rate limits"):
- a call with a valid token counts against that token's id (``API_RATE_LIMIT``), so nobody can use
  up another client's allowance by sending its visible prefix with a wrong secret;
- a call with a missing or wrong token counts against the client's address
  (``API_AUTH_FAILURE_LIMIT``): past it, the address gets 429 instead of 401. A valid token from
  that address is still served: the address only loses its guesses.
"""
from functools import wraps

from flask import current_app, g, request

from handlers import api_tokens
from handlers.api_tokens import Caller
from handlers.database import call_unit, is_rollback_only

from engine.errors import ConcurrentModification

from .. import limiter, services
from ..auth import carried_generations
from ..writes import read_body
from .problems import problem

OPEN_ENDPOINTS = {"openapi_json", "docs"}   # the spec and its page need no token
RATE_LIMIT, AUTH_FAILURE_LIMIT = "600 per minute", "30 per minute"   # the defaults (docs/operators.md)


def bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


_PROTECTED: set[str] = set()   # the blueprints whose calls ``authenticate`` checks (``protect``)


def checks_token() -> bool:
    """Whether this request's token is checked by ``authenticate`` (and its statement read)."""
    return (request.blueprint in _PROTECTED and bool(bearer())
            and not (request.endpoint and request.endpoint.rsplit(".", 1)[-1] in OPEN_ENDPOINTS))


def authenticate():
    """before_request of the API blueprints: 401 unless a valid token is sent; 429 past a limit."""
    if request.endpoint and request.endpoint.rsplit(".", 1)[-1] in OPEN_ENDPOINTS:
        return None
    config = current_app.config
    caller, generations = api_tokens.authenticate_carrying(bearer())
    if generations is not False:   # read with the token: the call's generation check reads nothing
        carried_generations(generations)
    if caller is None:
        address = request.remote_addr or "-"
        if not _hit(config.get("API_AUTH_FAILURE_LIMIT", AUTH_FAILURE_LIMIT), "auth-failure", address):
            return _too_many()
        return problem(401, "缺少有效的访问令牌（Authorization: Bearer …），或令牌已过期、已吊销")
    if not _hit(config.get("API_RATE_LIMIT", RATE_LIMIT), "token", str(caller.token_id)):
        return _too_many()
    g.api_caller = caller
    if caller.principal is not None:
        g.principal = caller.principal
    return None


def _hit(limit: str, *key: str) -> bool:
    """Count one call against ``key``; False when it is over ``limit`` (e.g. "600 per minute"),
    in the product's one limiter (webui/limiter.py)."""
    return limiter.hit(limit, "api", *key)


def _too_many():
    return problem(429, "请求过于频繁，请稍后再试")


def audit(response):
    """after_request: one audit row per call made with a token, unless the call's own transaction
    wrote it (``one_transaction``)."""
    caller = getattr(g, "api_caller", None)
    if caller is not None and not g.pop("api_audited", False):
        try:
            api_tokens.audit(caller, request.method, request.path, response.status_code,
                             request.remote_addr or "")
        except Exception:   # the audit must not turn a done call into an error
            current_app.logger.exception("API audit row not written")
    return response


def one_transaction(view):
    """A call that writes: the view (its command and the answer built from it) and the call's audit
    row in one unit of work, so the call commits once. The view's commands join the unit.

    Put it outside flask-smorest's ``response`` decorator: the audit row records the status of the
    response the view made. A call whose work is rolled back (a refusal after the command began, an
    exception, a commit that fails) leaves its audit row as every call did before: written after
    the call in a transaction of its own, by ``audit``."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        read_body()   # before the write transaction begins
        try:
            # a StaleDataError at commit is a conflict, as in a command
            with services().engine.command(), call_unit():
                response = view(*args, **kwargs)
                if is_rollback_only():
                    raise _RolledBack(response)
                api_tokens.record_call(g.api_caller, request.method, request.path, response.status_code,
                                       request.remote_addr or "")
        except _RolledBack as refused:
            return refused.response
        except ConcurrentModification as e:
            return problem(409, e.message)   # as ``refusals`` answers the engine's conflicts
        g.api_audited = True
        return response
    return wrapper


class _RolledBack(Exception):
    """Rolls a refused call's unit of work back, carrying the answer already made."""

    def __init__(self, response):
        super().__init__()
        self.response = response


def caller() -> Caller:
    return g.api_caller


def scope_required(scope: str):
    """A machine client's token carrying ``scope``; personal tokens act on the pages' rules instead.

    Put it right under ``@blp.route``, above ``@blp.arguments``: a token without the scope is told so
    (403) before its request body is validated (400), and learns nothing about the schema."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not caller().may(scope):
                return problem(403, f"该令牌没有“{scope}”权限")
            return view(*args, **kwargs)
        return wrapper
    return decorate


def user_required(view):
    """A personal token: the view acts as its principal through the same services as the pages."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if caller().principal is None:
            return problem(403, "该接口须使用个人令牌（以用户身份调用）")
        return view(*args, **kwargs)
    return wrapper


def protect(blp) -> None:
    """Token check, rate limits, audit and problem+json errors on an API blueprint (at import, once)."""
    from werkzeug.exceptions import HTTPException

    from .problems import from_http_exception
    blp.before_request(authenticate)
    _PROTECTED.add(blp.name)
    blp.after_request(audit)
    blp.register_error_handler(HTTPException, from_http_exception)
