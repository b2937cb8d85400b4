"""Flask application factory."""
from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from engine.db import db
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
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["services"] = Services.create(app.config["UPLOAD_DIR"], app.config["UPLOAD_MAX_BYTES"],
                                                 app.config["UPLOAD_MAX_FILES"])

    from . import auth, cli, filters, inputs
    inputs.init_app(app)   # before the blueprints: their rules use the <id:…> converter
    auth.init_app(app)
    filters.init_app(app)
    cli.init_app(app)
    _register_blueprints(app)
    return app


def services() -> Services:
    from flask import current_app
    return current_app.extensions["services"]


def _migrations_dir():
    from pathlib import Path
    return Path(__file__).resolve().parent / "migrations"


def _register_blueprints(app: Flask) -> None:
    from . import views
    views.register(app)
