"""项目主要管理人员变更 walked in a real browser (2.2.1.2, §4.5, §5): filed with the replacement
picker's immediate check, returned by one regulator, reported again, approved by the other."""
import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser
BUSY = "该项目经理已有项目管理工作，请重新选择"
SUBJECT = "项目经理变更：张三 → 王五"


def test_manager_change_returned_reported_again_and_approved(live, new_page):
    world = live.world
    old = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(old, project, PROJECT_MANAGER)
    busy = world.add_person("李四", "contractor", CONSTRUCTOR, SAFETY_B)
    world.assign(busy, world.add_project("呈贡区人民医院门诊楼"), PROJECT_MANAGER)
    new = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    db.session.commit()

    # the contractor adds the change for its locked project manager
    applicant = new_page()
    applicant.on("dialog", lambda d: d.accept())
    login(applicant, live.url, "contractor_user")
    applicant.goto(f"{live.url}/apply/change/")
    applicant.click("text=添加")
    dialog = applicant.locator("dialog[open]")
    dialog.locator("label.choice", has_text="张三").click()
    dialog.locator("button:has-text('确定')").click()
    expect(applicant.locator("h1")).to_contain_text("项目主要管理人员变更")
    expect(applicant.locator("dl.summary")).to_contain_text("昆明市第一中学教学楼")

    # a busy replacement cannot be chosen: the picker shows why, before anything is saved
    problem = applicant.locator("#replacement-problem")
    expect(problem).to_be_hidden()
    busy_option = applicant.locator(f"#new_person_id option[value='{busy.id}']")
    expect(busy_option).to_be_disabled()
    expect(busy_option).to_contain_text(BUSY)
    # a qualified free one is chosen without a message
    applicant.select_option("#new_person_id", str(new.id))
    expect(problem).to_be_hidden()
    applicant.fill("#reason", "原项目经理调任其他岗位")
    applicant.locator("form button:has-text('暂存')").click()
    expect(applicant.locator("body")).to_contain_text("已暂存")   # back on the list, as every process
    row = applicant.locator("tr", has_text="张三")
    expect(row).to_contain_text("王五")
    expect(row).to_contain_text("草稿")
    row.locator("button:has-text('上报')").click()
    expect(applicant.locator("tr", has_text="张三")).to_contain_text("待审核")

    # the authority's reviewer claims it and returns it with an opinion
    authority = new_page()
    authority.on("dialog", lambda d: d.accept())
    login(authority, live.url, "auth_reviewer")
    authority.goto(f"{live.url}/review/")
    authority.click(f"text={SUBJECT}")
    expect(authority.locator("body")).to_contain_text("原项目经理调任其他岗位")
    authority.click("button:has-text('签收')")
    expect(authority.locator("body")).to_contain_text("签收成功")
    authority.fill("textarea[name=opinion]", "请补充说明新项目经理的到岗时间")
    authority.click("button:has-text('退回')")
    expect(authority.locator("body")).to_contain_text("已退回")

    # the applicant sees the return and its opinion, edits and reports again
    applicant.goto(f"{live.url}/apply/change/")
    row = applicant.locator("tr", has_text="张三")
    expect(row).to_contain_text("已退回")
    row.locator("a", has_text="编辑").click()
    expect(applicant.locator(".next-step")).to_contain_text("请补充说明新项目经理的到岗时间")
    expect(applicant.locator("table", has_text="操作时间")).to_contain_text("请补充说明新项目经理的到岗时间")
    applicant.fill("#explanation", "王五将于下周一到岗")
    applicant.locator("form button:has-text('暂存')").click()
    expect(applicant.locator("body")).to_contain_text("已暂存")
    applicant.locator("tr", has_text="张三").locator("a", has_text="编辑").click()
    expect(applicant.locator("#explanation")).to_have_value("王五将于下周一到岗")
    applicant.locator("form button:has-text('上报')").click()
    expect(applicant.locator("h1")).to_contain_text("待审核")

    # after a return the new review task is unclaimed: the agency's reviewer claims and approves it
    agency = new_page()
    login(agency, live.url, "agency_reviewer")
    agency.goto(f"{live.url}/review/?view=open")
    agency.click(f"text={SUBJECT}")
    expect(agency.locator("body")).to_contain_text("王五将于下周一到岗")
    agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("签收成功")
    agency.fill("textarea[name=opinion]", "同意变更")
    agency.once("dialog", lambda d: d.accept())   # 审核通过 asks to confirm
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")

    applicant.goto(f"{live.url}/apply/change/")
    expect(applicant.locator("tr", has_text="张三")).to_contain_text("已办结")
    applicant.locator("tr", has_text="张三").locator("a", has_text="查看").click()
    log = applicant.locator("table", has_text="操作时间")
    for action in ("上报", "签收", "退回", "审核通过"):
        expect(log).to_contain_text(action)

    # the old manager is free again; the new one holds the role and is locked for this project
    applicant.goto(f"{live.url}/enterprise/people/{old.id}")
    expect(applicant.locator("h1")).to_contain_text("正常")
    applicant.goto(f"{live.url}/enterprise/people/{new.id}")
    expect(applicant.locator("h1")).to_contain_text("锁定")
    lock = applicant.locator("section", has_text="锁定记录").locator("tbody tr", has_text="昆明市第一中学教学楼")
    expect(lock).to_contain_text("项目经理")
    expect(lock).to_contain_text("锁定中")
    current = applicant.locator("section", has_text="当前任职")
    expect(current).to_contain_text("昆明市第一中学教学楼")
