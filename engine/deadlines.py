"""Deadlines declared in the diagram: a user task's ``due`` period, its clock and its state.

Syntax of the ``due`` extension property (docs/designers.md):

    "5 working days" | "1 working day" | "5 个工作日" | "5工作日"   — working days
    "15 days" | "1 day" | "15 日" | "15 天"                        — calendar days

Counting follows the civil-law rules for periods (民法典 Art. 201, 203): the day the task opens
is not counted; a calendar-day period whose last day is not a working day ends on the next
working day. A task falls due at the end (local midnight) of its last day. A due date whose
period touches a year nobody has published is computed from weekends alone and flagged
provisional (待确认) until that year's schedule arrives (``recompute_provisional``).

The clock of a task that closes while its instance goes on (退回 for correction) stops; when the
same element opens again it runs on with what was left, unless the element declares
``due_restart="true"``. What was left is kept on the instance (``process_instance.clock``).
"""
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from . import workcalendar
from .db import command, db
from .models import NO_DUE, HumanTask, TaskCandidate, utcnow
from .workcalendar import local_date, local_midnight_utc

DUE, DUE_RESTART = "due", "due_restart"
WORKING, CALENDAR = "wd", "d"
DUE_SOON_WORKING_DAYS = 2   # 即将到期: at most this many working days left (today included)

_SYNTAX = re.compile(
    r"^\s*(\d{1,3})\s*(?:(?P<wd>working\s+days?|个?\s*工作日)|(?P<d>(?:calendar\s+)?days?|个?\s*自然日|日|天))\s*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    count: int
    unit: str   # WORKING or CALENDAR

    @property
    def rule(self) -> str:
        return f"{self.unit}:{self.count}"

    @property
    def label(self) -> str:
        return f"{self.count} 个工作日" if self.unit == WORKING else f"{self.count} 日"

    @classmethod
    def from_rule(cls, rule: str) -> "Period":
        unit, _, count = rule.partition(":")
        return cls(int(count), unit)


@dataclass(frozen=True)
class Due:
    at: datetime          # stored (naive UTC): the end of the last day
    day: date             # the last day (local)
    provisional: bool


def parse_due(text: str) -> Period:
    """A ``due`` property value as a period; ValueError with a Chinese reason when it is not one."""
    m = _SYNTAX.match(text or "")
    if not m:
        raise ValueError(f"时限 “{text}” 格式不正确，应为 “5 working days”、“15 days”、“5 个工作日” 或 “15 日”")
    count = int(m.group(1))
    if count < 1:
        raise ValueError(f"时限 “{text}” 必须至少为 1 天")
    return Period(count, WORKING if m.group("wd") else CALENDAR)


def check_properties(props: dict) -> list[str]:
    """Reasons the deadline properties of a user task are invalid (empty when they are fine)."""
    reasons = []
    if DUE in props:
        try:
            parse_due(props[DUE])
        except ValueError as exc:
            reasons.append(str(exc))
    if props.get(DUE_RESTART, "false") not in ("true", "false"):
        reasons.append("due_restart 只能为 true 或 false")
    elif DUE_RESTART in props and DUE not in props:
        reasons.append("声明了 due_restart 却没有声明时限 due")
    return reasons


# -- computing ----------------------------------------------------------------------------------------
def due_at(opened_at: datetime, period: Period | str, calendar=None) -> Due:
    """When a task opened at ``opened_at`` (stored UTC) with ``period`` falls due.

    Timers and other code call this; ``before_due`` gives the instant N working days earlier.
    """
    if isinstance(period, str):
        period = parse_due(period) if not re.match(r"^(wd|d):-?\d+$", period) else Period.from_rule(period)
    cal = calendar or workcalendar.current()
    start = local_date(opened_at)
    if period.unit == WORKING:
        day = cal.add_working_days(start, period.count)
    else:
        day = start + timedelta(days=period.count)
        if period.count > 0:
            day = cal.next_working_day(day)   # 民法典 Art. 203: a last day that is a holiday moves on
    return Due(local_midnight_utc(day + timedelta(days=1)), day, cal.any_provisional(start, day))


def before_due(due: datetime, working_days: int = 1, calendar=None) -> datetime:
    """The instant (stored UTC) when ``working_days`` working days are left before ``due``:
    the start of the (working_days - 1)-th working day before the last day.

    ``before_due(task.due_at, 1)`` is the start of the last day — the moment for 超期预警.
    """
    cal = calendar or workcalendar.current()
    last_day = local_date(due - timedelta(microseconds=1))
    return local_midnight_utc(cal.add_working_days(last_day, -(working_days - 1)))


def last_day(due: datetime) -> date:
    return local_date(due - timedelta(microseconds=1))


def left_at(due: datetime, unit: str, when: datetime, calendar=None) -> int:
    """Periods left at ``when`` before ``due``: working days (or calendar days) after ``when``'s
    date up to the last day; zero on the last day, negative once overdue."""
    return between(local_date(when), last_day(due), unit, calendar)


def between(a: date, b: date, unit: str, calendar=None) -> int:
    """Periods of ``unit`` in (a, b]: working days, or calendar days; negative when b < a."""
    if unit == CALENDAR:
        return (b - a).days
    return (calendar or workcalendar.current()).working_days_between(a, b)


# -- the clock on the instance --------------------------------------------------------------------------
def opening(props: dict, clock: str | None, element_id: str, opened_at: datetime) -> dict:
    """The deadline columns of a task opening now: fresh, or resumed from what the clock kept."""
    if DUE not in props:
        return dict(due_at=None, due_provisional=False, due_rule=None)
    period = parse_due(props[DUE])
    kept = _clocks(clock).get(element_id)
    if kept is not None and props.get(DUE_RESTART) != "true":
        period = Period(int(kept[1]), kept[0])
    due = due_at(opened_at, period)
    return dict(due_at=due.at, due_provisional=due.provisional, due_rule=period.rule)


def stop(clock: str | None, task, when: datetime) -> str | None:
    """The instance's clock after ``task`` closed at ``when``: what was left is kept for its element."""
    if task.due_at is None or not task.due_rule:
        return clock
    unit = Period.from_rule(task.due_rule).unit
    clocks = _clocks(clock)
    clocks[task.element_id] = [unit, left_at(task.due_at, unit, when)]
    return json.dumps(clocks, separators=(",", ":"))


def initial_clock(periods: dict[str, str] | None) -> str | None:
    """A new instance's clock holding ``periods`` ({element id: due text}): its tasks open with them
    instead of the ``due`` their diagram declares (``opening`` resumes from the clock)."""
    if not periods:
        return None
    clocks = {}
    for element_id, text in periods.items():
        period = parse_due(text)
        clocks[element_id] = [period.unit, period.count]
    return json.dumps(clocks, separators=(",", ":"))


def _clocks(clock: str | None) -> dict:
    try:
        return json.loads(clock) if clock else {}
    except ValueError:
        return {}


@command
def recompute_provisional() -> int:
    """Recompute the due times of open tasks still flagged provisional (after a schedule arrived).

    Returns how many tasks changed. The candidate rows get the new time in the same transaction.
    """
    rows = db.session.execute(select(HumanTask.id, HumanTask.created_at, HumanTask.due_rule).where(
        HumanTask.state == "open", HumanTask.due_provisional.is_(True), HumanTask.due_rule.is_not(None))).all()
    for task_id, created_at, rule in rows:
        due = due_at(created_at, Period.from_rule(rule))
        db.session.execute(update(HumanTask).where(HumanTask.id == task_id)
                           .values(due_at=due.at, due_provisional=due.provisional)
                           .execution_options(synchronize_session=False))
        db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task_id).values(due_at=due.at)
                           .execution_options(synchronize_session=False))
    if rows:
        db.session.expire_all()
    return len(rows)


# -- the state shown --------------------------------------------------------------------------------------
UNIT_WORDS = {WORKING: "个工作日", CALENDAR: "日"}


@dataclass(frozen=True)
class DueState:
    kind: str          # "ok" | "soon" | "today" | "overdue"
    days: int          # periods left (ok, soon) or overdue (overdue), in ``unit``
    provisional: bool
    day: date
    unit: str = WORKING   # the unit the deadline was declared in: a "15 日" period counts calendar days

    @property
    def label(self) -> str:
        word = UNIT_WORDS[self.unit]
        text = {"ok": f"剩余 {self.days} {word}", "soon": f"剩余 {self.days} {word}", "today": "今日到期",
                "overdue": f"已超期 {self.days} {word}"}[self.kind]
        return text + ("（待确认）" if self.provisional else "")


def unit_of(rule: str | None) -> str:
    """The unit of a stored period ("wd:5", "d:15"); working days when there is none."""
    return Period.from_rule(rule).unit if rule else WORKING


def state(due: datetime | None, provisional: bool = False, now: datetime | None = None,
          calendar=None, unit: str = WORKING) -> DueState | None:
    """How a task with deadline ``due`` stands at ``now``: 剩余 N 个工作日 (N 日 for a calendar-day
    period), 今日到期 or 已超期 N 个工作日 (N 日).

    The kind (即将到期 or not) is decided in working days whatever the unit, as the inbox's
    即将到期 filter decides it, so the badge and the filter agree.
    """
    if due is None or due >= NO_DUE:
        return None
    cal = calendar or workcalendar.current()
    now = now or utcnow()
    today, day = local_date(now), last_day(due)
    if today > day:
        return DueState("overdue", max(1, between(day, today, unit, cal)), provisional, day, unit)
    if today == day:
        return DueState("today", 0, provisional, day, unit)
    soon = cal.working_days_between(today, day) <= DUE_SOON_WORKING_DAYS
    return DueState("soon" if soon else "ok", between(today, day, unit, cal), provisional, day, unit)


def soon_bound(now: datetime | None = None, calendar=None) -> datetime:
    """Tasks due before this instant (and not yet overdue) are 即将到期."""
    cal = calendar or workcalendar.current()
    today = local_date(now or utcnow())
    return local_midnight_utc(cal.add_working_days(today, DUE_SOON_WORKING_DAYS) + timedelta(days=1))


def clock_segments(instance_id: int) -> list[HumanTask]:
    """The instance's tasks that ran a clock, in order: each is one stretch; the gaps are pauses."""
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.due_rule.is_not(None)).order_by(HumanTask.id)))
