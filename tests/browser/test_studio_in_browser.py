"""The studio in Chromium: open the unlock process, add a user task, pick its form and candidate
rule in the panel, see the missing property marked on the diagram and fix it, design the step's
form with the server's preview, run the process tests (the shipped scenarios catch the new step) and see the deploy refused."""
from playwright.sync_api import expect

from engine.db import db

from ..world import deploy_due_change, locked_person, reported_unlock
from .test_unlock_in_browser import login

SITE_CHECK = "site_check"


def _designer(live, new_page):
    page = new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, live.url, "designer")
    return page, errors


def _add_user_task(page):
    """A user task put on the approval path (审核通过 → 现场核查 → 自动解锁) in the reviewers' lane,
    through the modeler's own API: a drag in a headless browser is not what is tested here, the
    panel and the checks are."""
    return page.evaluate("""() => {
      const m = window.studioModeler;
      const registry = m.get('elementRegistry');
      const modeling = m.get('modeling');
      const lane = registry.get('Lane_reviewer');
      const shape = m.get('elementFactory').createShape({ type: 'bpmn:UserTask' });
      const task = modeling.createShape(shape, { x: 900, y: 370 }, registry.get('Participant_personnel_unlock'));
      modeling.updateLabel(task, '现场核查');
      const approve = registry.get('Flow_Approve');
      modeling.reconnectEnd(approve, task, { x: task.x, y: task.y + task.height / 2 });
      modeling.connect(task, registry.get('Service_Apply'));
      m.get('selection').select(task);
      return task.id;
    }""")


def _select(page, element_id):
    page.evaluate("id => window.studioModeler.get('selection').select(window.studioModeler.get('elementRegistry').get(id))", element_id)


def test_design_check_test_and_deploy_a_new_step(live, new_page):
    page, errors = _designer(live, new_page)
    page.goto(f"{live.url}/studio/")
    expect(page.locator("#process-personnel_unlock")).to_contain_text("当前版本")
    page.locator("#process-personnel_unlock").get_by_role("link", name="编辑").click()
    expect(page.locator("#studio.studio-ready")).to_be_attached()
    expect(page.locator(".bjs-powered-by")).to_be_attached()   # bpmn.io's watermark stays
    expect(page.locator(".djs-palette")).to_be_attached()
    expect(page.locator(".djs-palette [aria-label='创建任务']")).to_have_count(1)   # the editor speaks Chinese

    # the new step's form, designed first so that the panel offers it
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
    preview = page.locator("#studio-form-preview")
    expect(preview).to_contain_text("核查结论")
    expect(preview.locator("input[type=radio]")).to_have_count(2)
    expect(preview).to_contain_text("不符合")
    page.locator("[data-field=opinion]").get_by_label("删除 opinion").click()
    expect(preview).not_to_contain_text("意见")

    # the new step in the diagram, configured in the 审批属性 panel with the server's choices
    page.get_by_role("tab", name="流程图").click()
    task_id = _add_user_task(page)
    panel = page.locator("#studio-properties")
    expect(panel.get_by_text("审批属性")).to_be_visible()
    form_key = panel.locator("select[name=formKey]")
    assert "现场核查（site_check）" in form_key.locator("option").all_inner_texts()
    form_key.select_option(SITE_CHECK)
    candidates = panel.locator("select[name=candidates]")
    assert "project_agency" in candidates.locator("option").evaluate_all("os => os.map(o => o.value)")
    candidates.select_option("project_regulators")   # the rule of the reviewers' lane it stands in

    # checked on the server: the missing status is listed and marked on the new task
    page.click("#studio-check")
    problem = page.locator(f"#studio-problems .studio-problem-item[data-element='{task_id}']")
    expect(problem).to_contain_text("缺少状态属性")
    expect(page.locator(f".djs-element.studio-problem[data-element-id='{task_id}']")).to_be_attached()
    _select(page, "Task_Edit")
    problem.locator("button").click()   # clicking the problem selects its element
    expect(panel.locator("select[name=status]")).to_be_visible()
    panel.locator("select[name=status]").select_option("待审核")
    page.click("#studio-check")
    expect(page.locator("#studio-problems")).to_contain_text("检查通过")
    expect(page.locator(".djs-element.studio-problem")).to_have_count(0)

    page.click("#studio-save")
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")
    # the shipped scenarios that pass 审核通过 (approval, re-check failure, return and approval)
    # expect 自动解锁 right after it: the new step breaks them, and says so
    page.click("#studio-test")
    expect(page.locator("#studio-status")).to_contain_text("3 个测试场景未通过", timeout=60000)   # a throwaway database per scenario
    page.locator("#studio-scenarios .studio-scenario-failed button").first.click()
    expect(page.locator(".djs-element.studio-path").first).to_be_attached()

    page.click("#studio-deploy")
    expect(page.locator("#studio-status")).to_contain_text("请填写本次修改的说明")
    page.fill("#studio-note", "审核后增加现场核查")
    page.click("#studio-deploy")
    expect(page.locator("#studio-status")).to_contain_text("测试场景未通过，不能部署", timeout=60000)
    db.session.rollback()
    assert live.app.extensions["services"].engine.definitions.latest("personnel_unlock").version == 1
    assert errors == []


def test_the_comparison_colours_the_changed_step_and_lists_its_due(live, new_page):
    deploy_due_change(live.app.extensions["services"], live.world.who("designer"), "3 working days")
    db.session.commit()
    page, errors = _designer(live, new_page)
    page.goto(f"{live.url}/studio/personnel_unlock/compare?older=1&newer=2")
    expect(page.locator("#studio.studio-ready")).to_be_attached()
    expect(page.locator(".djs-element.studio-diff-changed[data-element-id='Task_Review']")).to_be_attached()
    expect(page.locator(".djs-element.studio-diff-changed")).to_have_count(1)
    expect(page.locator("#studio-changes")).to_contain_text("due：5 working days → 3 working days")
    assert errors == []


def test_the_live_view_counts_on_the_diagram_and_lists_the_applications(live, new_page):
    world, services = live.world, live.app.extensions["services"]
    apps = [reported_unlock(world, services, locked_person(world, f"人员{i}")[0]) for i in range(2)]
    db.session.commit()
    page, errors = _designer(live, new_page)
    page.goto(f"{live.url}/studio/personnel_unlock/live?version=1")
    expect(page.locator("#studio.studio-ready")).to_be_attached()
    counts = page.locator(".djs-overlays[data-container-id='Task_Review'] .studio-badge-waiting")
    expect(counts).to_have_text("2")
    page.locator(".djs-element[data-element-id='Task_Review'] .djs-hit").click()
    expect(page.locator("#studio-live-title")).to_have_text("审核：2 件申请")
    rows = page.locator("#studio-live-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(apps[0].case_no)
    expect(rows.first).to_contain_text("等待中")
    expect(page.locator("#studio-live-list a")).to_have_count(0)   # no link a designer could not open
    assert errors == []
