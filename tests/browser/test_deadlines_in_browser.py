"""Deadlines in a real browser: a reviewer sees the overdue badge and the late filing, and the
competent authority's 督办 page lists its overdue tasks."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from playwright.sync_api import expect

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser
CST = timezone(timedelta(hours=8))


def test_reviewer_sees_overdue_badge_late_filing_and_supervision(live, new_page):
    world, services = live.world, live.app.extensions["services"]
    pm, _ = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    applicant, project = world.who("owner_user"), world.add_project("滇池路改造工程")
    # reported long ago: 5 working days (and 15 days) have passed since
    with time_machine.travel(datetime(2025, 3, 20, 10, tzinfo=CST), tick=False):
        reported_unlock(world, services, pm)
        filing = services.completion.create(applicant, project.id)
        services.completion.save(applicant, filing.id, {"acceptance_date": "2025-03-01", "conclusion": "合格",
                                                        "permit_no": "530100202501010102"})
        services.completion.report(applicant, filing.id)

    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    row = page.locator("tr", has_text="张三（项目经理）解锁")
    expect(row.locator(".due-overdue")).to_contain_text("已超期")
    page.click("a.due-overdue")
    expect(page.locator("table")).to_contain_text("滇池路改造工程竣工验收备案")
    page.click("text=滇池路改造工程竣工验收备案")
    expect(page.locator(".late-filing")).to_have_text("逾期备案 3 天")
    expect(page.locator(".page-head .due-overdue")).to_contain_text("已超期")
    expect(page.locator(".clock")).to_contain_text("15 日")

    # 督办: reachable from the navigation, whoever holds the tasks
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=张三（项目经理）解锁")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")
    expect(agency.locator("nav.mainnav")).not_to_contain_text("督办")

    page.click("nav.mainnav >> text=督办")
    table = page.locator("table.supervision")
    expect(table).to_contain_text("张三（项目经理）解锁")
    expect(table).to_contain_text("滇池路改造工程竣工验收备案")
    expect(table.locator("tr", has_text="张三（项目经理）解锁")).to_contain_text("赵监督")
