"""The 添加 dialog's search in a browser: typing a name or part of an ID number narrows the
choices (the server filters), pages turn in place, and greyed picks keep their reason."""
import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers import lock_rule

from ..world import locked_person
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def test_the_picker_finds_one_of_many_by_name_and_by_id_number(live, new_page):
    people = [locked_person(live.world, f"员工{i:03d}")[0] for i in range(40)]
    services = live.app.extensions["services"]
    busy = people[7]
    services.unlock.create(live.world.who("contractor_user"), lock_rule.open_locks(busy.id)[0].id)
    db.session.commit()

    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/")
    page.click("text=添加")
    dialog = page.locator("dialog[open]")
    choices = dialog.locator("label.choice")
    expect(choices).to_have_count(24)                       # the first page
    dialog.locator("a", has_text="下一页").click()
    expect(choices).to_have_count(16)
    expect(dialog.locator(".pick-pager")).to_contain_text("第 2 页")

    search = dialog.locator("input[name=q]")
    search.fill("员工033")
    expect(choices).to_have_count(1)
    expect(choices).to_contain_text("员工033")
    search.fill(busy.id_card[-6:])                          # part of the ID number
    expect(choices).to_have_count(1)
    expect(choices.first).to_contain_text("已有未办结的申请")   # the greyed reason stays
    expect(choices.first.locator("input")).to_be_disabled()
    search.fill("没有这个人")
    expect(dialog).to_contain_text("未找到与“没有这个人”匹配的记录")

    search.fill("员工021")
    search.press("Enter")                                   # Enter searches, it does not leave the page
    expect(choices).to_have_count(1)
    choices.first.click()
    dialog.locator("button:has-text('确定')").click()
    expect(page.locator("dl.summary")).to_contain_text("员工021")
