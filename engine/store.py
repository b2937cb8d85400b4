"""How commands read and write engine rows: table statements, no unit of work.

A command touches a handful of rows it knows by key (the task it gates, its instance,
the new inbox rows, the log). The ORM's flush, identity bookkeeping and object loading
cost more than the statements themselves, so the engine sends prepared table statements
on the session's connection (inside the command's transaction) and hands back plain
records. Session objects already loaded for the same rows are kept in step.
"""
from dataclasses import field, fields, make_dataclass

from sqlalchemy import and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from .db import db
from .models import AuditEntry, HumanTask, ProcessDefinition, ProcessInstance, TaskCandidate, utcnow

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
    """The conditional UPDATE of an open task offered to the actor's organisation."""
    offered = exists().where(_TC.c.task_id == _HT.c.id, _TC.c.org_id == bindparam("p_org_id"))
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
COMPLETE_GATE = _gate_statement(
    or_(_HT.c.claimed_by_user_id == bindparam("p_user_id"),
        and_(_HT.c.claimed_by_user_id.is_(None), _HT.c.claim_required.is_(False))),
    state="completed", completed_at=bindparam("p_completed_at"), completed_by_user_id=bindparam("p_user_id"),
    completed_by_name=bindparam("p_user_name"), completed_by_org_id=bindparam("p_actor_org_id"),
    outcome=bindparam("p_outcome"))

_CLOSE_CANDIDATES = update(_TC).where(_TC.c.task_id == bindparam("p_task_id")).values(is_open=False)
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
_WRITTEN_ON_INSERT = [c for c in _PI.c if c.name != "id"]
_INSTANCE_INSERT = (
    insert(_PI).from_select(
        [c.name for c in _WRITTEN_ON_INSERT],
        select(*[bindparam(c.name, type_=c.type) for c in _WRITTEN_ON_INSERT]).where(
            exists().where(_PD.c.id == bindparam("p_definition_id"), _PD.c.content_hash == bindparam("p_hash")),
            ~exists().where(_PD.c.process_key == bindparam("p_process_key"),
                            _PD.c.version > bindparam("p_version"))))
    .returning(_PI.c.id))
_SAVED_COLUMNS = ("state", "status", "end_element_id", "incident_message", "incident_element_id", "incident_at")
_INSTANCE_UPDATE = (
    update(_PI).where(_PI.c.id == bindparam("p_id"), _PI.c.version == bindparam("p_version"))
    .values(version=_PI.c.version + 1, updated_at=bindparam("p_updated_at"),
            **{name: bindparam(f"p_{name}") for name in _SAVED_COLUMNS}))
_LATEST = (select(_PD.c.id, _PD.c.version, _PD.c.content_hash, _PD.c.source_file)
           .where(_PD.c.process_key == bindparam("p_key")).order_by(_PD.c.version.desc()).limit(1))
_DEFINITION_XML = select(_PD.c.xml, _PD.c.source_file).where(_PD.c.content_hash == bindparam("p_hash"))


# -- reads ------------------------------------------------------------------------------------------
def latest_definition(conn, process_key: str):
    """(id, version, content_hash, source_file) of the newest deployed version, or None."""
    return conn.execute(_LATEST, {"p_key": process_key}).first()


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


def load_task(conn, task_id: int):
    row = conn.execute(_TASK_SELECT, {"p_id": task_id}).first()
    return None if row is None else TaskRecord(**row._asdict())


def is_offered(conn, task_id: int, org_id: int | None) -> bool:
    return conn.execute(_OFFERED, {"p_task_id": task_id, "p_org_id": org_id}).first() is not None


# -- writes -----------------------------------------------------------------------------------------
def gate(conn, statement, task_id: int, actor, **values):
    """Run a gate; the updated task as a record, or None when its conditions did not hold."""
    params = {f"p_{k}": v for k, v in values.items()}
    params.update(p_task_id=task_id, p_org_id=actor.org_id, p_user_id=actor.user_id,
                  p_user_name=actor.user_name, p_actor_org_id=actor.org_id, p_org_name=actor.org_name)
    db.session.flush()   # what the command changed through the ORM so far goes first
    row = conn.execute(statement, params).first()
    if row is None:
        return None
    task = TaskRecord(**row._asdict())
    _keep_loaded_in_step(HumanTask, task.id, row._asdict())
    return task


def close_candidates(conn, task_id: int) -> None:
    conn.execute(_CLOSE_CANDIDATES, {"p_task_id": task_id})


def mirror_claim(conn, task_id: int, user_id: int | None) -> None:
    conn.execute(_MIRROR_CLAIM, {"p_task_id": task_id, "p_user_id": user_id})


def audit_entry(instance_id, actor, action, opinion=None, element_id=None) -> dict:
    return dict(instance_id=instance_id, at=utcnow(), user_id=actor.user_id, user_name=actor.user_name,
                org_id=actor.org_id, org_name=actor.org_name, action=action, opinion=opinion, element_id=element_id)


def write_audit(conn, entries: list[dict]) -> None:
    if entries:
        conn.execute(_AUDIT_INSERT, entries)


def insert_instance(conn, instance, definition) -> None:
    """Insert a new instance, guarded: StaleDefinition when ``definition`` is no longer the latest."""
    now = utcnow()
    instance.version, instance.created_at, instance.updated_at = 1, now, now
    params = {name: getattr(instance, name) for name in _INSTANCE_FIELDS if name != "id"}
    params.update(p_definition_id=definition.id, p_hash=definition.content_hash,
                  p_process_key=instance.process_key, p_version=definition.version)
    row = conn.execute(_INSTANCE_INSERT, params).first()
    if row is None:
        raise StaleDefinition(instance.process_key)
    instance.id = row[0]


def update_instance(conn, instance) -> bool:
    """Write the saved columns if nobody else wrote the instance meanwhile; False if someone did."""
    now = utcnow()
    params = {f"p_{name}": getattr(instance, name) for name in _SAVED_COLUMNS}
    params.update(p_id=instance.id, p_version=instance.version, p_updated_at=now)
    if conn.execute(_INSTANCE_UPDATE, params).rowcount != 1:
        return False
    instance.version += 1
    instance.updated_at = now
    _keep_loaded_in_step(ProcessInstance, instance.id, {name: getattr(instance, name) for name in _INSTANCE_FIELDS})
    return True


def insert_task(conn, values: dict, org_ids: list[int]) -> TaskRecord:
    """An inbox row and its candidate rows: two statements."""
    values["id"] = task_id = conn.execute(_TASK_INSERT, values).scalar_one()
    if org_ids:
        conn.execute(_CANDIDATE_INSERT, [
            dict(task_id=task_id, org_id=org, is_open=True, process_key=values["process_key"],
                 created_at=values["created_at"], claimed_by_user_id=None, scope=values["scope"],
                 applicant_name=values["applicant_name"])
            for org in org_ids])
    return TaskRecord(**values)


def cancel_tasks(conn, guids) -> None:
    """Close the inbox rows of user tasks the workflow no longer waits on."""
    ids = select(_HT.c.id).where(_HT.c.task_guid.in_(guids)).scalar_subquery()
    conn.execute(update(_TC).where(_TC.c.task_id.in_(ids)).values(is_open=False))
    conn.execute(update(_HT).where(_HT.c.task_guid.in_(guids), _HT.c.state == "open").values(state="cancelled"))


def _keep_loaded_in_step(cls, pk, values: dict) -> None:
    """A session object already loaded for this row gets the written values (no query, no flush)."""
    obj = db.session.identity_map.get(db.session.identity_key(cls, pk))
    if obj is not None:
        for name, value in values.items():
            set_committed_value(obj, name, value)
