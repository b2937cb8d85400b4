"""The Content-Security-Policy holds in a real browser: the main pages of every role, with their
menus, dialogs and checks used, report no violation, and an injected inline handler is blocked."""
import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from ..world import reported_unlock

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.effectiveDirective + ' ' + (e.blockedURI || '') + ' ' + location.pathname);
});
"""


@pytest.fixture()
def watched(browser):
    """Pages that record CSP violations, both as DOM events and as console errors."""
    contexts, console = [], []

    def open_page():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        context.set_default_timeout(10000)
        context.add_init_script(WATCH)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
        return page
    yield open_page, console
    for context in contexts:
        context.close()


def visit(page, url):
    resp = page.goto(url)
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    page.wait_for_load_state("load")
    assert_clean(page)


def assert_clean(page):
    violations = page.evaluate("window.__csp")
    assert violations == [], violations


def login(page, base, username):
    visit(page, f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo1234")
    page.click("button:has-text('登录')")
    expect(page.locator("body")).not_to_contain_text("用户名或密码错误")
    assert_clean(page)


def test_main_pages_report_no_csp_violation(live, watched):
    open_page, console = watched
    services = live.app.extensions["services"]
    pm = live.world.add_person("赵六", "contractor", CONSTRUCTOR, SAFETY_B)
    project = live.world.add_project("昆明市官渡区安置房工程")
    live.world.add_person("钱七", "contractor", CONSTRUCTOR, SAFETY_B)
    live.world.assign(pm, project, PROJECT_MANAGER)
    app = reported_unlock(live.world, services, pm)
    db.session.commit()
    base = live.url

    anonymous = open_page()
    for path in ("/auth/login", "/auth/register", "/help", "/no-such-page"):
        visit(anonymous, base + path)
    anonymous.goto(base + "/help")
    anonymous.goto(base + "/no-such-page")
    anonymous.click("text=返回上一页")   # the former javascript: link, now a script from /static
    expect(anonymous).to_have_url(base + "/help")

    applicant = open_page()
    login(applicant, base, "contractor_user")
    for path in ("/", "/apply/unlock/", f"/apply/unlock/{app.id}", "/enterprise/info", "/enterprise/people",
                 "/apply/completion/"):
        visit(applicant, base + path)
    visit(applicant, base + "/apply/change/")
    applicant.click("text=添加")
    expect(applicant.locator("dialog[open]")).to_be_visible()
    applicant.locator("dialog[open] [data-close-dialog]").first.click()
    menu = applicant.locator(".menu-button", has_text="人员管理")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    assert_clean(applicant)

    reviewer = open_page()
    login(reviewer, base, "agency_reviewer")
    visit(reviewer, base + "/review/")
    reviewer.click("text=赵六（项目经理）解锁")
    expect(reviewer.locator("svg.bpmn-diagram")).to_be_visible()
    assert_clean(reviewer)

    admin = open_page()
    login(admin, base, "admin")
    for path in ("/admin/registrations", "/admin/accounts", "/admin/definitions", "/admin/api-tokens/",
                 "/admin/api-tokens/webhooks", "/api/v1/docs"):
        visit(admin, base + path)

    # the policy is really enforced: an inline handler slipped into the page does not run
    admin.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/x\" onerror=\"window.__ran = 1\">')")
    admin.wait_for_function("window.__csp.length > 0")
    assert admin.evaluate("window.__ran") is None
    assert console == [] or all("__ran" in m or "inline event handler" in m for m in console)
