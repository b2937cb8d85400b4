"""The step (环节) in a real browser: a 现场核查 reads as one in the inbox's 环节 column, with its
case number, and on the task page's panel; the review that follows reads 审核."""
import pytest
from playwright.sync_api import expect

from ..test_site_check import _deploy_site_check
from ..test_step_shown import _check_done
from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def _column(page, header: str):
    """The cells of the inbox column headed ``header``, found by its position in the header row."""
    headers = page.locator("table.table thead th").all_inner_texts()
    return page.locator(f"table.table tbody tr td:nth-child({headers.index(header) + 1})")


def test_the_inbox_shows_each_tasks_step_and_case_number(live, new_page):
    world, services = live.world, live.app.extensions["services"]
    _deploy_site_check(services)
    pm, _ = locked_person(world, "郑十一", project_name="昆明市第一中学教学楼")
    checked = reported_unlock(world, services, pm)
    _check_done(world, services, services.unlock.open_task(checked))   # its review is open now
    pm, _ = locked_person(world, "吴十", project_name="滇池路改造工程")
    to_check = reported_unlock(world, services, pm)

    page = new_page()
    login(page, live.url, "agency_reviewer")
    page.goto(f"{live.url}/review/")
    expect(page.locator("tr", has_text="吴十（项目经理）解锁")).to_be_visible()
    # newest first: the on-site check just offered, then the review after the other one's check
    expect(_column(page, "环节")).to_have_text(["现场核查", "审核"])
    expect(_column(page, "办件编号")).to_have_text([to_check.case_no, checked.case_no])
    page.locator("tr", has_text="吴十（项目经理）解锁").locator("a", has_text="吴十（项目经理）解锁").click()
    expect(page.locator("aside .card h2").first).to_have_text("现场核查")
    expect(page.locator(".breadcrumb")).to_contain_text("现场核查")

    # the authority is offered the review only, never the agency's on-site check
    authority = new_page()
    login(authority, live.url, "auth_reviewer")
    authority.goto(f"{live.url}/review/")
    expect(_column(authority, "环节")).to_have_text(["审核"])
    expect(_column(authority, "办件编号")).to_have_text([checked.case_no])
