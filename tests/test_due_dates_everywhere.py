"""A due date says one thing everywhere: the inbox page, the task page, the API and the Excel export
give the same due day, flag it 待确认 alike, count it in the unit it was declared in; the API's
times carry one documented zone; a withdrawn application's clock is closed."""
import io
import re
from datetime import date, datetime, timedelta, timezone

import time_machine
from openpyxl import load_workbook

from engine import deadlines
from engine.db import db
from engine.models import HumanTask
from handlers.deadlines import clock_of

from .api_helpers import auth, personal_token
from .web_helpers import client_world, login, new_client  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

CST = timezone(timedelta(hours=8))
API_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")   # docs/api.md: UTC, to the second, Z
# 2026-12-28 in China: 5 working days run into 2027, whose holidays nobody has entered (待确认)
LATE_DECEMBER = datetime(2026, 12, 28, 10, tzinfo=CST)


def _provisional_review(world, services):
    pm, _ = locked_person(world, "赵六")
    app = reported_unlock(world, services, pm)
    task = db.session.get(HumanTask, services.unlock.open_task(app).id)
    assert task.due_provisional and deadlines.last_day(task.due_at) == date(2027, 1, 4)
    return app, task


def _page_due_day(html: str) -> str:
    """The due day a page's due badge shows (its title: 到期日 YYYY-MM-DD)."""
    [day] = set(re.findall(r'title="到期日 (\d{4}-\d{2}-\d{2})', html))
    return day


def test_the_api_flags_a_provisional_due_day_and_sends_times_in_utc_with_z(client_world, services):
    client, world = client_world
    with time_machine.travel(LATE_DECEMBER, tick=False):
        app, task = _provisional_review(world, services)
        reviewer = auth(personal_token("agency_reviewer"))
        [item] = client.get("/api/v1/inbox", headers=reviewer).get_json()["items"]
        detail = client.get(f"/api/v1/tasks/{task.id}", headers=reviewer).get_json()
        login(client, "agency_reviewer")
        page = client.get(f"/review/task/{task.id}").get_data(as_text=True)

    for sent in (item, detail["task"]):
        assert sent["due_provisional"] is True
        assert sent["due_day"] == _page_due_day(page) == "2027-01-04"
        assert sent["due_at"] == "2027-01-04T16:00:00Z"   # the end of the last day: 2027-01-05 00:00 in China
        assert API_TIME.match(sent["created_at"]) and sent["created_at"].startswith("2026-12-28T02:00")
        assert sent["due_period"] == "5 个工作日" and sent["due_state"].endswith("（待确认）")
        assert sent["due_state"] in page
    # every time the API sends has the same form: the application's and its log's too
    fields = detail["application"]["fields"]
    assert API_TIME.match(fields["reported_at"]) and API_TIME.match(fields["created_at"])
    log = client.get(f"/api/v1/applications/unlock/{app.id}/log",
                     headers=auth(personal_token("contractor_user"))).get_json()["items"]
    assert log and all(API_TIME.match(e["at"]) for e in log)


def test_the_openapi_document_describes_the_flag_and_the_time_form(client_world):
    client, _world = client_world
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    task = schemas["Task"]["properties"]
    assert task["due_provisional"]["type"] == "boolean"
    assert task["due_day"]["format"] == "date"
    for name in ("created_at", "due_at"):
        assert task[name]["format"] == "date-time" and task[name]["pattern"].endswith("Z$")
    assert schemas["LogEntry"]["properties"]["at"]["format"] == "date-time"


def test_the_export_writes_the_due_day_the_page_shows_with_its_flag(client_world, services):
    client, world = client_world
    with time_machine.travel(LATE_DECEMBER, tick=False):
        app, _task = _provisional_review(world, services)
        login(client, "agency_reviewer")
        page = client.get("/review/").get_data(as_text=True)
        book = load_workbook(io.BytesIO(client.get("/review/export?view=open").get_data()))
    rows = list(book.active.iter_rows(values_only=True))
    [row] = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert row["到期日"] == _page_due_day(page) == "2027-01-04"
    assert row["待确认"] == "是" and row["时限"].endswith("（待确认）") and row["时限"] in page
    assert row["办件编号"] == app.case_no


def test_a_calendar_day_period_is_counted_and_said_in_calendar_days():
    cal = deadlines.workcalendar.WorkCalendar()
    due = datetime(2025, 4, 7, 16)   # the end of Monday 2025-04-07 in China, after the Qingming holiday
    now = datetime(2025, 3, 20, 2)
    days = deadlines.state(due, now=now, calendar=cal, unit=deadlines.CALENDAR)
    assert (days.kind, days.days, days.label) == ("ok", 18, "剩余 18 日")
    assert deadlines.state(due, now=now, calendar=cal).label == "剩余 11 个工作日"   # a working-day period
    late = deadlines.state(due, now=datetime(2025, 4, 10, 2), calendar=cal, unit=deadlines.CALENDAR)
    assert late.label == "已超期 3 日"
    assert deadlines.unit_of("d:15") == deadlines.CALENDAR and deadlines.unit_of("wd:5") == deadlines.WORKING


def test_a_withdrawn_applications_clock_is_closed(client_world, services, ctx):
    client, world = client_world
    pm, _ = locked_person(world, "钱七")
    app = reported_unlock(world, services, pm)
    services.unlock.withdraw(world.who("contractor_user"), app.id)
    db.session.expire_all()
    [stretch] = clock_of(app)
    assert stretch.task.state == "cancelled" and stretch.task.completed_at is not None
    assert stretch.ended == "申请人撤回，计时结束"
    login(client, "contractor_user")
    html = client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    clock = html.split("<h2>办理时限</h2>")[1].split("</section>")[0]
    assert "申请人撤回，计时结束" in clock
    reviewer = new_client(ctx)
    login(reviewer, "agency_reviewer")
    task_page = reviewer.get(f"/review/task/{stretch.task.id}").get_data(as_text=True)
    assert "申请人已撤回" in task_page and "剩余" not in task_page.split("<h2>办理时限</h2>")[1]
