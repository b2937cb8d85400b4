"""扫码登录 in two browser contexts: the computer shows the login page's QR code, the phone (a
mobile-sized context with a phone's User-Agent) opens the code's link, logs in there, and
confirms or cancels; the computer's page then signs in by itself, or says why not."""
import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from engine.db import db
from handlers.models import ACTIVE, Account, User

pytestmark = pytest.mark.browser
PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    """Every login page of the suite asks for codes from 127.0.0.1: these tests start afresh."""
    from webui import limiter
    with app.app_context():
        limiter.reset()
    yield
    app.config["QR_LOGIN_SECONDS"] = 120


@pytest.fixture()
def new_phone(browser):
    contexts = []

    def open_phone():
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True, user_agent=PHONE_AGENT)
        context.set_default_timeout(10000)
        contexts.append(context)
        return context.new_page()
    yield open_phone
    for context in contexts:
        context.close()


def shown_code(computer, base) -> tuple[str, str]:
    """Open the login page and wait for its QR code: (code, the phone's link)."""
    computer.goto(f"{base}/auth/login")
    panel = computer.locator("#qr-login[data-code]")
    expect(panel.locator("svg")).to_be_visible()
    return panel.get_attribute("data-code"), panel.get_attribute("data-url")


def phone_opens(phone, url, username="contractor_user"):
    """The phone scans the code: not signed in yet, it logs in on the mobile page first."""
    phone.goto(url)
    expect(phone.locator("h1")).to_have_text("登录后确认扫码")
    phone.fill("#username", username)
    phone.fill("#password", "demo1234")
    phone.click("button:has-text('登录')")
    expect(phone.locator("h1")).to_have_text("扫码登录确认")


def test_confirmed_on_the_phone_signs_the_computer_in(live, new_page, new_phone):
    computer = new_page()
    _code, url = shown_code(computer, live.url)
    phone = new_phone()
    phone_opens(phone, url)
    expect(phone.locator("#scan-computer")).to_contain_text("Chrome")    # which computer asks
    expect(phone.locator("#scan-address")).to_have_text("127.0.0.1")
    expect(phone.locator("#scan-site")).to_contain_text("127.0.0.1")      # which site
    phone.click("button:has-text('确认登录')")
    expect(phone.locator("#scan-done")).to_contain_text("云南建投第一建设有限公司")
    # the computer's page polls and signs itself in
    expect(computer.locator(".who-name")).to_have_text("吴施工")
    expect(computer.locator(".who-org")).to_have_text("云南建投第一建设有限公司")

    # a second use: the phone opens the same code again
    phone.goto(url)
    expect(phone.locator("#scan-refusal")).to_contain_text("二维码已使用")


def test_the_person_with_two_accounts_chooses_the_account_on_the_phone(live, new_page, new_phone):
    world = live.world
    user = User(username="multi", password_hash=generate_password_hash("demo1234"), name="多角色")
    db.session.add(user)
    db.session.add_all([Account(user=user, org=world.org("contractor"), status=ACTIVE),
                        Account(user=user, org=world.org("firm"), status=ACTIVE)])
    db.session.commit()
    computer = new_page()
    _code, url = shown_code(computer, live.url)
    phone = new_phone()
    phone_opens(phone, url, "multi")
    choices = phone.locator(".m-choice")
    expect(choices).to_have_count(2)
    phone.click("button:has-text('确认登录')")   # nothing chosen yet
    expect(phone.locator(".m-flash")).to_contain_text("请选择您本人已通过审核的账号")
    phone.locator(".m-choice", has_text="云南建设监理咨询有限公司").click()
    phone.click("button:has-text('确认登录')")
    expect(phone.locator("#scan-done")).to_contain_text("云南建设监理咨询有限公司（监理单位）")
    # no role picker on the computer: it acts as the account chosen on the phone
    expect(computer.locator(".who-org")).to_have_text("云南建设监理咨询有限公司")
    expect(computer.locator(".badge-role")).to_have_text("监理单位")


def test_an_expired_code_is_replaced_on_the_computer_and_refused_on_the_phone(live, new_page, new_phone):
    live.app.config["QR_LOGIN_SECONDS"] = 3
    computer = new_page()
    old_code, old_url = shown_code(computer, live.url)
    # the page refreshes itself with a new code once the old one expires
    expect(computer.locator("#qr-login")).not_to_have_attribute("data-code", old_code, timeout=12000)
    expect(computer.locator("#qr-status")).to_contain_text("二维码已过期，已自动刷新")
    live.app.config["QR_LOGIN_SECONDS"] = 120
    phone = new_phone()
    phone.goto(f"{live.url}/m/login")
    phone.fill("#username", "contractor_user")
    phone.fill("#password", "demo1234")
    phone.click("button:has-text('登录')")
    phone.goto(old_url)
    expect(phone.locator("#scan-refusal")).to_contain_text("二维码已过期")


def test_another_browser_presenting_the_code_is_refused(live, new_page, new_phone):
    computer = new_page()
    code, url = shown_code(computer, live.url)
    phone = new_phone()
    phone_opens(phone, url)
    phone.click("button:has-text('确认登录')")
    expect(phone.locator("h1")).to_have_text("已确认登录")

    thief = new_page()   # a third browser that learned the code (it is in the QR code's link)
    thief.goto(f"{live.url}/help")
    answer = thief.evaluate("""async (code) => {
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch('/auth/qr/poll', {method: 'POST', headers: {'Content-Type': 'application/json',
                              'X-CSRFToken': token}, body: JSON.stringify({code})});
        return [r.status, await r.json()];
    }""", code)
    assert answer[0] == 403 and "不是由本浏览器生成" in answer[1]["message"]
    thief.goto(f"{live.url}/")
    expect(thief.locator(".who-name")).to_have_count(0)   # still anonymous: the login page
    # the browser that showed the code still signs in (the phone may have been quicker than the thief)
    expect(computer.locator(".who-name")).to_have_text("吴施工")


def test_cancelled_on_the_phone_the_computer_says_so(live, new_page, new_phone):
    computer = new_page()
    _code, url = shown_code(computer, live.url)
    phone = new_phone()
    phone_opens(phone, url)
    phone.click("button:has-text('取消登录')")
    expect(phone.locator("#scan-done")).to_contain_text("已取消本次扫码登录")
    expect(computer.locator("#qr-status")).to_contain_text("扫码登录已取消")
    expect(computer.locator(".who-name")).to_have_count(0)
    computer.click("#qr-refresh")   # 刷新二维码 starts again with a new code
    expect(computer.locator("#qr-status")).to_contain_text("请使用手机扫描二维码")
