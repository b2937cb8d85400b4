"""Inbox and history queries: indexed SQL over inbox rows, never a workflow load."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, tuple_

from . import audit
from .db import db
from .models import HumanTask, TaskCandidate

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
        if view not in VIEWS:
            raise ValueError(view)
        flt = flt or InboxFilter()
        stmt, sort_col, id_col = self._base(view, flt)
        if cursor:
            at, task_id = _decode(cursor)
            # a row-value comparison on the index columns, so the cursor is an index bound
            stmt = stmt.where(tuple_(sort_col, id_col) < tuple_(at, task_id))
        rows = list(db.session.scalars(stmt.order_by(sort_col.desc(), id_col.desc()).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = _encode(getattr(last, sort_col.key), last.id)
        return InboxPage(rows, next_cursor, self.counts(flt) if with_counts else {})

    def counts(self, flt: InboxFilter | None = None) -> dict[str, int]:
        flt = flt or InboxFilter()
        claimed = TaskCandidate.claimed_by_user_id
        # open, mine and held in one pass over the organisation's open candidate rows (an index-only
        # scan of ix_candidate_open on PostgreSQL, filters included)
        offered, _, _ = self._base(None, flt, columns=[
            func.count().filter(claimed.is_(None)),
            func.count().filter(claimed == self.user_id),
            func.count().filter(claimed.is_not(None), claimed != self.user_id)])
        open_, mine, held = db.session.execute(offered).one()
        done, _, _ = self._base("done", flt, columns=[func.count()])
        return {"open": open_, "mine": mine, "held": held, "done": db.session.scalar(done)}

    def _base(self, view, flt, columns=None):
        """The view's statement, its sort column and its tie-breaking id column.

        ``view=None`` means every open task offered to the organisation (the counts split it).
        Open views are answered from the candidate rows (filters included); task rows are joined
        only to show a page.
        """
        if view == "done":
            stmt = select(*(columns or [HumanTask])).select_from(HumanTask).where(
                HumanTask.completed_by_user_id == self.user_id)
            if flt.process_key:
                stmt = stmt.where(HumanTask.process_key == flt.process_key)
            sort_col, id_col, created = HumanTask.completed_at, HumanTask.id, HumanTask.created_at
        else:
            stmt = select(*(columns or [HumanTask])).select_from(TaskCandidate)
            if columns is None:
                stmt = stmt.join(HumanTask, HumanTask.id == TaskCandidate.task_id)
            stmt = stmt.where(TaskCandidate.org_id == self.org_id, TaskCandidate.is_open.is_(True))
            if flt.process_key:
                stmt = stmt.where(TaskCandidate.process_key == flt.process_key)
            claimed = TaskCandidate.claimed_by_user_id
            if view == "open":
                stmt = stmt.where(claimed.is_(None))
            elif view == "mine":
                stmt = stmt.where(claimed == self.user_id)
            elif view == "held":
                stmt = stmt.where(claimed.is_not(None), claimed != self.user_id)
            elif view is not None:
                raise ValueError(view)
            sort_col, id_col, created = TaskCandidate.created_at, TaskCandidate.task_id, TaskCandidate.created_at
        texts = HumanTask if view == "done" else TaskCandidate   # candidate rows carry copies of both
        if flt.scope:
            stmt = stmt.where(texts.scope.contains(flt.scope, autoescape=True))
        if flt.applicant:
            stmt = stmt.where(texts.applicant_name.contains(flt.applicant, autoescape=True))
        if flt.date_from:
            stmt = stmt.where(created >= datetime.combine(flt.date_from, datetime.min.time()))
        if flt.date_to:
            stmt = stmt.where(created < datetime.combine(flt.date_to + timedelta(days=1), datetime.min.time()))
        return stmt, sort_col, id_col


def _encode(at: datetime, task_id: int) -> str:
    return f"{at.isoformat()}_{task_id}"


def _decode(cursor: str):
    try:
        at, _, task_id = cursor.rpartition("_")
        return datetime.fromisoformat(at), int(task_id)
    except ValueError:
        return datetime.max, 2**62


def operation_log(instance_id: int) -> audit.OperationLog:
    """The instance's log entries in order, checked against their hash chain (one query)."""
    return audit.read_log(db.session, instance_id)


def open_tasks(instance_id: int) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open").order_by(HumanTask.id)))
