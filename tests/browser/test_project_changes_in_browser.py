"""The three project changes of chapter 2.3 walked in a real browser: the construction unit files
each from 项目管理 › 工程变更, a regulator approves it, and the project's page shows the result."""
import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers.models import CONSTRUCTOR, POST_QUALITY, PROJECT_MANAGER, SAFETY_B, SAFETY_C, SAFETY_OFFICER

from .test_unlock_in_browser import PDF, login

pytestmark = pytest.mark.browser


def _add(page, url, kind, project):
    page.goto(f"{url}/apply/{kind}/")
    page.click("text=添加")
    dialog = page.locator("dialog[open]")
    dialog.locator("label.choice", has_text=project).click()
    dialog.locator("button:has-text('确定')").click()


def _save_and_reopen(page):
    """暂存 returns to the list, as on every process; the applicant opens the draft again to pick
    the people its saved choices (role, new unit) now offer."""
    detail = page.url
    page.locator("form button:has-text('暂存')").click()
    expect(page.locator("body")).to_contain_text("已暂存")
    page.goto(detail)


def _report(page):
    page.locator("form button:has-text('上报')").click()
    expect(page.locator("body")).to_contain_text("已上报")


def _approve(new_page, url, subject, expected_preview=()):
    agency = new_page()
    login(agency, url, "agency_reviewer")
    agency.goto(f"{url}/review/")
    agency.click(f"text={subject}")
    agency.click("button:has-text('签收')")
    for sentence in expected_preview:
        expect(agency.locator("#approval-preview")).to_contain_text(sentence)
    agency.once("dialog", lambda d: d.accept())
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")


def test_info_change_in_the_browser(live, new_page, tmp_path):
    project = live.world.add_project("呈贡新区安置房")
    proof = tmp_path / "变更说明.pdf"
    proof.write_bytes(PDF)
    owner = new_page()
    login(owner, live.url, "owner_user")
    _add(owner, live.url, "info", "呈贡新区安置房")
    expect(owner.locator("#name")).to_have_value("呈贡新区安置房")
    owner.fill("#name", "呈贡新区安置房（二期）")
    owner.fill("#cost", "8650.50")
    owner.fill("#reason", "规划调整")
    owner.fill("#explanation", "经规划部门批准")
    owner.set_input_files("#proof", str(proof))
    _report(owner)
    _approve(new_page, live.url, "呈贡新区安置房工程信息变更",
             ["呈贡新区安置房 的工程名称由“呈贡新区安置房”变更为“呈贡新区安置房（二期）”"])
    owner.goto(f"{live.url}/enterprise/projects/{project.id}")
    expect(owner.locator("h1")).to_contain_text("呈贡新区安置房（二期）")
    expect(owner.locator("#history")).to_contain_text("工程造价（万元）：（空） → 8650.50")


def test_roster_change_in_the_browser(live, new_page):
    project = live.world.add_project("官渡区学校")
    live.world.add_person("钱质量", "contractor", POST_QUALITY)
    owner = new_page()
    login(owner, live.url, "owner_user")
    _add(owner, live.url, "roster", "官渡区学校")
    owner.check("input[name=operation][value=add]")
    owner.select_option("#role", "project_manager")
    owner.fill("#reason", "新增质量员")
    owner.locator("form button:has-text('暂存')").click()
    expect(owner.locator("body")).to_contain_text("项目经理、安全员、项目总监的变更请由其所在单位通过“项目主要管理人员变更”办理")
    owner.select_option("#role", "quality_officer")
    _save_and_reopen(owner)
    owner.select_option("#person_id", label="钱质量 · 岗位证书（质量员） · 云南建投第一建设有限公司")
    _report(owner)
    _approve(new_page, live.url, "官渡区学校工程人员变更：增加人员质量员钱质量",
             ["钱质量 将列入 官渡区学校 项目人员名册（质量员）"])
    owner.goto(f"{live.url}/enterprise/projects/{project.id}")
    expect(owner.locator("#roster")).to_contain_text("钱质量")


def test_unit_change_in_the_browser(live, new_page, tmp_path):
    world = live.world
    project = world.add_project("滇池路综合体")
    world.assign(world.add_person("甲经理", "contractor", CONSTRUCTOR, SAFETY_B), project, PROJECT_MANAGER)
    world.assign(world.add_person("乙安全", "contractor", SAFETY_C), project, SAFETY_OFFICER)
    world.add_person("丁经理", "contractor2", CONSTRUCTOR, SAFETY_B)
    world.add_person("戊安全", "contractor2", SAFETY_C)
    db.session.commit()
    files = []
    for name in ("解除合同协议.pdf", "新合同.pdf"):
        files.append(tmp_path / name)
        files[-1].write_bytes(PDF)
    owner = new_page()
    login(owner, live.url, "owner_user")
    _add(owner, live.url, "unit", "滇池路综合体")
    owner.check("input[name=unit_kind][value=contractor]")
    owner.fill("#new_credit_code", world.orgs["contractor2"].credit_code)
    owner.fill("#reason", "原施工单位违约")
    _save_and_reopen(owner)
    owner.select_option("#manager_id", label="丁经理 · 注册建造师、安全生产考核合格证书（B证）")
    owner.select_option("#safety_id", label="戊安全 · 安全生产考核合格证书（C证）")
    owner.set_input_files("#termination", str(files[0]))
    owner.set_input_files("#new_contract", str(files[1]))
    _report(owner)
    _approve(new_page, live.url, "滇池路综合体施工单位变更",
             ["甲经理 在 滇池路综合体 的项目经理任职结束", "丁经理 将成为 滇池路综合体 项目经理",
              "云南建投第一建设有限公司 将不再看到该工程，并收到通知"])
    owner.goto(f"{live.url}/enterprise/projects/{project.id}")
    expect(owner.locator("body")).to_contain_text("施工单位：云南建投第一建设有限公司 → 云南工程建设总承包有限公司")
    expect(owner.locator("table").nth(0)).to_contain_text("丁经理")
