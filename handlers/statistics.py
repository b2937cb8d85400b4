"""统计 for regulators (issue 12, feature 8): what was offered to the organisation in a year.

Two aggregate statements over the organisation's candidate rows of the year — one range of
``ix_candidate_stats``, an index-only scan on PostgreSQL: the candidate rows carry copies of the
claim, the outcome and the completion time — grouped by month and by day in China's time zone;
processes and rates are summed from those few hundred groups in Python. Handling
time is counted in working days (engine.workcalendar): working_days_between(a, b) is
f(b) − f(a) for one running count f, so the average over n tasks is
(Σ f(completed day) − Σ f(created day)) / n, and each distinct day is looked up once.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, case, cast, func, literal, select

from engine.db import db
from engine.models import TaskCandidate
from engine.workcalendar import working_days_between

from .errors import Forbidden
from .principal import Principal

LOCAL = timedelta(hours=8)   # stored times are UTC; the province counts days in China Standard Time
EPOCH = date(2000, 1, 1)
STATUSES = {"open": "待签收", "claimed": "办理中", "approve": "审核通过", "return": "退回", "other": "已取消"}


@dataclass
class ReviewStats:
    year: int
    by_process: dict[str, Counter] = field(default_factory=dict)   # process key -> status -> count
    by_month: dict[int, Counter] = field(default_factory=dict)     # 1..12 -> status -> count
    completed: int = 0
    returned: int = 0
    handling_days_total: int = 0

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_process.values())

    @property
    def by_status(self) -> Counter:
        total = Counter()
        for counts in self.by_process.values():
            total.update(counts)
        return total

    @property
    def return_rate(self) -> float | None:
        """退回 among the decided tasks (审核通过 + 退回)."""
        decided = self.by_status["approve"] + self.by_status["return"]
        return self.by_status["return"] / decided if decided else None

    @property
    def average_days(self) -> float | None:
        """Average handling time of the completed tasks, in working days (report to decision)."""
        return self.handling_days_total / self.completed if self.completed else None


def review_stats(principal: Principal, year: int) -> ReviewStats:
    if not principal.is_regulator:
        raise Forbidden("仅监督机构和主管部门可以查看统计")
    start = datetime(year, 1, 1) - LOCAL
    end = datetime(year + 1, 1, 1) - LOCAL
    tc = TaskCandidate
    offered = select().select_from(tc).where(tc.org_id == principal.org_id, tc.created_at >= start,
                                             tc.created_at < end)
    stats = ReviewStats(year)
    status = case((tc.is_open.is_(True), case((tc.claimed_by_user_id.is_(None), "open"), else_="claimed")),
                  (tc.outcome.in_(("approve", "return")), tc.outcome), else_="other")
    month = _local_month(tc.created_at)
    rows = db.session.execute(offered.add_columns(tc.process_key, month, status, func.count())
                              .group_by(tc.process_key, month, status)).all()
    for key, month_no, st, n in rows:
        stats.by_process.setdefault(key, Counter())[st] += n
        stats.by_month.setdefault(int(month_no), Counter())[st] += n
    _handling_time(stats, offered)
    return stats


def _handling_time(stats: ReviewStats, offered) -> None:
    created, done = _local_day(TaskCandidate.created_at), _local_day(TaskCandidate.completed_at)
    rows = db.session.execute(offered.add_columns(created, done, func.count())
                              .where(TaskCandidate.completed_at.is_not(None))
                              .group_by(created, done)).all()
    running = _RunningWorkdays()
    for a, b, n in rows:
        stats.completed += n
        stats.handling_days_total += n * (running(_as_date(b)) - running(_as_date(a)))


class _RunningWorkdays(defaultdict):
    """f(day) = working days in (EPOCH, day], each day looked up once."""

    def __init__(self):
        super().__init__()

    def __call__(self, day: date) -> int:
        if day not in self:
            self[day] = working_days_between(EPOCH, day)
        return self[day]


def _local_day(column):
    if db.session.get_bind().dialect.name == "sqlite":
        return func.date(column, "+8 hours")
    return cast(column + literal(LOCAL), Date)


def _local_month(column):
    if db.session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%m", column, "+8 hours"), db.Integer)
    return cast(func.extract("month", column + literal(LOCAL)), db.Integer)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
