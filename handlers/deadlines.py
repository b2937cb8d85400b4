"""Deadlines as the pages show them: an application's review clock with its pauses, and late filing.

竣工验收备案: the construction unit files within 15 days of passing completion acceptance
(《房屋建筑和市政基础设施工程竣工验收备案管理办法》 Art. 4); a filing reported later is shown to
reviewers as 逾期备案 N 天. The 15 days count like every period (民法典 Art. 201, 203): from the
day after 竣工验收日期, and a last day that is not a working day moves to the next working day.
"""
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from engine import deadlines
from engine.db import db
from engine.models import AuditEntry, HumanTask
from engine.store import WITHDRAWN
from engine.workcalendar import local_date, local_midnight_utc

from .models import CompletionFiling

FILING_PERIOD = "15 days"   # Art. 4


@dataclass
class ClockStretch:
    """One stretch of a review clock: opened, due, and how it ended (None while it runs)."""
    task: HumanTask
    paused_until: datetime | None = None   # the next stretch's start (the clock stood still until then)

    @property
    def period(self) -> str:
        return deadlines.Period.from_rule(self.task.due_rule).label

    @property
    def left(self) -> int | None:
        """What was left when the stretch ended (kept for the next one), in the period's unit."""
        if self.task.completed_at is None:
            return None
        unit = deadlines.Period.from_rule(self.task.due_rule).unit
        return deadlines.left_at(self.task.due_at, unit, self.task.completed_at)

    @property
    def unit_label(self) -> str:
        return deadlines.UNIT_WORDS[deadlines.unit_of(self.task.due_rule)]

    @property
    def ended(self) -> str:
        if self.task.state == "open":
            return ""
        if self.task.state == "cancelled":   # the applicant withdrew it (撤回), or the diagram moved on
            return "申请人撤回，计时结束" if self.task.outcome == WITHDRAWN else "计时结束"
        return {"return": "退回（计时暂停）", "approve": "审核通过"}.get(self.task.outcome or "", "结束")


def clock_of(app, tasks=None) -> list[ClockStretch]:
    """The application's review clock: each review stretch, and the pauses between them
    (``tasks``: the instance's tasks in order, when the caller has read them already)."""
    if app is None or app.instance_id is None:
        return []
    if tasks is None:
        tasks = deadlines.clock_segments(app.instance_id)
    else:
        tasks = [t for t in tasks if t.due_rule is not None]
    stretches = [ClockStretch(t) for t in tasks]
    for stretch, following in zip(stretches, stretches[1:]):
        stretch.paused_until = following.task.created_at
    return stretches


def first_reported(app) -> datetime | None:
    """When the application was first reported (上报): a later re-report does not move it."""
    at = db.session.scalar(select(AuditEntry.at).where(
        AuditEntry.instance_id == app.instance_id, AuditEntry.action == "上报").order_by(AuditEntry.id).limit(1))
    return at or app.reported_at


def filing_last_day(acceptance: date) -> date:
    """The last day to file after acceptance on ``acceptance``."""
    return deadlines.due_at(local_midnight_utc(acceptance), FILING_PERIOD).day


def late_filing_days(app) -> int | None:
    """Days a completion filing was reported after its deadline, or None when on time (or not one)."""
    if not isinstance(app, CompletionFiling) or not app.acceptance_date or app.instance_id is None:
        return None
    reported = first_reported(app)
    if reported is None:
        return None
    late = (local_date(reported) - filing_last_day(app.acceptance_date)).days
    return late if late > 0 else None
