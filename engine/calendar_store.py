"""The administrators' calendar entries in the database, and the schedule-file format.

Every change stamps its year's ``calendar_year`` row (who changed it, when) and adds one to the
``calendar`` cache generation in its own transaction (engine.generations): every other process
and host reloads its cached calendar at its next request.
"""
import csv
import io
import json
from datetime import date

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from . import generations, workcalendar
from .db import command, db
from .errors import EngineError
from .models import CalendarDay, CalendarYear, utcnow
from .workcalendar import LOCAL, SCHEDULE, DayEntry, WorkCalendar


class CalendarError(EngineError):
    """Bad calendar input: the message names the field or line."""


def load() -> WorkCalendar:
    local, schedule = {}, {}
    for row in db.session.scalars(select(CalendarDay)):
        (local if row.kind == LOCAL else schedule)[row.day] = DayEntry(row.day, row.working, row.name)
    years = frozenset(db.session.scalars(select(CalendarYear.year).where(CalendarYear.has_schedule.is_(True))))
    return WorkCalendar(local=local, schedule=schedule, scheduled_years=years)


def _stamp(year: int, who: str, has_schedule: bool | None = None) -> None:
    row = db.session.get(CalendarYear, year)
    if row is None:
        row = CalendarYear(year=year, has_schedule=False)
        db.session.add(row)
    if has_schedule is not None:
        row.has_schedule = has_schedule
    row.changed_at, row.changed_by = utcnow(), who
    db.session.flush()


@command
def set_local_day(day: date, working: bool, name: str, who: str) -> None:
    """A local closed day (working False) or extra working day (True); replaces that date's entry."""
    name = (name or "").strip()
    if len(name) > 100:
        raise CalendarError("说明：不能超过 100 个字")
    row = db.session.get(CalendarDay, (day, LOCAL))
    if row is None:
        db.session.add(CalendarDay(day=day, kind=LOCAL, working=working, name=name))
    else:
        row.working, row.name = working, name
    _stamp(day.year, who)
    _changed()


@command
def remove_local_day(day: date, who: str) -> bool:
    removed = db.session.execute(delete(CalendarDay).where(CalendarDay.day == day, CalendarDay.kind == LOCAL)).rowcount
    if removed:
        _stamp(day.year, who)
        _changed()
    return bool(removed)


@command
def set_year_schedule(year: int, entries: list[DayEntry], who: str) -> None:
    """Replace ``year``'s schedule: from now on it, not the library, decides the year."""
    outside = [e.day for e in entries if e.day.year != year]
    if outside:
        raise CalendarError(f"日期 {outside[0].isoformat()} 不属于 {year} 年")
    db.session.execute(delete(CalendarDay).where(CalendarDay.kind == SCHEDULE,
                                                 CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))))
    for e in entries:
        db.session.add(CalendarDay(day=e.day, kind=SCHEDULE, working=e.working, name=e.name))
    _stamp(year, who, has_schedule=True)
    _changed()


@command
def remove_year_schedule(year: int, who: str) -> bool:
    row = db.session.get(CalendarYear, year)
    if row is None or not row.has_schedule:
        return False
    db.session.execute(delete(CalendarDay).where(CalendarDay.kind == SCHEDULE,
                                                 CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))))
    _stamp(year, who, has_schedule=False)
    _changed()
    return True


def year_info(year: int) -> CalendarYear | None:
    return db.session.get(CalendarYear, year)


_CHANGED = "calendar_changed"


def _changed() -> None:
    """Every process reloads the calendar: this one at once (the command's later steps, e.g. the
    provisional due times, read the change back inside its transaction), the others when they see
    the generation move at their next request."""
    generations.bump(generations.CALENDAR)
    db.session.info[_CHANGED] = True
    workcalendar.invalidate()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, _previous_transaction):
    # a change rolled back: the calendar this process reloaded inside it must not stay cached
    if session.info.pop(_CHANGED, False):
        workcalendar.invalidate()


@event.listens_for(Session, "after_commit")
def _committed(session):
    session.info.pop(_CHANGED, None)


# -- the schedule file -----------------------------------------------------------------------------
HOLIDAY_WORDS = {"休", "假", "holiday", "off", "closed"}
WORKDAY_WORDS = {"班", "工作日", "workday", "work"}


def parse_schedule(text: str, filename: str = "") -> tuple[int, list[DayEntry]]:
    """A year's schedule from a small CSV or JSON file (format in docs/operators.md)."""
    text = text.lstrip("\ufeff")
    if filename.lower().endswith(".json") or text.lstrip().startswith("{"):
        year, entries = _parse_json(text)
    else:
        year, entries = _parse_csv(text)
    if not entries:
        raise CalendarError("文件中没有任何日期")
    seen = set()
    for e in entries:
        if e.day in seen:
            raise CalendarError(f"日期 {e.day.isoformat()} 重复出现")
        seen.add(e.day)
    years = {e.day.year for e in entries}
    if year is None:
        if len(years) != 1:
            raise CalendarError("文件中的日期必须属于同一年")
        year = years.pop()
    return year, entries


def _parse_json(text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarError(f"JSON 格式错误（第 {exc.lineno} 行）：{exc.msg}") from None
    if not isinstance(data, dict):
        raise CalendarError("JSON 文件必须是一个对象，包含 year、holidays 和 workdays")
    year = data.get("year")
    if year is not None and not (isinstance(year, int) and 2000 <= year <= 2100):
        raise CalendarError("year：必须是 2000 至 2100 之间的年份")
    entries = []
    for key, working in (("holidays", False), ("workdays", True)):
        items = data.get(key) or []
        if not isinstance(items, list):
            raise CalendarError(f"{key}：必须是列表")
        for item in items:
            day, name = (item.get("date"), item.get("name", "")) if isinstance(item, dict) else (item, "")
            entries.append(DayEntry(_date(day, key), working, str(name or "")[:100]))
    return year, entries


def _parse_csv(text):
    entries = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
            continue
        if lineno == 1 and row[0].strip().lower() in ("date", "日期"):
            continue   # the header
        if len(row) < 2:
            raise CalendarError(f"第 {lineno} 行：需要 日期,类型[,名称] 三列")
        kind = row[1].strip().lower()
        if kind in HOLIDAY_WORDS:
            working = False
        elif kind in WORKDAY_WORDS:
            working = True
        else:
            raise CalendarError(f"第 {lineno} 行：类型必须是“休”或“班”")
        name = row[2].strip() if len(row) > 2 else ""
        entries.append(DayEntry(_date(row[0].strip(), f"第 {lineno} 行"), working, name[:100]))
    return None, entries


def _date(value, where) -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(f"{where}：日期“{value}”格式不正确，应为 YYYY-MM-DD") from None


@command
def import_year(text: str, filename: str, who: str) -> tuple[int, int, int]:
    """Parse a schedule file, replace its year's schedule and recompute the provisional due times.

    (year, days imported, due times recomputed). Nothing changes when the file is refused.
    """
    year, entries = parse_schedule(text, filename)
    set_year_schedule(year, entries, who)
    from .deadlines import recompute_provisional
    return year, len(entries), recompute_provisional()


def missing_next_year(today: date) -> int | None:
    """From November on: next year, when neither the library nor an administrator scheduled it."""
    if today.month < 11:
        return None
    nxt = today.year + 1
    return None if workcalendar.current().has_schedule(nxt) else nxt
