"""The working-day calendar (engine.workcalendar): library, administrators' overrides, provisional years."""
import json
from datetime import date, timedelta

import pytest

from engine import calendar_store, workcalendar
from engine.calendar_store import CalendarError
from engine.db import unit_of_work
from engine.workcalendar import DayEntry, WorkCalendar

from .web_helpers import client_world  # noqa: F401 (fixture)

LIB = WorkCalendar()   # the library alone


@pytest.mark.parametrize("start, n, expected", [
    # Spring Festival 2025: holiday 01-28..02-04, make-up working days Sunday 01-26 and Saturday 02-08
    (date(2025, 1, 24), 1, date(2025, 1, 26)),
    (date(2025, 1, 26), 1, date(2025, 1, 27)),
    (date(2025, 1, 27), 1, date(2025, 2, 5)),
    (date(2025, 1, 24), 5, date(2025, 2, 7)),
    (date(2025, 2, 7), 1, date(2025, 2, 8)),
    (date(2025, 2, 8), 1, date(2025, 2, 10)),
    # National Day 2025: holiday 10-01..10-08, make-up Sunday 09-28 and Saturday 10-11
    (date(2025, 9, 30), 3, date(2025, 10, 11)),
    (date(2025, 9, 26), 1, date(2025, 9, 28)),
    (date(2025, 9, 30), 1, date(2025, 10, 9)),
    # backwards, and zero
    (date(2025, 2, 5), -1, date(2025, 1, 27)),
    (date(2025, 10, 11), -3, date(2025, 9, 30)),
    (date(2025, 2, 1), 0, date(2025, 2, 1)),
])
def test_add_working_days_on_the_library(start, n, expected):
    assert LIB.add_working_days(start, n) == expected


def test_working_days_between_counts_the_days_after_the_first():
    assert LIB.working_days_between(date(2025, 1, 24), date(2025, 2, 5)) == 3   # 01-26, 01-27, 02-05
    assert LIB.working_days_between(date(2025, 2, 5), date(2025, 1, 24)) == -3
    assert LIB.working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0
    for a, b in [(date(2025, 9, 30), date(2025, 10, 11)), (date(2025, 1, 20), date(2025, 2, 10))]:
        assert LIB.add_working_days(a, LIB.working_days_between(a, b)) == b


def test_is_working_day_and_provisional_years():
    assert LIB.is_working_day(date(2025, 1, 26)) and not LIB.is_working_day(date(2025, 1, 28))
    assert not LIB.is_working_day(date(2025, 2, 1))      # a holiday Saturday
    assert not LIB.is_provisional(date(2026, 12, 31))
    # 2027 is not in the library: weekends alone, flagged
    assert LIB.is_provisional(date(2027, 1, 1)) and LIB.is_working_day(date(2027, 1, 1))
    assert LIB.any_provisional(date(2026, 12, 28), date(2027, 1, 4))
    assert not LIB.any_provisional(date(2025, 12, 28), date(2026, 1, 4))


def test_admin_entries_beat_the_library(ctx):
    """Local days beat everything; an entered year's schedule replaces the library for that year."""
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)
    with unit_of_work():
        calendar_store.set_local_day(date(2025, 10, 11), False, "本地停止办公", "测试")
    assert not workcalendar.is_working_day(date(2025, 10, 11))
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 13)
    with unit_of_work():
        calendar_store.set_local_day(date(2025, 10, 8), True, "本地加班", "测试")
    assert workcalendar.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 8)
    with unit_of_work():
        assert calendar_store.remove_local_day(date(2025, 10, 8), "测试")
        assert calendar_store.remove_local_day(date(2025, 10, 11), "测试")
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)
    # a whole 2025 schedule entered by hand: only 10-01..10-03 off, no make-up days
    entries = [DayEntry(date(2025, 10, d), False, "国庆节") for d in (1, 2, 3)]
    with unit_of_work():
        calendar_store.set_year_schedule(2025, entries, "测试")
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 8)
    assert not workcalendar.is_working_day(date(2025, 10, 11))      # the library's make-up day is gone
    assert workcalendar.is_working_day(date(2025, 1, 28))            # and so is its Spring Festival
    assert workcalendar.add_working_days(date(2026, 9, 30), 1) != date(2026, 10, 1)   # 2026 still the library
    with unit_of_work():
        assert calendar_store.remove_year_schedule(2025, "测试")
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)


def test_other_processes_see_a_change_at_their_next_request(ctx, services):
    services.refresh()   # a request's generation check: this process has seen every change so far
    workcalendar.current()
    # another process's change: its rows and its generation, written without this process's cache knowing
    from engine import generations
    from engine.models import CalendarDay, CalendarYear, utcnow
    from engine.db import db
    with unit_of_work():
        db.session.add(CalendarDay(day=date(2025, 10, 11), kind="local", working=False, name="x"))
        db.session.add(CalendarYear(year=2025, has_schedule=False, changed_at=utcnow(), changed_by="x"))
        generations.bump(generations.CALENDAR)
    assert workcalendar.is_working_day(date(2025, 10, 11))            # cached
    services.refresh()                                                # the next request's one read
    assert not workcalendar.is_working_day(date(2025, 10, 11))        # the generation moved: reloaded


def test_a_change_rolled_back_leaves_no_calendar_behind(ctx):
    class Refused(Exception):
        pass
    with pytest.raises(Refused):
        with unit_of_work():
            calendar_store.set_local_day(date(2025, 10, 13), False, "停电", "测试")
            assert not workcalendar.is_working_day(date(2025, 10, 13))   # the command sees its change
            raise Refused()
    assert workcalendar.is_working_day(date(2025, 10, 13))            # gone with the rollback


CSV_2027 = "date,type,name\n2027-01-01,休,元旦\n2027-02-06,休,春节\n2027-02-07,班,春节调休\n"
JSON_2027 = json.dumps({"year": 2027, "holidays": [{"date": "2027-01-01", "name": "元旦"}, "2027-02-06"],
                        "workdays": [{"date": "2027-02-07", "name": "春节调休"}]}, ensure_ascii=False)


@pytest.mark.parametrize("text, filename", [(CSV_2027, "2027.csv"), (JSON_2027, "2027.json")])
def test_schedule_files(text, filename):
    year, entries = calendar_store.parse_schedule(text, filename)
    assert year == 2027
    assert [(e.day, e.working) for e in entries] == [
        (date(2027, 1, 1), False), (date(2027, 2, 6), False), (date(2027, 2, 7), True)]


@pytest.mark.parametrize("text, message", [
    ("date,type\n2027-01-01,放假\n", "第 2 行：类型必须是“休”或“班”"),
    ("2027-02-30,休\n", "第 1 行：日期“2027-02-30”格式不正确"),
    ("2027-01-01,休\n2028-01-01,休\n", "文件中的日期必须属于同一年"),
    ("2027-01-01,休\n2027-01-01,班\n", "日期 2027-01-01 重复出现"),
    ('{"year": 2027, "holidays": ["2028-01-01"]}', None),
    ('{"year": 2027, "holidays": [', "JSON 格式错误"),
    ("date,type\n", "文件中没有任何日期"),
])
def test_bad_schedule_files_are_refused_and_change_nothing(ctx, text, message):
    with pytest.raises(CalendarError) as exc:
        with unit_of_work():
            calendar_store.import_year(text, "x.json" if text.startswith("{") else "x.csv", "测试")
    if message:
        assert message in exc.value.message
    else:
        assert exc.value.message == "日期 2028-01-01 不属于 2027 年"
    assert calendar_store.year_info(2027) is None
    assert workcalendar.is_provisional(date(2027, 1, 1))


def test_cli_add_working_days_and_show(ctx, tmp_path):
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["calendar", "add-working-days", "2025-09-30", "3"])
    assert result.exit_code == 0 and result.output.strip() == "2025-10-11"
    shown = runner.invoke(args=["calendar", "show", "2025"]).output
    assert "2025-01-26 班 春节调休 [法定]" in shown and "2025-10-08 休 国庆节 [法定]" in shown
    assert "待确认" in runner.invoke(args=["calendar", "add-working-days", "2026-12-28", "5"]).output
    path = tmp_path / "2027.csv"
    path.write_text(CSV_2027, encoding="utf-8")
    assert runner.invoke(args=["calendar", "import", str(path)]).exit_code == 0
    assert "2027-02-07 班 春节调休 [管理员录入]" in runner.invoke(args=["calendar", "show", "2027"]).output
    assert runner.invoke(args=["calendar", "add-working-days", "2027-02-05", "1"]).output.strip() == "2027-02-07"
    assert runner.invoke(args=["calendar", "add-day", "2027-02-08", "--closed", "--name", "本地"]).exit_code == 0
    assert runner.invoke(args=["calendar", "add-working-days", "2027-02-07", "1"]).output.strip() == "2027-02-09"
    assert runner.invoke(args=["calendar", "remove-day", "2027-02-08"]).exit_code == 0
    assert runner.invoke(args=["calendar", "remove-day", "2027-02-08"]).exit_code == 1
    bad = runner.invoke(args=["calendar", "add-working-days", "2025-13-01", "3"])
    assert bad.exit_code != 0 and "格式不正确" in bad.output


def test_missing_next_year_warning_from_november(ctx):
    assert calendar_store.missing_next_year(date(2026, 10, 31)) is None
    assert calendar_store.missing_next_year(date(2026, 11, 1)) == 2027
    assert calendar_store.missing_next_year(date(2025, 11, 1)) is None     # 2026 is in the library
    with unit_of_work():
        calendar_store.import_year(CSV_2027, "2027.csv", "测试")
    assert calendar_store.missing_next_year(date(2026, 12, 1)) is None


def test_working_days_between_matches_day_by_day_counting():
    """The arithmetic count equals walking the days, across years, overrides and unpublished years."""
    cal = WorkCalendar(local={date(2025, 10, 11): DayEntry(date(2025, 10, 11), False),
                              date(2025, 7, 19): DayEntry(date(2025, 7, 19), True)},
                       schedule={date(2024, 5, 1): DayEntry(date(2024, 5, 1), True)},
                       scheduled_years=frozenset({2024}))

    def walked(a, b):
        return sum(1 for i in range(1, (b - a).days + 1) if cal.is_working_day(a + timedelta(days=i)))
    start = date(2023, 12, 20)
    for offset in range(0, 1300, 7):
        for span in (0, 1, 3, 6, 40, 400):
            a = start + timedelta(days=offset)
            b = a + timedelta(days=span)
            assert cal.working_days_between(a, b) == walked(a, b), (a, b)


def test_a_job_worker_sees_another_processs_change_before_its_next_batch(ctx, services):
    from engine import generations, jobs
    from engine.models import CalendarDay
    from engine.db import db
    worker = services.worker()
    seen = []
    worker.handlers = {**worker.handlers, "test.calendar": lambda job: seen.append(
        workcalendar.is_working_day(date(2025, 10, 14)))}
    with unit_of_work():
        jobs.enqueue("test.calendar")
    assert worker.run_due() == 1 and seen == [True]   # the worker's calendar is cached now
    with unit_of_work():   # another process's change, this process's cache left alone
        db.session.add(CalendarDay(day=date(2025, 10, 14), kind="local", working=False, name="x"))
        generations.bump(generations.CALENDAR)
        jobs.enqueue("test.calendar")
    assert worker.run_due() == 1 and seen == [True, False]


def test_a_logged_in_page_checks_the_generations_its_login_statement_read(client_world, services):
    """A logged-in page's login statement carries the cache generations (engine.generations.carried):
    another process's change is served at the page's request without a read of its own."""
    from sqlalchemy import event

    from engine import generations
    from engine.db import db
    from engine.models import CalendarDay, CalendarYear, utcnow

    from .web_helpers import login
    client, _world = client_world
    login(client, "contractor_user")
    assert client.get("/apply/unlock/").status_code == 200
    workcalendar.current()
    with unit_of_work():   # another process's change: its rows and its generation
        db.session.add(CalendarDay(day=date(2025, 10, 11), kind="local", working=False, name="x"))
        db.session.add(CalendarYear(year=2025, has_schedule=False, changed_at=utcnow(), changed_by="x"))
        generations.bump(generations.CALENDAR)
    db.session.remove()
    assert workcalendar.is_working_day(date(2025, 10, 11))   # cached
    sent = []

    def statement(_conn, _cursor, text, *_args):
        sent.append(" ".join(text.split()))
    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        assert client.get("/apply/unlock/").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
    assert not workcalendar.is_working_day(date(2025, 10, 11))   # the generation moved: reloaded
    assert not any(s.startswith("SELECT cache_generation") for s in sent)
    assert any("aggregate" in s or "string_agg" in s or "group_concat" in s for s in sent)
