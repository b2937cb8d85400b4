"""The studio's acceptance walk: with the server already running two gunicorn workers, a designer
adds a 现场核查 step with a new form in the browser, changes what the process tests expect, deploys
with a note; an applicant then reports an unlock and the reviewers pass it through the new step
and its new form — the same two workers, no restart."""
import re

from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from ..test_deploy_coherence import two_workers  # noqa: F401 — the fixture: gunicorn -w 2 on the test database
from .test_studio_in_browser import SITE_CHECK, _designer, _select
from .test_unlock_in_browser import PDF, login

# the shipped scenarios that go through 审核通过 now meet 现场核查 before the unlock
APPROVE = """name: 审核通过后现场核查，人员解锁
application:
  applicant: sg1
  pick: 1
steps:
  - as: applicant
    do: report
    data: {reason: 项目已停工}
    expect: {status: 待审核, waiting_at: Task_Review, due: 5 working days, log: [上报]}
  - as: agency
    do: claim
  - as: agency
    do: approve
    data: {opinion: 同意解锁}
    expect: {status: 待审核, waiting_at: Task_SiteCheck, offered_to: [监督机构, 主管部门], log: [审核通过]}
  - as: agency
    do: complete
    data: {conclusion: ok}
    expect: {status: 已办结, waiting_at: [], end: End_Done, incident: false, log: [自动解锁]}
"""
RECHECK = """name: 现场核查后复核未通过，退回申请人
application:
  applicant: sg1
operators:
  unlock.apply: {applied: false, message: 该锁定记录已解除，无需再解锁, log_action: 复核未通过}
steps:
  - as: applicant
    do: report
    data: {reason: 项目已停工}
  - as: agency
    do: claim
  - as: agency
    do: approve
    expect: {waiting_at: Task_SiteCheck}
  - as: agency
    do: complete
    data: {conclusion: ok}
    expect: {status: 已退回, waiting_at: Task_Edit, offered_to: [施工单位], incident: false, log: [复核未通过]}
"""


def _add_site_check(page):
    """现场核查 between 审核通过 and 自动解锁, in the reviewers' lane, with the id the scenarios name."""
    page.evaluate("""() => {
      const m = window.studioModeler;
      const registry = m.get('elementRegistry');
      const modeling = m.get('modeling');
      const shape = m.get('elementFactory').createShape({ type: 'bpmn:UserTask' });
      const task = modeling.createShape(shape, { x: 900, y: 370 }, registry.get('Participant_personnel_unlock'));
      modeling.updateProperties(task, { id: 'Task_SiteCheck' });
      modeling.updateLabel(task, '现场核查');
      modeling.reconnectEnd(registry.get('Flow_Approve'), task, { x: task.x, y: task.y + task.height / 2 });
      modeling.connect(task, registry.get('Service_Apply'));
    }""")


def _design_the_new_step(page, base):
    page.goto(f"{base}/studio/personnel_unlock/")
    expect(page.locator("#studio.studio-ready")).to_be_attached()
    page.get_by_role("tab", name="表单").click()
    page.fill("#studio-new-form-key", SITE_CHECK)
    page.click("#studio-new-form")
    page.fill("#studio-form-title", "现场核查")
    page.fill("#studio-new-field", "conclusion")
    page.click("#studio-add-field")
    field = page.locator("[data-field=conclusion]")
    field.locator(".studio-field-title").fill("核查结论")
    field.get_by_label("conclusion 的控件").select_option("radio")
    field.get_by_label("conclusion 的选项").fill("ok=符合\nbad=不符合")
    field.get_by_label("conclusion 必填").check()
    page.locator("[data-field=opinion]").get_by_label("删除 opinion").click()
    expect(page.locator("#studio-form-preview")).to_contain_text("不符合")

    page.get_by_role("tab", name="流程图").click()
    _add_site_check(page)
    _select(page, "Task_SiteCheck")
    panel = page.locator("#studio-properties")
    panel.locator("select[name=formKey]").select_option(SITE_CHECK)
    panel.locator("select[name=candidates]").select_option("project_regulators")
    panel.locator("select[name=status]").select_option("待审核")
    page.click("#studio-check")
    expect(page.locator("#studio-problems")).to_contain_text("检查通过")

    # the designer's own process tests: the path through 审核通过 now has the new step
    page.get_by_role("tab", name="测试场景").click()
    page.get_by_label("测试场景 tests/approve.yaml").fill(APPROVE)
    page.get_by_label("测试场景 tests/recheck_fails.yaml").fill(RECHECK)
    again = page.get_by_label("测试场景 tests/return_and_report_again.yaml")
    approved = "    expect: {status: 已办结, end: End_Done, waiting_at: []}"
    assert again.input_value().endswith(approved + "\n")
    again.fill(again.input_value().replace(approved, "    expect: {waiting_at: Task_SiteCheck}\n  - as: authority\n"
                                            "    do: complete\n    data: {conclusion: ok}\n" + approved))
    page.get_by_role("tab", name="流程图").click()
    page.click("#studio-save")
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")
    page.click("#studio-test")
    expect(page.locator("#studio-status")).to_contain_text("个测试场景", timeout=90000)
    assert "5 个测试场景全部通过" in page.locator("#studio-status").inner_text(), \
        page.locator("#studio-scenarios").inner_text()
    page.fill("#studio-note", "审核通过后增加现场核查")
    page.click("#studio-deploy")
    expect(page.locator("#studio-status")).to_contain_text("已部署为版本 2", timeout=90000)


def _report_unlock(page, base, name, form):
    page.goto(f"{base}/apply/unlock/")
    page.click("text=添加")
    dialog = page.locator("dialog[open]")
    dialog.locator("label.choice", has_text=name).click()
    dialog.locator("button:has-text('确定')").click()
    page.fill("#reason", "项目已停工，申请解锁")
    page.set_input_files("#unlock_form", str(form))
    page.locator("form button:has-text('确定')").click()
    page.once("dialog", lambda d: d.accept())
    page.locator("tr", has_text=name).locator("button:has-text('上报')").click()
    expect(page.locator("tr", has_text=name)).to_contain_text("待审核")


def test_a_step_deployed_in_the_studio_is_worked_on_the_running_workers(world, two_workers, new_page,  # noqa: F811
                                                                       tmp_path):
    base = two_workers
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(pm, project, PROJECT_MANAGER)
    db.session.commit()
    form = tmp_path / "建设工程项目人员解锁申请表.pdf"
    form.write_bytes(PDF)
    agency = new_page()
    login(agency, base, "agency_reviewer")
    for _ in range(4):   # both workers serve and cache version 1 before the deploy
        agency.goto(f"{base}/review/")
        expect(agency.locator("h1")).to_be_visible()

    designer, errors = _designer(type("Live", (), {"url": base}), new_page)
    _design_the_new_step(designer, base)

    applicant = new_page()
    login(applicant, base, "contractor_user")
    _report_unlock(applicant, base, "张三", form)
    agency.goto(f"{base}/review/")
    agency.click("text=张三（项目经理）解锁")
    agency.click("button:has-text('签收')")
    agency.fill("textarea[name=opinion]", "材料齐全，同意解锁")
    agency.once("dialog", lambda d: d.accept())
    agency.click("button:has-text('审核通过')")
    expect(agency.locator("body")).to_contain_text("审核通过")

    # the new step, offered to the reviewers, with its new form on whichever worker answers
    db.session.rollback()
    task = db.session.scalar(select(HumanTask).where(HumanTask.state == "open", HumanTask.element_id == "Task_SiteCheck"))
    assert task is not None and task.form_key == SITE_CHECK
    agency.goto(f"{base}/review/task/{task.id}")
    if agency.locator("button:has-text('签收')").count():
        agency.click("button:has-text('签收')")
    expect(agency.locator("body")).to_contain_text("核查结论")
    agency.locator("label", has_text="符合").first.click()
    agency.click("button:has-text('提交')")
    expect(agency.locator("body")).not_to_contain_text("该任务的表单不存在")

    applicant.goto(f"{base}/apply/unlock/")
    expect(applicant.locator("tr", has_text="张三")).to_contain_text("已办结")
    applicant.locator("tr", has_text="张三").locator("a", has_text=re.compile("查看|编辑")).first.click()
    log = applicant.locator("table", has_text="操作时间")
    for action in ("审核通过", "现场核查", "自动解锁"):
        expect(log).to_contain_text(action)
    assert errors == []
