"""The reviewer pages over HTTP: inbox tabs, claim / held / release / approve / return, visibility."""
import pytest

from engine.db import db
from handlers.models import APPROVED, NORMAL, RETURNED
from engine.models import AuditEntry

from .web_helpers import client_world, csrf_token, login, new_client  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


@pytest.fixture()
def reported(client_world, services):
    client, world = client_world
    pm, project = locked_person(world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    return client, world, pm, app, task


def _post(client, url, data=None, page=None):
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, page or "/review/")
    return client.post(url, data=data)


def test_both_regulators_see_the_reported_application(reported, ctx):
    client, world, pm, app, task = reported
    for username in ("agency_reviewer", "auth_reviewer"):
        c = new_client(ctx)
        login(c, username)
        html = c.get("/review/").get_data(as_text=True)
        assert "张三（项目经理）解锁" in html and "昆明市第一中学教学楼" in html
        assert "云南建投第一建设有限公司" in html and "人员解锁申请" in html
    other = new_client(ctx)
    login(other, "agency2_reviewer")
    assert "张三（项目经理）解锁" not in other.get("/review/").get_data(as_text=True)


def test_filters_narrow_the_inbox(reported):
    client, *_ = reported
    login(client, "agency_reviewer")
    assert "张三（项目经理）解锁" in client.get("/review/?scope=第一中学").get_data(as_text=True)
    assert "张三（项目经理）解锁" not in client.get("/review/?scope=大理").get_data(as_text=True)
    assert "张三（项目经理）解锁" not in client.get("/review/?process_key=completion_filing").get_data(as_text=True)
    assert "张三（项目经理）解锁" not in client.get("/review/?date_from=2999-01-01").get_data(as_text=True)
    assert client.get("/review/?date_from=garbage&view=nonsense").status_code == 200


def test_claim_held_approve_flow(reported, ctx):
    client, world, pm, app, task = reported
    login(client, "agency_reviewer")
    other = new_client(ctx)
    login(other, "auth_reviewer")
    page = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "签收" in page and "项目已停工" in page or "张三" in page

    resp = _post(client, f"/review/task/{task.id}/claim")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/review/task/{task.id}")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "签收成功" in html and "审核通过" in html and "退回签收" in html

    # the other regulator: gone from 待签收, listed under 他人已签收 with the holder
    assert "张三（项目经理）解锁" not in other.get("/review/").get_data(as_text=True)
    held = other.get("/review/?view=held").get_data(as_text=True)
    assert "张三（项目经理）解锁" in held and "赵监督" in held and "昆明市建设工程质量安全监督站" in held
    resp = _post(other, f"/review/task/{task.id}/claim")
    html = other.get(resp.headers["Location"]).get_data(as_text=True)
    assert "赵监督" in html and "签收成功" not in html
    resp = _post(other, f"/review/task/{task.id}/decide", {"decision": "approve"})
    assert "签收成功" not in other.get(resp.headers["Location"]).get_data(as_text=True)

    resp = _post(client, f"/review/task/{task.id}/decide", {"decision": "approve", "opinion": "同意解锁"})
    assert resp.headers["Location"].endswith("/review/")   # no other open task: back to the inbox
    assert "审核通过。待办事项已全部处理" in client.get(resp.headers["Location"]).get_data(as_text=True)
    html = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "审核通过" in html and "该任务已处理完毕" in html
    db.session.rollback()   # end the test's read snapshot
    assert app.status == APPROVED and pm.status == NORMAL
    done = client.get("/review/?view=done").get_data(as_text=True)
    assert "张三（项目经理）解锁" in done


def test_double_approve_shows_already_processed_and_happens_once(reported):
    client, world, pm, app, task = reported
    login(client, "agency_reviewer")
    _post(client, f"/review/task/{task.id}/claim")
    token = csrf_token(client, f"/review/task/{task.id}")
    first = client.post(f"/review/task/{task.id}/decide", data={"decision": "approve", "csrf_token": token})
    client.get(first.headers["Location"])
    second = client.post(f"/review/task/{task.id}/decide", data={"decision": "approve", "csrf_token": token})
    assert second.status_code == 302
    html = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "该任务已处理完毕，请勿重复提交" in html
    db.session.rollback()   # end the test's read snapshot
    actions = [e.action for e in AuditEntry.query.filter_by(instance_id=app.instance_id)]
    assert actions.count("审核通过") == 1


def test_return_needs_an_opinion_then_returns(reported):
    client, world, pm, app, task = reported
    login(client, "auth_reviewer")
    _post(client, f"/review/task/{task.id}/claim")
    resp = _post(client, f"/review/task/{task.id}/decide", {"decision": "return"})
    assert "退回时必须填写意见" in client.get(resp.headers["Location"]).get_data(as_text=True)
    resp = _post(client, f"/review/task/{task.id}/decide", {"decision": "return", "opinion": "材料不全"})
    assert "已退回" in client.get(resp.headers["Location"]).get_data(as_text=True)
    db.session.rollback()   # end the test's read snapshot
    assert app.status == RETURNED


def test_release_gives_the_task_back(reported, ctx):
    client, world, pm, app, task = reported
    login(client, "agency_reviewer")
    _post(client, f"/review/task/{task.id}/claim")
    other = new_client(ctx)
    login(other, "auth_reviewer")
    resp = _post(other, f"/review/task/{task.id}/release")        # not the holder
    assert "已退回签收" not in other.get(resp.headers["Location"]).get_data(as_text=True)
    resp = _post(client, f"/review/task/{task.id}/release")
    assert "已退回签收" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "张三（项目经理）解锁" in other.get("/review/").get_data(as_text=True)


def test_reviewer_of_another_organisation_gets_404(reported):
    client, world, pm, app, task = reported
    login(client, "agency2_reviewer")
    assert client.get(f"/review/task/{task.id}").status_code == 404
    for action, data in [("claim", {}), ("release", {}), ("decide", {"decision": "approve"})]:
        assert _post(client, f"/review/task/{task.id}/{action}", data).status_code == 404
    assert client.get("/review/task/999999").status_code == 404
    db.session.rollback()   # end the test's read snapshot
    assert task.claimed_by_user_id is None


REVIEW_GETS = ["/review/", "/review/?view=done", "/review/task/1"]
REVIEW_POSTS = ["/review/task/1/claim", "/review/task/1/release", "/review/task/1/decide"]


def test_anonymous_and_wrong_roles_are_refused(client_world):
    client, world = client_world
    for url in REVIEW_GETS:
        resp = client.get(url)
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], url
    for url in REVIEW_POSTS:
        resp = client.post(url, data={"csrf_token": csrf_token(client, "/auth/login")})
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], url
    for username in ("contractor_user", "owner_user"):
        login(client, username)
        for url in REVIEW_GETS:
            assert client.get(url).status_code == 403, (username, url)
        for url in REVIEW_POSTS:
            assert client.post(url, data={"csrf_token": csrf_token(client, "/help")}).status_code == 403
        client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/help")})


def test_platform_administrators_see_only_their_own_review_tasks(reported):
    """Administrators work registrations in the same inbox; the regulators' tasks are not theirs."""
    client, world, pm, app, task = reported
    login(client, "admin")
    html = client.get("/review/").get_data(as_text=True)
    assert "张三" not in html and f"/review/task/{task.id}" not in html
    assert client.get(f"/review/task/{task.id}").status_code == 404
    for action, data in [("claim", {}), ("release", {}), ("decide", {"decision": "approve"})]:
        assert _post(client, f"/review/task/{task.id}/{action}", data).status_code == 404
    db.session.rollback()   # end the test's read snapshot
    assert task.claimed_by_user_id is None


def test_post_without_csrf_is_refused(reported):
    client, world, pm, app, task = reported
    login(client, "agency_reviewer")
    assert client.post(f"/review/task/{task.id}/claim").status_code == 400
    db.session.rollback()   # end the test's read snapshot
    assert task.claimed_by_user_id is None
