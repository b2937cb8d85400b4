"""Layout at a tablet and a laptop viewport: the main pages never scroll sideways (wide tables
scroll inside their own wrapper) and the drop-down navigation opens by click or tap."""
import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from ..world import reported_unlock

pytestmark = pytest.mark.browser
VIEWPORTS = {"tablet": {"width": 768, "height": 1024}, "laptop": {"width": 1366, "height": 900}}
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture()
def device(browser, request):
    """Open pages at one viewport; the tablet one is a touch device."""
    contexts = []

    def open_page(name):
        touch = name == "tablet"
        context = browser.new_context(locale="zh-CN", viewport=VIEWPORTS[name], has_touch=touch, is_mobile=False)
        context.set_default_timeout(10000)
        contexts.append(context)
        return context.new_page()
    yield open_page
    for context in contexts:
        context.close()


def login(page, base, username):
    page.goto(f"{base}/auth/login")
    assert_no_overflow(page, "登录")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo1234")
    page.click("button:has-text('登录')")
    expect(page.locator("body")).not_to_contain_text("用户名或密码错误")


def assert_no_overflow(page, what):
    page.wait_for_load_state("load")
    scroll_width, inner_width = page.evaluate(OVERFLOW)
    assert scroll_width <= inner_width + 1, f"{what}: page is {scroll_width}px wide in a {inner_width}px window"


def long_names(world, services):
    """A province with long names and reported work, so the lists and details have real rows."""
    pm = world.add_person("欧阳建国", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市呈贡区洛龙街道万溪冲片区城中村改造项目安置房（一期）A1地块1#-8#楼及地下室工程")
    world.assign(pm, project, PROJECT_MANAGER)
    app = reported_unlock(world, services, pm, reason="该工程因建设单位资金问题已于本年度停工，停工期间项目经理需调往其他工程，故申请解锁")
    db.session.commit()
    return app


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_main_pages_fit_the_viewport_and_the_menu_works(live, device, viewport):
    app = long_names(live.world, live.app.extensions["services"])

    reviewer = device(viewport)
    login(reviewer, live.url, "agency_reviewer")
    reviewer.goto(f"{live.url}/review/")
    expect(reviewer.locator("tbody tr", has_text="欧阳建国")).to_be_visible()
    assert_no_overflow(reviewer, "待办")
    reviewer.click("text=欧阳建国（项目经理）解锁")
    expect(reviewer.locator("h1")).to_contain_text("欧阳建国")
    assert_no_overflow(reviewer, "审核任务")

    applicant = device(viewport)
    login(applicant, live.url, "contractor_user")
    applicant.goto(f"{live.url}/apply/unlock/")
    expect(applicant.locator("tbody tr", has_text="欧阳建国")).to_be_visible()
    assert_no_overflow(applicant, "人员解锁申请列表")
    applicant.goto(f"{live.url}/apply/unlock/{app.id}")
    expect(applicant.locator("h1")).to_contain_text("人员解锁申请")
    assert_no_overflow(applicant, "人员解锁申请详情")
    applicant.goto(f"{live.url}/apply/change/")
    applicant.click("text=添加")
    expect(applicant.locator("dialog[open]")).to_be_visible()
    assert_no_overflow(applicant, "添加对话框")

    # the 人员管理 menu opens by tap (tablet) or click (laptop) and its link navigates
    applicant.goto(f"{live.url}/enterprise/people")
    menu = applicant.locator(".menu", has=applicant.locator(".menu-button", has_text="人员管理"))
    link = menu.locator(".menu-panel a", has_text="人员解锁申请")
    applicant.mouse.move(0, applicant.viewport_size["height"] - 1)   # no hover help
    expect(link).to_be_hidden()
    button = menu.locator(".menu-button")
    if viewport == "tablet":
        button.tap()
    else:
        button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(link).to_be_visible()
    assert_no_overflow(applicant, "打开的菜单")
    if viewport == "tablet":
        link.tap()
    else:
        link.click()
    expect(applicant).to_have_url(f"{live.url}/apply/unlock/")
    expect(applicant.locator("h1")).to_contain_text("人员解锁申请")
