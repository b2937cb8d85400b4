"""Platform admin pages over HTTP: registration review, definitions and incidents; role guards."""
import re

from engine.db import db
from handlers.models import ACTIVE, PENDING, REJECTED, Account, User
from werkzeug.security import generate_password_hash

from .web_helpers import client_world, csrf_token, login  # noqa: F401 (fixture)


def _pending(ctx, world, username, org_key="contractor2"):
    """A pending account submitted for review (as the registration page does)."""
    user = User(username=username, password_hash=generate_password_hash("demo1234"), name="新用户")
    account = Account(user=user, org=world.org(org_key), status=PENDING)
    db.session.add_all([user, account])
    db.session.commit()
    ctx.extensions["services"].registration.submit(account)
    return account


def _post(client, url, data=None):
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, "/admin/registrations")
    return client.post(url, data=data)


def _task_link(client):
    html = client.get("/admin/registrations").get_data(as_text=True)
    return re.search(r'href="/review/task/(\d+)"', html.split("审核记录", 1)[0]).group(1)


def test_admin_approves_a_registration_and_the_user_can_log_in(client_world, ctx):
    client, world = client_world
    account = _pending(ctx, world, "newbie")
    login(client, "admin")
    html = client.get("/admin/registrations").get_data(as_text=True)
    assert "newbie" in html and "云南工程建设总承包有限公司" in html
    task_id = _task_link(client)
    inbox = client.get("/review/").get_data(as_text=True)
    assert "云南工程建设总承包有限公司注册申请" in inbox and f"/review/task/{task_id}" in inbox
    page = client.get(f"/review/task/{task_id}").get_data(as_text=True)
    assert "注册审核" in page and "newbie" in page and "签收" in page
    assert _post(client, f"/review/task/{task_id}/claim").status_code == 302
    page = client.get(f"/review/task/{task_id}").get_data(as_text=True)
    assert "签收成功" in page and "退回原因" in page and "审核通过" in page
    resp = _post(client, f"/review/task/{task_id}/decide", {"decision": "approve"})
    assert "审核通过" in client.get(resp.headers["Location"]).get_data(as_text=True)
    html = client.get("/admin/registrations").get_data(as_text=True)
    assert "暂无待审核的注册申请" in html
    assert "审核通过" in html.split("审核记录", 1)[1] and "陈管理" in html.split("审核记录", 1)[1]
    db.session.rollback()
    assert db.session.get(Account, account.id).status == ACTIVE
    from .web_helpers import new_client
    other = new_client(ctx)
    assert login(other, "newbie").status_code == 302


def test_reject_needs_a_reason_and_shows_it_at_login(client_world, ctx):
    client, world = client_world
    account = _pending(ctx, world, "refused")
    login(client, "admin")
    task_id = _task_link(client)
    _post(client, f"/review/task/{task_id}/claim")
    resp = _post(client, f"/review/task/{task_id}/decide", {"decision": "return", "reason": " "})
    assert "退回原因：退回时必须填写退回原因" in client.get(resp.headers["Location"]).get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Account, account.id).status == PENDING
    _post(client, f"/review/task/{task_id}/decide", {"decision": "return", "reason": "信用代码与单位不符"})
    db.session.rollback()
    assert db.session.get(Account, account.id).status == REJECTED
    # a second decision on the same registration is refused
    resp = _post(client, f"/review/task/{task_id}/decide", {"decision": "approve"})
    assert "该任务已处理完毕" in client.get(resp.headers["Location"]).get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Account, account.id).status == REJECTED
    record = client.get("/admin/registrations").get_data(as_text=True).split("审核记录", 1)[1]
    assert "信用代码与单位不符" in record and "退回" in record
    from .web_helpers import new_client
    other = new_client(ctx)
    assert "注册申请未通过审核，原因：信用代码与单位不符" in login(other, "refused").get_data(as_text=True)


def test_definitions_page_lists_deployed_diagrams(client_world):
    client, world = client_world
    login(client, "admin")
    html = client.get("/admin/definitions").get_data(as_text=True)
    for key in ("personnel_unlock", "manager_change", "completion_filing"):
        assert key in html
    assert "当前没有异常的流程实例" in html
    from engine.models import ProcessDefinition
    from sqlalchemy import select
    from engine.db import db
    definition = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == "manager_change"))
    page = client.get(f"/admin/definitions/{definition.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "变更生效" in html and definition.content_hash in html
    assert client.get("/admin/definitions/999999").status_code == 404


def test_retry_of_unknown_instance_shows_the_engine_message(client_world):
    client, world = client_world
    login(client, "admin")
    resp = _post(client, "/admin/instances/987654/retry")
    assert "流程实例不存在" in client.get(resp.headers["Location"]).get_data(as_text=True)


ADMIN_GETS = ["/admin/", "/admin/registrations", "/admin/definitions", "/admin/definitions/1"]
ADMIN_POSTS = ["/admin/accounts/1/disable", "/admin/instances/1/retry"]


def test_admin_pages_refuse_anonymous_and_other_roles(client_world):
    client, world = client_world
    for url in ADMIN_GETS:
        resp = client.get(url)
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    for url in ADMIN_POSTS:
        resp = client.post(url, data={"csrf_token": csrf_token(client, "/auth/login")})
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    for username in ("agency_reviewer", "contractor_user", "owner_user"):
        login(client, username)
        for url in ADMIN_GETS:
            assert client.get(url).status_code == 403
        for url in ADMIN_POSTS:
            assert client.post(url, data={"csrf_token": csrf_token(client, "/help")}).status_code == 403
        client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/help")})


def test_home_redirects_by_role(client_world):
    client, world = client_world
    assert "/auth/login" in client.get("/").headers["Location"]
    login(client, "admin")
    assert client.get("/").headers["Location"].endswith("/admin/registrations")
    html = client.get("/admin/registrations").get_data(as_text=True)
    assert "注册审核" in html and "流程定义" in html and "平台管理员" in html


def test_an_incident_is_listed_and_retried_from_the_page(client_world, ctx, monkeypatch):
    from handlers import processes
    from .world import locked_person, reported_unlock
    client, world = client_world
    services = ctx.extensions["services"]
    pm, _project = locked_person(world, "异常人员")
    app = reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)

    def broken(call):
        raise RuntimeError("档案服务不可用")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", broken)
    services.reviews.approve(agency, task.id, "同意")
    instance_id = app.instance_id

    login(client, "admin")
    page = client.get("/admin/definitions").get_data(as_text=True)
    assert "档案服务不可用" in page and f"/admin/instances/{instance_id}/retry" in page
    resp = _post(client, f"/admin/instances/{instance_id}/retry")
    assert "重试后仍然出错：RuntimeError: 档案服务不可用" in client.get(resp.headers["Location"]).get_data(as_text=True)

    monkeypatch.undo()
    resp = _post(client, f"/admin/instances/{instance_id}/retry")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "重试成功" in page and "当前没有异常的流程实例" in page


def test_the_operations_service_is_for_platform_administrators_only(world, services):
    import pytest
    from handlers.errors import Forbidden
    reviewer = world.who("agency_reviewer")
    for call in (lambda: services.operations.definitions(reviewer), lambda: services.operations.incidents(reviewer),
                 lambda: services.operations.definition(reviewer, 1), lambda: services.operations.retry(reviewer, 1)):
        with pytest.raises(Forbidden):
            call()
