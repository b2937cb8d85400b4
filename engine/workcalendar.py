"""The working-day calendar: which dates count as 工作日.

行政许可法 Art. 82 counts time limits in working days, excluding statutory holidays; China moves
its holidays every year and makes up for them on weekends (调休). A date is decided, first rule
that applies:

1. an administrator's local entry for that date (a closed day, or an extra working day);
2. the administrator-entered schedule of its year, when there is one (it replaces the library);
3. the ``chinese_calendar`` library (package ``chinesecalendar``), for the years it covers;
4. weekends alone — and the date is *provisional* (待确认): nobody has published its year yet.

``WorkCalendar`` is pure logic over those sources. The module functions answer from the
calendar of the current process, loaded once per database from it and reloaded when an
administrator changes it: in the changing transaction at once, and in every other process and
host at its next request (the ``calendar`` cache generation, engine.generations, read with the
others in the request's one generation check; the job worker checks before each batch).
"""
from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta

import chinese_calendar

# stored times are UTC; the calendar is China's (China Standard Time, no daylight saving)
LOCAL_OFFSET = timedelta(hours=8)
LOCAL, SCHEDULE = "local", "schedule"   # kinds of administrator entries

LIBRARY_HOLIDAYS: dict[date, str] = dict(chinese_calendar.holidays)
LIBRARY_WORKDAYS: dict[date, str] = dict(chinese_calendar.workdays)   # make-up working days (调休)
LIBRARY_YEARS = frozenset(d.year for d in LIBRARY_HOLIDAYS)


@dataclass(frozen=True)
class DayEntry:
    """An administrator's entry: ``working`` True for a working day, False for a closed day."""
    day: date
    working: bool
    name: str = ""


@dataclass
class WorkCalendar:
    """Pure working-day logic over the library and the administrators' entries."""
    local: dict[date, DayEntry] = field(default_factory=dict)        # local closed / extra working days
    schedule: dict[date, DayEntry] = field(default_factory=dict)     # entries of administrator-scheduled years
    scheduled_years: frozenset[int] = frozenset()
    library_holidays: dict[date, str] = field(default_factory=lambda: LIBRARY_HOLIDAYS)
    library_workdays: dict[date, str] = field(default_factory=lambda: LIBRARY_WORKDAYS)
    library_years: frozenset[int] = LIBRARY_YEARS

    def is_working_day(self, d: date) -> bool:
        entry = self.local.get(d)
        if entry is not None:
            return entry.working
        if d.year in self.scheduled_years:
            entry = self.schedule.get(d)
            return entry.working if entry is not None else d.weekday() < 5
        if d.year in self.library_years:
            if d in self.library_workdays:
                return True
            return d not in self.library_holidays and d.weekday() < 5
        return d.weekday() < 5

    def is_provisional(self, d: date) -> bool:
        """True when nobody has published ``d``'s year: weekends alone decided it."""
        return d.year not in self.scheduled_years and d.year not in self.library_years

    def has_schedule(self, year: int) -> bool:
        return year in self.scheduled_years or year in self.library_years

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (before it when n < 0); ``start`` itself when n == 0.

        The day ``start`` is not counted (期间开始的当日不计入).
        """
        step = 1 if n >= 0 else -1
        d, left = start, abs(n)
        while left:
            d += timedelta(days=step)
            if self.is_working_day(d):
                left -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (those in (b, a]) when b < a.

        ``add_working_days(a, working_days_between(a, b)) == b`` whenever b is a working day.
        Weekdays are counted arithmetically and the exceptions looked up, so a task overdue for
        months costs no more to show than one due tomorrow.
        """
        if b < a:
            return -self.working_days_between(b, a)
        return _weekdays_upto(b) - _weekdays_upto(a) + self._exceptions_upto(b) - self._exceptions_upto(a)

    @cached_property
    def _exceptions(self) -> tuple[list[int], list[int]]:
        """Dates whose status differs from the weekday rule (as ordinals) and the running sum of
        their corrections (+1 a working weekend day, -1 a weekday off)."""
        days = set(self.local) | set(self.schedule) | set(self.library_holidays) | set(self.library_workdays)
        deltas = sorted((d.toordinal(), int(self.is_working_day(d)) - int(d.weekday() < 5)) for d in days)
        ordinals, running, total = [], [], 0
        for ordinal, delta in deltas:
            if delta:
                total += delta
                ordinals.append(ordinal)
                running.append(total)
        return ordinals, running

    def _exceptions_upto(self, d: date) -> int:
        ordinals, running = self._exceptions
        i = bisect_right(ordinals, d.toordinal())
        return running[i - 1] if i else 0

    def next_working_day(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def any_provisional(self, a: date, b: date) -> bool:
        return any(self.is_provisional(date(y, 1, 1)) for y in range(min(a, b).year, max(a, b).year + 1))

    def year_days(self, year: int) -> list[tuple[date, bool, str, str]]:
        """The year's exceptions to weekends: (date, working, name, source) in date order.

        source: 本地 (a local entry), 管理员录入 (the administrators' schedule), 法定 (the library).
        """
        days: dict[date, tuple[date, bool, str, str]] = {}
        if year in self.scheduled_years:
            for d, e in self.schedule.items():
                if d.year == year:
                    days[d] = (d, e.working, e.name, "管理员录入")
        elif year in self.library_years:
            for d, name in self.library_holidays.items():
                if d.year == year:
                    days[d] = (d, False, _HOLIDAY_NAMES.get(name, name), "法定")
            for d, name in self.library_workdays.items():
                if d.year == year:
                    days[d] = (d, True, _HOLIDAY_NAMES.get(name, name) + "调休", "法定")
        for d, e in self.local.items():
            if d.year == year:
                days[d] = (d, e.working, e.name, "本地")
        return [days[d] for d in sorted(days)]


def _weekdays_upto(d: date) -> int:
    """Monday-to-Friday days from 0001-01-01 (a Monday) to ``d`` inclusive."""
    weeks, rest = divmod(d.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


_HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


# -- local time --------------------------------------------------------------------------------------
def local_date(at_utc: datetime) -> date:
    """The calendar date in China of a stored (naive UTC) time."""
    return (at_utc + LOCAL_OFFSET).date()


def local_midnight_utc(d: date) -> datetime:
    """The stored (naive UTC) time at which the local date ``d`` begins."""
    return datetime.combine(d, datetime.min.time()) - LOCAL_OFFSET


def today(now_utc: datetime | None = None) -> date:
    return local_date(now_utc or datetime.utcnow())


# -- the process's calendar ----------------------------------------------------------------------------
class _Cache:
    """One database's calendar in this process. ``epoch`` counts the invalidations, so that a
    load that raced one is not kept."""

    def __init__(self):
        self.calendar: WorkCalendar | None = None
        self.epoch = 0


# per database (SQLAlchemy engine): the designers' scenario runs use databases of their own
_CACHES: "weakref.WeakKeyDictionary[object, _Cache]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_LIBRARY_ONLY = WorkCalendar()


def _cache() -> _Cache:
    from .db import db
    engine = db.engine
    with _LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = _Cache()
        return cache


def current() -> WorkCalendar:
    """The calendar of this process: the library plus the administrators' entries in the database.

    Outside an application context (no database) the library alone answers.
    """
    from flask import has_app_context
    if not has_app_context():
        return _LIBRARY_ONLY
    cache = _cache()
    cached = cache.calendar
    if cached is not None:
        return cached
    from . import calendar_store
    epoch = cache.epoch
    loaded = calendar_store.load()
    with _LOCK:
        if cache.epoch == epoch:
            cache.calendar = loaded
    return loaded


def invalidate() -> None:
    """Forget the cached calendar of the current database (outside an application context: of
    every database): after a change, when the ``calendar`` generation moved, or a test's fresh
    database."""
    from flask import has_app_context
    with _LOCK:
        caches = list(_CACHES.values()) if not has_app_context() else [_CACHES.get(_engine())]
        for cache in filter(None, caches):
            cache.calendar, cache.epoch = None, cache.epoch + 1


def _engine():
    from .db import db
    return db.engine


def add_working_days(start: date, n: int) -> date:
    return current().add_working_days(start, n)


def working_days_between(a: date, b: date) -> int:
    return current().working_days_between(a, b)


def is_working_day(d: date) -> bool:
    return current().is_working_day(d)


def is_provisional(d: date) -> bool:
    return current().is_provisional(d)
