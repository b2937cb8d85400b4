"""一次性告知 in a real browser: the reviewer returns with the checklist (a common item ticked, items
written naming a field or none), the applicant sees each item beside its field, 上报 is refused
until every item is answered, then accepted; the reviewer reads the answers and the notice PDF.

With DOC_SCREENSHOTS set to a folder, the checklist and the applicant's page are saved there
(docs/screenshots/ is made this way)."""
import os

import pytest
from playwright.sync_api import expect

from ..world import PDF_BYTES, locked_person, reported_unlock
from .test_review_desk_in_browser import _dialogs, login

pytestmark = pytest.mark.browser


def _shot(page, name, locator=None):
    folder = os.environ.get("DOC_SCREENSHOTS")
    if folder:
        (locator or page).screenshot(path=os.path.join(folder, f"{name}.png"))


def test_a_return_checklist_answered_item_by_item(live, new_page, tmp_path):
    services = live.app.extensions["services"]
    pm, _project = locked_person(live.world, "张三", project_name="昆明市第一中学教学楼")
    reported_unlock(live.world, services, pm)

    reviewer = new_page()
    login(reviewer, live.url, "agency_reviewer")
    reviewer.goto(f"{live.url}/review/")
    reviewer.click("text=张三（项目经理）解锁")
    reviewer.click("button:has-text('签收')")
    checklist = reviewer.locator("#return-checklist")
    expect(checklist).to_contain_text("退回时需补正的事项（一次性告知）")
    checklist.locator("label", has_text="申请表未加盖单位公章，或扫描件不清晰").locator("input").check()
    reviewer.select_option("select[name=corr_field_1]", label="解锁原因")
    reviewer.fill("input[name=corr_text_1]", "解锁原因未说明与锁定工程的关系")
    reviewer.fill("input[name=corr_text_2]", "请补充项目停工的证明材料")
    reviewer.fill("textarea[name=opinion]", "材料不齐全，请按补正事项一次性补正")
    _shot(reviewer, "return-checklist", reviewer.locator(".step-panel"))
    task_url = reviewer.url
    seen = _dialogs(reviewer)
    reviewer.click("button:has-text('退回')")
    expect(reviewer.locator("body")).to_contain_text("已退回")
    assert seen == ["确定退回该申请？"]

    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    applicant.goto(f"{live.url}/apply/unlock/")
    applicant.locator("tr", has_text="已退回").locator("a", has_text="编辑").click()
    expect(applicant.locator("#corrections-open")).to_contain_text("审核单位要求补正以下 3 项")
    # each item right below the field it names; the free one at the top
    reason_item = applicant.locator(".correction-item[data-field=reason]")
    form_item = applicant.locator(".correction-item[data-field=unlock_form]")
    free_item = applicant.locator("#corrections-open .correction-item[data-field='']")
    expect(reason_item).to_contain_text("解锁原因未说明与锁定工程的关系")
    expect(form_item).to_contain_text("申请表未加盖单位公章")
    expect(free_item).to_contain_text("请补充项目停工的证明材料")
    reason_box = applicant.locator("#reason").bounding_box()
    assert reason_item.bounding_box()["y"] > reason_box["y"]
    assert form_item.bounding_box()["y"] > applicant.locator("#unlock_form").bounding_box()["y"]

    # 上报 before answering: refused, naming the items
    applicant.click("button:has-text('上报')")
    expect(applicant.locator(".flash-error")).to_contain_text("补正事项未全部答复，不能上报")
    expect(applicant.locator(".flash-error")).to_contain_text("第 3 项“其他：请补充项目停工的证明材料”尚未答复")
    _shot(applicant, "correction-answers", applicant.locator("form.card"))

    # answered: the reason changed, the form uploaded again, the free item explained
    applicant.fill("#reason", "项目已于 2024 年 5 月停工，人员已离岗")
    reason_item.locator("input[value=corrected]").check()
    upload = tmp_path / "盖章申请表.pdf"
    upload.write_bytes(PDF_BYTES)
    applicant.set_input_files("#unlock_form", str(upload))
    form_item.locator("input[value=corrected]").check()
    form_item.locator("input[type=text]").fill("已上传加盖公章的申请表")
    free_item.locator("input[value=explained]").check()
    free_item.locator("input[type=text]").fill("停工证明附在申请表后")
    applicant.click("button:has-text('上报')")
    expect(applicant.locator("body")).to_contain_text("已上报")

    # the reviewer sees the answers item by item on the next review, and the notice
    reviewer.goto(f"{live.url}/review/")
    reviewer.click("text=张三（项目经理）解锁")
    assert reviewer.url != task_url
    history = reviewer.locator("#corrections-history")
    expect(history).to_contain_text("已上传加盖公章的申请表")
    expect(history).to_contain_text("停工证明附在申请表后")
    expect(history.locator("tr", has_text="解锁原因未说明")).to_contain_text("已更正")
    with reviewer.expect_response(lambda r: r.url.endswith("/notice/1.pdf")) as got:
        reviewer.evaluate("url => fetch(url)", history.locator("a", has_text="补正材料通知书").get_attribute("href"))
    assert got.value.status == 200 and got.value.headers["content-type"] == "application/pdf"
