"""The tamper-evident operation log (architecture.md): every instance's entries form a hash chain,
verified in one query; edits, deletions and insertions made with raw SQL are found."""
import threading
from datetime import datetime

import pytest
from sqlalchemy import event, func, select, text

from engine import Actor
from engine import store
from engine.audit import Break, canonical, entry_hash, genesis, read_log, verify_all
from engine.db import db
from engine.models import AuditEntry, ProcessInstance
from handlers import processes
from handlers.models import APPROVED

from .conftest import is_postgres
from .race_helpers import run_at_once
from .web_helpers import client_world, login  # noqa: F401 (fixture)
from .world import approve_into_an_incident, locked_person, reported_unlock

tampers = pytest.mark.tampers_audit_log


def _approved_unlock(world, services):
    pm, _project = locked_person(world, "链式日志人员")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意")
    assert app.status == APPROVED
    db.session.commit()
    return app


def _entries(instance_id) -> list:
    db.session.expire_all()
    return db.session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                              .order_by(AuditEntry.seq)).all()


def _sql(statement, **params):
    # end the read transaction first: pages served meanwhile wrote (a login counts its attempt),
    # and SQLite refuses a write from a transaction whose snapshot predates another commit
    db.session.commit()
    db.session.execute(text(statement), params)
    db.session.commit()


def _found(instance_id) -> Break | None:
    """What the page's check finds; ``flask audit verify`` must find the same."""
    db.session.expire_all()
    broken = read_log(db.session, instance_id).broken
    with db.engine.connect() as conn:
        assert dict(verify_all(conn))[instance_id] == broken
    return broken


def _insert(instance_id, seq, hash_, at, action="审核通过", opinion="伪造的意见"):
    _sql("INSERT INTO audit_entry (instance_id, seq, hash, at, user_id, user_name, org_id, org_name, action, "
         "opinion, element_id) VALUES (:i, :s, :h, :at, NULL, '赵监督', NULL, '昆明质监站', :a, :o, NULL)",
         i=instance_id, s=seq, h=hash_, at=at, a=action, o=opinion)


def _forged(instance_id, seq, previous, at):
    values = dict(instance_id=instance_id, seq=seq, at=at, user_id=None, user_name="赵监督", org_id=None,
                  org_name="昆明质监站", action="审核通过", opinion="伪造的意见", element_id=None)
    return entry_hash(previous, values)


# -- the format ---------------------------------------------------------------------------------
def test_fields_are_length_prefixed_so_shifting_text_between_fields_changes_the_hash():
    base = dict(instance_id=1, seq=1, at=datetime(2026, 1, 2, 3, 4, 5), user_id=None, user_name="赵1:",
                org_id=7, org_name="站", action="签收", opinion=None, element_id="Task_Review")
    shifted = dict(base, user_name="赵", org_name="1:站")
    assert canonical(base) != canonical(shifted)
    assert entry_hash(genesis(1), base) != entry_hash(genesis(1), shifted)
    assert canonical(base) == ("1:1" "1:1" "26:2026-01-02T03:04:05.000000" "-" "3:赵1:" "1:7" "1:站" "2:签收" "-"
                               "11:Task_Review")
    assert genesis(1) != genesis(2)


def test_every_writer_chains_awkward_values_that_verify(world, services, monkeypatch):
    """Claims and recorded actions are hashed by PostgreSQL itself (the writer does not know the head):
    its serialisation must equal Python's, for any text and for a timestamp on a whole second."""
    pm, _project = locked_person(world, "边界值人员")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    monkeypatch.setattr(store, "utcnow", lambda: datetime(2026, 11, 22, 8, 0, 0))
    odd = Actor(99999, "赵'监\"督 😀\n-", world.org("agency").id, "")
    with services.engine.command():
        services.engine.claim(task.id, odd)
        services.engine.record(app.instance_id, odd, "备注", "5:abc - 意见\t含“引号”和 \\ 反斜杠")
        services.engine.record(app.instance_id, Actor(2**31 - 1, "", None, "平台"), "备注", "")
    log = read_log(db.session, app.instance_id)
    assert log.broken is None
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    instance = db.session.get(ProcessInstance, app.instance_id)
    db.session.refresh(instance)
    assert (instance.audit_seq, instance.audit_head) == (log[-1].seq, log[-1].hash)
    assert log[-3].user_name == odd.user_name and log[-3].at == datetime(2026, 11, 22, 8, 0, 0)


def test_an_incident_and_its_retry_chain_in_order(world, services, monkeypatch):
    pm, _project = locked_person(world, "重试链人员")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    approve_into_an_incident(services, monkeypatch, reviewer, task.id, "同意")
    with services.engine.command():
        assert services.engine.retry(app.instance_id, world.who("admin").actor).completed
    log = read_log(db.session, app.instance_id)
    assert log.broken is None
    assert [e.action for e in log][-5:] == ["签收", "审核通过", "服务任务失败", "重试", "自动解锁"]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))


def test_an_entry_appended_while_the_command_runs_moves_the_chain_it_saves(world, services, monkeypatch):
    """A recorded action between the command's read and its save (here from the operator itself):
    the save sees the log moved on, chains after it, and the decision still takes effect."""
    pm, _project = locked_person(world, "追加链人员")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    apply_unlock = processes.registry.operators["unlock.apply"]

    def recording(call):
        services.engine.record(call.instance.id, Actor.system(), "运维备注", "生效时追加")
        return apply_unlock(call)
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", recording)
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意")
    assert app.status == APPROVED
    log = read_log(db.session, app.instance_id)
    assert log.broken is None
    assert [e.action for e in log][-4:] == ["签收", "运维备注", "审核通过", "自动解锁"]


def test_concurrent_appends_to_one_log_each_get_their_own_place(ctx, world, services):
    pm, _project = locked_person(world, "并发日志人员")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    instance_id, task_id = app.instance_id, task.id
    reviewer = world.who("agency_reviewer").actor
    db.session.commit()

    def work(i):
        with services.engine.command():
            if i == 0:
                return services.engine.claim(task_id, reviewer).id
            return services.engine.record(instance_id, Actor(i, f"运维{i}", None, "平台"), "备注", f"第{i}条")
    results = run_at_once(ctx, 20, work)
    assert [r[0] for r in results] == ["ok"] * 20, results
    log = read_log(db.session, instance_id)
    assert log.broken is None and len(log) == 3 + 20
    assert [e.seq for e in log] == list(range(1, 24))


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs one write transaction at a time (BEGIN IMMEDIATE)")
def test_an_append_committed_during_a_completion_of_the_same_instance_is_chained_before_it(
        ctx, world, services, monkeypatch):
    """Another transaction appends (as a claim of a parallel task would) after the completion read the
    instance and before it saved: the completion's conditional update sees the head moved, takes the
    new head and saves once more; nothing is refused and the chain holds."""
    pm, _project = locked_person(world, "并发生效人员")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    instance_id, task_id, app_id = app.instance_id, task.id, app.id
    db.session.commit()
    in_operator, appended = threading.Event(), threading.Event()
    apply_unlock = processes.registry.operators["unlock.apply"]

    def waiting(call):
        in_operator.set()
        assert appended.wait(20)
        return apply_unlock(call)
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", waiting)

    def work(i):
        if i == 0:
            return services.reviews.approve(reviewer, task_id, "同意").status
        assert in_operator.wait(20)
        with services.engine.command():
            services.engine.record(instance_id, Actor.system(), "并发追加")
        appended.set()
    results = run_at_once(ctx, 2, work)
    assert results == [("ok", APPROVED), ("ok", None)], results
    log = read_log(db.session, instance_id)
    assert log.broken is None
    assert [e.action for e in log][-4:] == ["签收", "并发追加", "审核通过", "自动解锁"]
    assert db.session.get(type(app), app_id).status == APPROVED


# -- tampering with raw SQL -----------------------------------------------------------------------
@tampers
def test_an_edited_entry_is_found(world, services):
    app = _approved_unlock(world, services)
    assert _found(app.instance_id) is None
    target = next(e for e in _entries(app.instance_id) if e.action == "审核通过")
    _sql("UPDATE audit_entry SET opinion = '不同意' WHERE id = :id", id=target.id)
    assert _found(app.instance_id) == Break(app.instance_id, "content", target.seq, target.id)


@tampers
def test_an_edited_hash_is_found(world, services):
    app = _approved_unlock(world, services)
    second = _entries(app.instance_id)[1]
    _sql("UPDATE audit_entry SET hash = :h WHERE id = :id", h="0" * 64, id=second.id)
    assert _found(app.instance_id) == Break(app.instance_id, "content", 2, second.id)


@tampers
def test_an_edit_with_its_hash_recomputed_is_found_at_the_next_entry(world, services):
    app = _approved_unlock(world, services)
    first, second, third = _entries(app.instance_id)[:3]
    forged = {c: getattr(second, c) for c in ("instance_id", "seq", "at", "user_id", "user_name", "org_id",
                                              "org_name", "action", "opinion", "element_id")}
    forged["action"] = "撤回"
    _sql("UPDATE audit_entry SET action = '撤回', hash = :h WHERE id = :id",
         h=entry_hash(first.hash, forged), id=second.id)
    assert _found(app.instance_id) == Break(app.instance_id, "content", 3, third.id)


@tampers
def test_the_last_entry_edited_with_its_hash_recomputed_is_found_by_the_head(world, services):
    app = _approved_unlock(world, services)
    *_, before, last = _entries(app.instance_id)
    forged = {c: getattr(last, c) for c in ("instance_id", "seq", "at", "user_id", "user_name", "org_id",
                                            "org_name", "action", "element_id")}
    forged["opinion"] = "事后补写"
    _sql("UPDATE audit_entry SET opinion = '事后补写', hash = :h WHERE id = :id",
         h=entry_hash(before.hash, forged), id=last.id)
    assert _found(app.instance_id) == Break(app.instance_id, "head", last.seq, last.id)


@tampers
def test_a_deleted_middle_entry_is_found(world, services):
    app = _approved_unlock(world, services)
    entries = _entries(app.instance_id)
    _sql("DELETE FROM audit_entry WHERE id = :id", id=entries[2].id)
    assert _found(app.instance_id) == Break(app.instance_id, "sequence", 4, entries[3].id)


@tampers
def test_a_deleted_middle_entry_with_the_rest_renumbered_is_found(world, services):
    app = _approved_unlock(world, services)
    entries = _entries(app.instance_id)
    _sql("DELETE FROM audit_entry WHERE id = :id", id=entries[2].id)
    _sql("UPDATE audit_entry SET seq = seq - 1 WHERE instance_id = :i AND seq > 3", i=app.instance_id)
    _sql("UPDATE process_instance SET audit_seq = audit_seq - 1 WHERE id = :i", i=app.instance_id)
    assert _found(app.instance_id) == Break(app.instance_id, "content", 3, entries[3].id)


@tampers
def test_a_deleted_last_entry_is_found(world, services):
    app = _approved_unlock(world, services)
    last = _entries(app.instance_id)[-1]
    _sql("DELETE FROM audit_entry WHERE id = :id", id=last.id)
    assert _found(app.instance_id) == Break(app.instance_id, "truncated", None, None)


@tampers
def test_a_forged_entry_appended_with_a_valid_hash_is_found(world, services):
    app = _approved_unlock(world, services)
    last = _entries(app.instance_id)[-1]
    at = datetime(2026, 11, 22, 9, 0, 0, 123456)
    _insert(app.instance_id, last.seq + 1, _forged(app.instance_id, last.seq + 1, last.hash, at), at)
    forged = _entries(app.instance_id)[-1]
    assert _found(app.instance_id) == Break(app.instance_id, "extra", last.seq + 1, forged.id)


@tampers
def test_a_forged_entry_inserted_in_the_middle_is_found(world, services):
    app = _approved_unlock(world, services)
    entries = _entries(app.instance_id)
    # make room at seq 3 (in two steps: the unique (instance, seq) constraint is checked per row)
    _sql("UPDATE audit_entry SET seq = seq + 1000 WHERE instance_id = :i AND seq >= 3", i=app.instance_id)
    _sql("UPDATE audit_entry SET seq = seq - 999 WHERE instance_id = :i AND seq > 1000", i=app.instance_id)
    at = entries[1].at
    _insert(app.instance_id, 3, _forged(app.instance_id, 3, entries[1].hash, at), at)
    assert _found(app.instance_id) == Break(app.instance_id, "content", 4, entries[2].id)


@tampers
def test_an_edited_head_and_an_entry_moved_between_instances_are_found(world, services):
    app = _approved_unlock(world, services)
    other = reported_unlock(world, services, locked_person(world, "另一人员")[0])
    db.session.commit()
    last = _entries(app.instance_id)[-1]
    _sql("UPDATE audit_entry SET instance_id = :o, seq = :s WHERE id = :id",
         o=other.instance_id, s=len(_entries(other.instance_id)) + 1, id=last.id)
    assert _found(app.instance_id) == Break(app.instance_id, "truncated", None, None)
    assert _found(other.instance_id).problem == "content"
    _sql("UPDATE process_instance SET audit_seq = audit_seq - 1, audit_head = :h WHERE id = :i",
         h="f" * 64, i=app.instance_id)
    assert _found(app.instance_id).problem == "head"


# -- the operator command and the pages ----------------------------------------------------------------
@tampers
def test_flask_audit_verify_reports_the_first_broken_entry_and_fails(ctx, world, services):
    app = _approved_unlock(world, services)
    other = reported_unlock(world, services, locked_person(world, "未改动人员")[0])
    db.session.commit()
    runner = ctx.test_cli_runner()
    clean = runner.invoke(args=["audit", "verify"])
    assert clean.exit_code == 0 and "2 instance log(s) checked, 0 broken" in clean.output
    entries = _entries(app.instance_id)
    _sql("UPDATE audit_entry SET user_name = '他人' WHERE id IN (:a, :b)", a=entries[1].id, b=entries[3].id)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert (f"instance {app.instance_id}: entry seq 2 (id {entries[1].id}): content or hash altered"
            in result.output)
    assert f"entry seq 4" not in result.output        # the first break only
    assert "2 instance log(s) checked, 1 broken" in result.output
    one = runner.invoke(args=["audit", "verify", "--instance", str(other.instance_id)])
    assert one.exit_code == 0 and "1 instance log(s) checked, 0 broken" in one.output
    missing = runner.invoke(args=["audit", "verify", "--instance", "999999"])
    assert missing.exit_code == 2


@tampers
def test_the_detail_and_task_pages_show_whether_the_log_verifies(client_world, services):
    client, world = client_world
    pm, _project = locked_person(world, "页面校验人员")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    db.session.commit()
    login(client, "contractor_user")
    assert "✓ 操作记录校验通过" in client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    reviewer = client.application.test_client()
    login(reviewer, "agency_reviewer")
    assert "✓ 操作记录校验通过" in reviewer.get(f"/review/task/{task.id}").get_data(as_text=True)

    second = _entries(app.instance_id)[1]
    _sql("UPDATE audit_entry SET opinion = '篡改' WHERE id = :id", id=second.id)
    warning = f"✗ 操作记录校验未通过：序号 2 的记录（记录编号 {second.id}）内容或校验值被改动。"
    for page in (client.get(f"/apply/unlock/{app.id}"), reviewer.get(f"/review/task/{task.id}")):
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and warning in html and "校验通过" not in html
    _sql("DELETE FROM audit_entry WHERE instance_id = :i AND seq = (SELECT max(seq) FROM audit_entry "
         "WHERE instance_id = :i)", i=app.instance_id)
    _sql("UPDATE audit_entry SET opinion = NULL WHERE id = :id", id=second.id)
    html = client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    assert "✗ 操作记录校验未通过：日志末尾的记录被删除。" in html


def test_reading_and_checking_a_log_is_one_query(world, services):
    instance_id = _approved_unlock(world, services).instance_id
    statements = []
    def count(_conn, _cursor, statement, *_args):
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE"):
            statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        log = read_log(db.session, instance_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert log.broken is None and len(log) >= 6 and len(statements) == 1, statements
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == len(log)


# -- the migration chains the logs written before it -------------------------------------------------------
def test_the_migration_numbers_and_chains_existing_entries(tmp_path, app):
    from flask_migrate import downgrade, upgrade

    from .test_migrations import migration_app
    with migration_app(tmp_path, "audit_migration") as migrated, migrated.app_context():
        upgrade(revision="e4103475568b")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO process_definition (id, process_key, name, version, content_hash, "
                              "source_file, xml, deployed_at) VALUES (1, 'p', 'p', 1, 'h', 'p.bpmn', '<x/>', "
                              ":at)"), {"at": datetime(2026, 1, 1)})
            for instance_id in (1, 2, 3):
                conn.execute(text("INSERT INTO process_instance (id, definition_id, process_key, business_key, "
                                  "status, state, version, subject, scope, applicant_name, created_at, updated_at) "
                                  "VALUES (:i, 1, 'p', :k, 'running', '{}', 1, '', '', '', :at, :at)"),
                             {"i": instance_id, "k": f"k{instance_id}", "at": datetime(2026, 1, 1)})
            # interleaved ids, and more than one page of the migration's batches
            for n in range(2500):
                conn.execute(text("INSERT INTO audit_entry (instance_id, at, user_id, user_name, org_id, org_name, "
                                  "action, opinion, element_id) VALUES (:i, :at, 7, '赵监督', 8, '站', '签收', "
                                  ":o, NULL)"),
                             {"i": 1 + n % 2, "at": datetime(2026, 1, 1, 0, 0, n % 60, n), "o": f"第{n}条"})
        upgrade()
        with db.engine.connect() as conn:
            results = dict(verify_all(conn))
            heads = conn.execute(text("SELECT id, audit_seq FROM process_instance ORDER BY id")).all()
            first = conn.execute(text("SELECT seq, opinion FROM audit_entry WHERE instance_id = 2 ORDER BY id "
                                      "LIMIT 2")).all()
        assert results == {1: None, 2: None, 3: None}
        assert [tuple(h) for h in heads] == [(1, 1250), (2, 1250), (3, 0)]
        assert [tuple(f) for f in first] == [(1, "第1条"), (2, "第3条")]
        downgrade(revision="base")
