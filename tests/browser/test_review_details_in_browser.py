"""Smaller defects of issue 12 on the review side at 1366×768: one empty message for an empty
attachment list, the 退回 controls on one line, the system named once in the operation log."""
import pytest
from playwright.sync_api import expect

from handlers import lock_rule
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def test_review_page_details(live, browser, services):
    world = live.world
    old = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    world.assign(old, world.add_project("昆明市第一中学教学楼"), PROJECT_MANAGER)
    new = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant = world.who("contractor_user")
    [pick] = services.change.picks(applicant)
    app = services.change.create(applicant, pick.id)
    services.change.save(applicant, app.id, {"new_person_id": str(new.id), "reason": "调岗"})   # no attachment
    services.change.report(applicant, app.id)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())
        login(page, live.url, "agency_reviewer")
        page.goto(f"{live.url}/review/")
        page.click("text=项目经理变更：张三 → 王五")
        page.click("button:has-text('签收')")
        attachments = page.locator("section.card", has=page.locator("h2", has_text="附件"))
        expect(attachments).to_contain_text("暂无数据")
        expect(attachments).not_to_contain_text("无附件")
        ret = page.locator("button", has_text="退回").first
        approve = page.locator("button", has_text="审核通过").first
        r, a = ret.bounding_box(), approve.bounding_box()
        assert abs(r["y"] - a["y"]) < 2 and r["height"] <= a["height"] + 1   # one row, one line each
        page.fill("textarea[name=opinion]", "同意")
        approve.click()
        expect(page.locator("body")).to_contain_text("审核通过")

        page.goto(f"{live.url}/review/?view=done")
        page.click("text=项目经理变更：张三 → 王五")
        log = page.locator("table.oplog")
        expect(log.locator("tr", has_text="变更生效")).to_contain_text("系统")
        expect(log).not_to_contain_text("系统（系统）")
    finally:
        context.close()
    assert lock_rule.open_locks(old.id) == []
