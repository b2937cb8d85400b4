"""A designer adds a review step with its own form: one .bpmn file and one form file, no Python.

tests/bpmn_site_check/ holds the unlock diagram with 现场核查 by the project's supervision agency
inserted before the regular review, and forms/site_check.json (核查日期, 核查结论, 核查意见 and the
file slot 现场核查记录). It is deployed here and run end to end over HTTP.
"""
import io
import json
import re
import shutil
from pathlib import Path

from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask
from handlers.models import APPROVED, REPORTED, Attachment, LockRecord, UnlockApplication

from .web_helpers import client_world, csrf_token, login, logout, new_client  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person

SITE_CHECK = Path(__file__).parent / "bpmn_site_check"


def _deploy_site_check(services):
    with services.engine.command():
        report = services.engine.definitions.deploy_directory(SITE_CHECK)
    assert report.refused == [] and [d.process_key for d in report.deployed] == ["personnel_unlock"]


def _post(client, url, data, page):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)},
                       content_type="multipart/form-data")


def _report_over_http(client, lock_id) -> int:
    login(client, "contractor_user")
    resp = _post(client, "/apply/unlock/new", {"target_id": str(lock_id)}, "/apply/unlock/")
    app_id = int(re.search(r"/apply/unlock/(\d+)$", resp.headers["Location"]).group(1))
    resp = _post(client, f"/apply/unlock/{app_id}", {
        "reason": "项目已停工", "explanation": "",
        "unlock_form": (io.BytesIO(PDF_BYTES), "解锁申请表.pdf")}, f"/apply/unlock/{app_id}")
    assert resp.status_code == 302
    resp = _post(client, f"/apply/unlock/{app_id}/report", {}, f"/apply/unlock/{app_id}")
    assert resp.status_code == 302
    logout(client)
    return app_id


def _open_task(instance_id) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                     HumanTask.state == "open"))


def test_a_site_check_step_added_by_a_diagram_and_a_form_file_runs_end_to_end(client_world, services, ctx):
    client, world = client_world
    _deploy_site_check(services)
    pm, project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    [lock] = db.session.scalars(select(LockRecord).where(LockRecord.person_id == pm.id)).all()
    lock_id = lock.id
    db.session.commit()
    app_id = _report_over_http(client, lock_id)

    db.session.rollback()   # see what the requests committed
    app = db.session.get(UnlockApplication, app_id)
    task = _open_task(app.instance_id)
    assert (task.element_id, task.name, task.form_key) == ("Task_SiteCheck", "现场核查", "site_check")
    assert app.status == REPORTED          # the step declares status 待审核
    authority = new_client(ctx)
    login(authority, "auth_reviewer")       # offered to the supervision agency only
    assert authority.get(f"/review/task/{task.id}").status_code == 404

    login(client, "agency_reviewer")
    page = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "现场核查" in page and "人员解锁申请" in page
    _post(client, f"/review/task/{task.id}/claim", {}, f"/review/task/{task.id}")
    page = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    for label in ("核查日期", "核查结论", "核查意见", "现场核查记录", "符合", "不符合"):
        assert label in page
    assert 'name="record"' in page and 'accept=".pdf,.png,.jpg,.jpeg"' in page
    assert '="None"' not in page
    assert 'value="approve"' not in page and ">提交</button>" in page   # its own form, not the review's buttons
    assert 'id="approval-preview"' not in page   # a step that approves nothing previews nothing

    # the form file is validated on the server: the record is required, the date must be a date
    resp = _post(client, f"/review/task/{task.id}/decide",
                 {"check_date": "2024-05-01", "conclusion": "符合", "opinion": "现场已停工"}, f"/review/task/{task.id}")
    assert "请上传“现场核查记录”" in client.get(resp.headers["Location"]).get_data(as_text=True)
    resp = _post(client, f"/review/task/{task.id}/decide",
                 {"check_date": "五月一日", "conclusion": "符合", "record": (io.BytesIO(PDF_BYTES), "记录.pdf")},
                 f"/review/task/{task.id}")
    assert "核查日期：日期格式不正确" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _open_task(app.instance_id).id == task.id
    assert db.session.scalars(select(Attachment).where(Attachment.kind == "site_check_record")).all() == []

    resp = _post(client, f"/review/task/{task.id}/decide",
                 {"check_date": "2024-05-01", "conclusion": "符合", "opinion": "现场已停工，与申请一致",
                  "record": (io.BytesIO(PDF_BYTES), "现场核查记录.pdf")}, f"/review/task/{task.id}")
    flashed = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "现场核查已提交" in flashed and "符合，已为您" not in flashed   # the step's name, not a bare 符合
    db.session.rollback()
    review = _open_task(app.instance_id)
    assert review.element_id == "Task_Review" and db.session.get(UnlockApplication, app_id).status == REPORTED
    record = db.session.scalar(select(Attachment).where(Attachment.kind == "site_check_record"))
    assert record.filename == "现场核查记录.pdf" and record.owner_id == app_id

    # the regular review (the competent authority this time) sees the record and approves
    page = authority.get(f"/review/task/{review.id}").get_data(as_text=True)
    assert "现场核查记录" in page and "现场核查记录.pdf" in page and "现场已停工，与申请一致" in page
    _post(authority, f"/review/task/{review.id}/claim", {}, f"/review/task/{review.id}")
    resp = _post(authority, f"/review/task/{review.id}/decide", {"decision": "approve", "opinion": ""},
                 f"/review/task/{review.id}")
    assert "审核通过" in authority.get(resp.headers["Location"]).get_data(as_text=True)

    db.session.rollback()
    app = db.session.get(UnlockApplication, app_id)
    assert app.status == APPROVED and app.finished_at is not None
    assert db.session.get(LockRecord, lock_id).closed_at is not None
    actions = [(e.action, e.opinion) for e in services.unlock.operation_log(app)]
    assert [a for a, _ in actions] == ["新建", "暂存", "上报", "签收", "现场核查", "签收", "审核通过", "自动解锁"]
    assert ("现场核查", "现场已停工，与申请一致") in actions


# -- flask bpmn check refuses bad form files, naming the file and the element --------------------
def _fixture_copy(tmp_path, form=None, bpmn_edit=None) -> Path:
    target = tmp_path / "site"
    shutil.copytree(SITE_CHECK, target)
    if form is not None:
        (target / "forms" / "site_check.json").write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    if bpmn_edit is not None:
        path = target / "personnel_unlock.bpmn"
        path.write_text(bpmn_edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return target / "personnel_unlock.bpmn"


def _site_form():
    return json.loads((SITE_CHECK / "forms" / "site_check.json").read_text(encoding="utf-8"))


def _check(ctx, path):
    result = ctx.test_cli_runner().invoke(args=["bpmn", "check", str(path)])
    return result.exit_code, result.output


def test_bpmn_check_refuses_a_bad_field_type(ctx, tmp_path):
    form = _site_form()
    form["properties"]["check_date"]["type"] = "datetime"
    code, output = _check(ctx, _fixture_copy(tmp_path, form))
    assert code == 1
    assert "personnel_unlock.bpmn: Task_SiteCheck: 表单文件 forms/site_check.json：字段 “check_date”：类型 “datetime” 无效" \
        in output


def test_bpmn_check_refuses_an_unknown_form_key(ctx, tmp_path):
    path = _fixture_copy(tmp_path, bpmn_edit=lambda xml: xml.replace('value="site_check"', 'value="site_visit"'))
    code, output = _check(ctx, path)
    assert code == 1
    assert "personnel_unlock.bpmn: Task_SiteCheck: 表单 “site_visit” 未注册（forms/site_visit.json 不存在）" in output


def test_bpmn_check_refuses_a_missing_required_key(ctx, tmp_path):
    form = _site_form()
    del form["properties"]["record"]["title"]
    code, output = _check(ctx, _fixture_copy(tmp_path, form))
    assert code == 1
    assert "Task_SiteCheck: 表单文件 forms/site_check.json：字段 “record”：缺少必需的键 “title”" in output
    form = _site_form()
    del form["title"]
    code, output = _check(ctx, _fixture_copy(tmp_path / "2", form))
    assert code == 1 and "Task_SiteCheck: 表单文件 forms/site_check.json：缺少必需的键 “title”" in output


def test_deploy_refuses_a_bad_form_and_the_last_good_version_keeps_serving(services, tmp_path):
    form = _site_form()
    form["required"].append("inspector")
    path = _fixture_copy(tmp_path, form)
    with services.engine.command():
        report = services.engine.definitions.deploy_directory(path.parent)
    [err] = report.refused
    assert (err.file, err.element_id) == ("personnel_unlock.bpmn", "Task_SiteCheck")
    assert "required 中的字段 “inspector” 未定义" in err.reason
    assert services.engine.definitions.latest("personnel_unlock").version == 1


def test_bpmn_check_refuses_an_unknown_or_missing_status(ctx, tmp_path):
    path = _fixture_copy(tmp_path, bpmn_edit=lambda xml: xml.replace(
        '<spiffworkflow:property name="status" value="待审核" />\n        </spiffworkflow:properties>\n'
        '      </bpmn:extensionElements>\n      <bpmn:incoming>Flow_Report', '</spiffworkflow:properties>\n'
        '      </bpmn:extensionElements>\n      <bpmn:incoming>Flow_Report').replace('value="已办结"', 'value="已完成"'))
    code, output = _check(ctx, path)
    assert code == 1
    assert "Task_SiteCheck: 缺少状态属性（status）" in output
    assert "End_Done: 状态 “已完成” 未定义" in output


def test_the_flash_after_a_designer_step_names_the_step_and_its_outcome():
    from types import SimpleNamespace

    from engine.forms import FieldSpec
    from webui.blueprints.review import done_message
    site_check = SimpleNamespace(name="现场核查")
    conclusion = FieldSpec(name="conclusion", type="string", title="核查结论", enum=("符合", "不符合"))
    assert done_message(site_check, conclusion, "符合") == "现场核查已提交（核查结论：符合）"
    assert done_message(site_check, None, None) == "现场核查已提交"
    assert done_message(SimpleNamespace(name="审核"), None, "approve") == "审核通过"
    assert done_message(SimpleNamespace(name="审核"), None, "return") == "已退回"
