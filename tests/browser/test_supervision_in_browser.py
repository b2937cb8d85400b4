"""催办 and 督办 in a real browser: the applicant urges its overdue review once, and the competent
authority moves the task's due date from the 督办 list; both show on the task page's log."""
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from engine import workcalendar

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser
CST = timezone(timedelta(hours=8))


def test_applicant_urges_and_the_authority_moves_the_due_date(live, new_page, tmp_path):
    out = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    world, services = live.world, live.app.extensions["services"]
    pm, _ = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    with time_machine.travel(datetime(2025, 3, 20, 10, tzinfo=CST), tick=False):   # long overdue by now
        app = reported_unlock(world, services, pm)
        services.reviews.claim(world.who("agency_reviewer"), services.unlock.open_task(app).id)
    app_id = app.id

    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/{app_id}")
    expect(page.locator("#urge")).to_contain_text("已超期")
    page.click("#urge button:has-text('催办')")
    expect(page.locator(".flash-success")).to_contain_text("已催办")
    expect(page.locator("#urge")).to_contain_text("今天已催办")

    authority = new_page()
    login(authority, live.url, "auth_reviewer")
    authority.click("nav.mainnav >> text=督办")
    authority.locator("table.supervision tr", has_text="张三（项目经理）解锁").locator("a:has-text('督办')").click()
    panel = authority.locator("#supervise")
    expect(panel).to_contain_text("给办理人 赵监督 留言")
    authority.fill("#supervise-note-text", "请于本周内办结")
    authority.click("#supervise-note button")
    expect(authority.locator(".flash-success")).to_contain_text("督办意见已记录")
    new_due = workcalendar.current().add_working_days(workcalendar.today(), 3)
    authority.fill("#supervise-due-date", new_due.isoformat())
    authority.fill("#supervise-due-text", "材料较多，延长 3 个工作日")
    authority.screenshot(path=str(out / "supervision-task.png"), full_page=True)
    authority.click("#supervise-due button")
    expect(authority.locator(".flash-success")).to_contain_text("办理期限已调整")
    log = authority.locator("table", has_text="操作人")
    expect(log).to_contain_text("催办")
    expect(log).to_contain_text("督办意见")
    expect(log).to_contain_text(f"办理期限调整为 {new_due.isoformat()}")
    expect(authority.locator("#supervise")).to_have_count(0)   # no longer overdue
