"""消息中心 in a real browser: the applicant reads the notification of a return and opens the application."""
import pytest
from playwright.sync_api import expect

from engine.db import db

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def test_applicant_reads_the_notification_of_a_return(live, new_page):
    world = live.world
    services = live.app.extensions["services"]
    pm, _project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "解锁申请表未加盖单位公章，请补充后重新上报")
    db.session.commit()

    page = new_page()
    login(page, live.url, "contractor_user")
    badge = page.locator("#message-centre .unread")
    expect(badge).to_have_text("2")   # 签收 and 退回
    page.click("#message-centre")
    message = page.locator(".messages li", has_text="申请被退回")
    expect(message).to_contain_text("解锁申请表未加盖单位公章，请补充后重新上报")
    expect(message).to_have_class("unread")
    message.locator("button:has-text('查看')").click()
    expect(page).to_have_url(f"{live.url}/apply/unlock/{app.id}")
    expect(page.locator("body")).to_contain_text("已退回")
    expect(page.locator("#message-centre .unread")).to_have_text("1")
