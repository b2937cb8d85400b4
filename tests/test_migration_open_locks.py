"""Migration h1_open_lock_unique: duplicates an earlier race left are closed before the index."""
from flask_migrate import upgrade
from sqlalchemy import select

from engine.db import db
from handlers.models import LockRecord, Organization, Person, Project

from .test_migrations import migration_app

SCHEMA = "migration_open_locks"


def test_upgrade_closes_duplicate_open_locks_keeping_the_oldest(tmp_path):
    with migration_app(tmp_path, SCHEMA) as app, app.app_context():
        upgrade(revision="e4103475568b")
        with db.engine.begin() as conn:
            org = conn.execute(Organization.__table__.insert().values(kind="contractor", name="施工单位")
                               .returning(Organization.id)).scalar_one()
            person = conn.execute(Person.__table__.insert().values(
                name="重复锁定", id_card="530101198001010018", enterprise_id=org).returning(Person.id)).scalar_one()
            project = conn.execute(Project.__table__.insert().values(
                name="工程", supervision_no="BJ1", construction_unit_id=org, authority_id=org, agency_id=org)
                .returning(Project.id)).scalar_one()
            for role in ("project_manager", "project_manager", "project_manager", "safety_officer"):
                conn.execute(LockRecord.__table__.insert().values(
                    person_id=person, role=role, project_id=project, reason="race"))
        upgrade(revision="h1_open_lock_unique")
        with db.engine.connect() as conn:
            rows = conn.execute(select(LockRecord.id, LockRecord.role, LockRecord.closed_at,
                                       LockRecord.close_reason).order_by(LockRecord.id)).all()
            assert [(r.role, r.closed_at is None) for r in rows] == [
                ("project_manager", True), ("project_manager", False), ("project_manager", False),
                ("safety_officer", True)]
            assert {r.close_reason for r in rows if r.closed_at} == {"重复的锁定记录，升级时关闭"}
