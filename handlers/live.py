"""The live view of a version: per element, the applications waiting there, overdue there, and
stopped by an incident there; and the list behind each number (the studio links each row to the
application's page)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from engine.db import db
from engine.models import HumanTask, ProcessDefinition, ProcessInstance, utcnow

from . import catalog
from .errors import NotFound

KINDS = ("waiting", "overdue", "incident")


@dataclass(frozen=True)
class ElementCounts:
    waiting: int = 0
    overdue: int = 0
    incidents: int = 0


@dataclass(frozen=True)
class LiveRow:
    instance_id: int
    case_no: str | None
    subject: str
    applicant_name: str
    application_kind: str | None    # the catalog's URL kind, for the link (None: not a catalogued process)
    application_id: int | None
    since: datetime                 # the step's opening, or the incident's time
    due_at: datetime | None
    claimed_by: str | None
    incident: str | None


def _definition_id(process_key: str, version: int) -> int:
    found = db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_key == process_key,
                                                                 ProcessDefinition.version == version))
    if found is None:
        raise NotFound("流程或版本不存在")
    return found


def _open_tasks(definition_id: int):
    return (select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(ProcessInstance.definition_id == definition_id, HumanTask.state == "open"))


def counts(process_key: str, version: int) -> dict[str, ElementCounts]:
    """element id -> counts (elements with nothing are left out); three grouped statements."""
    definition_id = _definition_id(process_key, version)
    now = utcnow()
    tasks = _open_tasks(definition_id).subquery()
    waiting = dict(db.session.execute(select(tasks.c.element_id, func.count()).group_by(tasks.c.element_id)).all())
    overdue = dict(db.session.execute(select(tasks.c.element_id, func.count()).where(tasks.c.due_at < now)
                                      .group_by(tasks.c.element_id)).all())
    incidents = dict(db.session.execute(
        select(ProcessInstance.incident_element_id, func.count())
        .where(ProcessInstance.definition_id == definition_id, ProcessInstance.status == "errored")
        .group_by(ProcessInstance.incident_element_id)).all())
    elements = set(waiting) | set(overdue) | {e for e in incidents if e}
    return {e: ElementCounts(waiting.get(e, 0), overdue.get(e, 0), incidents.get(e, 0)) for e in sorted(elements)}


def applications(process_key: str, version: int, element_id: str, which: str = "waiting") -> list[LiveRow]:
    """The applications behind one number of ``counts``, oldest first (at most 500)."""
    definition_id = _definition_id(process_key, version)
    if which == "incident":
        rows = db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.definition_id == definition_id, ProcessInstance.status == "errored",
            ProcessInstance.incident_element_id == element_id).order_by(ProcessInstance.incident_at).limit(500))
        found = [(i, i.incident_at or i.updated_at, None, None, i.incident_message) for i in rows]
    else:
        stmt = _open_tasks(definition_id).where(HumanTask.element_id == element_id)
        if which == "overdue":
            stmt = stmt.where(and_(HumanTask.due_at.is_not(None), HumanTask.due_at < utcnow()))
        tasks = list(db.session.scalars(stmt.order_by(HumanTask.created_at).limit(500)))
        instances = {i.id: i for i in db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_([t.instance_id for t in tasks])))} if tasks else {}
        found = [(instances[t.instance_id], t.created_at, t.due_at, t.claimed_by_name, None) for t in tasks]
    entry = catalog.by_key(process_key)
    app_ids = _application_ids(entry, [i.id for i, *_ in found])
    return [LiveRow(i.id, i.case_no, i.subject, i.applicant_name, entry.kind if entry else None, app_ids.get(i.id),
                    since, due, claimed, incident) for i, since, due, claimed, incident in found]


def _application_ids(entry, instance_ids: list[int]) -> dict[int, int]:
    if entry is None or not instance_ids:
        return {}
    model = entry.model
    return dict(db.session.execute(select(model.instance_id, model.id).where(model.instance_id.in_(instance_ids))).all())
