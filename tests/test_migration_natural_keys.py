"""Migration sec_inputs_natural_keys: stored natural keys take their one spelling; where two rows of a
unique key would become one, the upgrade stops and changes nothing."""
import pytest
from alembic import command
from flask_migrate import upgrade
from sqlalchemy import select

from engine.db import db
from handlers.models import Organization, Person, Project

from .test_migrations import migration_app

SCHEMA = "migration_natural_keys"
BEFORE = "h11_review_desk"
AFTER = "sec_inputs_natural_keys"


def _org(conn, code):
    return conn.execute(Organization.__table__.insert().values(kind="contractor", name=f"单位{code}", credit_code=code)
                        .returning(Organization.id)).scalar_one()


def _project(conn, org, supervision_no, contract_no=None):
    return conn.execute(Project.__table__.insert().values(
        name="工程", supervision_no=supervision_no, contract_no=contract_no, construction_unit_id=org,
        authority_id=org, agency_id=org).returning(Project.id)).scalar_one()


def test_upgrade_rewrites_every_natural_key_in_its_one_spelling(tmp_path):
    with migration_app(tmp_path, SCHEMA) as app, app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            org = _org(conn, "９1530100000000001x")
            _project(conn, org, "ｂｊ-2026-001", contract_no="ht\ufeff-9")
            conn.execute(Person.__table__.insert().values(name="张三", id_card="53010119800101001x",
                                                          enterprise_id=org))
        upgrade(revision=AFTER)
        with db.engine.connect() as conn:
            assert conn.execute(select(Organization.credit_code)).scalar_one() == "91530100000000001X"
            assert conn.execute(select(Project.supervision_no, Project.contract_no)).one() == ("BJ-2026-001", "HT-9")
            assert conn.execute(select(Person.id_card)).scalar_one() == "53010119800101001X"


def test_upgrade_refuses_to_merge_two_projects_and_changes_nothing(tmp_path):
    with migration_app(tmp_path, SCHEMA) as app, app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            org = _org(conn, "91530100000000001x")
            first, second = _project(conn, org, "BJ-1"), _project(conn, org, "bj-1\u200b")
        config = app.extensions["migrate"].migrate.get_config()   # alembic itself: the error, not an exit
        with pytest.raises(Exception, match=rf"升级已停止，未做任何修改.*project.supervision_no BJ-1: id {first}.*id {second}"):
            command.upgrade(config, AFTER)
        with db.engine.connect() as conn:
            assert conn.execute(select(Organization.credit_code)).scalar_one() == "91530100000000001x"
            assert sorted(conn.execute(select(Project.supervision_no)).scalars()) == ["BJ-1", "bj-1\u200b"]
