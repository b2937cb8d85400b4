"""The Alembic migrations build exactly the schema the models describe."""
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from engine.db import db
from webui import create_app

from .conftest import DATABASE_URL, _driver, is_postgres


@contextmanager
def migration_app(tmp_path, schema: str):
    """An application on an empty database to run the migrations in: on PostgreSQL a schema of its
    own (dropped afterwards), so that the suite's tables in the public schema stay untouched; on
    SQLite a new file."""
    admin = None
    if is_postgres():
        admin = create_engine(_driver(DATABASE_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = _driver(DATABASE_URL) + f"?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path / f'{schema}.sqlite3'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp_path / "up")})
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(tmp_path, app):
    with migration_app(tmp_path, "migration_check") as migrated, migrated.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
