"""Deadlines over HTTP: the inbox's due states and filters, the 督办 page, the application's clock,
the late-filing badge, and the administrators' working-day calendar page."""
import io
from datetime import date, datetime, timedelta, timezone

import time_machine

from engine import workcalendar

from .web_helpers import client_world, csrf_token, login, new_client  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

CST = timezone(timedelta(hours=8))


def at(y, m, d, hour=10):
    return datetime(y, m, d, hour, tzinfo=CST)


def _client(app, username):
    client = new_client(app)
    login(client, username)
    return client


def _reports(world, services):
    """Reviews due 03-10 (reported 03-03), 03-17 (03-10) and 03-20 (03-13), 2025."""
    for name, day in (("甲一", 3), ("乙二", 10), ("丙三", 13)):
        pm, _ = locked_person(world, name)
        with time_machine.travel(at(2025, 3, day), tick=False):
            reported_unlock(world, services, pm)


def test_inbox_shows_due_states_with_filters_and_counts(client_world, services, ctx):
    _, world = client_world
    _reports(world, services)
    with time_machine.travel(at(2025, 3, 17), tick=False):
        client = _client(ctx, "agency_reviewer")
        html = client.get("/review/?sort=due").get_data(as_text=True)
        assert 'class="badge due due-overdue"' in html and "已超期 5 个工作日" in html
        assert "今日到期" in html and "剩余 3 个工作日" in html
        # in due order: the overdue one first
        assert html.index("甲一") < html.index("乙二") < html.index("丙三")
        assert '即将到期 <span class="count">1</span>' in html and '已超期 <span class="count">1</span>' in html
        overdue = client.get("/review/?due=overdue").get_data(as_text=True)
        assert "甲一" in overdue and "乙二" not in overdue and "丙三" not in overdue
        soon = client.get("/review/?due=soon").get_data(as_text=True)
        assert "乙二" in soon and "甲一" not in soon
        # a bad value is ignored, not an error
        assert client.get("/review/?due=nonsense&sort=x").status_code == 200


def test_supervision_page_is_the_authoritys_own_area_only(client_world, services, ctx):
    _, world = client_world
    _reports(world, services)
    with time_machine.travel(at(2025, 3, 18), tick=False):
        html = _client(ctx, "auth_reviewer").get("/review/supervision").get_data(as_text=True)
        assert "督办" in html and "甲一" in html and "乙二" in html and "丙三" not in html
        other = _client(ctx, "auth2_reviewer").get("/review/supervision").get_data(as_text=True)
        assert "暂无超期事项" in other and "甲一" not in other
        assert _client(ctx, "agency_reviewer").get("/review/supervision").status_code == 403
        assert _client(ctx, "contractor_user").get("/review/supervision").status_code == 403
        assert "/review/supervision" not in _client(ctx, "agency_reviewer").get("/review/").get_data(as_text=True)


def test_application_page_shows_the_clock_with_its_pause(client_world, services, ctx):
    _, world = client_world
    pm, _ = locked_person(world, "暂停人")
    reviewer = world.who("agency_reviewer")
    with time_machine.travel(at(2025, 3, 3), tick=False):
        app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(reviewer).rows
    with time_machine.travel(at(2025, 3, 5), tick=False):
        services.reviews.claim(reviewer, task.id)
        services.reviews.return_(reviewer, task.id, "请补充材料")
    with time_machine.travel(at(2025, 3, 6), tick=False):
        html = _client(ctx, "contractor_user").get(f"/apply/unlock/{app.id}").get_data(as_text=True)
        assert "办理时限" in html and "计时暂停" in html and "等待申请单位重新上报" in html
        assert "剩余 3 个工作日时暂停" in html


def test_reviewer_sees_a_late_completion_filing(client_world, services, ctx):
    _, world = client_world
    applicant = world.who("owner_user")
    project = world.add_project("迟报工程")
    with time_machine.travel(at(2025, 3, 20), tick=False):
        app = services.completion.create(applicant, project.id)
        services.completion.save(applicant, app.id, {"acceptance_date": "2025-03-01", "conclusion": "合格",
                                                     "permit_no": "530100202501010102"})
        services.completion.report(applicant, app.id)
        client = _client(ctx, "agency_reviewer")
        [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
        html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
        # 03-20 + 15 days = 04-04, the Qingming holiday (04-04..04-06): due Monday 04-07; a period
        # declared in calendar days ("15 days") is counted and said in calendar days, not working days
        assert "逾期备案 3 天" in html and "剩余 18 日" in html and "2025-04-07" in html
        assert "剩余 11 个工作日" not in html
        inbox = client.get("/review/").get_data(as_text=True)
        assert "剩余 18 日" in inbox and "剩余 11 个工作日" not in inbox


# -- the administrators' calendar ------------------------------------------------------------------------
def _admin_post(client, url, data, **kw):
    data = dict(data, csrf_token=csrf_token(client, "/admin/calendar"))
    return client.post(url, data=data, **kw)


def test_admin_calendar_page_adds_and_removes_local_days(client_world, ctx):
    client, _ = client_world
    login(client, "admin")
    html = client.get("/admin/calendar?year=2025").get_data(as_text=True)
    assert "2025-01-26" in html and "春节调休" in html and "法定（chinese-calendar）" in html
    resp = _admin_post(client, "/admin/calendar/days?year=2025",
                       {"day": "2025-10-11", "working": "0", "name": "本地停止办公"}, follow_redirects=True)
    assert "已将 2025-10-11 设为本地休息日" in resp.get_data(as_text=True)
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 13)
    # bad input: a clear message, nothing changed
    resp = _admin_post(client, "/admin/calendar/days", {"day": "2025-02-30", "working": "1"}, follow_redirects=True)
    assert "日期：请填写日期（YYYY-MM-DD）" in resp.get_data(as_text=True) or "Not a valid date" in \
        resp.get_data(as_text=True)
    resp = _admin_post(client, "/admin/calendar/days/remove", {"day": "2025-10-11"}, follow_redirects=True)
    assert "已删除 2025-10-11 的本地设置" in resp.get_data(as_text=True)
    assert workcalendar.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)
    # CSRF is required
    assert client.post("/admin/calendar/days", data={"day": "2025-10-11", "working": "0"}).status_code == 400
    assert workcalendar.is_working_day(date(2025, 10, 11))


def test_admin_imports_a_year_and_the_november_warning_goes_away(client_world, ctx):
    client, _ = client_world
    with time_machine.travel(at(2026, 10, 31), tick=False):   # before November: no warning yet
        october = _client(ctx, "admin").get("/admin/registrations").get_data(as_text=True)
        assert "注册审核" in october and "节假日安排尚未录入" not in october
    with time_machine.travel(at(2026, 11, 2), tick=False):
        login(client, "admin")
        html = client.get("/admin/registrations").get_data(as_text=True)
        assert "2027 年的节假日安排尚未录入" in html
        bad = _admin_post(client, "/admin/calendar/import?year=2027",
                          {"file": (io.BytesIO("2027-01-01,放假\n".encode()), "2027.csv")},
                          content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
        assert "年度安排文件：第 1 行：类型必须是“休”或“班”" in bad
        good = _admin_post(client, "/admin/calendar/import?year=2027",
                           {"file": (io.BytesIO("date,type,name\n2027-01-01,休,元旦\n2027-02-07,班,春节调休\n"
                                                .encode()), "2027.csv")},
                           content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
        assert "已导入 2027 年节假日安排（2 天）" in good and "管理员录入" in good
        assert "年的节假日安排尚未录入" not in client.get("/admin/registrations").get_data(as_text=True)
        assert not workcalendar.is_provisional(date(2027, 3, 1))
        removed = _admin_post(client, "/admin/calendar/remove?year=2027", {}, follow_redirects=True)
        assert "已删除 2027 年的录入安排" in removed.get_data(as_text=True)
        assert workcalendar.is_provisional(date(2027, 3, 1))


def test_calendar_pages_are_for_administrators_only(client_world, ctx):
    client, _ = client_world
    login(client, "auth_reviewer")
    assert client.get("/admin/calendar").status_code == 403
    token = csrf_token(client, "/review/")
    assert client.post("/admin/calendar/days", data={"day": "2025-10-11", "working": "0",
                                                     "csrf_token": token}).status_code == 403
    assert workcalendar.is_working_day(date(2025, 10, 11))
