"""人员解锁申请 walked in a real browser by its three users (2.2.1.1, §5)."""
import re

import pytest
from playwright.sync_api import expect

from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.4\n% unlock application form\n"


def login(page, base, username):
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo1234")
    page.click("button:has-text('登录')")
    expect(page.locator("body")).not_to_contain_text("用户名或密码错误")


def test_unlock_filed_reviewed_by_either_regulator_and_person_unlocked(live, new_page, tmp_path):
    world = live.world
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(pm, project, PROJECT_MANAGER)
    form = tmp_path / "建设工程项目人员解锁申请表.pdf"
    form.write_bytes(PDF)

    # the contractor adds the application, fills it, uploads the form and reports it
    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    applicant.goto(f"{live.url}/apply/unlock/")
    applicant.click("text=添加")
    dialog = applicant.locator("dialog[open]")
    dialog.locator("label.choice", has_text="张三").click()
    dialog.locator("button:has-text('确定')").click()
    applicant.fill("#reason", "项目已停工，申请解锁")
    applicant.set_input_files("#unlock_form", str(form))
    applicant.locator("form button:has-text('确定')").click()
    row = applicant.locator("tr", has_text="张三")
    expect(row).to_contain_text("草稿")
    applicant.once("dialog", lambda d: d.accept())
    row.locator("button:has-text('上报')").click()
    expect(applicant.locator("tr", has_text="张三")).to_contain_text("待审核")

    # both regulators of the project see it; the agency claims it
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=张三（项目经理）解锁")
    expect(agency.locator("body")).to_contain_text("建设工程项目人员解锁申请表")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")

    authority = new_page()
    login(authority, live.url, "auth_reviewer")
    authority.goto(f"{live.url}/review/?view=open")
    expect(authority.locator("body")).not_to_contain_text("张三（项目经理）解锁")
    authority.goto(f"{live.url}/review/?view=held")
    held = authority.locator("tr", has_text="张三（项目经理）解锁")
    expect(held).to_contain_text("赵监督")

    # the holder approves; the engine unlocks the person
    agency.fill("textarea[name=opinion]", "材料齐全，同意解锁")
    agency.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")

    applicant.goto(f"{live.url}/apply/unlock/")
    expect(applicant.locator("tr", has_text="张三")).to_contain_text("已办结")
    applicant.locator("tr", has_text="张三").locator("a", has_text=re.compile("查看|编辑")).first.click()
    log = applicant.locator("table", has_text="操作时间")
    for action in ("上报", "签收", "审核通过", "自动解锁"):
        expect(log).to_contain_text(action)
    applicant.goto(f"{live.url}/enterprise/people/{pm.id}")
    expect(applicant.locator("h1")).to_contain_text("正常")
