"""施工许可证补录 walked in a real browser (§4.7): the construction unit files the permit, a regulator
returns it, the construction unit corrects and reports it again, the regulator approves it and the
project carries the permit number. A project that already has one is shown greyed in 添加."""
import pytest
from playwright.sync_api import expect

from engine.db import db

from .test_unlock_in_browser import PDF, login

pytestmark = pytest.mark.browser
PROJECT = "呈贡新区安置房"


def test_permit_returned_corrected_and_approved(live, new_page, tmp_path):
    world = live.world
    project = world.add_project(PROJECT)
    project.permit_no = None
    world.add_project("已有许可证的工程")
    db.session.commit()
    scan = tmp_path / "施工许可证.pdf"
    scan.write_bytes(PDF)

    owner = new_page()
    login(owner, live.url, "owner_user")
    owner.goto(f"{live.url}/apply/permit/")
    owner.click("text=添加")
    dialog = owner.locator("dialog[open]")
    expect(dialog.locator("label.choice", has_text="已有许可证的工程")).to_contain_text("该工程已有施工许可证号，无需补录")
    expect(dialog.locator("label.choice", has_text="已有许可证的工程").locator("input")).to_be_disabled()
    dialog.locator("label.choice", has_text=PROJECT).click()
    dialog.locator("button:has-text('确定')").click()
    expect(owner.locator("h1")).to_contain_text("施工许可证补录")
    owner.fill("#permit_no", "5301142024052001")
    owner.fill("#issue_date", "2024-05-20")
    owner.set_input_files("#permit_scan", str(scan))
    owner.locator("form button:has-text('暂存')").click()
    expect(owner.locator("body")).to_contain_text("已暂存")
    owner.locator("tr", has_text=PROJECT).locator("button:has-text('上报')").click()
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("待审核")

    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click(f"text={PROJECT}施工许可证补录")
    expect(agency.locator("table.attachments")).to_contain_text("施工许可证扫描件")
    agency.click("button:has-text('签收')")
    agency.fill("textarea[name=opinion]", "许可证号少两位，请核对")
    agency.once("dialog", lambda d: d.accept())
    agency.click("button:has-text('退回')")
    expect(agency.locator("body")).to_contain_text("已退回")

    owner.goto(f"{live.url}/apply/permit/")
    row = owner.locator("tr", has_text=PROJECT)
    expect(row).to_contain_text("已退回")
    row.locator("a:has-text('编辑')").click()
    expect(owner.locator(".next-step")).to_contain_text("许可证号少两位，请核对")
    owner.fill("#permit_no", "530114202405200101")
    owner.locator("form button:has-text('暂存')").click()
    owner.locator("tr", has_text=PROJECT).locator("button:has-text('上报')").click()
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("待审核")

    agency.goto(f"{live.url}/review/")
    agency.click(f"text={PROJECT}施工许可证补录")
    agency.click("button:has-text('签收')")
    agency.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")

    owner.goto(f"{live.url}/apply/permit/")
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("已办结")
    owner.goto(f"{live.url}/enterprise/projects")
    expect(owner.locator("tr", has_text=PROJECT)).to_contain_text("530114202405200101")
