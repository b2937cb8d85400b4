"""统计 and Excel exports for regulators (issue 12, feature 8)."""
import io
import re
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from engine.db import db
from engine.models import HumanTask, TaskCandidate
from engine.workcalendar import working_days_between
from handlers.errors import Forbidden
from handlers.statistics import review_stats

from .web_helpers import client_world, login  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


def _reported(world, services, names):
    for name in names:
        pm, _project = locked_person(world, name, project_name=f"{name}的工程")
        reported_unlock(world, services, pm)
    return services.reviews.inbox(world.who("auth_reviewer")).rows


def _move(task_id, created: datetime, completed: datetime | None = None):
    """Put a task at known times (UTC), on its candidate rows too."""
    values = {"created_at": created}
    if completed:
        values["completed_at"] = completed
    db.session.execute(update(HumanTask).where(HumanTask.id == task_id).values(**values))
    db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task_id).values(**values))
    db.session.commit()


def test_counts_by_process_status_and_month_with_working_day_handling_time(world, services):
    reviewer, agency = world.who("auth_reviewer"), world.who("agency_reviewer")
    tasks = _reported(world, services, ["甲", "乙", "丙", "丁"])
    by_name = {t.subject[0]: t for t in tasks}
    services.reviews.claim(reviewer, by_name["甲"].id)
    services.reviews.approve(reviewer, by_name["甲"].id, "同意")
    services.reviews.claim(agency, by_name["乙"].id)            # the agency decides: still counted for the authority
    services.reviews.return_(agency, by_name["乙"].id, "材料不全")
    services.reviews.claim(reviewer, by_name["丙"].id)          # claimed, not decided
    # 2026-03-02 was a Monday; local (UTC+8) days: created Mon 09:00, decided Thu 10:00 -> 3 working days
    _move(by_name["甲"].id, datetime(2026, 3, 2, 1), datetime(2026, 3, 5, 2))
    # created on 31 Jan local time (UTC 30 Jan 17:00): January; decided 2 Feb
    _move(by_name["乙"].id, datetime(2026, 1, 30, 17), datetime(2026, 2, 2, 3))
    _move(by_name["丙"].id, datetime(2026, 3, 10, 1))
    _move(by_name["丁"].id, datetime(2026, 3, 11, 1))
    stats = review_stats(reviewer, 2026)
    assert stats.total == 4
    assert dict(stats.by_status) == {"approve": 1, "return": 1, "claimed": 1, "open": 1}
    assert dict(stats.by_process) == {"personnel_unlock": stats.by_status}
    assert dict(stats.by_month[1]) == {"return": 1} and dict(stats.by_month[3]) == {"approve": 1, "claimed": 1, "open": 1}
    expected = (working_days_between(date(2026, 3, 2), date(2026, 3, 5))
                + working_days_between(date(2026, 1, 31), date(2026, 2, 2)))
    assert stats.completed == 2 and stats.average_days == expected / 2
    assert stats.return_rate == 0.5
    assert review_stats(reviewer, 2025).total == 0
    # another region's reviewer sees none of it; an enterprise may not ask
    assert review_stats(world.who("agency2_reviewer"), 2026).total == 0
    with pytest.raises(Forbidden):
        review_stats(world.who("contractor_user"), 2026)


def test_stats_page_draws_its_charts_on_the_server(client_world, services):
    client, world = client_world
    _reported(world, services, ["甲", "乙"])
    login(client, "auth_reviewer")
    resp = client.get("/review/stats")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count('<svg class="chart"') == 2 and "每月任务" in html and "人员解锁申请" in html
    assert "<script" not in html.split("<main", 1)[-1].split("</main>")[0]
    assert client.get("/review/stats?year=abc").status_code == 200   # a bad year is ignored


def test_inbox_export_is_the_filtered_view_as_excel(client_world, services):
    client, world = client_world
    tasks = _reported(world, services, ["甲", "乙", "丙"])
    login(client, "auth_reviewer")
    resp = client.get("/review/export?view=open&scope=乙")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert resp.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    sheet = load_workbook(io.BytesIO(resp.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("序号", "办件编号", "业务类型", "环节", "事项", "工程名称")
    [row] = _by_header(rows)
    assert row["工程名称"] == "乙的工程" and row["业务类型"] == "人员解锁申请" and row["状态"] == "待签收"
    # the case number (办件编号) and the step (环节) of every row, as the inbox shows them
    assert row["办件编号"] == tasks[1].case_no and row["办件编号"].startswith("RJ-") and row["环节"] == "审核"
    everything = load_workbook(io.BytesIO(client.get("/review/export?view=open").get_data())).active
    assert everything.max_row == 1 + len(tasks)
    # the done list: what I decided
    reviewer = world.who("auth_reviewer")
    services.reviews.claim(reviewer, tasks[0].id)
    services.reviews.approve(reviewer, tasks[0].id, "同意")
    done = list(load_workbook(io.BytesIO(client.get("/review/export?view=done").get_data())).active
                .iter_rows(values_only=True))
    [row] = _by_header(done)
    assert row["状态"] == "审核通过" and row["签收/办理人"] == "李审核" and row["办件编号"] == tasks[0].case_no


def _by_header(rows) -> list[dict]:
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def test_export_pages_through_every_row(world, services, monkeypatch):
    from handlers import review_desk
    monkeypatch.setattr(review_desk, "EXPORT_PAGE", 2)
    _reported(world, services, ["甲", "乙", "丙", "丁", "戊"])
    from engine.inbox import InboxFilter
    rows = list(services.reviews.export_rows(world.who("auth_reviewer"), "open", InboxFilter()))
    assert len(rows) == 5 and len({r.id for r in rows}) == 5
    assert len(list(services.reviews.export_rows(world.who("auth_reviewer"), "open", InboxFilter(), limit=3))) == 3


def test_application_list_export_follows_the_catalog_columns_and_the_status_tab(client_world, services):
    client, world = client_world
    _reported(world, services, ["甲", "乙"])
    applicant = world.who("contractor_user")
    pm, _project = locked_person(world, "丙", project_name="丙的工程")
    from handlers import lock_rule
    services.unlock.create(applicant, lock_rule.open_locks(pm.id)[0].id)   # a draft
    login(client, "contractor_user")
    assert 'href="/apply/unlock/export"' in client.get("/apply/unlock/").get_data(as_text=True)
    rows = list(load_workbook(io.BytesIO(client.get("/apply/unlock/export").get_data())).active
                .iter_rows(values_only=True))
    from handlers import catalog
    entry = catalog.by_kind("unlock")
    assert rows[0] == ("序号", "办件编号", *[c.label for c in entry.columns], "上报时间", "状态")
    assert all(re.fullmatch(r"RJ-\d{4}-\d{6}", r[1]) for r in rows[1:])   # every list names its case numbers
    assert len(rows) == 4 and sorted(r[-1] for r in rows[1:]) == ["待审核", "待审核", "草稿"]
    reported = list(load_workbook(io.BytesIO(client.get("/apply/unlock/export?status=reported").get_data()))
                    .active.iter_rows(values_only=True))
    assert len(reported) == 3 and all(r[-1] == "待审核" for r in reported[1:])
    id_card = 2 + [c.label for c in entry.columns].index("身份证号")
    assert all("********" in r[id_card] for r in reported[1:])   # masked as on the page
    # another kind's list is refused to this enterprise kind
    assert client.get("/apply/completion/export").status_code == 403
