"""Inbox and history queries: indexed SQL over inbox rows, never a workflow load."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from .db import db
from .models import AuditEntry, HumanTask, TaskCandidate

PAGE_SIZE = 20
VIEWS = ("open", "mine", "held", "done")


@dataclass
class InboxFilter:
    process_key: str | None = None
    scope: str | None = None          # project name contains
    applicant: str | None = None      # applicant name contains
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class InboxPage:
    rows: list[HumanTask]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


class ReviewInbox:
    """What one reviewer sees: tasks offered to their organisation.

    open: unclaimed; mine: claimed by me; held: claimed by someone else; done: what I completed.
    """

    def __init__(self, user_id: int, org_id: int):
        self.user_id, self.org_id = user_id, org_id

    def page(self, view: str, flt: InboxFilter | None = None, cursor: str | None = None,
             limit: int = PAGE_SIZE, with_counts: bool = True) -> InboxPage:
        flt = flt or InboxFilter()
        stmt, sort_col = self._base(view, flt)
        if cursor:
            at, task_id = _decode(cursor)
            stmt = stmt.where(or_(sort_col < at, and_(sort_col == at, HumanTask.id < task_id)))
        rows = list(db.session.scalars(stmt.order_by(sort_col.desc(), HumanTask.id.desc()).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = _encode(getattr(last, sort_col.key), last.id)
        return InboxPage(rows, next_cursor, self.counts(flt) if with_counts else {})

    def counts(self, flt: InboxFilter | None = None) -> dict[str, int]:
        flt = flt or InboxFilter()
        result = {}
        for view in VIEWS:
            stmt, _ = self._base(view, flt)
            result[view] = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
        return result

    def _base(self, view, flt):
        if view == "done":
            stmt = select(HumanTask).where(HumanTask.completed_by_user_id == self.user_id,
                                           HumanTask.state == "completed")
            sort_col = HumanTask.completed_at
        else:
            stmt = (select(HumanTask).join(TaskCandidate, TaskCandidate.task_id == HumanTask.id)
                    .where(TaskCandidate.org_id == self.org_id, TaskCandidate.is_open.is_(True)))
            if flt.process_key:
                stmt = stmt.where(TaskCandidate.process_key == flt.process_key)
            if view == "open":
                stmt = stmt.where(HumanTask.claimed_by_user_id.is_(None))
            elif view == "mine":
                stmt = stmt.where(HumanTask.claimed_by_user_id == self.user_id)
            elif view == "held":
                stmt = stmt.where(HumanTask.claimed_by_user_id.is_not(None),
                                  HumanTask.claimed_by_user_id != self.user_id)
            else:
                raise ValueError(view)
            sort_col = TaskCandidate.created_at
        if flt.process_key and view == "done":
            stmt = stmt.where(HumanTask.process_key == flt.process_key)
        if flt.scope:
            stmt = stmt.where(HumanTask.scope.contains(flt.scope, autoescape=True))
        if flt.applicant:
            stmt = stmt.where(HumanTask.applicant_name.contains(flt.applicant, autoescape=True))
        if flt.date_from:
            stmt = stmt.where(HumanTask.created_at >= datetime.combine(flt.date_from, datetime.min.time()))
        if flt.date_to:
            stmt = stmt.where(HumanTask.created_at < datetime.combine(flt.date_to + timedelta(days=1),
                                                                      datetime.min.time()))
        return stmt, sort_col


def _encode(at: datetime, task_id: int) -> str:
    return f"{at.isoformat()}_{task_id}"


def _decode(cursor: str):
    try:
        at, _, task_id = cursor.rpartition("_")
        return datetime.fromisoformat(at), int(task_id)
    except ValueError:
        return datetime.max, 2**62


def operation_log(instance_id: int) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                                   .order_by(AuditEntry.id)))


def open_tasks(instance_id: int) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open").order_by(HumanTask.id)))
