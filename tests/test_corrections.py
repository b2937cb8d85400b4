"""一次性告知 (行政许可法 Art. 32(4)): a reviewer's 退回 is a correction notice of items, each naming a
field or attachment of the application or free; the applicant answers every item (corrected or
explained) before 上报 is accepted again; the reviewer sees the answers; a second return says which
items are new; the 补正材料通知书 prints the facts §10 lists, for the case's parties only."""
import json
import re
import shutil
import subprocess

import pytest
from sqlalchemy import select

from engine.db import db
from engine.forms import check_form
from engine.models import AuditEntry
from handlers.applications import Upload
from handlers.corrections import Requested, history, latest
from handlers.errors import FieldErrors
from handlers.models import REPORTED, RETURNED, CorrectionItem
from handlers.processes.unlock import UNLOCK_FORM

from .web_helpers import client_world, csrf_token, login, new_client  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person, reported_unlock

THREE = [Requested("reason", "解锁原因未说明与锁定工程的关系"),
         Requested(UNLOCK_FORM, "申请表未加盖单位公章"),
         Requested(None, "请补充项目停工的证明材料")]


@pytest.fixture()
def returned(world, services):
    """张三's unlock application reported, claimed by the agency and returned with three items."""
    pm, _project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "材料不齐全，请一次性补正", THREE)
    return app, task


def _items(app):
    return list(db.session.scalars(select(CorrectionItem).where(CorrectionItem.instance_id == app.instance_id)
                                   .order_by(CorrectionItem.round, CorrectionItem.position)))


def test_a_return_with_three_items_is_answered_item_by_item_before_reporting_again(returned, world, services):
    app, _task = returned
    applicant = world.who("contractor_user")
    assert app.status == RETURNED
    reason, form_item, free = _items(app)
    assert [(i.field, i.label, i.round, i.repeated) for i in (reason, form_item, free)] == [
        ("reason", "解锁原因", 1, False), (UNLOCK_FORM, "建设工程项目人员解锁申请表", 1, False), (None, "其他", 1, False)]
    assert reason.before == "项目已停工" and form_item.before   # the values the return saw

    # 上报 at once: refused, naming the three unanswered items; nothing changes
    with pytest.raises(FieldErrors) as refused:
        services.unlock.report(applicant, app.id)
    message = refused.value.errors["_"]
    assert "补正事项未全部答复，不能上报" in message
    assert "解锁原因" in message and "建设工程项目人员解锁申请表" in message and "其他" in message
    db.session.rollback()
    assert app.status == RETURNED

    # 已更正 for a field that was not changed is refused
    with pytest.raises(FieldErrors) as refused:
        services.unlock.save(applicant, app.id, {}, answers={reason.id: ("corrected", "")})
    assert "“解锁原因”尚未修改" in refused.value.errors[f"answer_{reason.id}"]
    # 说明 without text is refused
    with pytest.raises(FieldErrors) as refused:
        services.unlock.save(applicant, app.id, {}, answers={free.id: ("explained", " ")})
    assert "选择“说明”时请填写说明" in refused.value.errors[f"answer_{free.id}"]
    db.session.rollback()

    # the reason corrected and saved: 上报 still refused, naming only the two left
    services.unlock.save(applicant, app.id, {"reason": "项目已于 2024 年 5 月停工，人员已离岗"},
                         answers={reason.id: ("corrected", "已补充停工时间")})
    with pytest.raises(FieldErrors) as refused:
        services.unlock.report(applicant, app.id)
    message = refused.value.errors["_"]
    assert "解锁原因：" not in message and "建设工程项目人员解锁申请表" in message and "其他" in message
    db.session.rollback()

    # the stamped form uploaded and the free item explained, in the report itself: accepted
    services.unlock.report(applicant, app.id, {}, [Upload(UNLOCK_FORM, "盖章申请表.pdf", PDF_BYTES)],
                           answers={form_item.id: ("corrected", "已上传盖章的申请表"),
                                    free.id: ("explained", "停工证明已作为申请表附页上传")})
    assert app.status == REPORTED
    answered = {i.id: (i.answer_kind, i.answer_text) for i in _items(app)}
    assert answered == {reason.id: ("corrected", "已补充停工时间"), form_item.id: ("corrected", "已上传盖章的申请表"),
                        free.id: ("explained", "停工证明已作为申请表附页上传")}
    actions = [e.action for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.instance_id == app.instance_id).order_by(AuditEntry.id))]
    assert actions[actions.index("退回"):] == ["退回", "答复补正事项", "暂存", "答复补正事项", "上报"]


def test_a_second_return_marks_items_new_or_already_asked(returned, world, services):
    app, _task = returned
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")
    reason, form_item, free = _items(app)
    services.unlock.report(applicant, app.id, {"reason": "项目已停工，人员已离岗"},
                           [Upload(UNLOCK_FORM, "盖章申请表.pdf", PDF_BYTES)],
                           answers={reason.id: ("corrected", ""), form_item.id: ("corrected", ""),
                                    free.id: ("explained", "见申请表附页")})
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "停工证明仍未提供", [
        Requested(None, "请补充项目停工的证明材料"),            # asked before
        Requested("reason", "停工日期与监督记录不一致")])         # caused by the correction
    rounds = history(app.instance_id)
    assert [n.round for n, _ in rounds] == [1, 2]
    second = rounds[1][1]
    assert [(i.text, i.repeated) for i in second] == [("请补充项目停工的证明材料", True), ("停工日期与监督记录不一致", False)]
    assert latest(app.instance_id).opinion == "停工证明仍未提供"
    # the applicant now answers the second notice only
    assert [i.round for i in services.unlock.correction_items(app)] == [2, 2]


def test_a_return_names_fields_of_the_application_only(world, services):
    pm, _project = locked_person(world, "李四")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    from handlers.errors import DomainError
    with pytest.raises(DomainError) as refused:
        services.reviews.return_(reviewer, task.id, "材料不全", [Requested("permit_no", "许可证号不对")])
    assert refused.value.message == "补正事项第 1 项：所选字段不属于该申请"
    db.session.rollback()
    with pytest.raises(DomainError) as refused:
        services.reviews.return_(reviewer, task.id, "材料不全", [Requested(None, "   ")])
    assert refused.value.message == "补正事项第 1 项：请填写需补正的内容"
    db.session.rollback()
    assert app.status == REPORTED


def test_form_files_checklists_name_application_fields():
    form = json.loads(open("bpmn/forms/personnel_unlock.edit.json", encoding="utf-8").read())
    assert check_form(form) == []
    form["x-corrections"]["Task_Review"].append({"field": "permit_no", "text": "许可证号不对"})
    form["x-corrections"]["Task_Review"].append({"field": "action", "text": "操作不对"})
    form["x-corrections"]["Task_Review"].append({"text": ""})
    problems = check_form(form)
    assert "x-corrections “Task_Review” 第 5 项：字段 “permit_no” 不是本申请表单的字段（x-target 为 application）" in problems
    assert any("第 6 项：字段 “action”" in p for p in problems)
    assert any("第 7 项：text 必须是" in p for p in problems)


def test_the_studio_refuses_a_checklist_of_an_unknown_step(services):
    from engine.validation import FormFiles, check_bpmn
    from engine.forms import parse_form
    form = json.loads(open("bpmn/forms/personnel_unlock.edit.json", encoding="utf-8").read())
    form["x-corrections"] = {"Task_Check": [{"text": "现场照片不清晰"}]}
    spec, problems = parse_form(form, "personnel_unlock.edit")
    assert problems == []
    review, _ = parse_form(json.loads(open("bpmn/forms/review.json", encoding="utf-8").read()), "review")
    xml = open("bpmn/personnel_unlock.bpmn", "rb").read()
    errors = check_bpmn(xml, "personnel_unlock.bpmn", services.engine.registry,
                           FormFiles({"personnel_unlock.edit": spec, "review": review}))
    assert any("x-corrections 的审核环节 “Task_Check” 不是本流程的其他用户任务" in e.message for e in errors)


# -- over HTTP: the checklist, the detail page, the notice, who may read it ---------------------------
def _post(client, url, data, page):
    data = dict(data)
    data["csrf_token"] = csrf_token(client, page)
    return client.post(url, data=data)


def test_the_return_checklist_and_the_answers_over_http(client_world, services, ctx):
    client, world = client_world
    pm, _project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    login(client, "agency_reviewer")
    page = f"/review/task/{task.id}"
    _post(client, f"{page}/claim", {}, page)
    html = client.get(page).get_data(as_text=True)
    assert "退回时需补正的事项（一次性告知）" in html and "申请表未加盖单位公章，或扫描件不清晰" in html
    resp = _post(client, f"{page}/decide", {
        "decision": "return", "opinion": "请补正", "corr_check": ["0"],          # the form's first common item
        "corr_field_1": "reason", "corr_text_1": "解锁原因未说明与锁定工程的关系",
        "corr_field_2": "", "corr_text_2": "请补充项目停工的证明材料", "corr_text_3": ""}, page)
    assert resp.status_code == 302
    db.session.rollback()
    items = _items(app)
    assert [(i.field, i.text) for i in items] == [
        (UNLOCK_FORM, "申请表未加盖单位公章，或扫描件不清晰"), ("reason", "解锁原因未说明与锁定工程的关系"),
        (None, "请补充项目停工的证明材料")]
    # a checklist index that does not exist: refused, nothing returned twice
    applicant = new_client(ctx)
    login(applicant, "contractor_user")
    detail = f"/apply/unlock/{app.id}"
    html = applicant.get(detail).get_data(as_text=True)
    assert "审核单位要求补正以下 3 项" in html
    # each item right after the field it names; the free item at the top of the form
    assert html.index("请补充项目停工的证明材料") < html.index('id="reason"') \
        < html.index("解锁原因未说明与锁定工程的关系") < html.index('id="unlock_form"') \
        < html.index("申请表未加盖单位公章，或扫描件不清晰")
    # 上报 without answers: refused, the page names the items
    resp = _post(applicant, f"{detail}/report", {"edit": "1", "reason": "项目已停工"}, detail)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "补正事项未全部答复，不能上报" in html and "第 3 项“其他：请补充项目停工的证明材料”尚未答复" in html
    # answered, with the reason changed and the form uploaded: reported
    import io
    form_item, reason, free = items
    resp = _post(applicant, f"{detail}/report", {
        "edit": "1", "reason": "项目已于 5 月停工，人员离岗",
        "unlock_form": (io.BytesIO(PDF_BYTES), "盖章申请表.pdf"),
        f"answer_kind_{form_item.id}": "corrected", f"answer_text_{form_item.id}": "已重新上传",
        f"answer_kind_{reason.id}": "corrected", f"answer_text_{reason.id}": "",
        f"answer_kind_{free.id}": "explained", f"answer_text_{free.id}": "停工证明附在申请表后"}, detail)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.rollback()
    assert app.status == REPORTED
    # the reviewer sees the answers item by item on the next review
    [task2] = services.reviews.inbox(world.who("agency_reviewer")).rows
    html = client.get(f"/review/task/{task2.id}").get_data(as_text=True)
    history_html = html[html.index('id="corrections-history"'):]
    assert "已更正" in history_html and "已重新上传" in history_html and "停工证明附在申请表后" in history_html
    assert "补正材料通知书（PDF）" in history_html


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "notice.pdf"
    path.write_bytes(data)
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                              text=True).stdout
    from pypdf import PdfReader
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_the_notice_pdf_carries_the_facts_and_only_the_parties_read_it(returned, client_world, ctx, tmp_path):
    client, world = client_world
    app, _task = returned
    login(client, "contractor_user")
    resp = client.get(f"/apply/unlock/{app.id}/notice/1.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    data = resp.get_data()
    assert data.startswith(b"%PDF") and b"FontFile2" in data   # the CJK font is embedded
    text = re.sub(r"\s+", "", _pdf_text(data, tmp_path))
    for fact in ("补正材料通知书", "申请人", "联系人", "申请事项", "申请日期", "需补正的材料及要求", "承办人",
                 "法律依据", "《中华人民共和国行政许可法》第三十二条", "日期", "人员解锁申请",
                 world.orgs["contractor"].name, "解锁原因未说明与锁定工程的关系", "申请表未加盖单位公章",
                 "请补充项目停工的证明材料", "材料不齐全，请一次性补正", app.case_no):
        assert fact in text, fact
    assert world.who("agency_reviewer").user_name in text
    # the case's reviewers read it too; another enterprise and another agency get 404
    reviewer = new_client(ctx)
    login(reviewer, "auth_reviewer")
    assert reviewer.get(f"/apply/unlock/{app.id}/notice/1.pdf").status_code == 200
    assert reviewer.get(f"/apply/unlock/{app.id}/notice/2.pdf").status_code == 404
    for stranger in ("agency2_reviewer", "owner_user"):
        other = new_client(ctx)
        login(other, stranger)
        assert other.get(f"/apply/unlock/{app.id}/notice/1.pdf").status_code == 404, stranger


# -- the API and the webhook ------------------------------------------------------------------------
def test_the_api_returns_with_items_lists_them_and_takes_the_answers(client_world, services):
    from handlers.models import WebhookDelivery
    from .api_helpers import auth, personal_token
    from .receivers import subscription, webhook_settings
    client, world = client_world
    with webhook_settings("127.0.0.1"):
        subscription("http://127.0.0.1:9/hook", ["application.returned"])
    pm, _project = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    reviewer = auth(personal_token("agency_reviewer"))
    [task] = client.get("/api/v1/inbox", headers=reviewer).get_json()["items"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reviewer).status_code == 200
    resp = client.post(f"/api/v1/tasks/{task['id']}/return", headers=reviewer, json={
        "opinion": "材料不齐全", "items": [{"field": "reason", "text": "解锁原因不明确"},
                                        {"field": UNLOCK_FORM, "text": "申请表未盖章"}, {"text": "补充停工证明"}]})
    assert resp.status_code == 200 and resp.get_json()["status"] == RETURNED
    db.session.rollback()
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    assert delivery.event == "application.returned" and delivery.payload.get("data", delivery.payload)["correction_items"] == 3, delivery.payload

    applicant = auth(personal_token("contractor_user"))
    [notice] = client.get(f"/api/v1/applications/unlock/{app.id}/corrections", headers=applicant).get_json()["items"]
    assert notice["round"] == 1 and notice["opinion"] == "材料不齐全" and notice["reviewer_name"] == "赵监督"
    assert [(i["label"], i["text"], i["answer_kind"]) for i in notice["items"]] == [
        ("解锁原因", "解锁原因不明确", None), ("建设工程项目人员解锁申请表", "申请表未盖章", None), ("其他", "补充停工证明", None)]
    refused = client.post(f"/api/v1/applications/unlock/{app.id}/report", headers=applicant)
    assert refused.status_code in (400, 409) and "补正事项未全部答复" in refused.get_json()["detail"]
    ids = [i["id"] for i in notice["items"]]
    resp = client.post(f"/api/v1/applications/unlock/{app.id}/corrections/answers", headers=applicant, json={
        "answers": [{"id": i, "kind": "explained", "text": "已在说明中补充"} for i in ids]})
    assert resp.status_code == 200
    assert client.post(f"/api/v1/applications/unlock/{app.id}/report", headers=applicant).get_json()["status"] == REPORTED
    # another enterprise reads nothing of it
    stranger = auth(personal_token("contractor2_user"))
    assert client.get(f"/api/v1/applications/unlock/{app.id}/corrections", headers=stranger).status_code == 404
