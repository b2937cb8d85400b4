"""Login protection and 修改密码."""
from datetime import timedelta

from engine.db import db
from engine.models import utcnow
from handlers import accounts
from handlers.errors import DomainError
from handlers.models import User

import pytest
from sqlalchemy import select

from .web_helpers import client_world, login, post  # noqa: F401 (fixture)


def _user(name="contractor_user") -> User:
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username == name))


def test_five_wrong_passwords_lock_the_login_for_fifteen_minutes(world):
    for _ in range(4):
        with pytest.raises(DomainError, match="用户名或密码错误"):
            accounts.authenticate("contractor_user", "wrong-pass1")
    with pytest.raises(DomainError, match="密码错误次数过多，账号已暂时锁定，请 15 分钟后再试"):
        accounts.authenticate("contractor_user", "wrong-pass1")
    # even the right password is refused while locked
    with pytest.raises(DomainError, match="账号已暂时锁定"):
        accounts.authenticate("contractor_user", "demo1234")
    user = _user()
    user.login_locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert accounts.authenticate("contractor_user", "demo1234").username == "contractor_user"
    assert _user().failed_logins == 0 and _user().login_locked_until is None


def test_a_right_password_resets_the_count_of_failures(world):
    for _ in range(4):
        with pytest.raises(DomainError):
            accounts.authenticate("contractor_user", "wrong-pass1")
    accounts.authenticate("contractor_user", "demo1234")
    for _ in range(4):
        with pytest.raises(DomainError, match="用户名或密码错误"):
            accounts.authenticate("contractor_user", "wrong-pass1")


def test_unknown_user_gets_the_same_message(world):
    with pytest.raises(DomainError, match="^用户名或密码错误$"):
        accounts.authenticate("nobody", "demo1234")


def test_change_password_over_http(client_world):
    client, _world = client_world
    login(client, "contractor_user")
    html = post(client, "/auth/password", {"old_password": "wrong-pass1", "new_password": "newpass123",
                                            "confirm": "newpass123"}).get_data(as_text=True)
    assert "原密码不正确" in html
    html = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "short",
                                            "confirm": "short"}).get_data(as_text=True)
    assert "至少 8 位" in html
    resp = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "newpass123",
                                            "confirm": "newpass123"})
    assert resp.status_code == 302
    with pytest.raises(DomainError):
        accounts.authenticate("contractor_user", "demo1234")
    assert accounts.authenticate("contractor_user", "newpass123")


def test_change_password_needs_a_login(client_world):
    client, _world = client_world
    resp = client.get("/auth/password")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
