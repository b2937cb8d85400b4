"""An instance written by another worker meanwhile is not overwritten (optimistic version check)."""
import pytest
from sqlalchemy import text

from engine import ConcurrentModification, runtime
from engine.db import db
from engine.models import HumanTask, ProcessInstance
from handlers import lock_rule
from handlers.models import LOCKED, REPORTED

from .world import locked_person, reported_unlock


def test_approval_racing_another_writer_is_refused_and_changes_nothing(world, services, monkeypatch):
    person, _project = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    reviewer = world.who("agency_reviewer")
    task = services.reviews.inbox(reviewer).rows[0]
    services.reviews.claim(reviewer, task.id)
    instance_id = app.instance_id
    version_before = db.session.get(ProcessInstance, instance_id).version

    real_dump = runtime.dump_state

    def another_worker_saves_first(wf):
        # the same row is updated behind the ORM's back, as a second worker would
        db.session.execute(text("UPDATE process_instance SET version = version + 1 WHERE id = :id"),
                           {"id": instance_id})
        return real_dump(wf)
    monkeypatch.setattr(runtime, "dump_state", another_worker_saves_first)

    with pytest.raises(ConcurrentModification) as refused:
        services.reviews.approve(reviewer, task.id, "同意")
    assert "请刷新后重试" in refused.value.message

    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).version == version_before
    assert db.session.get(HumanTask, task.id).state == "open"
    assert lock_rule.open_locks(person.id)
    assert db.session.get(type(person), person.id).status == LOCKED
    assert db.session.get(type(app), app.id).status == REPORTED


def test_the_store_keeps_the_one_version_counter(world, services):
    """Instances have one versioning mechanism, engine/store.py's: the ORM's counter is off, so an
    ORM flush of the row neither checks nor moves the version."""
    assert ProcessInstance.__mapper__.version_id_col is None
    person, _project = locked_person(world, "李四")
    app = reported_unlock(world, services, person)
    instance = db.session.get(ProcessInstance, app.instance_id)
    version = instance.version
    with services.engine.command():
        db.session.execute(text("UPDATE process_instance SET version = version + 5 WHERE id = :id"),
                           {"id": instance.id})
        instance.incident_message = "ORM 写入"   # the loaded object still holds the old version
    db.session.expire_all()
    assert db.session.get(ProcessInstance, app.instance_id).version == version + 5
