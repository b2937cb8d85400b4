"""The smaller defects of issue 12 seen in a browser with an English locale: a zh-CN date picker,
a Chinese file control, certificates as separate tags, the help page's title, all-at-once errors."""
import pytest
from playwright.sync_api import expect

from handlers.models import CONSTRUCTOR, SAFETY_B

from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser


def _english_page(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10000)
    return context, context.new_page()


def test_date_inputs_get_a_chinese_picker_and_keep_iso_values(live, browser):
    context, page = _english_page(browser)
    try:
        login(page, live.url, "agency_reviewer")
        page.goto(f"{live.url}/review/?view=done")
        date_from = page.locator("input[name=date_from]")
        expect(date_from).to_have_attribute("type", "text")      # no native mm/dd/yyyy control
        date_from.click()
        calendar = page.locator(".flatpickr-calendar.open")
        expect(calendar).to_be_visible()
        expect(calendar.locator(".flatpickr-weekdays")).to_contain_text("周一")
        calendar.locator(".flatpickr-day:not(.prevMonthDay):not(.nextMonthDay)", has_text="15").first.click()
        assert date_from.input_value().endswith("-15") and len(date_from.input_value()) == 10   # YYYY-MM-DD
    finally:
        context.close()


def test_file_inputs_read_in_chinese_and_name_the_chosen_file(live, browser, tmp_path):
    context, page = _english_page(browser)
    try:
        login(page, live.url, "admin")
        page.goto(f"{live.url}/admin/calendar")
        picker = page.locator(".file-picker").first
        expect(picker.locator(".file-picker-button")).to_have_text("选择文件")
        expect(picker.locator(".file-picker-name")).to_have_text("未选择文件")
        native = picker.locator("input[type=file]")
        assert native.evaluate("e => getComputedStyle(e).opacity") == "0"   # the English control is not shown
        chosen = tmp_path / "2027年节假日安排.csv"
        chosen.write_text("date,working,name\n", encoding="utf-8")
        with page.expect_file_chooser() as chooser:
            picker.locator(".file-picker-button").click()
        chooser.value.set_files(str(chosen))
        expect(picker.locator(".file-picker-name")).to_have_text("2027年节假日安排.csv")
    finally:
        context.close()


def test_certificates_are_separate_tags(live, new_page):
    live.world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/enterprise/people")
    tags = page.locator("tr", has_text="张三").locator(".tag")
    expect(tags).to_have_count(2)
    first, second = tags.nth(0).bounding_box(), tags.nth(1).bounding_box()
    assert second["x"] >= first["x"] + first["width"] + 2 or second["y"] > first["y"]   # a gap, not run together
    cell = page.locator("tr", has_text="张三").locator("td:has(.tag)")
    assert "注册建造师、" in cell.text_content()   # read aloud and copied apart


def test_help_page_uses_the_menu_wording(live, new_page):
    page = new_page()
    page.goto(f"{live.url}/help")
    expect(page.locator("h1")).to_have_text("技术支持与服务")
    expect(page.locator("body")).not_to_contain_text("第三章")


def test_registration_shows_every_error_under_its_field_and_focuses_the_first(live, new_page):
    page = new_page()
    page.goto(f"{live.url}/auth/register/details?kind=contractor")
    page.fill("#contact_person", "刘一")
    page.fill("#credit_code", "123")
    page.fill("#mobile", "1380000")
    page.fill("#username", "newco")
    page.fill("#password", "ynqs2026x")
    page.fill("#confirm", "ynqs2026y")
    page.click("button:has-text('提交注册')")
    errors = page.locator(".field.has-error")
    expect(errors).to_have_count(5)   # 单位名称, 统一社会信用代码, 手机号码, 确认密码, 营业执照 — in one submit
    for text in ("请填写单位名称", "统一社会信用代码：格式或校验位不正确", "手机号码：请填写 11 位手机号码",
                 "两次输入的密码不一致", "营业执照扫描件：请上传营业执照扫描件"):
        expect(page.locator(".field.has-error", has_text=text)).to_have_count(1)
    expect(page.locator("#org_name")).to_be_focused()
    expect(page.locator("#password")).to_have_value("ynqs2026x")   # nothing to retype
