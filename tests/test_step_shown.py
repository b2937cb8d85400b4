"""Reviewers see which step (环节) they work, applicants whom it is offered to, and the new-task
message reaches exactly the organisations each opened step is offered to. The diagram is the
unlock with 现场核查 by the supervision agency before the review (tests/bpmn_site_check)."""
from datetime import datetime

from sqlalchemy import select, update

from engine.db import db
from engine.models import HumanTask, TaskCandidate
from handlers.applications import Upload
from handlers.models import Notification

from .api_helpers import auth, personal_token
from .test_notifications import EVERYONE, received
from .test_site_check import _deploy_site_check
from .web_helpers import client_world, login, new_client  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person, reported_unlock


def _site_check(world, services):
    """An unlock reported under the site-check diagram: its open step is 现场核查 (agency only)."""
    _deploy_site_check(services)
    pm, _ = locked_person(world, "孙八", project_name="现场核查工程")
    app = reported_unlock(world, services, pm)
    task = services.unlock.open_task(app)
    assert task.name == "现场核查"
    return app, task


def _check_done(world, services, task):
    agency = world.who("agency_reviewer")
    services.reviews.claim(agency, task.id)
    services.reviews.submit(agency, task.id, {"check_date": "2026-05-01", "conclusion": "符合", "opinion": "已停工"},
                            [Upload("site_check_record", "现场核查记录.pdf", PDF_BYTES)])


def test_the_inbox_the_task_page_and_the_api_name_the_step(client_world, services, ctx):
    client, world = client_world
    app, task = _site_check(world, services)
    login(client, "agency_reviewer")
    inbox = client.get("/review/").get_data(as_text=True)
    head = inbox.split("<thead>")[1].split("</thead>")[0]
    assert "<th>环节</th>" in head and "<th>办件编号</th>" in head
    assert '<td class="nowrap step">现场核查</td>' in inbox and app.case_no in inbox
    page = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "<h2>现场核查</h2>" in page and "审核办理" not in page
    reviewer = auth(personal_token("agency_reviewer"))
    [item] = client.get("/api/v1/inbox", headers=reviewer).get_json()["items"]
    assert (item["step"], item["case_no"]) == ("现场核查", app.case_no)
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=reviewer).get_json()["task"]
    assert (detail["step"], detail["case_no"]) == ("现场核查", app.case_no)

    # the step after it is the regular review, offered to both regulators
    _check_done(world, services, task)
    authority = new_client(ctx)
    login(authority, "auth_reviewer")
    inbox = authority.get("/review/").get_data(as_text=True)
    assert '<td class="nowrap step">审核</td>' in inbox and app.case_no in inbox


def test_the_applicant_is_told_whom_the_step_is_offered_to(client_world, services):
    client, world = client_world
    app, task = _site_check(world, services)
    authority, agency = world.org("authority").name, world.org("agency").name
    login(client, "contractor_user")
    html = client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    assert f"已上报至 {agency}，等待现场核查" in html and f"已上报至 {authority}" not in html
    _check_done(world, services, task)
    html = client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    assert f"已上报至 {authority} 和 {agency}，等待审核" in html


def test_new_task_messages_go_to_exactly_the_organisations_of_each_opened_step(world, services):
    app, task = _site_check(world, services)
    got = received(world, *EVERYONE)
    # 现场核查 is the agency's: the authority is not told of a task it could not open
    assert got["agency_reviewer"] == ["task_offered"]
    assert got["auth_reviewer"] == [] and got["auth_reviewer2"] == []
    _check_done(world, services, task)
    got = received(world, *EVERYONE)
    # the review that opens next is offered to both: both are told, with its step and case number
    assert got["auth_reviewer"] == ["task_offered"] and got["auth_reviewer2"] == ["task_offered"]
    assert got["agency_reviewer"] == ["task_offered", "task_offered"]
    review = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id,
                                                       HumanTask.state == "open"))
    told = db.session.scalars(select(Notification).where(Notification.task_id == review.id)).all()
    assert told and all(n.title.startswith("待审核：") and app.case_no in n.title for n in told)
    assert "已完成“现场核查”" in told[0].body
    for key in ("agency2_reviewer", "auth2_reviewer", "owner_user", "contractor2_user", "firm_user", "admin"):
        assert got[key] == [], key


def test_case_numbers_in_the_supervision_list(client_world, services):
    client, world = client_world
    pm, _ = locked_person(world, "周九")
    app = reported_unlock(world, services, pm)
    past = datetime(2020, 1, 1)   # long overdue: on the authority's 督办 list
    task = services.unlock.open_task(app)
    db.session.execute(update(HumanTask).where(HumanTask.id == task.id).values(due_at=past))
    db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task.id).values(due_at=past))
    db.session.commit()
    login(client, "auth_reviewer")
    html = client.get("/review/supervision").get_data(as_text=True)
    assert "<th>办件编号</th>" in html and app.case_no in html and '<td class="nowrap step">审核</td>' in html

