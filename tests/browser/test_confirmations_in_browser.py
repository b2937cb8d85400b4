"""撤回 and 作废 ask once, on the list and on the detail page; a draft offers 作废, not 撤回."""
import pytest
from playwright.sync_api import expect

from engine.db import db

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def _count_prompts(page, accept: bool) -> list[str]:
    """Every confirm() the page raises, answered ``accept``."""
    asked: list[str] = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()
    page.on("dialog", answer)
    return asked


def _returned(live, name):
    services = live.app.extensions["services"]
    pm, _ = locked_person(live.world, name, project_name=f"{name}的工程")
    app = reported_unlock(live.world, services, pm)
    agency = live.world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "请补充停工证明")
    db.session.commit()
    return app


def test_withdraw_on_the_list_asks_once(live, new_page):
    _returned(live, "张三")
    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/")
    asked = _count_prompts(page, accept=True)
    page.locator("tr", has_text="张三").locator("button", has_text="撤回").click()
    expect(page.locator(".flash-success")).to_contain_text("已撤回")
    expect(page.locator("tr", has_text="张三")).to_contain_text("已撤回")
    assert asked == ["确定撤回该申请？撤回后业务结束。"]


def test_withdraw_on_the_detail_page_asks_once_and_withdraws(live, new_page):
    app = _returned(live, "李四")
    page = new_page()
    login(page, live.url, "contractor_user")
    asked = _count_prompts(page, accept=True)
    page.goto(f"{live.url}/apply/unlock/{app.id}")
    page.locator(".actions.bar button", has_text="撤回").click()
    expect(page.locator(".flash-success")).to_contain_text("已撤回")
    assert len(asked) == 1


def test_a_draft_offers_discard_which_asks_once_and_ends_it(live, new_page):
    pm, _ = locked_person(live.world, "王五", project_name="王五的工程")
    db.session.commit()
    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/")
    page.click("text=添加")
    dialog = page.locator("dialog[open]")
    dialog.locator("label.choice", has_text="王五").click()
    dialog.locator("button:has-text('确定')").click()
    expect(page.locator("h1")).to_contain_text("草稿")
    expect(page.locator("button", has_text="撤回")).to_have_count(0)
    asked = _count_prompts(page, accept=True)
    page.wait_for_load_state("domcontentloaded")   # the deferred script that asks has run
    page.locator(".actions.bar button", has_text="作废").click()
    expect(page.locator(".flash-success")).to_contain_text("草稿已作废")
    assert asked == ["确定作废该草稿？作废后不能再编辑或上报，可重新添加。"]
    row = page.locator("tr", has_text="王五")
    expect(row).to_contain_text("已作废")
    expect(row.locator("a", has_text="查看")).to_be_visible()
