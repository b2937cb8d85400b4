"""What approval will do, shown to the applicant before 上报 (issue 12, feature 1).

The process's approval operators — the functions the diagram's service task runs when a
reviewer approves — run for the application as it stands, inside a savepoint that is always
rolled back (handlers.preview's recorder and describer say what they changed). Inside the same
savepoint, after the operators ran, the projects that count toward the lock limit are read for
the people the entry names (``ProcessEntry.counted_people``), grouped by 合同登记编号 as the lock
rule counts them. So the applicant sees what approval really does, not a second implementation.
"""
from dataclasses import dataclass, field

from engine import store
from engine.db import adopt, db, rehearse
from engine.models import ProcessInstance
from engine.registry import ServiceCall

from . import catalog, lock_rule
from .models import ROLES
from .preview import describe, operator_notes, record_changes


@dataclass
class Counted:
    """One person's projects counted toward their limit in a role, after approval."""
    person: str
    role: str
    groups: list[tuple[str | None, list[str]]]   # (合同登记编号 or None, the projects sharing it)
    limit: int

    @property
    def count(self) -> int:
        return len(self.groups)

    @property
    def locked(self) -> bool:
        return self.count >= self.limit


@dataclass
class ApplicantPreview:
    applied: bool              # False: approval would not apply now (the operator's re-check says why)
    message: str
    sentences: list[str]
    counted: list[Counted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if not self.applied:
            reason = self.message.removeprefix("审核通过时复核未通过：")
            return f"按当前填写的内容，审核通过时将不能生效：{reason}"
        said = self.sentences + self.notes
        return "；".join(said) if said else "审核通过后业务办结，不改变人员和工程信息"


def applicant_preview(engine, app, principal) -> ApplicantPreview | None:
    """What approving ``app`` now would change; None for a process without approval operators."""
    entry = catalog.by_key(engine_key(app))
    if entry is None or not entry.operators or app.instance_id is None:
        return None

    def rehearsal():
        # the session's instance: the page's diagram then takes it from the session, not read again
        row = db.session.get(ProcessInstance, app.instance_id)
        if row is None:
            return None, None, None, None
        instance = store.record_of(row)
        with record_changes() as changes:
            results = [engine.registry.operators[name](ServiceCall(instance, name, principal.actor, {}))
                       for name in entry.operators]
        sentences = describe(changes)
        counted = [_counted(person, role) for person, role in (entry.counted_people or _none)(app)]
        return row, results, sentences, counted
    row, results, sentences, counted = rehearse(rehearsal)
    if row is None:
        return None
    adopt(row)   # unchanged by the rehearsal: the page's diagram takes it without reading it again
    failed = next((r for r in results if r and r.get("applied") is False), None)
    if failed:
        return ApplicantPreview(False, failed.get("message") or "", [], [])
    return ApplicantPreview(True, "；".join(r.get("message", "") for r in results if r), sentences, counted,
                            operator_notes(results))


def engine_key(app) -> str | None:
    entry = next((e for e in catalog.entries() if isinstance(app, e.model)), None)
    return entry.key if entry else None


def _counted(person, role) -> Counted:
    return Counted(person.name, ROLES.get(role, role), lock_rule.counted_projects(person.id, role),
                   lock_rule.LIMITS[role])


def _none(_app):
    return []
