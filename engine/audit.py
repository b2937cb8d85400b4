"""The tamper-evident operation log: each instance's entries form a SHA-256 hash chain.

An entry's ``hash`` is SHA-256 over the previous entry's hash followed by the entry's
canonical content; the first entry chains to a genesis value derived from the instance id.
The instance row keeps the head (``audit_seq``, ``audit_head``: the last entry's sequence
number and hash), so removing the last entries breaks the chain as well. docs/architecture.md
("A tamper-evident operation log") defines the format; ``sql_entry_hash`` computes the same
hash inside PostgreSQL for the writes whose previous head only the database knows.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, cast, func, literal_column, select

from .models import AuditEntry, ProcessInstance

GENESIS_PREFIX = "ynqs-audit-genesis/1:"
# the content fields in hashing order (instance_id and seq first, element_id last)
CONTENT_FIELDS = ("instance_id", "seq", "at", "user_id", "user_name", "org_id", "org_name", "action",
                  "opinion", "element_id")
_BODY_FIELDS = CONTENT_FIELDS[2:-1]   # what a writer knows before the database picks the place


def field(value) -> str:
    """One field: ``-`` for NULL, else ``<length>:<text>`` (length in characters), so that no
    shifting of characters between neighbouring fields gives the same serialisation."""
    if value is None:
        return "-"
    if type(value) is not str:
        value = value.isoformat(timespec="microseconds") if isinstance(value, datetime) else str(value)
    return f"{len(value)}:{value}"


def body(entry: dict) -> str:
    return "".join([field(entry[name]) for name in _BODY_FIELDS])


def canonical(entry) -> str:
    """The entry's content fields in CONTENT_FIELDS order (a dict, or an object with those attributes)."""
    if isinstance(entry, dict):
        return "".join([field(entry[name]) for name in CONTENT_FIELDS])
    return "".join([field(getattr(entry, name)) for name in CONTENT_FIELDS])


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis(instance_id: int) -> str:
    return digest(f"{GENESIS_PREFIX}{instance_id}")


def entry_hash(previous: str, entry) -> str:
    return digest(previous + canonical(entry))


def chain(instance, entries: list[dict]) -> None:
    """Number and hash ``entries`` after the instance's head, and move the head (in memory)."""
    seq, head = instance.audit_seq or 0, instance.audit_head or genesis(instance.id)
    for entry in entries:
        seq += 1
        entry["instance_id"], entry["seq"] = instance.id, seq
        entry["hash"] = head = entry_hash(head, entry)
    if entries:
        instance.audit_seq, instance.audit_head = seq, head


# -- the same hash inside PostgreSQL ---------------------------------------------------------------
def _const(text: str):
    return literal_column(f"'{text}'", String)   # constants of this module only, no quotes in them


def _sql_digest(text):
    return func.encode(func.sha256(func.convert_to(text, _const("UTF8"))), _const("hex"))


def _sql_field(value, is_text: bool):
    text = value if is_text else cast(value, String)
    return func.coalesce(cast(func.length(text), String) + _const(":") + text, _const("-"))


def sql_genesis(instance_id):
    return _sql_digest(_const(GENESIS_PREFIX) + cast(instance_id, String))


def sql_entry_hash(previous, instance_id, seq, entry_body, element_id):
    """``entry_hash`` as a PostgreSQL expression: ``entry_body`` is ``body(entry)`` computed in
    Python (a bind parameter); the place in the chain and the element come from the statement."""
    content = (_sql_field(instance_id, False) + _sql_field(seq, False) + entry_body
               + _sql_field(element_id, True))
    return _sql_digest(previous + content)


# -- verification ------------------------------------------------------------------------------------
PROBLEMS = {
    "content": "content or hash altered (the stored hash does not match the entry and its predecessor)",
    "sequence": "sequence broken (an entry before it was deleted, or it was inserted)",
    "extra": "entry beyond the head recorded on the instance (appended outside the engine)",
    "truncated": "the log ends before the head recorded on the instance (last entries deleted)",
    "head": "the instance's recorded head does not match its last entry",
}


@dataclass(frozen=True)
class Break:
    """The first place where an instance's chain does not hold."""
    instance_id: int
    problem: str          # a key of PROBLEMS
    seq: int | None       # the entry's stored sequence number (None: the log's end)
    entry_id: int | None

    def describe(self) -> str:
        where = f"entry seq {self.seq} (id {self.entry_id})" if self.entry_id is not None else "end of log"
        return f"instance {self.instance_id}: {where}: {PROBLEMS[self.problem]}"


def verify(instance_id: int, head_seq: int, head_hash: str | None, entries) -> Break | None:
    """Check one instance's entries (in ``seq`` order) against its recorded head."""
    previous, position, last = genesis(instance_id), 0, None
    for entry in entries:
        position += 1
        if entry.seq != position:
            return Break(instance_id, "sequence", entry.seq, entry.id)
        if entry.hash != entry_hash(previous, entry):
            return Break(instance_id, "content", entry.seq, entry.id)
        if position > (head_seq or 0):
            return Break(instance_id, "extra", entry.seq, entry.id)
        previous, last = entry.hash, entry
    if position < (head_seq or 0):
        return Break(instance_id, "truncated", None, None)
    if (head_hash or None) != (last.hash if last is not None else None):
        return Break(instance_id, "head", None if last is None else last.seq, None if last is None else last.id)
    return None


class OperationLog(list):
    """An instance's entries in order, with the outcome of checking their chain (``broken``)."""
    broken: Break | None = None
    checked = True


_E, _I = AuditEntry.__table__, ProcessInstance.__table__
_LOG = (select(_I.c.audit_seq.label("head_seq"), _I.c.audit_head.label("head_hash"), *_E.c)
        .select_from(_I.outerjoin(_E, _E.c.instance_id == _I.c.id)))
_LOG_ENTRIES = (select(ProcessInstance.audit_seq, ProcessInstance.audit_head, AuditEntry)
                .select_from(ProcessInstance).outerjoin(AuditEntry, AuditEntry.instance_id == ProcessInstance.id))


_INSTANCE_LOG = (_LOG_ENTRIES.where(ProcessInstance.id == bindparam("instance_id"))
                 .order_by(AuditEntry.seq, AuditEntry.id))


def read_log(session, instance_id: int) -> OperationLog:
    """The entries (session objects) and their verification in one query: the entries joined to
    the instance's recorded head."""
    rows = session.execute(_INSTANCE_LOG, {"instance_id": instance_id}).all()
    log = OperationLog(entry for _seq, _head, entry in rows if entry is not None)
    if rows:
        log.broken = verify(instance_id, rows[0][0], rows[0][1], log)
    return log


def verify_all(conn, instance_id: int | None = None, batch: int = 2000):
    """Yield (instance id, Break or None) for every instance (or one), streaming the log."""
    stmt = _LOG.add_columns(_I.c.id.label("of_instance")).order_by(_I.c.id, _E.c.seq, _E.c.id)
    if instance_id is not None:
        stmt = stmt.where(_I.c.id == instance_id)
    current, head, entries = None, None, []
    for row in conn.execution_options(stream_results=True, yield_per=batch).execute(stmt):
        if row.of_instance != current:
            if current is not None:
                yield current, verify(current, *head, entries)
            current, head, entries = row.of_instance, (row.head_seq, row.head_hash), []
        if row.id is not None:
            entries.append(row)
    if current is not None:
        yield current, verify(current, *head, entries)


def verify_chains(instance_id: int | None = None):
    """verify_all on a connection of its own (the operator's ``flask audit verify``): it streams
    every log and changes nothing."""
    from .db import db
    with db.engine.connect() as conn:
        yield from verify_all(conn, instance_id)


__all__ = ["Break", "OperationLog", "PROBLEMS", "canonical", "chain", "entry_hash", "genesis", "read_log",
           "sql_entry_hash", "sql_genesis", "verify", "verify_all", "verify_chains"]
