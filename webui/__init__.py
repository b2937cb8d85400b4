"""Flask application factory."""
from flask import Flask
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from handlers import database
from handlers.services import Services

from .config import load_config
from .uploads import CappedUploadRequest

csrf = CSRFProtect()
migrate = Migrate()
login_manager = LoginManager()


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = CappedUploadRequest
    load_config(app)
    if overrides:
        app.config.update(overrides)
    trust_proxies(app)
    from . import logs, ops
    logs.init_app(app)   # first: the request id is there for every other hook's log lines
    database.init_app(app, migrate, str(_migrations_dir()))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["services"] = Services.create(app.config["UPLOAD_MAX_BYTES"], app.config["UPLOAD_MAX_FILES"],
                                                 key_dir=app.config["CERTIFICATE_KEY_DIR"],
                                                 public_url=app.config["PUBLIC_URL"])
    _configure_email(app)
    _configure_webhooks(app)
    from handlers import pdf
    pdf.configure(app.config["PDF_FONT"])   # the printed documents' CJK font (None: the system's)

    from . import auth, cli, filters, inputs, limiter, security
    limiter.init_app(app)   # every rate limit, counted in RATELIMIT_STORAGE_URI or the database
    inputs.init_app(app)   # before the blueprints: their rules use the <id:…> converter
    auth.init_app(app)
    security.init_app(app)
    filters.init_app(app)
    cli.init_app(app)
    _refresh_per_request(app)
    ops.init_app(app, _migrations_dir())   # /healthz, /readyz, /metrics and the latency histogram
    _register_blueprints(app)
    from . import api
    api.init_app(app, csrf)

    from . import profiling
    profiling.init_app(app)   # last: it wraps the views; installs nothing unless REQUEST_PROFILE is set
    return app


def trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` reverse proxies, the client's address and scheme are the ones the
    nearest of them forwarded (ProxyFix): rate limits, the audit and the progress lookup count the
    client, not the proxy. With 0 (the default) the headers are ignored: a client could forge them."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _refresh_per_request(app: Flask) -> None:
    """Every request first serves what any process of any host deployed since this one last
    looked (one small row read: engine.generations); static files and the operators' endpoints
    (probes, the metrics scrape) skip it. A logged-in page's login statement carries the
    generations (handlers.principal.login_session): loaded before its view, its check reads nothing."""
    from flask import request, session

    from .api.security import checks_token
    from .auth import ACCOUNT_KEY, GENERATIONS_CHECKED
    from .ops import ENDPOINTS as OPS_ENDPOINTS

    @app.before_request
    def _refresh_caches():
        if request.endpoint == "static" or request.endpoint in OPS_ENDPOINTS:
            return
        if checks_token():
            return   # the token's statement carries the generations (webui/api/security.py authenticate)
        if "_user_id" in session and ACCOUNT_KEY in session:
            current_user._get_current_object()   # the login, read now, carries the generations
        if not request.environ.get(GENERATIONS_CHECKED):
            request.environ[GENERATIONS_CHECKED] = True
            app.extensions["services"].refresh()


def _configure_email(app: Flask) -> None:
    from handlers.notifications import SmtpSettings, configure_email
    c = app.config
    configure_email(SmtpSettings(c["SMTP_HOST"], c["SMTP_PORT"], c["SMTP_FROM"], c["SMTP_USER"], c["SMTP_PASSWORD"],
                                 c["SMTP_STARTTLS"]) if c.get("SMTP_HOST") else None)


def _configure_webhooks(app: Flask) -> None:
    from handlers import webhooks
    from handlers.webhook_targets import AllowList
    deadline = float(app.config["WEBHOOK_DEADLINE"])
    if not 0 < deadline <= 60:
        raise ValueError("WEBHOOK_DEADLINE must be between 0 and 60 seconds")
    webhooks.configure(webhooks.Settings(AllowList.parse(app.config["WEBHOOK_ALLOWED_HOSTS"]), deadline))


def services() -> Services:
    from flask import current_app
    return current_app.extensions["services"]


def _migrations_dir():
    from pathlib import Path
    return Path(__file__).resolve().parent / "migrations"


def _register_blueprints(app: Flask) -> None:
    from . import login_methods, views
    views.register(app)
    login_methods.register(app)   # each offered login method's own routes
