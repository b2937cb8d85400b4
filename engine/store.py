"""How commands read and write engine rows: table statements, no unit of work.

A command touches a handful of rows it knows by key (the task it gates, its instance,
the new inbox rows, the log). The ORM's flush, identity bookkeeping and object loading
cost more than the statements themselves, so the engine sends prepared table statements
on the session's connection (inside the command's transaction) and hands back plain
records. Session objects already loaded for the same rows are kept in step.
"""
from dataclasses import field, fields, make_dataclass

from sqlalchemy import (ARRAY, BigInteger, Boolean, DateTime, Integer, String, Text, and_, bindparam, delete, exists,
                        func, insert, literal_column, or_, select, true, update)
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.types import UserDefinedType

from . import audit
from .db import db
from .models import NO_DUE, AuditEntry, HumanTask, ProcessDefinition, ProcessInstance, TaskCandidate, utcnow

_PI, _HT, _TC, _AE, _PD = (m.__table__ for m in (ProcessInstance, HumanTask, TaskCandidate, AuditEntry,
                                                   ProcessDefinition))


def _record_type(name: str, table, doc: str):
    # one attribute per column, so a record never drifts from its table
    cls = make_dataclass(name, [(c.name, object, field(default=None)) for c in table.c], slots=True)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


InstanceRecord = _record_type(
    "InstanceRecord", _PI, "A process instance as a command read or wrote it: a snapshot, not a session object.")
TaskRecord = _record_type("TaskRecord", _HT, "An inbox row (human task) as a command read or wrote it.")
_INSTANCE_FIELDS = [f.name for f in fields(InstanceRecord)]


class StaleDefinition(Exception):
    """The cached latest version of a process is no longer the latest (or not in this database)."""


# -- statements, built once with bind parameters ----------------------------------------------------
def _gate_statement(condition, **values):
    """The conditional UPDATE of an open task offered to the actor's organisation.

    The candidate row must be of the task's present offer: a gate that waited for the row lock of a
    task being offered anew (``reoffer_task``) re-checks the task row's new ``offer`` against the
    candidate rows of its own, older snapshot, so the old candidates no longer open it."""
    offered = exists().where(_TC.c.task_id == _HT.c.id, _TC.c.org_id == bindparam("p_org_id"),
                             _TC.c.offer == _HT.c.offer)
    return (update(_HT).where(_HT.c.id == bindparam("p_task_id"), _HT.c.state == "open", offered, condition)
            .values(**values).returning(*_HT.c))


CLAIM_GATE = _gate_statement(
    _HT.c.claimed_by_user_id.is_(None),
    claimed_by_user_id=bindparam("p_user_id"), claimed_by_name=bindparam("p_user_name"),
    claimed_by_org_id=bindparam("p_actor_org_id"), claimed_by_org_name=bindparam("p_org_name"),
    claimed_at=bindparam("p_claimed_at"))
RELEASE_GATE = _gate_statement(
    _HT.c.claimed_by_user_id == bindparam("p_user_id"),
    claimed_by_user_id=None, claimed_by_name=None, claimed_by_org_id=None, claimed_by_org_name=None,
    claimed_at=None)
# 转办: the holder hands the task to a colleague of the same organisation (so still a candidate)
TRANSFER_GATE = _gate_statement(
    _HT.c.claimed_by_user_id == bindparam("p_user_id"),
    claimed_by_user_id=bindparam("p_to_user_id"), claimed_by_name=bindparam("p_to_user_name"),
    claimed_by_org_id=bindparam("p_actor_org_id"), claimed_by_org_name=bindparam("p_org_name"),
    claimed_at=bindparam("p_claimed_at"))
COMPLETE_GATE = _gate_statement(
    or_(_HT.c.claimed_by_user_id == bindparam("p_user_id"),
        and_(_HT.c.claimed_by_user_id.is_(None), _HT.c.claim_required.is_(False))),
    state="completed", completed_at=bindparam("p_completed_at"), completed_by_user_id=bindparam("p_user_id"),
    completed_by_name=bindparam("p_user_name"), completed_by_org_id=bindparam("p_actor_org_id"),
    outcome=bindparam("p_outcome"))

_CLOSE_CANDIDATES = (update(_TC).where(_TC.c.task_id == bindparam("p_task_id"))
                     .values(is_open=False, outcome=bindparam("p_outcome"), completed_at=bindparam("p_completed_at")))
_MIRROR_CLAIM = (update(_TC).where(_TC.c.task_id == bindparam("p_task_id"))
                 .values(claimed_by_user_id=bindparam("p_user_id")))
_AUDIT_INSERT = insert(_AE)
_TASK_INSERT = insert(_HT).returning(_HT.c.id)
_CANDIDATE_INSERT = insert(_TC)
_TASK_SELECT = select(*_HT.c).where(_HT.c.id == bindparam("p_id"))
_OFFERED = select(_TC.c.task_id).where(_TC.c.task_id == bindparam("p_task_id"), _TC.c.org_id == bindparam("p_org_id"))
_INSTANCE_SELECT = (select(*_PI.c, _PD.c.content_hash).join(_PD, _PD.c.id == _PI.c.definition_id)
                    .where(_PI.c.id == bindparam("p_id")))

# A new instance is written only if the version the command built it from is still the latest
# deployed in this database: the definition cache is checked by the insert itself.
# a new instance has no paused clock and an empty log (its defaults): leaving them out keeps the
# fused start statement under psycopg's 4 KB / 50-parameter query cache
_NOT_ON_INSERT = ("id", "clock", "audit_seq", "audit_head")
_WRITTEN_ON_INSERT = [c for c in _PI.c if c.name not in _NOT_ON_INSERT]
_INSTANCE_INSERT = (
    insert(_PI).from_select(
        [c.name for c in _WRITTEN_ON_INSERT],
        select(*[bindparam(c.name, type_=c.type) for c in _WRITTEN_ON_INSERT]).where(
            exists().where(_PD.c.id == bindparam("p_definition_id"), _PD.c.content_hash == bindparam("p_hash")),
            ~exists().where(_PD.c.process_key == bindparam("p_process_key"),
                            _PD.c.version > bindparam("p_version"))))
    .returning(_PI.c.id))
_SAVED_COLUMNS = ("state", "status", "end_element_id", "incident_message", "incident_element_id", "incident_at",
                  "clock", "audit_seq", "audit_head")
# the log's head is checked too: a claim or a recorded action appends to the log without the version
_INSTANCE_UPDATE = (
    update(_PI).where(_PI.c.id == bindparam("p_id"), _PI.c.version == bindparam("p_version"),
                      _PI.c.audit_seq == bindparam("p_prior_seq"))
    .values(version=_PI.c.version + 1, updated_at=bindparam("p_updated_at"),
            **{name: bindparam(f"p_{name}") for name in _SAVED_COLUMNS}))
_INSTANCE_HEAD = select(_PI.c.version, _PI.c.audit_seq, _PI.c.audit_head).where(_PI.c.id == bindparam("p_id"))
_LOG_HEAD_UPDATE = (update(_PI).where(_PI.c.id == bindparam("p_id"))
                    .values(audit_seq=bindparam("p_seq"), audit_head=bindparam("p_head"), updated_at=_PI.c.updated_at))
_LOG_ATTEMPTS = 5   # saves of one command while other transactions keep appending to its log
_DEFINITION_XML = select(_PD.c.xml, _PD.c.source_file).where(_PD.c.content_hash == bindparam("p_hash"))


# -- reads ------------------------------------------------------------------------------------------
def definition_xml(conn, content_hash: str):
    return conn.execute(_DEFINITION_XML, {"p_hash": content_hash}).first()


def load_instance(conn, instance_id: int):
    """(InstanceRecord, the definition's content hash), or (None, None)."""
    row = conn.execute(_INSTANCE_SELECT, {"p_id": instance_id}).first()
    if row is None:
        return None, None
    values = row._asdict()
    content_hash = values.pop("content_hash")
    return InstanceRecord(**values), content_hash


def record_of(instance: ProcessInstance):
    """An instance the session has loaded, as the record a command reads from its row. The session
    holds the object until it ends (its identity map alone holds it weakly), so that whatever else
    the request shows of the instance (its diagram) is taken from the session, not read again."""
    db.session.info.setdefault("held_instances", []).append(instance)
    return InstanceRecord(**{name: getattr(instance, name) for name in _INSTANCE_FIELDS})


def load_task(conn, task_id: int):
    row = conn.execute(_TASK_SELECT, {"p_id": task_id}).first()
    return None if row is None else TaskRecord(**row._asdict())


def is_offered(conn, task_id: int, org_id: int | None) -> bool:
    return conn.execute(_OFFERED, {"p_task_id": task_id, "p_org_id": org_id}).first() is not None


# -- writes -----------------------------------------------------------------------------------------
def claim_gate(conn, statement, task_id: int, actor, action: str, opinion: str | None = None, **values):
    """签收 / 退回签收 / 转办: the gate, the candidate rows' copy of the holder and the log entry.

    The updated task as a record, or None when the gate's conditions did not hold (nothing written).
    """
    params = _gate_params(task_id, actor, values)
    if conn.dialect.name == "postgresql":
        entry = audit_entry(None, actor, action, opinion)
        params.update(a_at=entry["at"], a_action=action, a_opinion=opinion, a_body=audit.body(entry))
        row = conn.execute(_pg_claim_statement(statement), params).first()
        return None if row is None else _task_record(row._asdict())
    row = conn.execute(_with_log_head(statement), params).first()
    if row is None:
        return None
    values = row._asdict()
    head = InstanceRecord(id=values["instance_id"], audit_seq=values.pop("head_seq"),
                          audit_head=values.pop("head_hash"))
    task = _task_record(values)
    conn.execute(_MIRROR_CLAIM, {"p_task_id": task_id, "p_user_id": task.claimed_by_user_id})
    _append_after(conn, head, [audit_entry(task.instance_id, actor, action, opinion, element_id=task.element_id)])
    return task


def _with_log_head(gate_statement):
    """The gate, also returning its instance's log head (SQLite: no statement needed to read it)."""
    cached = _LOG_HEAD_GATES.get(id(gate_statement))
    if cached is None:
        head = select(_PI.c.audit_seq, _PI.c.audit_head).where(_PI.c.id == _HT.c.instance_id)
        cached = _LOG_HEAD_GATES[id(gate_statement)] = gate_statement.returning(
            head.with_only_columns(_PI.c.audit_seq).scalar_subquery().label("head_seq"),
            head.with_only_columns(_PI.c.audit_head).scalar_subquery().label("head_hash"))
    return cached


_LOG_HEAD_GATES: dict[int, object] = {}


def complete_gate(conn, task_id: int, actor, **values):
    """办理: the gate, the candidate rows closed, and the task's instance read.

    (task, instance, the definition's content hash), or (None, None, None) when the gate's
    conditions did not hold.
    """
    params = _gate_params(task_id, actor, values)
    if conn.dialect.name == "postgresql":
        row = conn.execute(_PG_COMPLETE, params).first()
        if row is None:
            return None, None, None
        values = row._asdict()
        content_hash = values.pop("content_hash")
        instance = InstanceRecord(**{name: values.pop(f"i_{name}") for name in _INSTANCE_FIELDS})
        return _task_record(values), instance, content_hash
    row = conn.execute(COMPLETE_GATE, params).first()
    if row is None:
        return None, None, None
    conn.execute(_CLOSE_CANDIDATES, {"p_task_id": task_id, "p_outcome": params["p_outcome"],
                                     "p_completed_at": params["p_completed_at"]})
    return (_task_record(row._asdict()), *load_instance(conn, row.instance_id))


def _gate_params(task_id, actor, values) -> dict:
    params = {f"p_{k}": v for k, v in values.items()}
    params.update(p_task_id=task_id, p_org_id=actor.org_id, p_user_id=actor.user_id,
                  p_user_name=actor.user_name, p_actor_org_id=actor.org_id, p_org_name=actor.org_name)
    db.session.flush()   # what the command changed through the ORM so far goes first
    return params


def _task_record(values: dict):
    task = TaskRecord(**values)
    _keep_loaded_in_step(HumanTask, task.id, values)
    return task


def audit_entry(instance_id, actor, action, opinion=None, element_id=None) -> dict:
    return dict(instance_id=instance_id, at=utcnow(), user_id=actor.user_id, user_name=actor.user_name,
                org_id=actor.org_id, org_name=actor.org_name, action=action, opinion=opinion, element_id=element_id)


def append_log(conn, instance_id: int, entries: list[dict]) -> None:
    """Append entries to an instance's log outside a save: the chain continues from the head
    stored on the instance (PostgreSQL: one statement per entry, hashed by the database)."""
    if conn.dialect.name == "postgresql":
        for entry in entries:
            _pg_append(conn, instance_id, entry)
        return
    row = conn.execute(_INSTANCE_HEAD, {"p_id": instance_id}).first()
    if row is None:
        raise LookupError(f"process instance {instance_id} does not exist")
    _append_after(conn, InstanceRecord(id=instance_id, audit_seq=row.audit_seq, audit_head=row.audit_head), entries)


def _append_after(conn, head, entries) -> None:
    """SQLite (one writer at a time): chain the entries after the head read in this transaction."""
    entries = [dict(entry) for entry in entries]
    audit.chain(head, entries)
    conn.execute(_LOG_HEAD_UPDATE, {"p_id": head.id, "p_seq": head.audit_seq, "p_head": head.audit_head})
    conn.execute(_AUDIT_INSERT, entries)
    _keep_loaded_in_step(ProcessInstance, head.id, {"audit_seq": head.audit_seq, "audit_head": head.audit_head})


def _pg_append(conn, instance_id, entry) -> None:
    params = {f"a_{name}": entry[name] for name in ("at", "user_id", "user_name", "org_id", "org_name", "action",
                                                    "opinion", "element_id")}
    params.update(p_instance_id=instance_id, a_body=audit.body(entry))
    row = conn.execute(_PG_APPEND, params).first()
    if row is None:
        raise LookupError(f"process instance {instance_id} does not exist")
    _keep_loaded_in_step(ProcessInstance, instance_id, {"audit_seq": row.audit_seq, "audit_head": row.audit_head})


def insert_instance(conn, instance, definition) -> None:
    """Insert a new instance, guarded: StaleDefinition when ``definition`` is no longer the latest."""
    params = _insert_params(instance, definition)
    row = conn.execute(_INSTANCE_INSERT, params).first()
    if row is None:
        raise StaleDefinition(instance.process_key)
    instance.id = row[0]


def _insert_params(instance, definition) -> dict:
    now = utcnow()
    instance.version, instance.created_at, instance.updated_at = 1, now, now
    instance.audit_seq = instance.audit_seq or 0
    params = {name: getattr(instance, name) for name in _INSTANCE_FIELDS if name not in _NOT_ON_INSERT}
    params.update(p_definition_id=definition.id, p_hash=definition.content_hash,
                  p_process_key=instance.process_key, p_version=definition.version)
    return params


def save(conn, instance, definition, new_tasks: list[tuple[dict, list[int]]], log: list[dict]):
    """Write a command's outcome: the instance (new, or its saved columns under the version check),
    the new inbox rows with their candidate rows, and the log entries.

    Returns the new tasks as records, or None when someone else wrote the instance meanwhile.
    A new instance raises StaleDefinition when ``definition`` is no longer the latest.
    """
    now, inserting = utcnow(), instance.id is None
    if inserting and log:
        insert_instance(conn, instance, definition)   # the chain starts from the instance id
        inserting = False
    for _attempt in range(_LOG_ATTEMPTS):
        prior = instance.audit_seq, instance.audit_head
        entries = [dict(entry) for entry in log]
        if entries:
            audit.chain(instance, entries)
        if _write(conn, instance, definition, new_tasks, entries, now, prior[0]):
            break
        instance.audit_seq, instance.audit_head = prior
        if inserting or not _log_moved(conn, instance):
            return None
    else:
        return None
    if not inserting:
        instance.version, instance.updated_at = instance.version + 1, now
    _keep_loaded_in_step(ProcessInstance, instance.id, {name: getattr(instance, name) for name in _INSTANCE_FIELDS})
    return [TaskRecord(**values) for values, _orgs in new_tasks]


def _write(conn, instance, definition, new_tasks, entries, now, prior_seq) -> bool:
    if conn.dialect.name == "postgresql":
        return _pg_save(conn, instance, definition, new_tasks, entries, now, prior_seq)
    if instance.id is None:
        insert_instance(conn, instance, definition)
    elif conn.execute(_INSTANCE_UPDATE, _update_params(instance, now, prior_seq)).rowcount != 1:
        return False
    for values, org_ids in new_tasks:
        values["instance_id"] = instance.id
        values["id"] = conn.execute(_TASK_INSERT, values).scalar_one()
        if org_ids:
            conn.execute(_CANDIDATE_INSERT, [_candidate(values, org) for org in org_ids])
    if entries:
        conn.execute(_AUDIT_INSERT, entries)
    return True


def _log_moved(conn, instance) -> bool:
    """After a refused update: True (and the instance's log head refreshed) when only the log moved
    on, e.g. a claim of a parallel task committed meanwhile; False when someone else wrote the
    instance itself. Only this rare case costs the extra statements."""
    row = conn.execute(_INSTANCE_HEAD, {"p_id": instance.id}).first()
    if row is None or row.version != instance.version or row.audit_seq == instance.audit_seq:
        return False
    instance.audit_seq, instance.audit_head = row.audit_seq, row.audit_head
    return True


def _update_params(instance, now, prior_seq) -> dict:
    params = {f"p_{name}": getattr(instance, name) for name in _SAVED_COLUMNS}
    params.update(p_id=instance.id, p_version=instance.version, p_updated_at=now, p_prior_seq=prior_seq)
    return params


def _candidate(task: dict, org_id: int) -> dict:
    return dict(task_id=task["id"], org_id=org_id, is_open=True, process_key=task["process_key"],
                created_at=task["created_at"], claimed_by_user_id=None, scope=task["scope"],
                applicant_name=task["applicant_name"], due_at=task.get("due_at") or NO_DUE)


WITHDRAWN = "withdraw"   # the outcome of a row a 撤回 closed


def withdraw_gate(conn, instance_id: int):
    """撤回 after 上报: close every open inbox row of the instance, provided none is claimed.

    (the closed rows' guids, None), or (None, the claimed task) when a reviewer holds one (nothing
    written). The conditional UPDATE is the gate a concurrent 签收 meets: one of the two wins.
    """
    rows = conn.execute(select(*_HT.c).where(_HT.c.instance_id == instance_id, _HT.c.state == "open")).all()
    held = next((r for r in rows if r.claimed_by_user_id is not None), None)
    if held is not None:
        return None, TaskRecord(**held._asdict())
    ids = [r.id for r in rows]
    closed = conn.execute(update(_HT).where(_HT.c.id.in_(ids), _HT.c.state == "open",
                                            _HT.c.claimed_by_user_id.is_(None))
                          .values(state="cancelled", outcome=WITHDRAWN, completed_at=utcnow())
                          .returning(_HT.c.task_guid)).all()
    if len(closed) != len(ids):
        # claimed between the read and the gate: the caller's unit of work undoes the closed rows
        claimed = conn.execute(select(*_HT.c).where(_HT.c.id.in_(ids), _HT.c.claimed_by_user_id.is_not(None))).first()
        return None, TaskRecord(**claimed._asdict()) if claimed is not None else None
    if ids:
        conn.execute(update(_TC).where(_TC.c.task_id.in_(ids)).values(is_open=False))
    return [r.task_guid for r in closed], None


def cancel_tasks(conn, guids) -> None:
    """Close the inbox rows of user tasks the workflow no longer waits on."""
    ids = select(_HT.c.id).where(_HT.c.task_guid.in_(guids)).scalar_subquery()
    conn.execute(update(_TC).where(_TC.c.task_id.in_(ids)).values(is_open=False))
    # closed at a time like a completed row, so that its clock (办理时限) shows where it ended
    conn.execute(update(_HT).where(_HT.c.task_guid.in_(guids), _HT.c.state == "open")
                 .values(state="cancelled", completed_at=utcnow()))


def move_due(conn, task_id: int, due) -> None:
    """An open task's new deadline on its inbox row and its candidate rows; no longer overdue."""
    conn.execute(update(_HT).where(_HT.c.id == task_id)
                 .values(due_at=due, due_provisional=False, overdue_at=None))
    conn.execute(update(_TC).where(_TC.c.task_id == task_id).values(due_at=due))
    _keep_loaded_in_step(HumanTask, task_id, {"due_at": due, "due_provisional": False, "overdue_at": None})


def open_tasks_locked(conn, instance_id: int) -> list:
    """The instance's open inbox rows, locked (PostgreSQL: FOR UPDATE) until the command ends: a
    claim or a completion of one of them waits for what the command decides about it."""
    rows = conn.execute(select(*_HT.c).where(_HT.c.instance_id == instance_id, _HT.c.state == "open")
                        .order_by(_HT.c.id).with_for_update()).all()
    return [TaskRecord(**row._asdict()) for row in rows]


def candidate_orgs(conn, task_id: int) -> list[int]:
    return sorted(conn.execute(select(_TC.c.org_id).where(_TC.c.task_id == task_id)).scalars())


_REOFFER = (update(_HT).where(_HT.c.id == bindparam("p_task_id"))
            .values(offer=_HT.c.offer + 1, claimed_by_user_id=None, claimed_by_name=None, claimed_by_org_id=None,
                    claimed_by_org_name=None, claimed_at=None).returning(_HT.c.offer))


def reoffer_task(conn, task, org_ids: list[int]) -> None:
    """Offer an open task to ``org_ids`` instead of its present candidates, with nobody holding it:
    the candidate rows are replaced (an organisation no longer offered the task has no row left
    to reach it by), the claim is released. Its due time and its place in the inbox stay."""
    offer = conn.execute(_REOFFER, {"p_task_id": task.id}).scalar_one()
    conn.execute(delete(_TC).where(_TC.c.task_id == task.id))
    values = {name: getattr(task, name) for name in ("id", "process_key", "created_at", "scope", "applicant_name",
                                                     "due_at")}
    if org_ids:
        conn.execute(_CANDIDATE_INSERT, [dict(_candidate(values, org), offer=offer) for org in org_ids])
    released = dict(offer=offer, claimed_by_user_id=None, claimed_by_name=None, claimed_by_org_id=None,
                    claimed_by_org_name=None, claimed_at=None)
    for name, value in released.items():
        setattr(task, name, value)
    _keep_loaded_in_step(HumanTask, task.id, released)


# what inbox rows show of their instance, and which of it the candidate rows copy for the filters
SHOWN_COLUMNS = ("subject", "scope", "applicant_name")
_FILTERED_COLUMNS = ("scope", "applicant_name")


def update_subject(conn, instance_id: int, values: dict) -> None:
    """Change what an instance's inbox rows show: the instance, its open inbox rows and their
    candidate rows. A write of the instance like any other, so its version moves on; values the
    instance already shows write nothing (a save that leaves the subject as it was)."""
    unknown = set(values) - set(SHOWN_COLUMNS)
    if unknown:
        raise TypeError(f"not shown on inbox rows: {sorted(unknown)}")
    if not values:
        return
    names = tuple(sorted(values))
    stmts = _SUBJECT_UPDATES.get(names) or _subject_updates(names)
    params = {"p_id": instance_id, "p_now": utcnow(), **{f"v_{name}": value for name, value in values.items()}}
    row = conn.execute(stmts[0], params).first()
    if row is None:
        return
    conn.execute(stmts[1], params)
    if stmts[2] is not None:
        conn.execute(stmts[2], params)
    _keep_loaded_in_step(ProcessInstance, instance_id, dict(values, version=row.version, updated_at=row.updated_at))


def _subject_updates(names: tuple) -> tuple:
    """update_subject's statements for these columns, built once: the instance's UPDATE (when a
    value differs), its open inbox rows' and their candidate rows' (the filtered columns only)."""
    given = {name: bindparam(f"v_{name}", type_=_PI.c[name].type) for name in names}
    changed = or_(*[_PI.c[name].is_distinct_from(value) for name, value in given.items()])
    instance = (update(_PI).where(_PI.c.id == bindparam("p_id"), changed)
                .values(version=_PI.c.version + 1, updated_at=bindparam("p_now"), **given)
                .returning(_PI.c.version, _PI.c.updated_at))
    open_rows = (_HT.c.instance_id == bindparam("p_id"), _HT.c.state == "open")
    tasks = update(_HT).where(*open_rows).values(**given)
    filtered = {k: v for k, v in given.items() if k in _FILTERED_COLUMNS}
    candidates = (update(_TC).where(_TC.c.task_id.in_(select(_HT.c.id).where(*open_rows).scalar_subquery()))
                  .values(**filtered)) if filtered else None
    _SUBJECT_UPDATES[names] = found = (instance, tasks, candidates)
    return found


_SUBJECT_UPDATES: dict = {}


# -- PostgreSQL: a step's writes as one statement -------------------------------------------------------
# Every round trip to the server costs about as much as the statement's own work, so on PostgreSQL
# the writes of a gate, and those of a save, travel together as data-modifying CTEs. Rows of
# any number (new tasks, their candidates, log entries) go as one array parameter per column.
# what a new inbox row has (the claim and completion columns start empty; state is always open)
_TASK_COLUMNS = [_HT.c[name] for name in ("process_key", "task_guid", "element_id", "name", "form_key", "claim_required",
                                          "subject", "scope", "applicant_org_id", "applicant_name",
                                          "created_at", "due_at", "due_provisional", "due_rule")]
_AUDIT_COLUMNS = [c for c in _AE.c if c.name not in ("id", "instance_id")]
_CANDIDATE_COLUMNS = (_HT.c.task_guid, _TC.c.org_id)


def _rows(prefix: str, columns):
    """unnest(:prefix_col1, :prefix_col2, …) AS x(col1, col2, …): array parameters as rows."""
    return (func.unnest(*[bindparam(f"{prefix}{c.name}", type_=ARRAY(_ELEMENT[c.type._type_affinity]))
                          for c in columns])
            .table_valued(*[c.name for c in columns]).render_derived())


class _Timestamp(UserDefinedType):
    """``timestamp``: the short spelling of TIMESTAMP WITHOUT TIME ZONE in array casts."""
    cache_ok = True

    def get_col_spec(self, **_kw):
        return "timestamp"


# array element types without lengths, in their shortest spellings: a shorter statement text,
# which the driver then caches (psycopg caches texts up to 4 KB with up to 50 parameters)
_ELEMENT = {String: Text(), Text: Text(), Integer: Integer(), BigInteger: BigInteger(), Boolean: Boolean(),
            DateTime: _Timestamp()}


def _log_head_cte(instance_id, element_id):
    """Move an instance's log head by one entry, hashed by the database (``audit.sql_entry_hash``
    over ``a_body``, the entry's fields serialised in Python); returns the new seq and hash.
    The row lock of this update orders concurrent appends to the same log."""
    seq = _PI.c.audit_seq + 1
    head = audit.sql_entry_hash(func.coalesce(_PI.c.audit_head, audit.sql_genesis(_PI.c.id)), _PI.c.id, seq,
                                bindparam("a_body", type_=String), element_id)
    return (update(_PI).where(_PI.c.id == instance_id)
            .values(audit_seq=seq, audit_head=head, updated_at=_PI.c.updated_at)
            .returning(_PI.c.id, _PI.c.audit_seq, _PI.c.audit_head).cte("h"))


def _log_entry_cte(h, actor_columns, element_id, source=None):
    """The entry itself, at the place the head CTE ``h`` gave it."""
    names = ["instance_id", "seq", "hash", "at", "user_id", "user_name", "org_id", "org_name", "action",
             "opinion", "element_id"]
    return insert(_AE).from_select(names, select(h.c.id, h.c.audit_seq, h.c.audit_head, *actor_columns,
                                                 element_id).select_from(source if source is not None else h)
                                   ).cte("a")


def _pg_claim_statement(gate_statement):
    cached = _PG_CLAIMS.get(id(gate_statement))
    if cached is None:
        g = gate_statement.cte("g")
        mirror = update(_TC).where(_TC.c.task_id == g.c.id).values(claimed_by_user_id=g.c.claimed_by_user_id)
        h = _log_head_cte(g.c.instance_id, g.c.element_id)
        entry = _log_entry_cte(h, [bindparam("a_at", type_=_AE.c.at.type), bindparam("p_user_id", type_=Integer),
                                   bindparam("p_user_name", type_=String), bindparam("p_actor_org_id", type_=Integer),
                                   bindparam("p_org_name", type_=String), bindparam("a_action", type_=String),
                                   bindparam("a_opinion", type_=Text, value=None)], g.c.element_id,
                               h.join(g, g.c.instance_id == h.c.id))
        cached = _PG_CLAIMS[id(gate_statement)] = (select(g).add_cte(mirror.cte("m")).add_cte(h)
                                                   .add_cte(entry))
    return cached


_PG_CLAIMS: dict[int, object] = {}


def _pg_complete_statement():
    g = COMPLETE_GATE.cte("g")
    close = update(_TC).where(_TC.c.task_id == g.c.id).values(is_open=False, outcome=g.c.outcome,
                                                               completed_at=g.c.completed_at)
    return (select(g, *[c.label(f"i_{c.name}") for c in _PI.c], _PD.c.content_hash)
            .select_from(g.join(_PI, _PI.c.id == g.c.instance_id).join(_PD, _PD.c.id == _PI.c.definition_id))
            .add_cte(close.cte("c")))


def _pg_save_statement(write):
    """The instance write (RETURNING id) and, only if it wrote, the tasks, candidates and log entries."""
    w = write.cte("w")
    x = _rows("t_", _TASK_COLUMNS)
    tasks = (insert(_HT).from_select(["instance_id", "state", *[c.name for c in _TASK_COLUMNS]],
                                     select(w.c.id, literal_column("'open'"), *x.c).select_from(w.join(x, true())))
             .returning(*[_HT.c[n] for n in ("id", "task_guid", "process_key", "created_at", "scope",
                                             "applicant_name", "due_at")]).cte("t"))
    y = _rows("c_", _CANDIDATE_COLUMNS)
    # the candidate rows copy the inserted task's columns (no parameters of their own)
    candidates = insert(_TC).from_select(
        ["task_id", "org_id", "is_open", "process_key", "created_at", "scope", "applicant_name", "due_at"],
        select(tasks.c.id, y.c.org_id, true(), tasks.c.process_key, tasks.c.created_at, tasks.c.scope,
               tasks.c.applicant_name, func.coalesce(tasks.c.due_at, literal_column(f"'{NO_DUE.date()}'")))
        .select_from(tasks.join(y, y.c.task_guid == tasks.c.task_guid)))
    z = _rows("a_", _AUDIT_COLUMNS)
    audit = insert(_AE).from_select(["instance_id", *[c.name for c in _AUDIT_COLUMNS]],
                                    select(w.c.id, *z.c).select_from(w.join(z, true())))
    return (select(w.c.id, tasks.c.id.label("task_id"), tasks.c.task_guid)
            .select_from(w.outerjoin(tasks, true())).add_cte(candidates.cte("c")).add_cte(audit.cte("a")))


def _pg_append_statement():
    h = _log_head_cte(bindparam("p_instance_id", type_=BigInteger), bindparam("a_element_id", type_=String))
    entry = _log_entry_cte(h, [bindparam(f"a_{c.name}", type_=c.type) for c in
                               (_AE.c.at, _AE.c.user_id, _AE.c.user_name, _AE.c.org_id, _AE.c.org_name,
                                _AE.c.action, _AE.c.opinion)], bindparam("a_element_id", type_=String))
    return select(h.c.audit_seq, h.c.audit_head).add_cte(h).add_cte(entry)


_PG_COMPLETE = _pg_complete_statement()
_PG_APPEND = _pg_append_statement()
_PG_SAVE_NEW = _pg_save_statement(_INSTANCE_INSERT)
_PG_SAVE = _pg_save_statement(_INSTANCE_UPDATE.returning(_PI.c.id))


def _pg_save(conn, instance, definition, new_tasks, log, now, prior_seq) -> bool:
    if instance.id is None:
        statement, params = _PG_SAVE_NEW, _insert_params(instance, definition)
    else:
        statement, params = _PG_SAVE, _update_params(instance, now, prior_seq)
    tasks = [values for values, _orgs in new_tasks]
    params.update({f"t_{c.name}": [t[c.name] for t in tasks] for c in _TASK_COLUMNS})
    params.update({f"a_{c.name}": [e[c.name] for e in log] for c in _AUDIT_COLUMNS})
    params.update(c_task_guid=[t["task_guid"] for t, orgs in new_tasks for _ in orgs],
                  c_org_id=[org for _t, orgs in new_tasks for org in orgs])
    rows = conn.execute(statement, params).all()
    if not rows:
        if instance.id is None:
            raise StaleDefinition(instance.process_key)
        return False
    instance.id = rows[0].id
    ids = {row.task_guid: row.task_id for row in rows if row.task_id is not None}
    for values in tasks:
        values["instance_id"], values["id"] = instance.id, ids[values["task_guid"]]
    return True


def _keep_loaded_in_step(cls, pk, values: dict) -> None:
    """A session object already loaded for this row gets the written values (no query, no flush)."""
    obj = db.session.identity_map.get(db.session.identity_key(cls, pk))
    if obj is not None:
        loaded, changed = obj.__dict__, instance_state(obj).committed_state
        for name, value in values.items():
            # a column the object already holds as loaded, with this value, is left as it is
            if name in changed or loaded.get(name, _UNLOADED) != value:
                set_committed_value(obj, name, value)


_UNLOADED = object()
