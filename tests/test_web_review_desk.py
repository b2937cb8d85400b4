"""The reviewer's desk over HTTP: the approval preview on the task page, 转办, 批量签收, 常用意见,
the next task after a decision, and attachments shown inline."""
import pytest
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask
from handlers.models import OpinionPhrase

from .web_helpers import client_world, csrf_token, login, new_client  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


@pytest.fixture()
def two_reported(client_world, services):
    client, world = client_world
    apps = []
    for name in ("张三", "李四"):
        pm, _project = locked_person(world, name, project_name=f"{name}的工程")
        apps.append(reported_unlock(world, services, pm))
    tasks = services.reviews.inbox(world.who("auth_reviewer")).rows
    return client, world, apps, tasks


def _post(client, url, data=None, page="/review/"):
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, page)
    return client.post(url, data=data)


def test_holder_sees_what_approval_will_do_and_the_return_check_comes_first(two_reported):
    client, world, apps, tasks = two_reported
    login(client, "auth_reviewer")
    task = next(t for t in tasks if "张三" in t.subject)
    html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "审核通过后将" not in html   # not claimed yet: no preview
    _post(client, f"/review/task/{task.id}/claim")
    html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "将关闭 张三 在 张三的工程 的锁定记录（项目经理）" in html
    assert "张三 状态变为正常" in html
    assert 'data-confirm="确定审核通过？审核通过后不可撤销。' in html
    assert 'data-requires="opinion"' in html and 'data-confirm-after="确定退回该申请？"' in html
    assert 'value="return" class="btn btn-danger" data-confirm=' not in html


def test_after_a_decision_the_next_task_opens(two_reported):
    client, world, apps, tasks = two_reported
    login(client, "auth_reviewer")
    first, second = tasks
    _post(client, f"/review/task/{first.id}/claim")
    resp = _post(client, f"/review/task/{first.id}/decide", {"decision": "return", "opinion": "材料不全"})
    assert resp.headers["Location"].endswith(f"/review/task/{second.id}")
    assert "已退回，已为您打开下一个待办任务" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_batch_claim_from_the_inbox_reports_each_refusal(two_reported, ctx):
    client, world, apps, tasks = two_reported
    first, second = tasks
    other = new_client(ctx)
    login(other, "agency_reviewer")
    _post(other, f"/review/task/{second.id}/claim")
    login(client, "auth_reviewer")
    html = client.get("/review/?view=open").get_data(as_text=True)
    assert 'action="/review/claim-batch"' in html and 'name="task_id"' in html
    resp = client.post("/review/claim-batch", data={"task_id": [str(first.id), str(second.id), "x"],
                                                    "csrf_token": csrf_token(client, "/review/")})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/review/?view=mine")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已签收 1 个任务" in html
    assert f"未签收“{second.subject}”：该任务已由昆明市建设工程质量安全监督站的赵监督签收" in html
    db.session.rollback()
    assert db.session.get(HumanTask, first.id).claimed_by_name == "李审核"
    # without a token nothing is claimed
    assert client.post("/review/claim-batch", data={"task_id": str(second.id)}).status_code == 400


def test_transfer_over_http(two_reported, ctx):
    client, world, apps, tasks = two_reported
    task = tasks[0]
    login(client, "auth_reviewer")
    _post(client, f"/review/task/{task.id}/claim")
    html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "转办给" in html and "王审核" in html
    resp = _post(client, f"/review/task/{task.id}/transfer", {"to_user_id": "", "reason": "出差"})
    assert "转办给：请选择本单位的其他审核人员" in client.get(resp.headers["Location"]).get_data(as_text=True)
    colleague = world.who("auth_reviewer2").user_id
    resp = _post(client, f"/review/task/{task.id}/transfer", {"to_user_id": str(colleague), "reason": "出差"})
    assert "已转办给王审核" in client.get(resp.headers["Location"]).get_data(as_text=True)
    other = new_client(ctx)
    login(other, "auth_reviewer2")
    assert task.subject in other.get("/review/?view=mine").get_data(as_text=True)
    assert "任务转办给您" in other.get("/messages/").get_data(as_text=True)
    # a reviewer of another organisation cannot even see the route's task
    stranger = new_client(ctx)
    login(stranger, "agency2_reviewer")
    assert _post(stranger, f"/review/task/{task.id}/transfer",
                 {"to_user_id": str(colleague), "reason": "x"}).status_code == 404


def test_opinion_phrases_page_and_the_review_form(two_reported):
    client, world, apps, tasks = two_reported
    login(client, "auth_reviewer")
    assert "暂无常用意见" in client.get("/review/phrases").get_data(as_text=True)
    resp = _post(client, "/review/phrases", {"text": ""}, page="/review/phrases")
    assert resp.status_code == 400 and "常用意见：请填写意见内容" in resp.get_data(as_text=True)
    resp = _post(client, "/review/phrases", {"text": "材料齐全，同意。"}, page="/review/phrases")
    assert resp.status_code == 302
    _post(client, f"/review/task/{tasks[0].id}/claim")
    html = client.get(f"/review/task/{tasks[0].id}").get_data(as_text=True)
    assert 'data-phrase="材料齐全，同意。"' in html
    db.session.rollback()   # end the test's read snapshot
    phrase_id = db.session.scalar(select(OpinionPhrase.id))
    db.session.rollback()
    resp = _post(client, f"/review/phrases/{phrase_id}/delete", page="/review/phrases")
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    assert "暂无常用意见" in client.get("/review/phrases").get_data(as_text=True)
    applicant = new_client(client.application)
    login(applicant, "contractor_user")
    assert applicant.get("/review/phrases").status_code == 403


def test_attachments_are_shown_inline_and_framed_only_by_the_site(two_reported, services):
    client, world, apps, tasks = two_reported
    login(client, "auth_reviewer")
    app = apps[0]
    att = services.unlock.attachments(app)[0]
    html = client.get(f"/review/task/{tasks[-1].id if '张三' in tasks[-1].subject else tasks[0].id}").get_data(
        as_text=True)
    assert f"/apply/unlock/{app.id}/files/{att.id}/view" in html and 'data-preview="pdf"' in html
    resp = client.get(f"/apply/unlock/{app.id}/files/{att.id}/view")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline")
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    # every other page still refuses to be framed, and may frame only the site itself
    page = client.get("/review/")
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    download = client.get(f"/apply/unlock/{app.id}/files/{att.id}")
    assert download.headers["Content-Disposition"].startswith("attachment")
    stranger = new_client(client.application)
    login(stranger, "agency2_reviewer")
    assert stranger.get(f"/apply/unlock/{app.id}/files/{att.id}/view").status_code == 404


def test_a_change_task_shows_the_replacements_certificates_and_projects(client_world, services):
    from handlers.models import CHIEF_SUPERVISOR, SUPERVISION_ENGINEER, Assignment
    client, world = client_world
    old, project = locked_person(world, "原总监", org_key="firm", role=CHIEF_SUPERVISOR, project_name="五华区保障房")
    for i in range(2):   # a chief supervisor is locked at 3 projects
        world.assign(old, world.add_project(f"原总监其他工程{i}"), CHIEF_SUPERVISOR)
    new = world.add_person("新总监", "firm", SUPERVISION_ENGINEER)
    world.assign(new, world.add_project("盘龙区学校", contract_no="HT-2026-001"), CHIEF_SUPERVISOR)
    applicant = world.who("firm_user")
    assignment_id = db.session.scalar(select(Assignment.id).where(Assignment.person_id == old.id,
                                                                  Assignment.project_id == project.id))
    app = services.change.create(applicant, assignment_id)
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原总监调离"})
    services.change.report(applicant, app.id)
    [task] = services.reviews.inbox(world.who("auth_reviewer")).rows
    login(client, "auth_reviewer")
    html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "变更后人员证书" in html and "注册监理工程师（C" in html
    assert "变更后人员在建项目" in html and "项目总监 · 盘龙区学校（合同登记编号 HT-2026-001）" in html
