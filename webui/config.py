"""Configuration from the environment; local data in the instance folder."""
import os
import secrets
import tempfile
from pathlib import Path


def load_config(app) -> None:
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'ynqs.sqlite3'}",
        SECRET_KEY=os.environ.get("SECRET_KEY") or _instance_secret(instance),
        # uploads live in the database (upload_blob); this is only the folder where earlier versions
        # kept them, which `flask uploads migrate` moves into the database
        UPLOAD_DIR=os.environ.get("UPLOAD_DIR") or str(instance / "uploads"),
        PDF_FONT=os.environ.get("PDF_FONT") or None,   # a TrueType font with Chinese glyphs (handlers/pdf.py)
        UPLOAD_MAX_BYTES=int(os.environ.get("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)),
        UPLOAD_MAX_FILES=int(os.environ.get("UPLOAD_MAX_FILES", 10)),
        # reverse proxies in front of the application whose X-Forwarded-For / X-Forwarded-Proto are
        # trusted (docs/operators.md "Behind a reverse proxy"); 0: none, the peer address is the client's
        TRUSTED_PROXIES=int(os.environ.get("TRUSTED_PROXIES", 0)),
        # the login page's methods, in order (webui/login_methods): "password", "qr" (扫码登录)
        LOGIN_METHODS=os.environ.get("LOGIN_METHODS", "password,qr"),
        # seconds a login QR code may be scanned, confirmed and used; the page then shows a new one
        QR_LOGIN_SECONDS=int(os.environ.get("QR_LOGIN_SECONDS", 120)),
        # new QR codes per client address per minute (a page asks for one per lifetime)
        QR_CODES_PER_MINUTE=int(os.environ.get("QR_CODES_PER_MINUTE", 20)),
        # 忘记密码: minutes a reset link works, and requests per client address per hour
        PASSWORD_RESET_MINUTES=int(os.environ.get("PASSWORD_RESET_MINUTES", 30)),
        PASSWORD_RESETS_PER_HOUR=int(os.environ.get("PASSWORD_RESETS_PER_HOUR", 5)),
        # the address users reach the site at, for links in e-mails (e.g. https://zlaq.example.gov.cn);
        # unset: the address of the request that asked, which a forged Host header could change
        PUBLIC_URL=os.environ.get("PUBLIC_URL", "").rstrip("/"),
        # the certificates' signing keys (docs/operators.md "Certificate keys"): back this folder up
        CERTIFICATE_KEY_DIR=os.environ.get("CERTIFICATE_KEY_DIR") or str(instance / "certificate_keys"),
        # the public verification page (/verify): checks per client address per minute
        VERIFICATIONS_PER_MINUTE=int(os.environ.get("VERIFICATIONS_PER_MINUTE", 20)),
        # the largest PDF the verification page accepts (a certificate is some tens of kilobytes)
        VERIFY_MAX_BYTES=int(os.environ.get("VERIFY_MAX_BYTES", 2 * 1024 * 1024)),
        # the public progress lookup (/progress): lookups per client address per minute
        PROGRESS_LOOKUPS_PER_MINUTE=int(os.environ.get("PROGRESS_LOOKUPS_PER_MINUTE", 10)),
        # where every rate limit is counted (webui/limiter.py): unset, the application's database
        # ("database://"), shared by all its workers and hosts; or e.g. redis://host:6379/0
        RATELIMIT_STORAGE_URI=os.environ.get("RATELIMIT_STORAGE_URI") or "database://",
        # A file beyond UPLOAD_MAX_BYTES is read but not kept (webui/uploads.py), so that the form comes
        # back with what was typed and the limit named. Only a request beyond this ceiling gets the
        # generic 413 page; the reverse proxy's body limit should be at least as large.
        MAX_CONTENT_LENGTH=int(os.environ.get("MAX_REQUEST_BYTES", 256 * 1024 * 1024)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        WTF_CSRF_TIME_LIMIT=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        # PostgreSQL's plan_cache_mode for the application's connections (docs/operators.md): the
        # ORM's joined statements cost more to plan than to run, and the server kept planning them
        PG_PLAN_CACHE_MODE=os.environ.get("PG_PLAN_CACHE_MODE", "force_generic_plan"),
        # the e-mail channel of notifications; off while SMTP_HOST is unset
        SMTP_HOST=os.environ.get("SMTP_HOST") or None,
        SMTP_PORT=int(os.environ.get("SMTP_PORT", 25)),
        SMTP_FROM=os.environ.get("SMTP_FROM", "noreply@localhost"),
        SMTP_USER=os.environ.get("SMTP_USER") or None,
        SMTP_PASSWORD=os.environ.get("SMTP_PASSWORD") or None,
        SMTP_STARTTLS=os.environ.get("SMTP_STARTTLS", "0") == "1",
        # webhook targets on the internal network that deliveries may reach (docs/operators.md):
        # host names, host:port, addresses and networks, separated by commas or spaces
        WEBHOOK_ALLOWED_HOSTS=os.environ.get("WEBHOOK_ALLOWED_HOSTS", ""),
        # seconds for one whole webhook delivery (connect, send, the answer)
        WEBHOOK_DEADLINE=float(os.environ.get("WEBHOOK_DEADLINE", 10)),
        # worker threads that deliver webhooks, beside the one that runs timers and e-mails
        WEBHOOK_DELIVERY_THREADS=int(os.environ.get("WEBHOOK_DELIVERY_THREADS", 4)),
        # per-request timings in a Server-Timing header (webui/profiling.py); a measuring tool, off by default
        REQUEST_PROFILE=os.environ.get("REQUEST_PROFILE", "0") == "1",
        # logs: "text" (as the servers write them) or "json" (one JSON object per line, with request ids)
        LOG_FORMAT=os.environ.get("LOG_FORMAT", "text").strip().lower(),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"),
        # /metrics is off (404) unless one of these is set: a bearer token the scraper sends, and/or
        # the addresses and networks it scrapes from (docs/operators.md "Running a farm")
        METRICS_TOKEN=os.environ.get("METRICS_TOKEN", ""),
        METRICS_ALLOWED_IPS=os.environ.get("METRICS_ALLOWED_IPS", ""),
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgres://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + \
            app.config["SQLALCHEMY_DATABASE_URI"][len("postgres://"):]
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + \
            app.config["SQLALCHEMY_DATABASE_URI"][len("postgresql://"):]


def _instance_secret(instance: Path) -> str:
    """The instance's secret key, created once even when several workers start together.

    The key is written whole to a private temporary file, then linked into place: ``os.link``
    fails when the name exists, so exactly one worker's key wins and every worker reads it.
    """
    path = instance / "secret_key"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=instance)   # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass   # another worker won; read its key
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
