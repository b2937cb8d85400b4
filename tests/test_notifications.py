"""Notifications (消息中心): who receives what, no leaks, channels chosen per kind, e-mail over SMTP."""
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.db import db
from handlers import notifications
from handlers.models import Account, Notification, NotificationSetting, User

from .web_helpers import client_world, login, logout, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


def received(world, *keys) -> dict:
    """kind list per principal key, for the given principals."""
    db.session.rollback()
    out = {}
    for key in keys:
        rows = db.session.scalars(select(Notification).where(
            Notification.account_id == world.who(key).account_id).order_by(Notification.id)).all()
        out[key] = [n.kind for n in rows]
    return out


EVERYONE = ("auth_reviewer", "auth_reviewer2", "agency_reviewer", "agency2_reviewer", "auth2_reviewer",
            "owner_user", "contractor_user", "contractor2_user", "firm_user", "admin")


def test_the_review_events_reach_exactly_who_may_see_the_application(world, services):
    pm, _project = locked_person(world, "张三")
    app = services.unlock.create(world.who("contractor_user"), _lock_of(pm))
    # a draft is the applicant's alone: nothing is sent while it is being written
    assert all(kinds == [] for kinds in received(world, *EVERYONE).values())
    app = _report(world, services, app)
    agency, colleague = world.who("agency_reviewer"), world.who("auth_reviewer2")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.claim(agency, task.id)   # claiming one's own task again tells nobody anything
    services.reviews.release(agency, task.id)
    services.reviews.claim(colleague, task.id)
    services.reviews.return_(colleague, task.id, "解锁申请表未盖章")
    got = received(world, *EVERYONE)
    assert got["agency_reviewer"] == ["task_offered"]   # not told of their own release
    assert got["auth_reviewer"] == ["task_offered", "task_released"]
    assert got["auth_reviewer2"] == ["task_offered", "task_released"]
    assert got["contractor_user"] == ["claimed", "claimed", "returned"]
    # other regions' regulators, other enterprises and the platform hear nothing of it
    for key in ("agency2_reviewer", "auth2_reviewer", "owner_user", "contractor2_user", "firm_user", "admin"):
        assert got[key] == [], key
    returned = db.session.scalars(select(Notification).where(Notification.kind == "returned")).one()
    assert "解锁申请表未盖章" in returned.body and returned.app_id == app.id


def test_approval_and_a_failed_recheck_tell_the_applicant(world, services):
    from handlers import lock_rule
    agency = world.who("agency_reviewer")
    pm, _ = locked_person(world, "李四")
    app = reported_unlock(world, services, pm)
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.approve(agency, task.id, "同意")
    assert received(world, "contractor_user")["contractor_user"][-1] == "approved"
    # an unlock whose lock closed meanwhile is refused at re-check
    pm2, _ = locked_person(world, "王五")
    app2 = reported_unlock(world, services, pm2)
    [lock] = lock_rule.open_locks(pm2.id)
    lock_rule.close_lock(lock, "另案解锁")
    db.session.commit()
    task2 = services.unlock.open_task(app2)
    services.reviews.claim(agency, task2.id)
    services.reviews.approve(agency, task2.id, "同意")
    last = db.session.scalars(select(Notification).where(Notification.kind == "recheck_failed")).one()
    assert "该锁定记录已解除" in last.body and last.app_id == app2.id


def test_a_channel_switched_off_for_a_kind_is_not_used(world, services):
    user_id = world.who("contractor_user").user_id
    db.session.add(NotificationSetting(user_id=user_id, kind="claimed", channel="inapp", enabled=False))
    db.session.commit()
    pm, _ = locked_person(world, "赵六")
    reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "请补充")
    assert received(world, "contractor_user")["contractor_user"] == ["returned"]


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture()
def smtp():
    handler = _Inbox()
    with socket.socket() as probe:   # a free port (the controller checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    notifications.configure_email(notifications.SmtpSettings("127.0.0.1", port, "noreply@ynjzsc.example"))
    try:
        yield handler
    finally:
        notifications.configure_email(None)
        controller.stop()


def test_email_is_a_job_delivered_over_smtp(world, services, smtp):
    user = db.session.get(User, world.who("contractor_user").user_id)
    user.email = "wu@contractor.example"
    db.session.commit()
    pm, _ = locked_person(world, "孙七")
    reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "附件不清晰")
    assert smtp.messages == []   # nothing is sent inside the review's transaction
    assert services.worker().run_due() == 2   # 签收 and 退回: one delivery job each
    deadline = time.monotonic() + 5
    while len(smtp.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [to for to, _ in smtp.messages] == [["wu@contractor.example"]] * 2
    assert "=?utf-8?" in smtp.messages[1][1] or "申请被退回" in smtp.messages[1][1]
    assert services.worker().run_due() == 0


def test_a_line_break_kept_in_an_older_name_does_not_stop_the_email(smtp):
    notifications.CHANNELS["email"].send("wu@contractor.example", "待审核：张\r\nBcc: x@evil.example三的解锁申请", "请签收")
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    [(to, content)] = smtp.messages
    assert to == ["wu@contractor.example"] and "\nBcc:" not in content


def test_message_centre_shows_the_unread_count_and_opens_the_application(client_world):
    client, world = client_world
    services = client.application.extensions["services"]
    pm, _ = locked_person(world, "周八")
    app = reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "请补充项目停工证明")
    login(client, "contractor_user")
    home = client.get("/messages/").get_data(as_text=True)
    assert '2 条未读' in home and "申请被退回" in home and "请补充项目停工证明" in home
    db.session.rollback()
    returned = db.session.scalars(select(Notification).where(Notification.kind == "returned")).one()
    resp = post(client, f"/messages/{returned.id}/open", form_url="/messages/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/apply/unlock/{app.id}")
    assert '1 条未读' in client.get("/messages/").get_data(as_text=True)
    # another account cannot open (or learn of) it
    logout(client)
    login(client, "contractor2_user")
    assert post(client, f"/messages/{returned.id}/open", form_url="/messages/").status_code == 404
    assert "请补充项目停工证明" not in client.get("/messages/").get_data(as_text=True)


def test_settings_page_saves_channels_and_refuses_a_bad_address(client_world):
    client, world = client_world
    login(client, "contractor_user")
    resp = post(client, "/messages/settings", {"email": "不是邮箱", "claimed__inapp": "y"}, form_url="/messages/settings")
    assert "电子邮箱：格式不正确" in resp.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalars(select(NotificationSetting)).all() == []
    resp = post(client, "/messages/settings", {"email": "wu@contractor.example", "claimed__inapp": "y"},
                form_url="/messages/settings", follow_redirects=True)
    assert "通知设置已保存" in resp.get_data(as_text=True)
    db.session.rollback()
    user_id = world.who("contractor_user").user_id
    assert notifications.settings_for(user_id)[("claimed", "inapp")] is True
    assert notifications.settings_for(user_id)[("returned", "inapp")] is False
    assert db.session.get(User, user_id).email == "wu@contractor.example"


def _lock_of(person):
    from handlers import lock_rule
    [lock] = lock_rule.open_locks(person.id)
    return lock.id


def _report(world, services, app):
    from handlers.applications import Upload
    from handlers.processes.unlock import UNLOCK_FORM

    from .world import PDF_BYTES
    applicant = world.who("contractor_user")
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"},
                         [Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", PDF_BYTES)])
    services.unlock.report(applicant, app.id)
    return app


def test_an_errored_instance_tells_the_administrators_only(world, services, monkeypatch):
    from handlers import processes

    def broken(call):
        raise ConnectionError("数据库连接中断")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", broken)
    pm, _ = locked_person(world, "吴九")
    reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.approve(agency, task.id, "同意")
    got = received(world, *EVERYONE)
    assert got["admin"] == ["incident"]
    assert all("incident" not in kinds for key, kinds in got.items() if key != "admin")
    incident = db.session.scalars(select(Notification).where(Notification.kind == "incident")).one()
    assert "数据库连接中断" in incident.body
