"""竣工验收备案 walked in a real browser (2.3.2, §4.6, §5): the construction unit files it, a
regulator approves it, the project becomes 竣工 and its key personnel are released."""
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from handlers.models import (
    CHIEF_SUPERVISOR, CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B, SAFETY_C, SAFETY_OFFICER, SUPERVISION_ENGINEER,
)

from .test_unlock_in_browser import PDF, login

pytestmark = pytest.mark.browser
PROJECT = "昆明市第一中学教学楼"


def test_completion_filed_approved_project_completed_and_personnel_released(live, new_page, tmp_path):
    world = live.world
    project = world.add_project(PROJECT)
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    officer = world.add_person("孙安全", "contractor", SAFETY_C)
    chief = world.add_person("周总监", "firm", SUPERVISION_ENGINEER)
    world.assign(pm, project, PROJECT_MANAGER)
    world.assign(officer, project, SAFETY_OFFICER)
    world.assign(chief, project, CHIEF_SUPERVISOR)
    report = tmp_path / "竣工验收报告.pdf"
    report.write_bytes(PDF)
    accepted_on = (date.today() - timedelta(days=3)).isoformat()

    # before: the project is under construction with its three key people, two of them locked
    owner = new_page()
    login(owner, live.url, "owner_user")
    owner.goto(f"{live.url}/enterprise/projects")
    row = owner.locator("tr", has_text=PROJECT)
    expect(row).to_contain_text("在建")
    for name in ("张三", "孙安全", "周总监"):
        expect(row).to_contain_text(name)

    # the construction unit adds the filing, fills it, uploads the report, saves and reports it
    owner.goto(f"{live.url}/apply/completion/")
    owner.click("text=添加")
    dialog = owner.locator("dialog[open]")
    dialog.locator("label.choice", has_text=PROJECT).click()
    dialog.locator("button:has-text('确定')").click()
    expect(owner.locator("h1")).to_contain_text("竣工验收备案")
    owner.fill("#acceptance_date", accepted_on)
    owner.fill("#conclusion", "工程质量符合设计和规范要求，竣工验收合格")
    owner.fill("#permit_no", "530100202301150101")
    owner.set_input_files("#attachments", str(report))
    owner.locator("form button:has-text('暂存')").click()
    expect(owner.locator("body")).to_contain_text("已暂存")
    row = owner.locator("tr", has_text=PROJECT)
    expect(row).to_contain_text("草稿")
    expect(row).to_contain_text(accepted_on)
    expect(row).to_contain_text("530100202301150101")
    row.locator("button:has-text('上报')").click()
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("待审核")

    # the agency's reviewer sees the filing with its attachment, claims and approves it
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click(f"text={PROJECT}竣工验收备案")
    expect(agency.locator("body")).to_contain_text("竣工验收合格")
    expect(agency.locator("table.attachments")).to_contain_text("竣工验收报告.pdf")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")
    agency.fill("textarea[name=opinion]", "资料齐全，准予备案")
    agency.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")

    # the filing is done, the project is completed and has no key personnel left
    owner.goto(f"{live.url}/apply/completion/")
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("已办结")
    owner.goto(f"{live.url}/enterprise/projects")
    row = owner.locator("tr", has_text=PROJECT)
    expect(row).to_contain_text("竣工")
    for name in ("张三", "孙安全", "周总监"):
        expect(row).not_to_contain_text(name)

    # the people are released: their enterprises see them 正常 with their locks closed
    contractor = new_page()
    login(contractor, live.url, "contractor_user")
    for person in (pm, officer):
        contractor.goto(f"{live.url}/enterprise/people/{person.id}")
        expect(contractor.locator("h1")).to_contain_text("正常")
        expect(contractor.locator("section", has_text="锁定记录")).not_to_contain_text("锁定中")
        expect(contractor.locator("section", has_text="当前任职")).not_to_contain_text(PROJECT)
    contractor.goto(f"{live.url}/enterprise/people")
    for name in ("张三", "孙安全"):
        expect(contractor.locator("tr", has_text=name)).to_contain_text("正常")
    firm = new_page()
    login(firm, live.url, "firm_user")
    firm.goto(f"{live.url}/enterprise/people/{chief.id}")
    expect(firm.locator("h1")).to_contain_text("正常")
    expect(firm.locator("section", has_text="当前任职")).not_to_contain_text(PROJECT)
