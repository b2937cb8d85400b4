"""The integration API under /api/v1 (flask-smorest, OpenAPI 3; docs/api.md).

flask-smorest works on the plain Flask app (APIFlask wants its own app class) and leaves the
pages alone once its app-wide error handler is dropped: the API blueprints answer every error as
RFC 9457 problem+json, the pages keep their HTML error pages.
"""
import http
import os

from flask_smorest import Api
from flask_smorest.utils import prepare_response

from .problems import PROBLEM
from .schemas import Problem

PREFIX = "/api/v1"


class ProblemApi(Api):
    """flask-smorest without its app-wide error handler, documenting errors as problem+json."""
    ERROR_SCHEMA = Problem

    def _register_error_handlers(self):
        pass   # the API blueprints register their own; the pages keep theirs

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "错误（RFC 9457 problem+json）", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_app(app, csrf) -> None:
    app.config.setdefault("API_TITLE", "质量安全管理系统 集成接口")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # per-token rate limit, and per-address limit of calls without a valid token; counted by the
    # product's one limiter (webui/limiter.py), in the database or RATELIMIT_STORAGE_URI
    from .security import AUTH_FAILURE_LIMIT, RATE_LIMIT
    app.config.setdefault("API_RATE_LIMIT", os.environ.get("API_RATE_LIMIT", RATE_LIMIT))
    app.config.setdefault("API_AUTH_FAILURE_LIMIT", os.environ.get("API_AUTH_FAILURE_LIMIT", AUTH_FAILURE_LIMIT))
    api = ProblemApi(app, spec_kwargs={"info": {"description": "工改系统、人员库与其他系统对接的 JSON 接口。"}})
    from ..inputs import MAX_BIG_ID, MAX_ID, BigIdConverter, IdConverter
    api.register_converter(IdConverter, lambda _c: {"type": "integer", "minimum": 1, "maximum": MAX_ID})
    api.register_converter(BigIdConverter, lambda _c: {"type": "integer", "minimum": 1, "maximum": MAX_BIG_ID})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                   "description": "flask api token create 生成的访问令牌"})
    api.spec.options["security"] = [{"bearer": []}]

    from . import docs, intake, processes, security, webhooks
    for blp in (intake.blp, processes.blp, webhooks.blp):
        csrf.exempt(blp)
        api.register_blueprint(blp, url_prefix=PREFIX)
    app.register_blueprint(docs.bp, url_prefix=PREFIX)
    app.extensions["api"] = api
    from .cli import api_group, intake_group
    app.cli.add_command(api_group)
    app.cli.add_command(intake_group)
