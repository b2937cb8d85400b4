"""The studio's server side as its pages use it: the role on every route, CSRF on every POST,
drafts, the check with element ids, deploy with a note, downloads, the form preview."""
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask, utcnow

from handlers import studio_pages

from .web_helpers import client_world, csrf_token, login, new_client  # noqa: F401 — client_world is a fixture
from .world import approve_into_an_incident, deploy_due_change, locked_person, reported_unlock

UNLOCK = Path(__file__).resolve().parent.parent / "bpmn" / "personnel_unlock.bpmn"


@pytest.fixture()
def designer(client_world):
    client, world = client_world
    world.add_org("design2", studio_pages.DESIGNER, "流程设计组")
    world.add_account("designer_user", "design2", "林设计")
    login(client, "designer_user")
    return client, world


def _api(client, path, data, token=None):
    token = token or csrf_token(client, "/studio/")
    return client.post(f"/studio/api/personnel_unlock/{path}", json=data, headers={"X-CSRFToken": token})


def _current(client):
    return client.get("/studio/api/personnel_unlock/bundle").get_json()


def test_every_studio_route_needs_the_designer_role(client_world):
    client, world = client_world
    login(client, "admin")
    for url in ("/studio/", "/studio/personnel_unlock/", "/studio/api/personnel_unlock/bundle",
                "/studio/api/personnel_unlock/choices", "/studio/personnel_unlock/versions/1.zip"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, "/help")
    refused = client.post("/studio/api/personnel_unlock/draft", json={"xml": "<x/>", "forms": {}},
                          headers={"X-CSRFToken": token})
    assert refused.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(designer):
    client, _ = designer
    bundle = _current(client)
    response = client.post("/studio/api/personnel_unlock/draft", json=bundle)
    assert response.status_code == 400
    assert client.get("/studio/api/personnel_unlock/bundle").get_json()["draft"] is False


def test_the_version_list_marks_the_current_version(designer):
    client, _ = designer
    html = client.get("/studio/").get_data(as_text=True)
    assert "人员解锁申请" in html and "当前版本" in html


def test_a_saved_draft_is_what_the_editor_opens_next(designer):
    client, _ = designer
    bundle = _current(client)
    xml = bundle["xml"].replace('name="填写解锁申请"', 'name="填写解锁申请（草稿）"')
    saved = _api(client, "draft", {"xml": xml, "forms": bundle["forms"]})
    assert saved.status_code == 200, saved.get_json()
    reopened = _current(client)
    assert reopened["draft"] and "填写解锁申请（草稿）" in reopened["xml"]


def test_the_check_names_the_element_missing_a_property(designer):
    client, _ = designer
    bundle = _current(client)
    review = bundle["xml"].index('id="Task_Review"')
    xml = bundle["xml"][:review] + bundle["xml"][review:].replace(
        '<spiffworkflow:property name="candidates" value="project_regulators" />', "", 1)
    problems = _api(client, "check", {"xml": xml, "forms": bundle["forms"]}).get_json()["problems"]
    assert {"element": "Task_Review", "message": "用户任务缺少候选规则（candidates）"} in problems
    assert _api(client, "check", bundle).get_json()["problems"] == []


def test_deploy_needs_a_note_and_a_valid_draft(designer, services):
    client, _ = designer
    bundle = _current(client)
    no_note = _api(client, "deploy", {**bundle, "note": " "})
    assert no_note.status_code == 400 and "部署说明" in no_note.get_json()["error"]
    broken = bundle["xml"].replace('value="unlock.apply"', 'value="unlock.nothing"').replace(
        'id="unlock.apply"', 'id="unlock.nothing"')
    refused = _api(client, "deploy", {"xml": broken, "forms": bundle["forms"], "note": "试一下"})
    assert refused.status_code == 409
    assert any(p["element"] == "Service_Apply" for p in refused.get_json()["problems"])
    assert services.engine.definitions.latest("personnel_unlock").version == 1
    shorter = bundle["xml"].replace("5 working days", "3 working days")   # the shipped scenario expects 5
    failing = _api(client, "deploy", {"xml": shorter, "forms": bundle["forms"], "note": "审核期限改为 3 个工作日"})
    assert failing.status_code == 409 and "测试场景未通过" in failing.get_json()["error"]
    changed = bundle["xml"].replace('name="系统"', 'name="系统（自动处理）"')
    deployed = _api(client, "deploy", {"xml": changed, "forms": bundle["forms"], "note": "泳道改名"})
    assert deployed.get_json().get("message") == "已部署为版本 2", deployed.get_json()
    db.session.rollback()   # the test's own transaction read version 1 before the request deployed
    latest = services.engine.definitions.latest("personnel_unlock")
    assert (latest.version, latest.note, latest.deployed_by) == (2, "泳道改名", "林设计（流程设计组）")


def test_a_version_downloads_as_its_files(designer):
    client, _ = designer
    response = client.get("/studio/personnel_unlock/versions/1.zip")
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "personnel_unlock.bpmn" in names and "forms/review.json" in names


def test_the_preview_is_the_applicants_rendering(designer):
    client, _ = designer
    form = {"title": "现场核查", "type": "object", "required": ["conclusion"], "properties": {
        "conclusion": {"type": "string", "title": "核查结论", "enum": ["ok", "bad"],
                       "x-enumLabels": {"ok": "符合", "bad": "不符合"}, "x-widget": "radio"},
        "record": {"type": "string", "format": "file", "title": "现场核查记录", "x-accept": [".pdf"]}}}
    token = csrf_token(client, "/studio/")
    result = client.post("/studio/api/form-preview", json={"key": "site_check", "form": form},
                         headers={"X-CSRFToken": token}).get_json()
    assert result["problems"] == []
    assert "核查结论" in result["html"] and 'accept=".pdf"' in result["html"] and "不符合" in result["html"]
    form["properties"]["record"]["type"] = "datetime"
    bad = client.post("/studio/api/form-preview", json={"key": "site_check", "form": form},
                      headers={"X-CSRFToken": token}).get_json()
    assert bad["html"] == "" and any("datetime" in p for p in bad["problems"])


def test_the_choices_are_the_running_registrys(designer):
    client, _ = designer
    choices = client.get("/studio/api/personnel_unlock/choices").get_json()
    assert "project_regulators" in {c["value"] for c in choices["candidates"]}
    assert "unlock.apply" in {c["value"] for c in choices["operators"]}
    assert "5 working days" in {c["value"] for c in choices["dues"]}
    assert {"草稿", "待审核", "已退回", "已办结", "已撤回"} <= {c["value"] for c in choices["statuses"]}


def test_bad_input_gets_a_chinese_error(designer):
    client, _ = designer
    for body, words in [({"xml": "", "forms": {}}, "流程图"), ({"xml": "<a/>", "forms": {"Bad Key": {}}}, "表单"),
                        ("not json", "请求格式")]:
        response = _api(client, "draft", body)
        assert response.status_code == 400 and words in response.get_json()["error"], body


# -- the comparison and the live view ----------------------------------------------------------
def test_the_compare_page_lists_the_servers_changes(designer, services):
    client, world = designer
    deploy_due_change(services, world.who("designer"), "3 working days")
    db.session.commit()
    data = client.get("/studio/api/personnel_unlock/compare?older=1&newer=2").get_json()
    assert "5 working days" in data["older"]["xml"] and "3 working days" in data["newer"]["xml"]
    assert [(c["element_id"], c["change"], c["property"], c["old"], c["new"]) for c in data["changes"]] == \
        [("Task_Review", "changed", "due", "5 working days", "3 working days")]
    html = client.get("/studio/personnel_unlock/compare?older=1&newer=2").get_data(as_text=True)
    assert 'data-element="Task_Review"' in html
    assert "修改 userTask Task_Review（审核） 的 due：5 working days → 3 working days" in html
    same = client.get("/studio/personnel_unlock/compare?older=2&newer=2").get_data(as_text=True)
    assert "两个版本没有差别" in same


def test_the_compare_page_refuses_a_missing_version_and_other_roles(designer):
    client, _ = designer
    assert client.get("/studio/personnel_unlock/compare?older=1&newer=9").status_code == 404
    assert client.get("/studio/api/personnel_unlock/compare?older=1").status_code == 404
    applicant = new_client(current_app)
    login(applicant, "contractor_user")
    assert applicant.get("/studio/personnel_unlock/compare?older=1&newer=1").status_code == 403
    assert applicant.get("/studio/api/personnel_unlock/live?version=1").status_code == 403


def test_the_live_view_counts_and_lists_facts_a_designer_may_see(client_world, services, monkeypatch):
    client, world = client_world
    apps = [reported_unlock(world, services, locked_person(world, f"人员{i}")[0]) for i in range(3)]
    tasks = {t.instance_id: t for t in db.session.scalars(select(HumanTask).where(HumanTask.state == "open"))}
    tasks[apps[0].instance_id].due_at = utcnow() - timedelta(days=1)
    db.session.commit()
    approve_into_an_incident(services, monkeypatch, world.who("agency_reviewer"), tasks[apps[2].instance_id].id)
    login(client, "designer")
    counts = client.get("/studio/api/personnel_unlock/live?version=1").get_json()
    assert counts["counts"] == {"Task_Review": {"waiting": 2, "overdue": 1, "incidents": 0},
                                "Service_Apply": {"waiting": 0, "overdue": 0, "incidents": 1}}
    rows = client.get("/studio/api/personnel_unlock/live/applications?version=1&element=Task_Review") \
        .get_json()["applications"]
    assert [(r["case_number"], r["step"], r["overdue"], r["state"]) for r in rows] == [
        (apps[0].case_no, "审核", True, "已超期"), (apps[1].case_no, "审核", False, "等待中")]
    assert all(r["applicant"] and r["since"] and r["due"] and "url" not in r for r in rows)
    [stuck] = client.get("/studio/api/personnel_unlock/live/applications?version=1&element=Service_Apply") \
        .get_json()["applications"]
    assert stuck["case_number"] == apps[2].case_no and "数据库连接中断" in stuck["incident"]
    html = client.get("/studio/personnel_unlock/live?version=1").get_data(as_text=True)
    assert '<tr data-element="Task_Review"><td>审核（Task_Review）</td><td>2</td><td>1</td><td>0</td></tr>' in html
    assert "/review/" not in html


def test_the_designer_edits_the_scenarios_with_the_draft(designer):
    client, _ = designer
    bundle = _current(client)
    assert "due: 5 working days" in bundle["scenarios"]["tests/approve.yaml"]
    changed = dict(bundle["scenarios"])
    changed["tests/approve.yaml"] = changed["tests/approve.yaml"].replace("waiting_at: Task_Review", "waiting_at: Task_Edit")
    saved = _api(client, "draft", {"xml": bundle["xml"], "forms": bundle["forms"], "scenarios": changed})
    assert saved.status_code == 200, saved.get_json()
    assert _current(client)["scenarios"]["tests/approve.yaml"] == changed["tests/approve.yaml"]
    failed = [s for s in _api(client, "tests", {"xml": bundle["xml"], "forms": bundle["forms"],
                                                 "scenarios": changed}).get_json()["scenarios"] if not s["passed"]]
    assert [s["name"] for s in failed] == ["上报后由监督机构审核通过，人员解锁"] and "Task_Edit" in failed[0]["message"]
    refused = _api(client, "draft", {"xml": bundle["xml"], "forms": bundle["forms"], "scenarios": {"../x.yaml": ""}})
    assert refused.status_code == 400 and "测试场景" in refused.get_json()["error"]
