"""Commands cannot be forgotten (Camunda's command model): every engine operation runs in a unit
of work, an inner failure makes the unit rollback-only, and a unit never commits work it did not do."""
import pytest
from sqlalchemy import event, func, select, update

from engine import Actor, EngineError, TaskNotFound
from engine.db import db, unit_of_work
from engine.errors import PendingWork, RollbackOnly
from engine.models import AuditEntry, HumanTask, ProcessDefinition, ProcessInstance, TaskCandidate
from handlers.models import Organization


def _actor(world, key="contractor_user"):
    return world.who(key).actor


def _start(services, world, key="uow:1"):
    org = world.org("contractor")
    return services.engine.start("personnel_unlock", key, _actor(world), subject="直接发起",
                                 applicant_org_id=org.id, applicant_name=org.name)


def _log_actions(instance_id) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == instance_id)
                                   .order_by(AuditEntry.id)))


def test_an_engine_call_outside_any_command_is_committed(world, services):
    result = _start(services, world)            # no ``with engine.command()`` around it
    services.engine.record(result.instance.id, _actor(world), "备注")
    db.session.remove()                         # the request ends: nothing is committed at teardown
    instance = db.session.get(ProcessInstance, result.instance.id)
    assert instance is not None and instance.status == "running"
    assert db.session.scalar(select(func.count()).select_from(HumanTask)
                             .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")) == 1
    assert _log_actions(instance.id) == ["备注"]


def test_claim_release_and_complete_outside_any_command_are_committed(world, services):
    engine, actor = services.engine, _actor(world)
    instance_id = _start(services, world).instance.id
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id))
    engine.claim(task_id, actor)
    db.session.remove()
    assert db.session.get(HumanTask, task_id).claimed_by_user_id == actor.user_id
    engine.release(task_id, actor)
    db.session.remove()
    assert db.session.get(HumanTask, task_id).claimed_by_user_id is None
    engine.complete(task_id, actor, {"action": "withdraw"}, action="撤回")
    db.session.remove()
    assert db.session.get(ProcessInstance, instance_id).status == "completed"
    assert _log_actions(instance_id) == ["签收", "退回签收", "撤回"]


def test_deploy_outside_any_command_is_committed(services):
    from handlers.services import BPMN_DIR
    changed = (BPMN_DIR / "personnel_unlock.bpmn").read_bytes().replace(
        'name="审核">'.encode(), 'name="审核（新版）">'.encode())
    definition, created = services.engine.definitions.deploy(changed, "personnel_unlock.bpmn")
    assert created
    definition_id = definition.id
    db.session.remove()
    assert db.session.get(ProcessDefinition, definition_id).version == 2


def test_engine_calls_inside_a_command_join_it_and_roll_back_with_it(world, services):
    result = _start(services, world)
    with pytest.raises(ValueError):
        with services.engine.command():
            services.engine.record(result.instance.id, _actor(world), "一")
            services.engine.update_subject(result.instance.id, subject="改过的标题")
            raise ValueError("a later step of the same action fails")
    db.session.remove()
    assert _log_actions(result.instance.id) == []
    assert db.session.get(ProcessInstance, result.instance.id).subject == "直接发起"


def test_a_swallowed_inner_failure_makes_the_unit_rollback_only(world, services):
    result = _start(services, world)
    engine = services.engine
    with pytest.raises(RollbackOnly) as refused:
        with engine.command():
            engine.record(result.instance.id, _actor(world), "上半个动作")
            try:
                engine.claim(987654, _actor(world))     # fails inside its own (joined) unit
            except TaskNotFound:
                pass                                    # ... and the caller swallows it
    assert isinstance(refused.value, EngineError) and "全部更改均已撤销" in refused.value.message
    db.session.remove()
    assert _log_actions(result.instance.id) == []       # half an action was not committed


def test_an_exception_handled_inside_the_inner_block_does_not_poison_the_unit(world, services):
    result = _start(services, world)
    with services.engine.command():
        with unit_of_work():
            try:
                raise KeyError("handled where it happened")
            except KeyError:
                pass
        services.engine.record(result.instance.id, _actor(world), "已保存")
    db.session.remove()
    assert _log_actions(result.instance.id) == ["已保存"]


def test_the_next_unit_after_a_rollback_only_one_starts_clean(world, services):
    result = _start(services, world)
    with pytest.raises(RollbackOnly):
        with unit_of_work():
            try:
                with unit_of_work():
                    raise ValueError("inner")
            except ValueError:
                pass
    services.engine.record(result.instance.id, _actor(world), "之后的动作")
    db.session.remove()
    assert _log_actions(result.instance.id) == ["之后的动作"]


@pytest.mark.parametrize("change", ["added", "flushed", "modified", "statement"])
def test_a_unit_of_work_refuses_changes_made_outside_it(world, services, change):
    org = world.org("firm")
    org_id = org.id
    if change in ("added", "flushed"):
        db.session.add(Organization(kind=org.kind, name="未提交的单位", credit_code="X" * 18))
        if change == "flushed":
            db.session.flush()
    elif change == "modified":
        org.name = "改名未提交"
    else:
        db.session.execute(update(Organization).where(Organization.id == org_id).values(name="语句改名"))
    with pytest.raises(PendingWork):
        _start(services, world)
    db.session.rollback()
    db.session.remove()
    # neither the stray change nor the action was committed
    assert db.session.get(Organization, org_id).name == "云南建设监理咨询有限公司"
    assert db.session.scalar(select(func.count()).select_from(Organization)
                             .where(Organization.name == "未提交的单位")) == 0
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_a_read_transaction_is_ended_with_a_rollback_never_a_commit(world, services):
    session = db.session()
    session.scalar(select(Organization.id).limit(1))    # the request read something first
    ended = []
    listeners = [(name, lambda _s, name=name: ended.append(name)) for name in ("after_commit", "after_rollback")]
    for name, fn in listeners:
        event.listen(session, name, fn)
    try:
        with unit_of_work():
            at_start = list(ended)
        assert "after_commit" not in at_start            # nothing was committed before the action ran
        if session.get_bind().dialect.name == "sqlite":
            assert at_start == ["after_rollback"]        # the read transaction ended, to BEGIN IMMEDIATE
        assert ended[-1] == "after_commit"               # the unit's own commit
    finally:
        for name, fn in listeners:
            event.remove(session, name, fn)


def test_update_subject_is_one_write_of_the_instance_and_its_open_inbox_rows(world, services):
    result = _start(services, world)
    loaded = db.session.get(ProcessInstance, result.instance.id)   # a session object of the same row
    version = loaded.version
    services.engine.update_subject(result.instance.id, subject="新标题", scope="新工程", applicant_name="新单位")
    assert (loaded.subject, loaded.scope, loaded.version) == ("新标题", "新工程", version + 1)   # kept in step
    db.session.remove()
    instance = db.session.get(ProcessInstance, result.instance.id)
    assert (instance.subject, instance.scope, instance.applicant_name) == ("新标题", "新工程", "新单位")
    assert instance.version == version + 1   # the one version counter moved on
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert (task.subject, task.scope, task.applicant_name) == ("新标题", "新工程", "新单位")
    candidates = db.session.scalars(select(TaskCandidate).where(TaskCandidate.task_id == task.id)).all()
    assert candidates and all((c.scope, c.applicant_name) == ("新工程", "新单位") for c in candidates)
    with pytest.raises(TypeError):
        services.engine.update_subject(instance.id, status="completed")   # not an inbox column


def test_update_subject_with_what_the_instance_shows_writes_nothing(world, services):
    result = _start(services, world)
    instance = db.session.get(ProcessInstance, result.instance.id)
    version, subject = instance.version, instance.subject
    sent = []
    listen = lambda _c, _cur, statement, *_a: sent.append(statement.split()[0])   # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with services.engine.command():
            services.engine.update_subject(instance.id, subject=subject)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert sent.count("UPDATE") == 1   # the guarded one, which wrote nothing: no inbox rows touched
    db.session.remove()
    assert db.session.get(ProcessInstance, result.instance.id).version == version   # nothing moved on


def test_an_operator_failing_inside_a_unit_of_its_own_is_an_incident_not_a_rollback_only(world, services,
                                                                                          monkeypatch):
    """The engine rolls a failing operator back to its savepoint and records an incident: the work
    inside is undone, so the command still commits (the decision and the incident are kept)."""
    from handlers import processes
    from .world import locked_person, reported_unlock
    person, _project = locked_person(world, "王五")
    instance_id = reported_unlock(world, services, person).instance_id
    agency = world.who("agency_reviewer")
    task_id = services.reviews.inbox(agency).rows[0].id
    services.reviews.claim(agency, task_id)

    def failing_in_its_own_unit(call):
        with unit_of_work():   # e.g. a domain service that opens the unit of work itself
            raise RuntimeError("下游服务失败")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", failing_in_its_own_unit)
    services.reviews.approve(agency, task_id, "同意")   # no RollbackOnly
    db.session.remove()
    instance = db.session.get(ProcessInstance, instance_id)
    assert instance.status == "errored" and "下游服务失败" in instance.incident_message
    assert db.session.get(HumanTask, task_id).state == "completed"


# -- dry runs (the approval previews) ----------------------------------------------------------
def test_a_dry_run_leaves_no_trace_and_joins_no_commit(world, services):
    """What the previews rehearse is undone; the request may still run a command afterwards, and
    on PostgreSQL the rows it read before and did not change stay loaded (no commit expired them)."""
    from sqlalchemy import inspect

    from engine.db import dry_run
    org_id, other_id = world.org("contractor").id, world.org("agency").id
    db.session.commit()
    name = db.session.get(Organization, org_id).name
    other = db.session.get(Organization, other_id)
    with dry_run():
        db.session.get(Organization, org_id).name = "改名后"
        db.session.flush()
        assert db.session.scalar(select(Organization.name).where(Organization.id == org_id)) == "改名后"
    if db.engine.dialect.name == "postgresql":
        assert not inspect(other).expired_attributes
    assert db.session.scalar(select(Organization.name).where(Organization.id == org_id)) == name
    instance_id = _start(services, world, "uow:dry").instance.id   # a command after it commits
    db.session.remove()
    assert db.session.get(Organization, org_id).name == name
    assert db.session.get(ProcessInstance, instance_id) is not None


def test_a_dry_run_refuses_to_start_over_uncommitted_changes(world):
    from engine.db import dry_run
    world.org("contractor").name = "未提交的修改"
    with pytest.raises(PendingWork):
        with dry_run():
            pass


def test_a_failure_inside_a_dry_run_is_undone_with_it(world, services):
    """A rehearsal that fails (an operator raising) leaves the unit as it found it."""
    from engine.db import dry_run, is_rollback_only
    org_id = world.org("contractor").id
    db.session.commit()
    with unit_of_work():
        with pytest.raises(RuntimeError):
            with dry_run():
                db.session.get(Organization, org_id).name = "失败的预演"
                db.session.flush()
                raise RuntimeError("operator failed")
        # the dry run joined this unit: the failure marks it, as any inner failure does
        assert is_rollback_only()
        from engine.db import restore_rollback_only
        restore_rollback_only(False)
    db.session.remove()
    assert db.session.get(Organization, org_id).name != "失败的预演"


# -- rehearsals that write nothing (engine.db.rehearse) ---------------------------------------------
def _statements_during(work):
    sent = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()[:2]).upper())
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        return work(), sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_rehearsal_that_only_changes_what_it_loaded_sends_only_its_reads(world):
    """No savepoint, no write transaction, no UPDATE: the changed object gets its loaded values back
    in memory, and the page goes on with it without reading it again."""
    from engine.db import in_dry_run, rehearse
    org_id = world.org("contractor").id
    db.session.commit()
    org = db.session.get(Organization, org_id)
    name = org.name

    def work():
        assert in_dry_run()
        db.session.get(Organization, org_id).name = "预演中的名称"
        return db.session.get(Organization, org_id).name
    seen, sent = _statements_during(lambda: rehearse(work))
    assert seen == "预演中的名称"
    assert sent == [] or all(s.startswith("SELECT") for s in sent), sent
    assert not in_dry_run() and not db.session.dirty
    _, after = _statements_during(lambda: org.name)
    assert org.name == name and after == []   # given back, not read again
    db.session.remove()
    assert db.session.get(Organization, org_id).name == name


def test_a_rehearsal_that_must_write_runs_again_in_a_savepoint_and_leaves_no_trace(world):
    """A flush (or any writing statement) stops the rehearsal before it is sent; it runs again, from
    the start, in a savepoint that is rolled back, and its answer is the second run's."""
    from engine.db import rehearse
    org_id = world.org("contractor").id
    db.session.commit()
    runs = []

    def flushing():
        runs.append("flush")
        db.session.get(Organization, org_id).name = "写入的预演"
        db.session.flush()
        return db.session.scalar(select(Organization.name).where(Organization.id == org_id))

    def core_write():
        runs.append("core")
        db.session.connection().execute(update(Organization.__table__).where(
            Organization.__table__.c.id == org_id).values(name="直接写入的预演"))
        return db.session.scalar(select(Organization.name).where(Organization.id == org_id))
    assert rehearse(flushing) == "写入的预演"
    assert rehearse(core_write) == "直接写入的预演"
    assert runs == ["flush", "flush", "core", "core"]
    assert db.session.scalar(select(Organization.name).where(Organization.id == org_id)) != "写入的预演"
    db.session.remove()
    assert db.session.get(Organization, org_id).name not in ("写入的预演", "直接写入的预演")


def test_a_rehearsal_that_adds_a_row_without_writing_it_leaves_nothing_in_the_session(world):
    from engine.db import rehearse
    db.session.commit()

    def adding():
        db.session.add(Organization(name="预演中的单位", kind="contractor", credit_code="91530000RH0000001X"))
        return len(db.session.new)
    assert rehearse(adding) == 1
    assert not db.session.new
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Organization)
                             .where(Organization.name == "预演中的单位")) == 0
