"""我的申请: every application of an enterprise across the catalogued processes, in one list.

Each row says where the application stands: its status, the step its workflow waits in, who
holds that step (the reviewer who signed for it) and the step's due state.
"""
from dataclasses import dataclass

from sqlalchemy import func, literal, or_, select, union_all

from engine.case_numbers import normalise
from engine.db import db
from engine.models import HumanTask, ProcessInstance

from . import catalog
from .catalog import ProcessEntry
from .principal import Principal

PER_PAGE = 20


@dataclass
class Row:
    entry: ProcessEntry
    app: object
    case_no: str | None
    subject: str
    task: HumanTask | None      # the open step, if any (its name, holder and due time)

    @property
    def step(self) -> str:
        if self.task is not None:
            return self.task.name
        return "已结束" if self.app.finished_at else "—"

    @property
    def holder(self) -> str:
        t = self.task
        return f"{t.claimed_by_org_name} {t.claimed_by_name}" if t is not None and t.claimed_by_name else ""


def my_applications(principal: Principal, q: str | None = None, status: str | None = None,
                    page: int = 1, per_page: int = PER_PAGE) -> tuple[list[Row], int]:
    """The enterprise's applications, newest first; ``q`` matches the case number or the subject.

    One UNION ALL of the processes' tables pages the list in SQL; only the page's rows are loaded.
    """
    entries = {e.kind: e for e in catalog.filed_by(principal.kind)}
    if not entries:
        return [], 0
    parts = []
    for kind, entry in entries.items():
        m = entry.model
        stmt = (select(literal(kind).label("kind"), m.id.label("app_id"), m.created_at.label("created_at"))
                .join(ProcessInstance, ProcessInstance.id == m.instance_id)
                .where(m.applicant_org_id == principal.org_id))
        if status:
            stmt = stmt.where(m.status == status)
        if q:
            stmt = stmt.where(or_(ProcessInstance.case_no.contains(normalise(q), autoescape=True),
                                  ProcessInstance.subject.contains(q.strip(), autoescape=True)))
        parts.append(stmt)
    listed = union_all(*parts).subquery()
    total = db.session.scalar(select(func.count()).select_from(listed)) or 0
    keys = db.session.execute(select(listed.c.kind, listed.c.app_id)
                              .order_by(listed.c.created_at.desc(), listed.c.kind, listed.c.app_id.desc())
                              .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    loaded = {}
    for kind in {k for k, _ in keys}:
        m = entries[kind].model
        ids = [i for k, i in keys if k == kind]
        for app, case_no, subject in db.session.execute(
                select(m, ProcessInstance.case_no, ProcessInstance.subject)
                .join(ProcessInstance, ProcessInstance.id == m.instance_id).where(m.id.in_(ids))):
            loaded[(kind, app.id)] = (app, case_no, subject)
    tasks = _open_tasks([loaded[k][0].instance_id for k in keys])
    rows = []
    for kind, app_id in keys:
        app, case_no, subject = loaded[(kind, app_id)]
        rows.append(Row(entries[kind], app, case_no, subject, tasks.get(app.instance_id)))
    return rows, total


def _open_tasks(instance_ids) -> dict[int, HumanTask]:
    if not instance_ids:
        return {}
    tasks = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id.in_(instance_ids), HumanTask.state == "open").order_by(HumanTask.id))
    out: dict[int, HumanTask] = {}
    for task in tasks:
        out.setdefault(task.instance_id, task)
    return out
