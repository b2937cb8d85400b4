"""The application's status comes from the diagram's status properties, also for stored versions
deployed before diagrams declared them (tests/bpmn_legacy: the unlock diagram as first shipped)."""
import hashlib
from pathlib import Path

from engine.db import db
from engine.models import ProcessDefinition, ProcessInstance
from handlers.models import DRAFT, REPORTED, RETURNED, WITHDRAWN

from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM

from .world import PDF_BYTES, approve_into_an_incident, locked_person, reported_unlock

LEGACY = (Path(__file__).parent / "bpmn_legacy" / "personnel_unlock.bpmn").read_bytes()


def _store_legacy_version(services):
    """What an existing database holds: a version with formKey application.edit and no status."""
    assert b'name="status"' not in LEGACY
    with services.engine.command():
        latest = services.engine.definitions.latest("personnel_unlock")
        row = ProcessDefinition(process_key="personnel_unlock", name="人员解锁申请", version=latest.version + 1,
                                content_hash=hashlib.sha256(LEGACY).hexdigest(), source_file="personnel_unlock.bpmn",
                                xml=LEGACY.decode("utf-8"))
        db.session.add(row)
    services.engine.definitions.forget("personnel_unlock")
    return row


def test_an_instance_on_a_version_without_status_properties_keeps_its_statuses(world, services):
    legacy = _store_legacy_version(services)
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    assert db.session.get(ProcessInstance, app.instance_id).definition_id == legacy.id
    assert app.status == REPORTED
    reviewer, applicant = world.who("agency_reviewer"), world.who("contractor_user")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "请补充停工证明")
    assert app.status == RETURNED
    services.unlock.withdraw(applicant, app.id)
    assert app.status == WITHDRAWN and app.open_key is None and app.finished_at is not None


def test_the_shipped_statuses_follow_the_diagram(world, services):
    pm, _ = locked_person(world, "李四")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)
    assert app.status == DRAFT                       # Task_Edit: status 草稿
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"},
                         [Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", PDF_BYTES)])
    services.unlock.report(applicant, app.id)
    assert app.status == REPORTED                    # Task_Review: status 待审核
    services.unlock.withdraw(applicant, app.id)
    assert app.status == WITHDRAWN                   # End_Withdrawn: status 已撤回
    parsed = services.engine.definitions.current("personnel_unlock").parsed
    assert parsed.statuses == {"Task_Edit": ("草稿", "已退回"), "Task_Review": ("待审核", None),
                               "End_Withdrawn": ("已撤回", None), "End_Done": ("已办结", None),
                               # the deadline timers' branches end while the review still waits
                               "End_Reminded": ("待审核", None), "End_Escalated": ("待审核", None)}


def test_a_retry_that_ends_back_at_the_applicant_returns_the_application(world, services, monkeypatch):
    from handlers import lock_rule

    pm, _ = locked_person(world, "王五")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    approve_into_an_incident(services, monkeypatch, reviewer, task.id)
    assert db.session.get(ProcessInstance, app.instance_id).status == "errored" and app.status == REPORTED
    lock_rule.close_lock(lock_rule.open_locks(pm.id)[0], "另行解除")   # meanwhile: the re-check fails
    db.session.commit()

    result = services.retry(app.instance_id, world.who("admin").actor)
    assert result.status == "已退回"
    db.session.refresh(app)
    assert app.status == RETURNED and app.is_editable
