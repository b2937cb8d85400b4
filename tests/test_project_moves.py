"""A project pushed again with other regulators while an application on it is in review: its open
task goes with the project, on every page, task command and API endpoint (handlers/project_moves.py)."""
import threading
import time

import pytest
from sqlalchemy import select

from engine.db import db
from engine.models import TaskCandidate
from handlers import intake, project_moves
from handlers.errors import NotFound
from handlers.models import APPROVED, NORMAL, Notification, Person, UnlockApplication

from .conftest import is_postgres
from .api_helpers import auth, machine_token, org_ref, personal_token, project_payload
from .web_helpers import client_world, login, new_client, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

OLD = ("agency_reviewer", "auth_reviewer")   # 昆明
NEW = ("agency2_reviewer", "auth2_reviewer")  # 大理


@pytest.fixture()
def moved(client_world, services):
    """An unlock in review, claimed by 昆明's agency, whose project the 工改系统 then pushes with 大理's regulators."""
    client, world = client_world
    person, project = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    task = services.unlock.open_task(app)
    services.reviews.claim(world.who("agency_reviewer"), task.id)
    payload = project_payload(world, project.supervision_no, authority=org_ref(world.org("authority2")),
                              agency=org_ref(world.org("agency2")))
    resp = client.post("/api/v1/projects", json=payload, headers=auth(machine_token()))
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "updated", resp.get_json()
    db.session.rollback()
    return client, world, person, app, task.id


def _attachment(services, app) -> int:
    return services.unlock.attachments(app)[0].id


def test_the_old_regulators_lose_the_task_everywhere(moved, services):
    client, world, _person, app, task_id = moved
    for key in OLD:
        token = auth(personal_token(key))
        assert client.get(f"/api/v1/tasks/{task_id}", headers=token).status_code == 404
        assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=token).status_code == 404
        assert client.post(f"/api/v1/tasks/{task_id}/release", headers=token).status_code == 404
        assert client.post(f"/api/v1/tasks/{task_id}/approve", json={"opinion": "同意"}, headers=token).status_code == 404
        assert client.get(f"/api/v1/applications/unlock/{app.id}", headers=token).status_code == 404
        inbox = client.get("/api/v1/inbox", headers=token).get_json()
        assert inbox["counts"] == {"open": 0, "mine": 0, "held": 0, "done": 0} and inbox["items"] == []
        browser = new_client(client.application)
        login(browser, key)
        assert browser.get(f"/review/task/{task_id}").status_code == 404
        assert post(browser, f"/review/task/{task_id}/claim").status_code == 404
        assert post(browser, f"/review/task/{task_id}/decide", {"decision": "approve"}).status_code == 404
        assert browser.get(f"/apply/unlock/{app.id}/files/{_attachment(services, app)}").status_code == 404
        for view in ("open", "mine", "held"):
            assert f"/review/task/{task_id}" not in browser.get(f"/review/?view={view}").get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(UnlockApplication, app.id).status == "reported"


def test_the_new_regulators_find_it_in_their_inbox_and_decide_it(moved, services):
    client, world, person, app, task_id = moved
    for key in NEW:
        inbox = client.get("/api/v1/inbox", headers=auth(personal_token(key))).get_json()
        assert [t["id"] for t in inbox["items"]] == [task_id]
        assert inbox["items"][0]["claimed_by_name"] is None   # the old claim was released
    notified = db.session.scalars(select(Notification.user_id).where(
        Notification.kind == "task_moved", Notification.task_id == task_id)).all()
    assert sorted(notified) == sorted(world.who(k).user_id for k in NEW)
    assert sorted(db.session.scalars(select(TaskCandidate.org_id).where(TaskCandidate.task_id == task_id))) == \
        sorted([world.org("authority2").id, world.org("agency2").id])

    browser = new_client(client.application)
    login(browser, "agency2_reviewer")
    assert browser.get(f"/apply/unlock/{app.id}/files/{_attachment(services, app)}").status_code == 200
    page = browser.get(f"/review/task/{task_id}").get_data(as_text=True)
    assert "监管单位变更" in page and "赵监督的签收已撤销" in page and "✓ 操作记录校验通过" in page
    assert post(browser, f"/review/task/{task_id}/claim").status_code == 302
    resp = post(browser, f"/review/task/{task_id}/decide", {"decision": "approve", "opinion": "同意解锁"})
    assert resp.status_code == 302
    db.session.rollback()
    assert db.session.get(UnlockApplication, app.id).status == APPROVED
    assert db.session.get(Person, person.id).status == NORMAL


def test_the_move_is_in_the_operation_log(moved, services):
    client, world, _person, app, _task_id = moved
    log = services.unlock.operation_log(db.session.get(UnlockApplication, app.id))
    assert log.broken is None
    entry = log[-1]
    assert entry.action == "监管单位变更" and entry.org_name == "工改系统推送"
    assert entry.opinion == ("工程改由大理州住房和城乡建设局、大理州建设工程质量安全监督站监管，“审核”改由其办理"
                             "（原为昆明市住房和城乡建设局、昆明市建设工程质量安全监督站）；"
                             "昆明市建设工程质量安全监督站赵监督的签收已撤销")


def test_a_task_the_old_regulator_completed_before_the_move_is_closed_to_it(client_world, services):
    client, world = client_world
    person, project = locked_person(world, "李四")
    app = reported_unlock(world, services, person)
    reviewer = world.who("agency_reviewer")
    returned = services.unlock.open_task(app)
    services.reviews.claim(reviewer, returned.id)
    services.reviews.return_(reviewer, returned.id, "补充材料")
    services.unlock.report(world.who("contractor_user"), app.id)
    payload = project_payload(world, project.supervision_no, authority=org_ref(world.org("authority2")),
                              agency=org_ref(world.org("agency2")))
    assert client.post("/api/v1/projects", json=payload, headers=auth(machine_token())).status_code == 200
    token = auth(personal_token("agency_reviewer"))
    assert client.get(f"/api/v1/tasks/{returned.id}", headers=token).status_code == 404
    browser = new_client(client.application)
    login(browser, "agency_reviewer")
    assert browser.get(f"/review/task/{returned.id}").status_code == 404


@pytest.mark.postgres
@pytest.mark.skipif(not is_postgres(), reason="a race needs concurrent writers: SQLite serialises them all")
def test_a_claim_waiting_on_the_move_is_refused_once_it_commits(ctx, world, services, monkeypatch):
    """The old agency claims while the push that moves the project is between its re-offer and its
    commit: the claim waits for the task's row, then re-checks it against its older snapshot, where
    the old candidate rows still exist. The task's offer count refuses them."""
    person, project = locked_person(world, "王五")
    app = reported_unlock(world, services, person)
    task_id = services.unlock.open_task(app).id
    moved, go = threading.Event(), threading.Event()
    follow = project_moves.follow_regulators

    def follow_then_wait(*args, **kwargs):
        result = follow(*args, **kwargs)
        moved.set()
        assert go.wait(30)
        return result
    monkeypatch.setattr(project_moves, "follow_regulators", follow_then_wait)
    payload = project_payload(world, project.supervision_no, authority=org_ref(world.org("authority2")),
                              agency=org_ref(world.org("agency2")))
    outcomes = {}

    def push():
        outcomes["push"] = intake.upsert_project(payload).outcome

    def claim():
        assert moved.wait(30)
        try:
            services.reviews.claim(world.who("agency_reviewer"), task_id)
            outcomes["claim"] = "claimed"
        except NotFound:
            outcomes["claim"] = "not found"
    threads = [threading.Thread(target=_in_context, args=(ctx, work)) for work in (push, claim)]
    for t in threads:
        t.start()
    assert moved.wait(30)
    time.sleep(0.5)   # the claim is waiting for the task's row by now
    go.set()
    for t in threads:
        t.join(60)
    assert outcomes == {"push": "updated", "claim": "not found"}
    db.session.rollback()
    task = services.reviews.claim(world.who("agency2_reviewer"), task_id)
    assert task.claimed_by_name == "钱监督"


def _in_context(app, work):
    with app.app_context():
        try:
            work()
        finally:
            db.session.remove()
