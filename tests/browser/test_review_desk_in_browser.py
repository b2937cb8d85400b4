"""The reviewer's desk in a real browser: the approval preview and its confirmation, 退回's
opinion check before its confirmation, 批量签收, 转办, 常用意见 and the inline attachment viewer."""
import re

import pytest
from playwright.sync_api import expect

from ..world import locked_person, reported_unlock

pytestmark = pytest.mark.browser


def login(page, base, username):
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo1234")
    page.click("button:has-text('登录')")
    expect(page.locator("body")).not_to_contain_text("用户名或密码错误")


def _report(live, *names):
    services = live.app.extensions["services"]
    for name in names:
        pm, _project = locked_person(live.world, name, project_name=f"{name}的工程")
        reported_unlock(live.world, services, pm)
    return services


def _claim(page):
    """签收 on the task page, then wait for the page after it to have run its deferred scripts (nav.js,
    review.js: the confirmations and the opinion check): on a busy machine a click made before the
    document finished loading would submit without them."""
    page.click("button:has-text('签收')")
    expect(page.locator("body")).to_contain_text("签收成功")
    page.wait_for_load_state("domcontentloaded")


def _dialogs(page, *answers: bool):
    """Record every dialog's message, answering them in turn with ``answers`` (then accepting)."""
    seen, queue = [], list(answers)

    def answer(dialog):
        seen.append(dialog.message)
        dialog.accept() if (queue.pop(0) if queue else True) else dialog.dismiss()
    page.on("dialog", answer)
    return seen


def test_approval_shows_its_consequences_and_asks_before_it_happens(live, new_page):
    _report(live, "张三", "李四")
    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    page.click("text=张三（项目经理）解锁")
    _claim(page)
    preview = page.locator("#approval-preview")
    expect(preview).to_contain_text("将关闭 张三 在 张三的工程 的锁定记录（项目经理）")
    expect(preview).to_contain_text("张三 状态变为正常")
    task_url = page.url

    # dismissed: nothing happens
    seen = _dialogs(page, False, True)
    page.click("button:has-text('审核通过')")
    page.wait_for_timeout(300)
    assert len(seen) == 1 and "审核通过后不可撤销" in seen[0] and "张三 在 张三的工程 的项目经理任职结束" in seen[0]
    assert page.url == task_url
    expect(page.locator("#approval-preview")).to_be_visible()

    # accepted: approved, and the next open task (李四's) opens
    page.click("button:has-text('审核通过')")
    expect(page.locator("body")).to_contain_text("审核通过，已为您打开下一个待办任务")
    expect(page.locator("h1")).to_contain_text("李四（项目经理）解锁")


def test_return_checks_the_opinion_before_asking_to_confirm(live, new_page):
    _report(live, "张三")
    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    page.click("text=张三（项目经理）解锁")
    _claim(page)
    seen = _dialogs(page)
    page.click("button:has-text('退回')")
    expect(page.locator("#opinion-error")).to_be_visible()
    expect(page.locator("#opinion-error")).to_have_text("意见：退回时必须填写意见")
    expect(page.locator("textarea[name=opinion]")).to_be_focused()
    assert seen == []   # no confirmation for a return that cannot go through
    page.fill("textarea[name=opinion]", "请补充解锁申请表原件")
    expect(page.locator("#opinion-error")).to_be_hidden()
    page.click("button:has-text('退回')")
    expect(page.locator("body")).to_contain_text("已退回")
    assert seen == ["确定退回该申请？"]


def test_batch_claim_claims_what_it_can_and_says_why_not_the_rest(live, new_page):
    _report(live, "张三", "李四", "王五")
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=李四（项目经理）解锁")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")

    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    expect(page.locator("input.batch-box")).to_have_count(2)   # 李四's is held by the agency
    page.check("input[data-select-all]")
    expect(page.locator("input.batch-box:checked")).to_have_count(2)
    page.click("button:has-text('批量签收')")
    expect(page.locator("body")).to_contain_text("已签收 2 个任务")
    expect(page.locator(".tabs a.active")).to_contain_text("我的待办")
    expect(page.locator("table")).to_contain_text("张三（项目经理）解锁")
    expect(page.locator("table")).to_contain_text("王五（项目经理）解锁")


def test_batch_claim_reports_a_task_claimed_meanwhile(live, new_page):
    _report(live, "张三", "李四")
    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    expect(page.locator("input.batch-box")).to_have_count(2)
    page.check("input[data-select-all]")
    # the agency claims 李四's task after the page was shown
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=李四（项目经理）解锁")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")
    page.click("button:has-text('批量签收')")
    expect(page.locator("body")).to_contain_text("已签收 1 个任务")
    expect(page.locator("body")).to_contain_text(
        "未签收“李四（项目经理）解锁”：该任务已由昆明市建设工程质量安全监督站的赵监督签收")
    expect(page.locator("table")).to_contain_text("张三（项目经理）解锁")   # now in 我的待办


def test_transfer_to_a_colleague_who_then_holds_and_is_told(live, new_page):
    _report(live, "张三")
    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    page.click("text=张三（项目经理）解锁")
    _claim(page)
    page.select_option("#to_user_id", label="王审核")
    page.fill("#transfer_reason", "本人出差一周，请代为办理")
    page.click("#transfer-form button:has-text('转办')")
    expect(page.locator("body")).to_contain_text("已转办给王审核")
    expect(page.locator("table")).not_to_contain_text("张三（项目经理）解锁")   # no longer in my 我的待办

    colleague = new_page()
    login(colleague, live.url, "auth_reviewer2")
    colleague.goto(f"{live.url}/review/?view=mine")
    expect(colleague.locator("table")).to_contain_text("张三（项目经理）解锁")
    colleague.goto(f"{live.url}/messages/")
    expect(colleague.locator("body")).to_contain_text("任务转办给您：张三（项目经理）解锁")
    colleague.goto(f"{live.url}/review/?view=mine")
    colleague.click("text=张三（项目经理）解锁")
    log = colleague.locator("table", has_text="操作时间")
    expect(log).to_contain_text("转办给王审核：本人出差一周，请代为办理")
    expect(colleague.locator("#approval-preview")).to_be_visible()


def test_opinion_phrases_fill_the_opinion_and_attachments_open_in_the_page(live, new_page):
    services = _report(live, "张三")
    services.reviews.add_phrase(live.world.who("auth_reviewer"), "材料齐全，同意解锁。")
    page = new_page()
    login(page, live.url, "auth_reviewer")
    page.goto(f"{live.url}/review/")
    page.click("text=张三（项目经理）解锁")
    _claim(page)
    page.click("button.phrase:has-text('材料齐全，同意解锁。')")
    expect(page.locator("textarea[name=opinion]")).to_have_value("材料齐全，同意解锁。")
    page.click("a[data-preview]")
    frame = page.locator("#attachment-viewer iframe.viewer-frame")
    expect(frame).to_be_visible()
    assert re.search(r"/apply/unlock/\d+/files/\d+/view$", frame.get_attribute("src"))
    expect(page.locator("#attachment-viewer")).to_contain_text("建设工程项目人员解锁申请表.pdf")
    page.click("button:has-text('关闭预览')")
    expect(page.locator("#attachment-viewer")).to_be_hidden()
