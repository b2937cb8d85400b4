"""The Alembic migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from engine.db import db
from webui import create_app

from .conftest import DATABASE_URL, _driver, is_postgres


def _app(url, tmp_path):
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp_path / "up")})


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(tmp_path, app):
    if is_postgres():
        # a schema of its own, so the suite's tables in the public schema stay untouched
        admin = create_engine(_driver(DATABASE_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS migration_check CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA migration_check")
        url = _driver(DATABASE_URL) + "?options=-csearch_path%3Dmigration_check"
    else:
        url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    migrated = _app(url, tmp_path)
    with migrated.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
    if is_postgres():
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA migration_check CASCADE")
        admin.dispose()
