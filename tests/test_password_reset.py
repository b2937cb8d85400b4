"""忘记密码: an e-mailed reset link (SMTP through the job worker, aiosmtpd as the mail server),
single-use, expiring, its token hashed in the database; the same answer whether or not the account
exists; rate-limited per address and per login."""
import re
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.db import db
from engine.models import Job, utcnow
from handlers.models import PasswordReset, User

from .test_notifications import _Inbox, smtp  # noqa: F401 (fixture)
from .web_helpers import client_world, login, post  # noqa: F401 (fixture)

FORGOT = "/auth/forgot"
SENT = "如果该账号存在并已登记电子邮箱，重置密码的链接已发送到该邮箱"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    _reset_limits(app)
    yield
    _reset_limits(app)


def _reset_limits(app):
    from webui import limiter
    with app.app_context():
        limiter.reset()


def _with_email(world, key="contractor_user", email="wu@contractor.example") -> User:
    user = db.session.get(User, world.who(key).user_id)
    user.email = email
    db.session.commit()
    return user


def _ask(client, name):
    return post(client, FORGOT, {"username": name}, form_url=FORGOT, follow_redirects=True).get_data(as_text=True)


def _mailed_link(services, smtp) -> str:
    assert services.worker().run_due() == 1
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    [(to, content)] = smtp.messages
    import email
    body = email.message_from_string(content).get_payload(decode=True).decode()
    return to, re.search(r"http://localhost/auth/reset/(\S+)", body).group(1)


def test_the_link_sets_a_new_password_once(client_world, services, smtp):
    client, world = client_world
    user = _with_email(world)
    old_session = client.application.test_client()
    login(old_session, "contractor_user")
    assert SENT in _ask(client, "contractor_user")
    assert smtp.messages == []   # sent by the worker, not inside the request
    to, token = _mailed_link(services, smtp)
    assert to == ["wu@contractor.example"]
    reset = db.session.scalar(select(PasswordReset))
    assert reset.token_hash and token not in reset.token_hash   # only the hash is stored
    job = db.session.scalar(select(Job).where(Job.kind == "password_reset.email"))
    assert token not in job.payload

    url = f"/auth/reset/{token}"
    assert "contractor_user" in client.get(url).get_data(as_text=True)
    html = post(client, url, {"new_password": "short", "confirm": "short"}, form_url=url).get_data(as_text=True)
    assert "新密码：至少 8 位" in html
    resp = post(client, url, {"new_password": "newpass2026", "confirm": "newpass2026"}, form_url=url,
                follow_redirects=True)
    assert "密码已重置，请使用新密码登录" in resp.get_data(as_text=True)
    assert "用户名或密码错误" in login(client.application.test_client(), "contractor_user").get_data(as_text=True)
    assert login(client.application.test_client(), "contractor_user", "newpass2026").status_code == 302
    assert old_session.get("/").status_code == 302 and "/auth/login" in old_session.get("/").headers["Location"]
    # single use
    again = client.get(url)
    assert again.status_code == 410 and "该重置链接已使用" in again.get_data(as_text=True)
    resp = post(client, url, {"new_password": "other2026x", "confirm": "other2026x"}, form_url="/auth/forgot")
    assert resp.status_code == 410
    db.session.expire_all()
    assert user.password_hash == db.session.get(User, user.id).password_hash


def test_the_link_expires(client_world, services, smtp):
    client, world = client_world
    _with_email(world)
    _ask(client, "wu@contractor.example")   # the e-mail address names the login too
    _to, token = _mailed_link(services, smtp)
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        resp = client.get(f"/auth/reset/{token}")
    assert resp.status_code == 410 and "该重置链接已过期（有效期 30 分钟）" in resp.get_data(as_text=True)
    assert client.get("/auth/reset/not-a-token").status_code == 410


def test_the_same_answer_whether_or_not_the_account_exists(client_world, services):
    client, world = client_world
    _with_email(world)
    answers = {name: _ask(client, name) for name in ("contractor_user", "no_such_user", "firm_user")}
    for name, html in answers.items():   # firm_user exists but has no e-mail address
        assert SENT in html, name
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 1
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "password_reset.email")) == 1


def test_requests_are_rate_limited_per_address_and_per_login(client_world, ctx):
    client, world = client_world
    _with_email(world)
    for _ in range(4):
        assert SENT in _ask(client, "contractor_user")
    # the login gets at most three links an hour, whoever asks
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 3
    resp = post(client, FORGOT, {"username": "contractor_user"}, form_url=FORGOT)
    assert resp.status_code == 302   # the fifth request of this address within the hour is the last one allowed
    resp = post(client, FORGOT, {"username": "no_such_user"}, form_url=FORGOT)
    assert resp.status_code == 429 and "申请过于频繁，请稍后再试" in resp.get_data(as_text=True)


def test_the_form_needs_a_name_and_a_csrf_token(client_world):
    client, _world = client_world
    html = post(client, FORGOT, {"username": ""}, form_url=FORGOT).get_data(as_text=True)
    assert "请填写用户名或电子邮箱" in html
    resp = client.post(FORGOT, data={"username": "contractor_user"})
    assert SENT not in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 0
