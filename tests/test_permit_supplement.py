"""施工许可证补录 (domain.md §4.7), the fourth process: on the catalog, its diagram and form file."""
from datetime import date, timedelta

import pytest

from engine.db import db
from handlers.applications import Upload
from handlers.errors import DomainError, Forbidden, NotFound
from handlers.models import APPROVED, COMPLETED, DRAFT, REPORTED, RETURNED, WITHDRAWN

from .web_helpers import client_world, csrf_token, login  # noqa: F401 (fixture)
from .world import PDF_BYTES, reported_permit

SCAN = Upload("permit_scan", "施工许可证.pdf", PDF_BYTES)


def _project_without_permit(world, name="呈贡新区安置房"):
    project = world.add_project(name)
    project.permit_no = None
    db.session.commit()
    return project


def _decide(world, services, approve=True, opinion=""):
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    if approve:
        services.reviews.approve(reviewer, task.id, opinion)
    else:
        services.reviews.return_(reviewer, task.id, opinion)
    return task


def test_approval_sets_the_projects_permit_number(world, services):
    owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    assert app.status == REPORTED
    task = _decide(world, services)
    assert task.subject == "呈贡新区安置房施工许可证补录"
    assert app.status == APPROVED and app.open_key is None
    assert project.permit_no == "530114202405200101"
    assert [e.action for e in services.permit.operation_log(app)] == [
        "新建", "暂存", "上报", "签收", "审核通过", "补录生效"]
    assert [a.kind for a in services.permit.attachments(app)] == ["permit_scan"]


def test_a_project_with_a_permit_is_refused_and_shown_greyed(world, services):
    owner = world.who("owner_user")
    project = world.add_project("已有许可证的工程")
    db.session.commit()
    with pytest.raises(DomainError) as exc:
        services.permit.create(owner, project.id)
    assert exc.value.message == "该工程已有施工许可证号，无需补录"
    picks = {p.id: p for p in services.permit.picks(owner)}
    assert picks[project.id].reason == f"该工程已有施工许可证号，无需补录（{project.permit_no}）"
    bare = _project_without_permit(world)
    assert picks.get(bare.id) is None or picks[bare.id].reason is None


def test_report_requires_the_form_files_fields(world, services):
    owner = world.who("owner_user")
    app = services.permit.create(owner, _project_without_permit(world).id)
    assert app.status == DRAFT
    for fields, uploads, messages in (   # every missing field at once, in the form's order
            ({}, [], ["施工许可证号：请填写施工许可证号", "发证日期：请填写发证日期", "请上传“施工许可证扫描件”"]),
            ({"permit_no": "XK-1"}, [], ["发证日期：请填写发证日期", "请上传“施工许可证扫描件”"]),
            ({"issue_date": "2024-05-20"}, [], ["请上传“施工许可证扫描件”"])):
        services.permit.save(owner, app.id, fields, uploads)
        with pytest.raises(DomainError) as exc:
            services.permit.report(owner, app.id)
        assert list(getattr(exc.value, "errors", {None: exc.value.message}).values()) == messages
    with pytest.raises(DomainError, match="发证日期：不能晚于今天"):
        services.permit.save(owner, app.id, {"issue_date": (date.today() + timedelta(days=1)).isoformat()})
    with pytest.raises(DomainError, match="发证日期：日期格式不正确"):
        services.permit.save(owner, app.id, {"issue_date": "2024-02-30"})
    services.permit.save(owner, app.id, {}, [SCAN])
    services.permit.report(owner, app.id)
    assert app.status == REPORTED


def test_return_then_correct_and_approve(world, services):
    owner, project, app = reported_permit(world, services, "呈贡新区安置房", permit_no="错误的编号")
    _decide(world, services, approve=False, opinion="许可证号与扫描件不一致")
    assert app.status == RETURNED and project.permit_no is None
    services.permit.save(owner, app.id, {"permit_no": "530114202405200101"})
    services.permit.report(owner, app.id)
    _decide(world, services)
    assert app.status == APPROVED and project.permit_no == "530114202405200101"


def test_a_permit_set_meanwhile_sends_it_back(world, services):
    owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    project.permit_no = "另行录入"
    db.session.commit()
    _decide(world, services)
    assert app.status == RETURNED and project.permit_no == "另行录入"
    assert services.permit.operation_log(app)[-1].opinion == "该工程已有施工许可证号，无需补录"
    services.permit.withdraw(owner, app.id)
    assert app.status == WITHDRAWN


def test_only_the_construction_unit_files_it_for_its_own_projects(world, services):
    project = _project_without_permit(world)
    with pytest.raises(Forbidden):
        services.permit.create(world.who("contractor_user"), project.id)
    foreign = _project_without_permit(world, "他人工程")
    foreign.construction_unit_id = world.orgs["owner2"].id if "owner2" in world.orgs else world.orgs["contractor"].id
    db.session.commit()
    with pytest.raises(NotFound):
        services.permit.create(world.who("owner_user"), foreign.id)


def test_only_projects_under_construction_and_either_regulator_approves(world, services):
    """§4.7: the permit is filed for one of the unit's projects under construction (a completed one is
    refused), and the project's competent authority may approve it as well as its agency."""
    owner = world.who("owner_user")
    done = _project_without_permit(world, "已竣工无证工程")
    done.status = COMPLETED
    db.session.commit()
    assert done.id not in [p.id for p in services.permit.projects(owner)]
    with pytest.raises(DomainError) as exc:
        services.permit.create(owner, done.id)
    assert exc.value.message == "该工程已竣工"
    _owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    authority = world.who("auth_reviewer")
    [task] = services.reviews.inbox(authority).rows
    services.reviews.claim(authority, task.id)
    assert services.reviews.inbox(world.who("agency_reviewer"), "open").rows == []
    services.reviews.approve(authority, task.id, "准予补录")
    assert app.status == APPROVED and project.permit_no == "530114202405200101"


def test_the_pages_follow_the_catalog(client_world, services):
    client, world = client_world
    _project_without_permit(world)
    world.add_project("已有许可证的工程")
    db.session.commit()
    login(client, "owner_user")
    nav = client.get("/apply/permit/").get_data(as_text=True)
    assert "施工许可证补录" in nav and "竣工验收备案" in nav and "项目管理 › 在建 › 施工许可" in nav
    dialog = client.get("/apply/permit/new").get_data(as_text=True)
    assert "选择需补录施工许可证的工程" in dialog and "呈贡新区安置房" in dialog
    assert "该工程已有施工许可证号，无需补录" in dialog and "disabled" in dialog
    project = _project_without_permit(world, "页面工程")
    resp = client.post("/apply/permit/new", data={"target_id": str(project.id),
                                                  "csrf_token": csrf_token(client, "/apply/permit/new")})
    detail = client.get(resp.headers["Location"]).get_data(as_text=True)
    for label in ("施工许可证号 <span class=\"req\">*</span>", "发证日期 <span class=\"req\">*</span>",
                  "施工许可证扫描件 <span class=\"req\">*</span>", 'type="date"', 'maxlength="50"'):
        assert label in detail
    assert '="None"' not in detail
    assert client.get("/apply/unlock/").status_code == 403


# -- what the platform does around every review step (locks, log, deadlines, messages) --------
def test_a_failed_recheck_is_logged_as_such_and_the_owner_told(world, services):
    from sqlalchemy import select

    from handlers.models import Notification
    from handlers.processes import RECHECK_FAILED
    owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    project.permit_no = "另行录入"
    db.session.commit()
    _decide(world, services)
    last = services.permit.operation_log(app)[-1]
    assert (last.action, last.opinion, last.user_name) == (RECHECK_FAILED, "该工程已有施工许可证号，无需补录", "系统")
    told = db.session.scalars(select(Notification).where(Notification.account_id == owner.account_id)
                              .order_by(Notification.id)).all()
    assert [n.kind for n in told] == ["claimed", "recheck_failed"]
    assert told[-1].title == f"复核未通过：施工许可证补录（{project.name}）（{app.case_no}）"   # its case number
    assert "该工程已有施工许可证号" in told[-1].body and (told[-1].app_kind, told[-1].app_id) == ("permit", app.id)


def test_reporting_tells_both_regulators_under_the_process_title(world, services):
    from sqlalchemy import select

    from handlers.models import Notification
    _owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    for key in ("agency_reviewer", "auth_reviewer"):
        [n] = db.session.scalars(select(Notification).where(
            Notification.account_id == world.who(key).account_id)).all()
        assert n.kind == "task_offered" and (n.app_kind, n.app_id) == ("permit", app.id)
        assert "上报了施工许可证补录“呈贡新区安置房施工许可证补录”" in n.body


def test_the_review_is_due_in_five_working_days_and_its_timers_wait(world, services):
    import json

    from sqlalchemy import select

    from engine.models import HumanTask, Job
    from engine.runtime import TIMER_JOB
    _owner, _project, app = reported_permit(world, services, "呈贡新区安置房")
    review = services.permit.open_task(app)
    assert review.due_rule == "wd:5" and review.due_at is not None
    waiting = [json.loads(j.payload)["element"] for j in db.session.scalars(select(Job).where(Job.kind == TIMER_JOB))
               if json.loads(j.payload)["instance_id"] == app.instance_id]
    assert sorted(waiting) == ["Timer_Review_Overdue", "Timer_Review_Reminder"]
    edit = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id,
                                                     HumanTask.form_key == "permit_supplement.edit"))
    assert edit.due_at is None


def test_check_invariants_knows_permit_supplements(world, services):
    from sqlalchemy import text

    from handlers.invariants import check_invariants
    _owner, project, app = reported_permit(world, services, "呈贡新区安置房")
    _decide(world, services)
    assert check_invariants() == []
    db.session.execute(text("UPDATE project SET permit_no = NULL WHERE id = :id"), {"id": project.id})
    db.session.execute(text("UPDATE permit_supplement SET status = 'reported' WHERE id = :id"), {"id": app.id})
    db.session.commit()
    assert check_invariants() == [
        f"施工许可证补录 {app.id} 状态为待审核，但流程实例已结束（流程实例 {app.instance_id}）"]
    db.session.execute(text("UPDATE permit_supplement SET status = 'approved' WHERE id = :id"), {"id": app.id})
    db.session.commit()
    assert check_invariants() == [f"施工许可证补录 {app.id} 已办结，但工程 {project.id} 没有施工许可证号"]
