"""Inbox and history queries: indexed SQL over inbox rows, never a workflow load."""
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time

from sqlalchemy import BindParameter, and_, bindparam, func, literal, select, true, tuple_, union_all
from sqlalchemy.orm import undefer

from . import audit, deadlines
from .db import db
from .models import NO_DUE, HumanTask, ProcessInstance, TaskCandidate, utcnow

PAGE_SIZE = 20
VIEWS = ("open", "mine", "held", "done")
DUE_FILTERS = ("soon", "overdue")   # 即将到期 / 已超期
SORTS = ("new", "due")              # newest first / earliest due first


@dataclass
class InboxFilter:
    process_key: str | None = None
    scope: str | None = None          # project name contains
    applicant: str | None = None      # applicant name contains
    date_from: date | None = None
    date_to: date | None = None
    due: str | None = None            # "soon" | "overdue" (open views)
    sort: str = "new"                 # "new" | "due" (open views)
    case_no: str | None = None        # 办件编号, exact (engine.case_numbers)


@dataclass
class InboxPage:
    rows: list[HumanTask]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)
    due_counts: dict[str, int] = field(default_factory=dict)   # the view's "soon" and "overdue"


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
        ascending = flt.sort == "due" and view != "done"
        at, task_id = _decode(cursor) if cursor else (None, None)
        if flt.date_from is None and flt.date_to is None and flt.due is None:
            # built once per shape (view, which filters, the order, a cursor or not), every value a parameter
            key = (view, bool(flt.process_key), bool(flt.scope), bool(flt.applicant), bool(flt.case_no),
                   ascending, flt.sort == "due", cursor is not None)
            found = _PAGES.get(key)
            if found is None:
                shape = InboxFilter(process_key=bindparam("p_process_key") if key[1] else None,
                                    scope=bindparam("p_scope") if key[2] else None,
                                    applicant=bindparam("p_applicant") if key[3] else None,
                                    case_no=bindparam("p_case_no") if key[4] else None, sort=flt.sort)
                found = _PAGES[key] = _AS_PARAMETERS._page_statement(
                    view, shape, _CURSOR_PARAMETERS if cursor else None, ascending, bindparam("p_limit"))
            stmt, sort_key = found
            params = {"p_user_id": self.user_id, "p_org_id": self.org_id, "p_limit": limit + 1, "p_at": at,
                      "p_task_id": task_id, "p_process_key": flt.process_key, "p_scope": contains_pattern(flt.scope),
                      "p_applicant": contains_pattern(flt.applicant), "p_case_no": flt.case_no}
            rows = list(db.session.scalars(stmt, {k: v for k, v in params.items() if v is not None}))
        else:
            stmt, sort_key = self._page_statement(view, flt, (at, task_id) if cursor else None, ascending, limit + 1)
            rows = list(db.session.scalars(stmt))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            key = (last.due_at or NO_DUE) if ascending else getattr(last, sort_key)
            next_cursor = _encode(key, last.id)
        counts, due_counts = self._counts(flt, view) if with_counts else ({}, {})
        return InboxPage(rows, next_cursor, counts, due_counts)

    def _page_statement(self, view, flt, after, ascending, limit):
        """A page's statement (rows after the cursor ``after``, (time, id), when given) and the task
        attribute its cursor is made of."""
        stmt, sort_col, id_col = self._base(view, flt)
        stmt = stmt.options(undefer(HumanTask.case_no))   # every list shows the 办件编号
        if after is _CURSOR_PARAMETERS:   # a statement built once: the cursor's values are parameters
            after = (bindparam("p_at", type_=sort_col.type), bindparam("p_task_id", type_=id_col.type))
        if after is not None:
            # a row-value comparison on the index columns, so the cursor is an index bound
            bound = tuple_(sort_col, id_col)
            stmt = stmt.where(bound > tuple_(*after) if ascending else bound < tuple_(*after))
        order = (sort_col.asc(), id_col.asc()) if ascending else (sort_col.desc(), id_col.desc())
        return stmt.order_by(*order).limit(limit), sort_col.key

    def first_of(self, views) -> int | None:
        """The id of the task the first non-empty view would list first: one statement, each view
        a one-row range of its index (built once per tuple of views, the reviewer as parameters)."""
        views = tuple(views)
        stmt = _FIRST_OF.get(views)
        if stmt is None:
            stmt = _FIRST_OF[views] = _AS_PARAMETERS._first_of_statement(views)
        return db.session.scalar(stmt, {"p_user_id": self.user_id, "p_org_id": self.org_id})

    def _first_of_statement(self, views):
        branches = []
        for rank, view in enumerate(views):
            task_id = HumanTask.id if view == "done" else TaskCandidate.task_id
            stmt, sort_col, id_col = self._base(view, InboxFilter(), columns=[
                task_id.label("task_id"), literal(rank).label("rank")])
            branches.append(stmt.order_by(sort_col.desc(), id_col.desc()).limit(1).subquery().select())
        first = union_all(*branches).subquery()
        return select(first.c.task_id).order_by(first.c.rank).limit(1)

    def counts(self, flt: InboxFilter | None = None) -> dict[str, int]:
        return self._counts(flt, None)[0]

    def _counts(self, flt: InboxFilter | None, view: str | None):
        """The four view counts (under every filter), and the view's 即将到期 / 已超期 counts
        (under every filter but the due filter itself): one statement, each count its own
        aggregate over its own index range. Without a date or due filter the statement is built
        once per shape (which filters, which view), every value a parameter."""
        flt = flt or InboxFilter()
        with_due = view in VIEWS[:3]
        now = utcnow()
        if flt.date_from is None and flt.date_to is None and flt.due is None:
            key = (view if with_due else None, bool(flt.process_key), bool(flt.scope), bool(flt.applicant),
                   bool(flt.case_no))
            stmt = _COUNTS.get(key)
            if stmt is None:
                shape = InboxFilter(process_key=bindparam("p_process_key") if key[1] else None,
                                    scope=bindparam("p_scope") if key[2] else None,
                                    applicant=bindparam("p_applicant") if key[3] else None,
                                    case_no=bindparam("p_case_no") if key[4] else None)
                stmt = _COUNTS[key] = _AS_PARAMETERS._counts_statement(
                    shape, view, bindparam("p_now"), bindparam("p_soon"))
            params = {"p_user_id": self.user_id, "p_org_id": self.org_id, "p_now": now,
                      "p_soon": deadlines.soon_bound(now), "p_process_key": flt.process_key,
                      "p_scope": contains_pattern(flt.scope), "p_applicant": contains_pattern(flt.applicant),
                      "p_case_no": flt.case_no}
            row = db.session.execute(stmt, {k: v for k, v in params.items() if v is not None}).one()
        else:
            row = db.session.execute(self._counts_statement(flt, view, now, deadlines.soon_bound(now))).one()
        counts = {"open": row.open, "mine": row.mine, "held": row.held, "done": row.done}
        return counts, ({"overdue": row.overdue, "soon": row.soon} if with_due else {})

    def _counts_statement(self, flt: InboxFilter, view: str | None, now, soon):
        claimed = TaskCandidate.claimed_by_user_id
        # open, mine and held in one pass over the organisation's open candidate rows (an index-only
        # scan of ix_candidate_open on PostgreSQL, filters included)
        offered = self._base(None, flt, columns=[
            func.count().filter(claimed.is_(None)).label("open"),
            func.count().filter(claimed == self.user_id).label("mine"),
            func.count().filter(claimed.is_not(None), claimed != self.user_id).label("held")])[0].subquery()
        done = self._base("done", flt, columns=[func.count()])[0].scalar_subquery()
        stmt = select(offered.c.open, offered.c.mine, offered.c.held, done.label("done"))
        if view in VIEWS[:3]:
            due = self._due_statement(replace(flt, due=None), view, now, soon).subquery()
            stmt = stmt.add_columns(due.c.overdue, due.c.soon).select_from(offered.join(due, true()))
        return stmt

    def _due_statement(self, flt: InboxFilter, view: str, now, soon):
        """已超期 and 即将到期 of one open view: a range of ix_candidate_due (rows due before the
        即将到期 bound only), however many tasks are due later."""
        due_col = TaskCandidate.due_at
        stmt, _, _ = self._base(view, flt, columns=[func.count().filter(due_col < now).label("overdue"),
                                                     func.count().filter(due_col >= now).label("soon")])
        return stmt.where(due_col < soon)

    def _base(self, view, flt, columns=None):
        """The view's statement, its sort column and its tie-breaking id column.

        ``view=None`` means every open task offered to the organisation (the counts split it).
        Open views are answered from the candidate rows (filters included); task rows are joined
        only to show a page.
        """
        if view == "done":
            stmt = select(*(columns or [HumanTask])).select_from(HumanTask).where(
                HumanTask.completed_by_user_id == self.user_id)
            if _given(flt.process_key):
                stmt = stmt.where(HumanTask.process_key == flt.process_key)
            sort_col, id_col, created = HumanTask.completed_at, HumanTask.id, HumanTask.created_at
        else:
            stmt = select(*(columns or [HumanTask])).select_from(TaskCandidate)
            if columns is None:
                stmt = stmt.join(HumanTask, HumanTask.id == TaskCandidate.task_id)
            stmt = stmt.where(TaskCandidate.org_id == self.org_id, TaskCandidate.is_open.is_(True))
            if _given(flt.process_key):
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
            if flt.due in DUE_FILTERS:
                stmt = stmt.where(_due_condition(flt.due))
            sort_col = TaskCandidate.due_at if flt.sort == "due" else TaskCandidate.created_at
            id_col, created = TaskCandidate.task_id, TaskCandidate.created_at
        if _given(flt.case_no):
            # one instance's tasks: a unique-index look-up, then the task ids of that instance
            instance = select(ProcessInstance.id).where(ProcessInstance.case_no == flt.case_no).scalar_subquery()
            tasks = select(HumanTask.id).where(HumanTask.instance_id == instance)
            stmt = stmt.where((HumanTask.id if view == "done" else TaskCandidate.task_id).in_(tasks))
        texts = HumanTask if view == "done" else TaskCandidate   # candidate rows carry copies of both
        if _given(flt.scope):
            stmt = stmt.where(_contains(texts.scope, flt.scope))
        if _given(flt.applicant):
            stmt = stmt.where(_contains(texts.applicant_name, flt.applicant))
        if flt.date_from:
            stmt = stmt.where(created >= datetime.combine(flt.date_from, datetime.min.time()))
        if flt.date_to:
            # the day's last instant, not the next day's midnight: no overflow on date.max
            stmt = stmt.where(created <= datetime.combine(flt.date_to, time.max))
        return stmt, sort_col, id_col


def _given(value) -> bool:
    """A filter that is set: a non-empty value, or the parameter of a statement built once."""
    return isinstance(value, BindParameter) or bool(value)


def _contains(column, text):
    """``column`` contains ``text`` literally (% and _ are not wildcards): a value, or the parameter of
    a statement built once (its value then ``contains_pattern(text)``)."""
    if isinstance(text, BindParameter):
        return column.like(text, escape="/")
    return column.contains(text, autoescape=True)


def contains_pattern(text: str | None) -> str | None:
    """The LIKE pattern (escape character ``/``) of ``_contains`` for a parameter: as
    ``contains(autoescape=True)`` escapes."""
    if not text:
        return None
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


# statements built once, with the reviewer as the parameters p_user_id and p_org_id
_AS_PARAMETERS = ReviewInbox(bindparam("p_user_id"), bindparam("p_org_id"))
_FIRST_OF: dict = {}   # views -> ReviewInbox.first_of's statement
_COUNTS: dict = {}     # (view with due counts, which filters) -> ReviewInbox._counts's statement
_CURSOR_PARAMETERS = ("p_at", "p_task_id")
_PAGES: dict = {}      # (view, which filters, order, cursor) -> ReviewInbox.page's statement and cursor attribute


def _due_condition(due: str):
    now = utcnow()
    if due == "overdue":
        return TaskCandidate.due_at < now
    return and_(TaskCandidate.due_at >= now, TaskCandidate.due_at < deadlines.soon_bound(now))


def overdue_for(org_id: int, limit: int = 200) -> list[HumanTask]:
    """督办: every open task offered to ``org_id`` that is past due, whoever holds it, most overdue first."""
    return list(db.session.scalars(
        select(HumanTask).select_from(TaskCandidate).join(HumanTask, HumanTask.id == TaskCandidate.task_id)
        .options(undefer(HumanTask.case_no))
        .where(TaskCandidate.org_id == org_id, TaskCandidate.is_open.is_(True), TaskCandidate.due_at < utcnow())
        .order_by(TaskCandidate.due_at, TaskCandidate.task_id).limit(limit)))


def _encode(at: datetime, task_id: int) -> str:
    return f"{at.isoformat()}_{task_id}"


_MAX_ID = 2**63 - 1   # BIGINT


def _decode(cursor: str):
    """A cursor's (time, id); a malformed one starts from the top."""
    try:
        at, _, task_id = cursor.rpartition("_")
        decoded = datetime.fromisoformat(at), int(task_id)
    except ValueError:
        return datetime.max, _MAX_ID
    if not task_id.isascii() or not 0 < decoded[1] <= _MAX_ID:
        return datetime.max, _MAX_ID
    return decoded


def operation_log(instance_id: int) -> audit.OperationLog:
    """The instance's log entries in order, checked against their hash chain (one query)."""
    return audit.read_log(db.session, instance_id)


def instance_tasks(instance_id: int) -> list[HumanTask]:
    """Every task of the instance, in order: a page that shows its diagram and its clock reads them once."""
    return list(db.session.scalars(_INSTANCE_TASKS, {"instance_id": instance_id}))


_INSTANCE_TASKS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id")).order_by(HumanTask.id)


def open_tasks(instance_id: int) -> list[HumanTask]:
    return list(db.session.scalars(_OPEN_TASKS, {"instance_id": instance_id}))


_OPEN_TASKS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                      HumanTask.state == "open").order_by(HumanTask.id)
