"""版本迁移 in a browser: a version with a new 现场核查 step is deployed, the designer dry-runs the
running unlock applications, reads the report, migrates, and a migrated application is approved
through its new step."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import db
from engine.models import ProcessInstance
from handlers.models import APPROVED, UnlockApplication

from ..test_version_migration import deploy_site_check
from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import PDF, login

pytestmark = pytest.mark.browser


def test_running_applications_migrated_to_a_new_step_and_one_approved_through_it(live, new_page, tmp_path):
    services = live.app.extensions["services"]
    apps = [reported_unlock(live.world, services, locked_person(live.world, name)[0]) for name in ("张三", "李四")]
    v2 = deploy_site_check(services)
    case_no = db.session.get(ProcessInstance, apps[0].instance_id).case_no
    db.session.commit()

    designer = new_page()
    login(designer, live.url, "designer")
    designer.goto(f"{live.url}/studio/")
    designer.click("text=版本迁移")
    designer.select_option("select[name=process_key]", "personnel_unlock")
    designer.fill("input[name=from_version]", "1")
    designer.fill("input[name=to_version]", str(v2))
    designer.fill("textarea[name=mapping]", "Task_Review=Task_SiteCheck")
    designer.click("button:has-text('预演迁移')")
    report = designer.locator("#migration-report")
    row = report.locator("tr", has_text=case_no)
    expect(row).to_contain_text("审核")
    expect(row).to_contain_text("待办移至「现场核查」")
    expect(row).to_contain_text("「到期」取消")
    expect(row).to_contain_text("可以迁移")
    expect(designer.locator("body")).to_contain_text("可以迁移 2 件，不能迁移 0 件")
    designer.screenshot(path=str(tmp_path / "migration-report.png"), full_page=True)

    designer.click("button:has-text('执行迁移')")
    expect(designer.locator("body")).to_contain_text("已开始迁移 2 件申请")
    with live.app.app_context():
        services.worker().run_due()
    designer.reload()
    expect(designer.locator("#migration-results")).to_contain_text("已迁移")
    expect(designer.locator("body")).to_contain_text("已迁移 2")

    record = tmp_path / "现场核查记录.pdf"
    record.write_bytes(PDF)
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/")
    agency.click("text=张三（项目经理）解锁")
    expect(agency.locator("body")).to_contain_text("现场核查")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")
    agency.locator("label", has_text="符合").first.click()
    agency.set_input_files("input[name=record]", str(record))
    agency.fill("input[name=check_date]", "2026-12-01")
    agency.locator("h1").click()   # closes the date picker's calendar, which covers the form below it
    agency.click("button:has-text('提交')")
    expect(agency.locator("body")).to_contain_text("已提交")

    agency.goto(f"{live.url}/review/")
    agency.click("text=张三（项目经理）解锁")
    agency.click("button:has-text('签收')")
    agency.once("dialog", lambda d: d.accept())
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")
    db.session.rollback()
    assert db.session.get(UnlockApplication, apps[0].id).status == APPROVED
