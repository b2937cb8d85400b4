"""What an approval will do, said before it happens (issue 12, feature 1).

The preview runs the process's approval operators — the very functions the diagram's service
task calls when a reviewer approves — as a rehearsal that leaves no trace (``engine.db.rehearse``:
in the session as it stands, or in a savepoint that is rolled back once it must write), records
what they changed in the ORM session (new, changed and deleted domain rows), turns the changes
into Chinese sentences and gives the changes back. There is no second implementation of any effect: whatever an
operator will do, its preview says, and a re-check that would fail is shown as its message.

``record_changes`` is the same recorder the tests wrap around a real approval, so that
"the preview agrees with the effect" is one comparison.
"""
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import event, inspect

from engine import store
from engine.db import adopt, changes_kept_in_session, db, rehearse, watching_writes
from engine.models import ProcessInstance
from engine.registry import ServiceCall

from . import catalog
from .models import (
    ACTIVE, ORG_KINDS, PERSON_STATUS, PROJECT_FACTS, PROJECT_STATUS, ROLES, ROSTER_ROLES, Account, Assignment,
    IssuedCertificate, LockRecord, Organization, Person, Project, ProjectChange, RosterEntry,
)

# rows an approval writes that are its documents, not its effect on the domain: the certificate the
# approving command issues after the operators (handlers/certificates.py) is not rehearsed by the
# preview (drawing and signing a PDF on every view of the page), so neither side records it
NOT_EFFECTS = (IssuedCertificate,)


APPROVE_OUTCOME = "approve"   # the review outcome whose path runs the approval operators


@dataclass
class Change:
    """One domain row the effect adds, changes or deletes: ``fields`` maps a changed column to
    (before, after); an added row lists every column it was given."""
    obj: object
    kind: str                       # "new" | "dirty" | "deleted"
    fields: dict = field(default_factory=dict)
    key: tuple = ()                 # the row's identity (an added row: its person, project, role)


@dataclass
class Preview:
    applied: bool                   # False: the approval's re-check would fail and nothing would change
    message: str                    # the operator's own words (its log message)
    sentences: list[str]            # what will change, one sentence each, in the order it happens
    notes: list[str] = field(default_factory=list)   # what the operators say besides rows (who is notified)

    @property
    def text(self) -> str:
        if not self.applied:
            return f"审核通过时复核将不通过：{self.message.removeprefix('审核通过时复核未通过：')}；申请将退回申请单位，不做任何更改"
        said = self.sentences + self.notes
        return "；".join(said) if said else "审核通过后业务办结，不改变人员和工程信息"


def preview_approval(engine, instance_id: int, actor, operators) -> Preview:
    """Run ``operators`` (operator ids, the process's approval effects) for the instance as
    ``actor``, inside a savepoint that is always rolled back; say what they would change.

    Works for any state of the application (a draft before 上报, a task before 审核通过): the
    operators read the domain rows as they are now, as they will when the approval is applied.
    """
    def rehearsal():
        # the session's instance: the page's diagram then takes it from the session, not read again
        row = db.session.get(ProcessInstance, instance_id)
        if row is None:
            return None, None, None
        instance = store.record_of(row)
        with record_changes() as changes:
            results = [engine.registry.operators[name](ServiceCall(instance, name, actor, {}))
                       for name in operators]
        return row, results, describe(changes)
    row, results, sentences = rehearse(rehearsal)
    if row is None:
        return Preview(False, "流程实例不存在", [])
    adopt(row)   # unchanged by the rehearsal: the page's diagram takes it without reading it again
    failed = next((r for r in results if r and r.get("applied") is False), None)
    if failed:
        return Preview(False, failed.get("message") or "", [])
    return Preview(True, "；".join(r.get("message", "") for r in results if r), sentences, operator_notes(results))


def operator_notes(results) -> list[str]:
    """What the operators say will happen besides the rows they change (a lock kept, a notification)."""
    return [note for r in results if r for note in r.get("notes", ())]


# -- recording -----------------------------------------------------------------------------------
@contextmanager
def record_changes():
    """Record the domain rows changed in the session while the block runs (flushed at its end).

    Each changed column keeps the value it had before its first change in the block; a column set
    back to that value counts as unchanged.
    """
    session = db.session()
    seen: dict[int, Change] = {}

    def before_flush(sess, _context, _instances):
        for kind, objs in (("new", sess.new), ("dirty", sess.dirty), ("deleted", sess.deleted)):
            for obj in sorted(objs, key=_flush_order):   # a flush's rows come as a set
                if not isinstance(obj, NOT_EFFECTS):
                    _note(seen, obj, kind)

    def written(obj, values):   # a change written by its own statement (engine.db.write_now)
        if not isinstance(obj, NOT_EFFECTS):
            change = seen.setdefault(id(obj), Change(obj, "dirty"))
            if change.kind == "dirty":
                for name in values:
                    change.fields.setdefault(name, getattr(obj, name))

    event.listen(session, "before_flush", before_flush)
    changes: list[Change] = []
    try:
        with watching_writes(written):
            yield changes
        if changes_kept_in_session(session):
            # what a flush would write is read from the session as it stands and not sent: the
            # rehearsal gives the changes back in memory (rows it adds are flushed: their defaults
            # are part of the effect)
            before_flush(session, None, None)
        else:
            session.flush()
    finally:
        event.remove(session, "before_flush", before_flush)
    for change in seen.values():
        obj, state = change.obj, inspect(change.obj)
        if change.kind == "dirty":   # read after the flush (an expired column loads its new value)
            change.fields = {k: (old, getattr(obj, k)) for k, old in change.fields.items() if getattr(obj, k) != old}
            if not change.fields:
                continue
        elif change.kind == "new":
            change.fields = {a.key: (None, getattr(obj, a.key)) for a in state.mapper.column_attrs}
        change.key = tuple(getattr(obj, c, None) for c in ("person_id", "project_id", "role")) \
            if change.kind == "new" else state.identity
        changes.append(change)


# within one flush, the order in which an effect on people is told: the lock first, then the
# assignment it was about, then the rest (the person's status, other rows) by kind
_TOLD_FIRST = {"LockRecord": 0, "Assignment": 1}


def _flush_order(obj):
    kind = type(obj).__name__
    return _TOLD_FIRST.get(kind, 2), kind, inspect(obj).identity or (), getattr(obj, "person_id", 0) or 0


def _note(seen, obj, kind):
    change = seen.get(id(obj))
    if change is None:
        change = seen[id(obj)] = Change(obj, kind)
    elif kind == "deleted":
        change.kind = kind
    if change.kind != "dirty":
        return
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.has_changes() and attr.key not in change.fields:
            change.fields[attr.key] = history.deleted[0] if history.deleted else None


# -- describing ----------------------------------------------------------------------------------
def describe(changes: list[Change]) -> list[str]:
    """Chinese sentences for the recorded changes, in the order they happened; rows no describer
    knows (the application's own status, timestamps) say nothing."""
    sentences: list[str] = []
    for change in sorted(changes, key=lambda c: isinstance(c.obj, ProjectChange)):   # the history row last
        describer = DESCRIBERS.get(type(change.obj))
        for sentence in (describer(change) if describer else ()):
            if sentence not in sentences:
                sentences.append(sentence)
    return sentences


def _person(person_id) -> str:
    person = db.session.get(Person, person_id)
    return person.name if person else f"人员{person_id}"


def _project(project_id) -> str:
    project = db.session.get(Project, project_id)
    return project.name if project else f"工程{project_id}"


def _who_where_role(row) -> tuple[str, str, str]:
    """A lock record's or an assignment's person, project and role, as the sentences name them."""
    return _person(row.person_id), _project(row.project_id), ROLES.get(row.role, row.role)


def _lock_record(change: Change):
    lock = change.obj
    who, where, role = _who_where_role(lock)
    if change.kind == "new":
        yield f"{who} 将因担任{role}被锁定（添加锁定的工程：{where}）"
    elif "closed_at" in change.fields and lock.closed_at is not None:
        yield f"将关闭 {who} 在 {where} 的锁定记录（{role}）"


def _assignment(change: Change):
    a = change.obj
    who, where, role = _who_where_role(a)
    if change.kind == "new":
        yield f"{who} 将成为 {where} {role}"
    elif "ended_at" in change.fields and a.ended_at is not None:
        yield f"{who} 在 {where} 的{role}任职结束"


def _person_row(change: Change):
    if "status" in change.fields:
        yield f"{change.obj.name} 状态变为{PERSON_STATUS.get(change.obj.status, change.obj.status)}"


def _project_row(change: Change):
    project = change.obj
    if "status" in change.fields:
        yield f"{project.name} 状态变为{PROJECT_STATUS.get(project.status, project.status)}"
    if "permit_no" in change.fields and project.permit_no:
        yield f"{project.name} 施工许可证号登记为 {project.permit_no}"
    known_as = change.fields["name"][0] if "name" in change.fields else project.name   # the name before
    for name, label in PROJECT_FACTS.items():
        if name in change.fields:
            before, after = _fact(change.fields[name][0]), _fact(getattr(project, name))
            yield f"{known_as} 的{label}由“{before or '（空）'}”变更为“{after or '（空）'}”"
    for name, kind in (("contractor_id", "contractor"), ("supervising_firm_id", "supervising_firm")):
        if name in change.fields:
            before, after = change.fields[name][0], getattr(project, name)
            yield f"{project.name} 的{ORG_KINDS[kind]}由 {_org(before)} 变更为 {_org(after)}"


def _account(change: Change):
    account = change.obj
    if "status" in change.fields and account.status == ACTIVE:
        user = account.user
        who = f"{user.username}（{user.name}）" if user.name and user.name != user.username else f"{user.username} "
        yield f"{account.org.name}的账号 {who}{ACCOUNT_ACTIVATED}"


def _fact(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _org(org_id) -> str:
    org = db.session.get(Organization, org_id) if org_id else None
    return org.name if org else "（无）"


def _roster_entry(change: Change):
    entry = change.obj
    who, where, role = _person(entry.person_id), _project(entry.project_id), ROSTER_ROLES.get(entry.role, entry.role)
    if change.kind == "new":
        yield f"{who} 将列入 {where} 项目人员名册（{role}）"
    elif "ended_at" in change.fields and entry.ended_at is not None:
        yield f"{who} 将退出 {where} 项目人员名册（{role}）"


def _project_change(change: Change):
    if change.kind == "new":
        yield f"变更前后的内容将记入 {_project(change.obj.project_id)} 的变更记录"


# what the registration's approval preview says of the account it activates
ACCOUNT_ACTIVATED = "将启用，可以登录本系统"
DESCRIBERS = {LockRecord: _lock_record, Assignment: _assignment, Person: _person_row, Project: _project_row,
              Account: _account, RosterEntry: _roster_entry, ProjectChange: _project_change}


def comparable(changes: list[Change]) -> set[tuple]:
    """The changes as plain values, times reduced to "set" (for comparing a preview with an effect)."""
    out = set()
    for change in changes:
        for name, (_old, new) in sorted(change.fields.items()):
            if name == "id":
                continue
            value = "set" if isinstance(new, (datetime, date)) else \
                json.dumps(new, ensure_ascii=False, sort_keys=True) if isinstance(new, (list, dict)) else new
            out.add((type(change.obj).__name__, change.kind, change.key, name, value))
    return out


def approval_operators(process_key: str) -> tuple[str, ...]:
    """The operators a process's approval applies (its catalog entry's operator ids)."""
    entry = catalog.by_key(process_key)
    if entry is None:
        return ()
    return entry.approval_operators if entry.approval_operators is not None else entry.operators


def preview_application(engine, app, actor) -> Preview:
    """What approving ``app`` would do now (the applicant's view before 上报, the reviewer's before
    审核通过): the process's approval operators, dry-run."""
    if app.instance_id is None:
        return Preview(False, "流程实例不存在", [])
    return preview_approval(engine, app.instance_id, actor, approval_operators(catalog.entry_of(app).key))
