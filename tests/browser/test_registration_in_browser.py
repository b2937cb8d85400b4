"""注册审核 walked in a real browser: register, the administrator claims and decides it from 待办,
and a returned registrant corrects and resubmits with the credentials of the registration."""
import pytest
from playwright.sync_api import expect

from ..web_helpers import LICENCE_PDF
from ..world import credit_code

pytestmark = pytest.mark.browser
PASSWORD = "ynqs2026x"


def register(page, base, username, org_name, code):
    page.goto(f"{base}/auth/register")
    page.locator("label.choice", has_text="施工单位").click()
    page.click("button:has-text('下一步')")
    page.fill("#org_name", org_name)
    page.fill("#credit_code", credit_code(code))
    page.fill("#contact_person", "刘一")
    page.fill("#mobile", "13800000000")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.set_input_files("#licence", files=[{"name": "营业执照.pdf", "mimeType": "application/pdf", "buffer": LICENCE_PDF}])
    page.click("button:has-text('提交注册')")
    expect(page.locator("h1")).to_contain_text("注册已提交，等待审核")


def login(page, base, username, password="demo1234"):
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('登录')")


def open_registration_task(admin, base, org_name):
    """The administrator finds the registration in 待办 and claims it."""
    admin.goto(f"{base}/review/")
    admin.click(f"text={org_name}注册申请")
    expect(admin.locator("body")).to_contain_text("统一社会信用代码")
    admin.click("button:has-text('签收')")
    expect(admin.locator("body")).to_contain_text("签收成功")


def test_registration_approved_from_the_inbox_then_login_works(live, new_page):
    registrant = new_page()
    register(registrant, live.url, "newco", "昆明新建设有限公司", 8800101)
    login(registrant, live.url, "newco", PASSWORD)
    expect(registrant.locator("body")).to_contain_text("账号正在审核中，请等待平台管理员审核通过后再登录")

    admin = new_page()
    login(admin, live.url, "admin")
    admin.goto(f"{live.url}/admin/registrations")
    expect(admin.locator("tr", has_text="昆明新建设有限公司")).to_contain_text("newco")
    open_registration_task(admin, live.url, "昆明新建设有限公司")
    admin.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    admin.click("button:has-text('审核通过')")
    expect(admin.locator("body")).to_contain_text("审核通过")
    admin.goto(f"{live.url}/admin/registrations")
    expect(admin.locator("body")).to_contain_text("暂无待审核的注册申请")
    expect(admin.locator("tr", has_text="昆明新建设有限公司")).to_contain_text("审核通过")

    login(registrant, live.url, "newco", PASSWORD)
    expect(registrant.locator(".who")).to_contain_text("昆明新建设有限公司")


def test_returned_registration_is_corrected_resubmitted_and_approved(live, new_page):
    registrant = new_page()
    register(registrant, live.url, "wrongco", "昆明错名建设有限公司", 8800202)

    admin = new_page()
    login(admin, live.url, "admin")
    open_registration_task(admin, live.url, "昆明错名建设有限公司")
    admin.once("dialog", lambda d: d.accept())
    admin.click("button:has-text('退回')")
    expect(admin.locator("body")).to_contain_text("退回原因：退回时必须填写退回原因")
    admin.fill("#reason", "单位名称与营业执照不符")
    admin.once("dialog", lambda d: d.accept())
    admin.click("button:has-text('退回')")
    expect(admin.locator(".flash-success")).to_contain_text("已退回")

    login(registrant, live.url, "wrongco", PASSWORD)
    expect(registrant.locator("body")).to_contain_text("注册申请未通过审核，原因：单位名称与营业执照不符")
    registrant.click("text=修改注册信息并重新提交")
    expect(registrant.locator("body")).to_contain_text("单位名称与营业执照不符")
    expect(registrant.locator("#org_name")).to_have_value("昆明错名建设有限公司")
    registrant.fill("#org_name", "昆明正名建设有限公司")
    registrant.click("button:has-text('重新提交')")
    expect(registrant.locator("h1")).to_contain_text("注册信息已重新提交，等待审核")

    open_registration_task(admin, live.url, "昆明正名建设有限公司")
    admin.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    admin.click("button:has-text('审核通过')")
    admin.goto(f"{live.url}/admin/registrations")
    record = admin.locator("section", has_text="审核记录")
    expect(record.locator("tr", has_text="昆明正名建设有限公司")).to_contain_text("审核通过")
    expect(record.locator("tr", has_text="昆明错名建设有限公司")).to_contain_text("单位名称与营业执照不符")

    login(registrant, live.url, "wrongco", PASSWORD)
    expect(registrant.locator(".who")).to_contain_text("昆明正名建设有限公司")
