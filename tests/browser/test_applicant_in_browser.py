"""The applicants' side of issue 12 in a browser: 上报 without 确定 reports what the form shows,
every error at once, greyed 添加 picks, the searchable replacement picker, 撤回 before a claim,
the preview before 上报, 我的申请 and the public progress lookup."""
import re

import pytest
from playwright.sync_api import expect

from engine.db import db
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B, SAFETY_C

from .test_unlock_in_browser import PDF, login

pytestmark = pytest.mark.browser


def _locked(world, name, project):
    person = world.add_person(name, "contractor", CONSTRUCTOR, SAFETY_B)
    world.assign(person, world.add_project(project), PROJECT_MANAGER)
    return person


def _add(page, base, kind, name):
    page.goto(f"{base}/apply/{kind}/")
    page.click("text=添加")
    dialog = page.locator("dialog[open]")
    dialog.locator("label.choice", has_text=name).click()
    dialog.locator("button:has-text('确定')").click()
    expect(page.locator("h1")).to_be_visible()


def test_report_without_save_reaches_the_reviewer_with_the_new_reason(live, new_page, tmp_path):
    _locked(live.world, "张三", "昆明市第一中学教学楼")
    form = tmp_path / "建设工程项目人员解锁申请表.pdf"
    form.write_bytes(PDF)
    applicant = new_page()
    applicant.on("dialog", lambda d: d.accept())
    login(applicant, live.url, "contractor_user")
    _add(applicant, live.url, "unlock", "张三")
    applicant.fill("#reason", "旧的原因")
    applicant.set_input_files("#unlock_form", str(form))
    applicant.locator("form button:has-text('确定')").click()
    expect(applicant.locator("body")).to_contain_text("已暂存")
    applicant.locator("tr", has_text="张三").locator("a", has_text="编辑").click()
    applicant.fill("#reason", "项目已停工，申请解锁（新）")          # typed, never saved with 确定
    applicant.locator("button:has-text('上报')").click()
    expect(applicant.locator("body")).to_contain_text("已上报")

    reviewer = new_page()
    login(reviewer, live.url, "agency_reviewer")
    reviewer.goto(f"{live.url}/review/")
    reviewer.click("text=张三（项目经理）解锁")
    expect(reviewer.locator("body")).to_contain_text("项目已停工，申请解锁（新）")
    expect(reviewer.locator("body")).not_to_contain_text("旧的原因")


def test_a_refused_report_keeps_the_edits_and_names_every_missing_field(live, new_page):
    _locked(live.world, "张三", "昆明市第一中学教学楼")
    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    _add(applicant, live.url, "unlock", "张三")
    applicant.fill("#explanation", "补充说明：已与建设单位确认")
    applicant.locator("button:has-text('上报')").click()
    errors = applicant.locator(".field.has-error")
    expect(errors).to_have_count(2)   # 解锁原因 and the 解锁申请表, in one submit
    expect(applicant.locator(".field.has-error", has_text="请填写解锁原因")).to_have_count(1)
    expect(applicant.locator(".field.has-error", has_text="建设工程项目人员解锁申请表")).to_have_count(1)
    expect(applicant.locator("#reason")).to_be_focused()
    expect(applicant.locator("#explanation")).to_have_value("补充说明：已与建设单位确认")   # kept

    # 确定 reports both at once too
    applicant.locator("form button:has-text('确定')").click()
    expect(applicant.locator(".field.has-error")).to_have_count(2)


def test_add_dialog_greys_records_that_already_have_an_open_application(live, new_page):
    _locked(live.world, "张三", "昆明市第一中学教学楼")
    _locked(live.world, "李四", "呈贡区人民医院门诊楼")
    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    _add(applicant, live.url, "change", "张三")
    applicant.goto(f"{live.url}/apply/change/")
    applicant.click("text=添加")
    dialog = applicant.locator("dialog[open]")
    busy = dialog.locator("label.choice", has_text="张三")
    expect(busy).to_have_class(re.compile("disabled"))
    expect(busy).to_contain_text("已有未办结的申请")
    expect(busy.locator("input")).to_be_disabled()
    free = dialog.locator("label.choice", has_text="李四")
    expect(free.locator("input")).to_be_enabled()
    labels = dialog.locator("label.choice").all_inner_texts()
    assert labels.index(next(t for t in labels if "李四" in t)) < labels.index(next(t for t in labels if "张三" in t))


def test_replacement_picker_is_searchable_with_eligible_people_first(live, new_page):
    world = live.world
    _locked(world, "张三", "昆明市第一中学教学楼")
    busy = _locked(world, "李四", "呈贡区人民医院门诊楼")
    no_b = world.add_person("赵六", "contractor", CONSTRUCTOR)
    free = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    world.add_person("孙七", "contractor", SAFETY_C)
    db.session.commit()
    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    _add(applicant, live.url, "change", "张三")
    options = applicant.locator("#new_person_id option[data-search]")
    texts = options.all_inner_texts()
    assert texts[0].startswith("王五")                                   # the eligible one first
    assert "注册建造师" in texts[0] and "当前无在建项目" in texts[0]       # with certificates and projects
    refused = applicant.locator(f"#new_person_id option[value='{busy.id}']")
    expect(refused).to_be_disabled()
    expect(refused).to_contain_text("该项目经理已有项目管理工作，请重新选择")
    expect(applicant.locator(f"#new_person_id option[value='{no_b.id}']")).to_contain_text(
        "该项目经理未取得安全生产考核合格证书（B证），请重新选择")
    applicant.fill("#replacement-search", "王")
    expect(applicant.locator("#new_person_id option[data-search]:not([hidden])")).to_have_count(1)
    expect(applicant.locator("#replacement-count")).to_have_text("找到 1 人")
    applicant.select_option("#new_person_id", str(free.id))
    expect(applicant.locator("#replacement-problem")).to_be_hidden()


def test_withdraw_before_claim_and_refused_after(live, new_page, tmp_path):
    _locked(live.world, "张三", "昆明市第一中学教学楼")
    _locked(live.world, "李四", "呈贡区人民医院门诊楼")
    form = tmp_path / "建设工程项目人员解锁申请表.pdf"
    form.write_bytes(PDF)
    applicant = new_page()
    applicant.on("dialog", lambda d: d.accept())
    login(applicant, live.url, "contractor_user")
    for name in ("张三", "李四"):
        _add(applicant, live.url, "unlock", name)
        applicant.fill("#reason", "项目已停工")
        applicant.set_input_files("#unlock_form", str(form))
        applicant.locator("button:has-text('上报')").click()
        expect(applicant.locator("body")).to_contain_text("已上报")

    # 李四's is claimed by the agency
    reviewer = new_page()
    login(reviewer, live.url, "agency_reviewer")
    reviewer.goto(f"{live.url}/review/")
    reviewer.click("text=李四（项目经理）解锁")
    reviewer.click("button:has-text('签收')")
    expect(reviewer.locator("body")).to_contain_text("签收成功")

    applicant.goto(f"{live.url}/apply/unlock/")
    applicant.locator("tr", has_text="张三").locator("a", has_text="查看").click()
    applicant.locator("button:has-text('撤回')").click()
    expect(applicant.locator("body")).to_contain_text("已撤回")
    expect(applicant.locator("table", has_text="操作时间")).to_contain_text("撤回")

    applicant.goto(f"{live.url}/apply/unlock/")
    applicant.locator("tr", has_text="李四").locator("a", has_text="查看").click()
    expect(applicant.locator("button:has-text('撤回')")).to_have_count(0)
    expect(applicant.locator(".next-step")).to_contain_text("赵监督")

    # the reviewers' inbox no longer offers 张三's application
    other = new_page()
    login(other, live.url, "auth_reviewer")
    other.goto(f"{live.url}/review/?view=open")
    expect(other.locator("body")).not_to_contain_text("张三（项目经理）解锁")


def test_public_progress_lookup_without_login(live, new_page, tmp_path):
    _locked(live.world, "张三", "昆明市第一中学教学楼")
    form = tmp_path / "建设工程项目人员解锁申请表.pdf"
    form.write_bytes(PDF)
    applicant = new_page()
    login(applicant, live.url, "contractor_user")
    _add(applicant, live.url, "unlock", "张三")
    case_no = applicant.locator(".case-no").first.inner_text().strip()
    assert re.fullmatch(r"RJ-\d{4}-\d{6}", case_no)
    applicant.fill("#reason", "项目已停工")
    applicant.set_input_files("#unlock_form", str(form))
    applicant.locator("button:has-text('上报')").click()
    expect(applicant.locator("body")).to_contain_text("已上报")
    applicant.goto(f"{live.url}/apply/mine")
    expect(applicant.locator("#my-applications tr", has_text=case_no)).to_contain_text("待审核")

    public = new_page()
    public.goto(f"{live.url}/auth/login")
    public.click("text=办件进度查询")
    public.fill("#case_no", case_no)
    public.fill("#credit_code", live.world.org("contractor").credit_code)
    public.click("button:has-text('查询')")
    result = public.locator("#progress-result")
    expect(result).to_contain_text("待审核")
    expect(result).to_contain_text("人员解锁申请")
    expect(result).not_to_contain_text("张三")
