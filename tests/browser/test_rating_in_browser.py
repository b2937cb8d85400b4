"""好差评 in a real browser: the applicant rates a finished case 不满意, the deciding agency answers
the 整改 from its inbox, and the applicant reads the answer and adds to its comment."""
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.db import db

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def test_applicant_rates_a_finished_case_and_reads_the_rectification(live, new_page, tmp_path):
    # SCREENSHOT_DIR=docs/screenshots keeps the pictures for the manual
    out = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    world, services = live.world, live.app.extensions["services"]
    pm, _ = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    task = services.unlock.open_task(app)
    services.reviews.claim(world.who("agency_reviewer"), task.id)
    services.reviews.approve(world.who("agency_reviewer"), task.id, "同意解锁")
    app_id = app.id
    db.session.commit()

    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/{app_id}")
    panel = page.locator("#rating")
    expect(panel).to_contain_text("好差评")
    # a 差评 without a reason is refused, naming the field, and nothing is kept
    panel.locator("label", has_text="非常不满意").click()
    panel.locator("button:has-text('提交评价')").click()
    expect(page.locator(".flash-error")).to_contain_text("评价内容")
    panel = page.locator("#rating")
    panel.locator("label", has_text="不满意").first.click()
    page.fill("#rating-comment", "退回和审核意见都没有写明依据，来回跑了两次")
    page.locator("#rating button:has-text('提交评价')").click()
    expect(page.locator(".flash-success")).to_contain_text("评价已提交")
    panel = page.locator("#rating")
    expect(panel.locator("[data-rating]")).to_have_text("不满意")
    expect(panel.locator("#rectification")).to_contain_text("整改中")
    panel.screenshot(path=str(out / "rating-submitted.png"))

    # the agency that decided the case answers the 整改 from its inbox
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=差评整改：人员解锁申请")
    expect(agency.locator(".summary")).to_contain_text("退回和审核意见都没有写明依据")
    expect(agency.locator(".page-head").first).to_contain_text("剩余 5 个工作日")
    agency.click("button:has-text('签收')")
    agency.fill("textarea[name=answer]", "已组织审核人员学习，今后退回和审核通过均写明依据条款。")
    agency.screenshot(path=str(out / "rectification-task.png"), full_page=True)
    agency.click("#decision-form button:has-text('提交')")
    expect(agency.locator(".flash-success")).to_contain_text("整改已提交")

    page.reload()
    panel = page.locator("#rating")
    expect(panel.locator("#rectification")).to_contain_text("已整改")
    expect(panel.locator("#rectification")).to_contain_text("写明依据条款")
    page.fill("#rating-add", "整改后的答复很清楚，谢谢")
    page.click("#rating-add-form button:has-text('追加评价')")
    expect(page.locator(".flash-success")).to_contain_text("追加评价已提交")
    expect(page.locator("#rating .rating-addition")).to_contain_text("整改后的答复很清楚")
    page.locator("#rating").screenshot(path=str(out / "rating-rectified.png"))
